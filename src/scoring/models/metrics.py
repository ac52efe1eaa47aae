"""Evaluation metrics of a probabilistic classifier, overall and by group."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score


def ks_statistic(y: np.ndarray, p: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance between the score distributions of the two classes
    (``scipy.stats.ks_2samp``: ties, such as isotonic plateaus, are handled exactly)."""
    from scipy.stats import ks_2samp

    y, p = np.asarray(y).astype(bool), np.asarray(p, dtype=float)
    if y.all() or not y.any():
        return float("nan")
    return float(ks_2samp(p[y], p[~y]).statistic)


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """ECE with equal-frequency bins: mean |observed rate - mean probability|, weighted."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    if len(y) == 0:
        return float("nan")
    order = np.argsort(p, kind="mergesort")
    chunks = np.array_split(order, min(bins, len(y)))
    return float(sum(len(c) * abs(y[c].mean() - p[c].mean()) for c in chunks if len(c)) / len(y))


def binary_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """ROC AUC, PR AUC, Brier, log loss, KS, ECE, prevalence and count."""
    y, p = np.asarray(y, dtype=int), np.clip(np.asarray(p, dtype=float), 1e-7, 1 - 1e-7)
    out: dict[str, float] = {
        "n": float(len(y)),
        "prevalence": float(y.mean()) if len(y) else float("nan"),
    }
    two = len(np.unique(y)) == 2
    out["roc_auc"] = float(roc_auc_score(y, p)) if two else float("nan")
    out["pr_auc"] = float(average_precision_score(y, p)) if two else float("nan")
    out["brier"] = float(brier_score_loss(y, p)) if len(y) else float("nan")
    out["log_loss"] = float(log_loss(y, p, labels=[0, 1])) if len(y) else float("nan")
    out["ks"] = ks_statistic(y, p)
    out["ece"] = expected_calibration_error(y, p)
    return out


def metrics_by_group(y: np.ndarray, p: np.ndarray, groups: dict[str, np.ndarray]) -> pd.DataFrame:
    """One row per (grouping, group value), plus the overall row."""
    rows = [{"grouping": "overall", "group": "all", **binary_metrics(y, p)}]
    for name, g in groups.items():
        g = np.asarray(g).astype(str)
        for value in sorted(set(g)):
            m = g == value
            rows.append({"grouping": name, "group": value, **binary_metrics(y[m], p[m])})
    return pd.DataFrame(rows)


def flat_metrics(table: pd.DataFrame, prefix: str) -> dict[str, float]:
    """MLflow-friendly flat names: ``{prefix}_{metric}`` overall, ``{prefix}_{grouping}_{group}_{metric}``."""
    out = {}
    for _, r in table.iterrows():
        base = prefix if r["grouping"] == "overall" else f"{prefix}_{r['grouping']}_{r['group']}"
        base = base.replace("+", "plus").replace(" ", "_")
        for k in ("roc_auc", "pr_auc", "brier", "log_loss", "ks", "ece", "prevalence", "n"):
            v = r[k]
            if v == v:  # not NaN
                out[f"{base}_{k}"] = float(v)
    return out
