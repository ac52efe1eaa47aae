"""SHAP analyses of the report: reason codes, global importance, dependence plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scoring.compliance_report.evaluation import Evaluation


def reason_code_distribution(bundle, ev: Evaluation, k: int = 3) -> pd.DataFrame:
    """How often each reason code is among a case's top ``k`` reasons (per model).

    Columns: ``model``, ``code``, ``feature``, ``cases`` and ``share`` (of the cases scored),
    most frequent first. Uses :func:`scoring.explain.top_reasons` on exact TreeSHAP values.
    """
    from scoring.explain import top_reasons

    rows = []
    n = len(ev.X)
    for key, model in bundle.risk_models.items():
        contrib, _ = model.contributions(ev.X)
        reasons = top_reasons(key, contrib, ev.X, model.feature_names, k=k, lang="en")
        counts: dict[tuple[str, str], int] = {}
        for rs in reasons:
            for r in rs:
                counts[(r.code, r.feature)] = counts.get((r.code, r.feature), 0) + 1
        for (code, feat), c in counts.items():
            rows.append({"model": key, "code": code, "feature": feat, "cases": c})
    df = pd.DataFrame(rows, columns=["model", "code", "feature", "cases"])
    df["share"] = df["cases"] / max(n, 1)
    return df.sort_values(["model", "cases", "code"], ascending=[True, False, True]).reset_index(
        drop=True
    )


def global_importance(contrib: np.ndarray, feature_names: list[str]) -> pd.DataFrame:
    """Mean |SHAP| (log-odds) per feature, largest first: ``feature``, ``mean_abs_shap``,
    ``mean_shap``."""
    c = np.asarray(contrib, dtype=float)
    df = pd.DataFrame(
        {
            "feature": feature_names,
            "mean_abs_shap": np.abs(c).mean(axis=0),
            "mean_shap": c.mean(axis=0),
        }
    )
    return df.sort_values("mean_abs_shap", ascending=False).reset_index(drop=True)


def plot_shap_dependence(
    contrib: np.ndarray, X: pd.DataFrame, feature: str, path: Path, interaction: str | None = None
) -> Path:
    """SHAP dependence plot of one feature saved to ``path`` (see
    :func:`scoring.reporting.shap_dependence_figure`)."""
    from scoring.reporting import save_figure, shap_dependence_figure

    return save_figure(shap_dependence_figure(contrib, X, feature, interaction), path, dpi=90)
