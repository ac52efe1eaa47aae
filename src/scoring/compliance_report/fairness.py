"""Groups of départements, per-group metrics and disparities between groups (fairlearn's
MetricFrame, bootstrap intervals)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

#: départements of Alsace-Moselle (local law: two more public holidays)
ALSACE_MOSELLE = frozenset({"57", "67", "68"})


ILE_DE_FRANCE = frozenset({"75", "77", "78", "91", "92", "93", "94", "95"})


DEPARTMENT_GROUPS = ("Île-de-France", "Alsace-Moselle", "other metropolitan", "overseas")


MODEL_KEYS = ("default_risk", "dispute_risk")


def department_group(departments: pd.Series | np.ndarray | list) -> np.ndarray:
    """Group of each département: Île-de-France, Alsace-Moselle, overseas (971-976) or other
    metropolitan (Corsica included)."""
    d = pd.Series(np.asarray(departments, dtype=object)).astype(str)
    out = np.where(
        d.isin(ILE_DE_FRANCE),
        "Île-de-France",
        np.where(
            d.isin(ALSACE_MOSELLE),
            "Alsace-Moselle",
            np.where(d.str.startswith("97"), "overseas", "other metropolitan"),
        ),
    )
    return out.astype(object)


def _auc(y: np.ndarray, p: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    return float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan")


def _metric_functions(threshold: float) -> dict[str, Any]:
    """The per-group metrics, as fairlearn metric functions ``f(y_true, y_score)``."""

    def arrays(yt, ys) -> tuple[np.ndarray, np.ndarray]:
        return np.asarray(yt, dtype=int), np.asarray(ys, dtype=float)

    def mean_or_nan(v: np.ndarray) -> float:
        return float(v.mean()) if len(v) else float("nan")

    def n(yt, ys) -> float:
        return float(len(yt))

    def prevalence(yt, ys) -> float:
        return mean_or_nan(arrays(yt, ys)[0])

    def mean_score(yt, ys) -> float:
        return mean_or_nan(arrays(yt, ys)[1])

    def flagged_rate(yt, ys) -> float:
        return mean_or_nan(arrays(yt, ys)[1] >= threshold)

    def roc_auc(yt, ys) -> float:
        return _auc(*arrays(yt, ys))

    def fpr(yt, ys) -> float:
        y, s = arrays(yt, ys)
        return mean_or_nan(s[y == 0] >= threshold)

    def fnr(yt, ys) -> float:
        y, s = arrays(yt, ys)
        return mean_or_nan(s[y == 1] < threshold)

    def brier(yt, ys) -> float:
        y, s = arrays(yt, ys)
        return mean_or_nan((s - y) ** 2)

    return {
        "n": n, "prevalence": prevalence, "mean_score": mean_score, "flagged_rate": flagged_rate,
        "roc_auc": roc_auc, "fpr": fpr, "fnr": fnr, "brier": brier,
    }  # fmt: skip


#: metrics given with a bootstrap interval per group (``<metric>_ci_low`` / ``_ci_high``)
CI_METRICS = ("roc_auc", "fpr", "fnr")


#: bootstrap resamples of the report's intervals (rough 95 % intervals; fairlearn's bootstrap
#: costs about 0.1 s per resample on a test period of 5,000 cases)
REPORT_BOOTSTRAP = 30


CI_QUANTILES = [0.025, 0.975]


def _frame(y, score, g, threshold: float, n_boot: int, seed: int, metrics=None):
    from fairlearn.metrics import MetricFrame

    fns = _metric_functions(threshold)
    return MetricFrame(
        metrics={m: fns[m] for m in metrics} if metrics else fns,
        y_true=np.asarray(y, dtype=int),
        y_pred=np.asarray(score, dtype=float),
        sensitive_features=pd.Series(np.asarray(g).astype(str), name="group"),
        n_boot=n_boot or None,
        ci_quantiles=CI_QUANTILES if n_boot else None,
        random_state=seed if n_boot else None,
    )


def group_metrics(
    y: np.ndarray,
    score: np.ndarray,
    groups: dict[str, np.ndarray],
    threshold: float,
    n_boot: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """Metrics overall and per group (fairlearn's ``MetricFrame.by_group``).

    One row per (``grouping``, ``group``): ``n``, ``prevalence`` (observed rate),
    ``mean_score``, ``flagged_rate`` (score >= threshold), ``roc_auc``, ``fpr`` (flagged among
    negatives), ``fnr`` (not flagged among positives), ``brier``; with ``n_boot`` > 0, a 95 %
    bootstrap interval of each of :data:`CI_METRICS` (small groups, such as the overseas
    départements, get wide ones). The overall row has ``grouping == "overall"``.
    """
    rows: list[dict[str, Any]] = []
    for name, g in groups.items():
        mf = _frame(y, score, g, threshold, 0, seed)
        # the bootstrap (fairlearn's, slow: ~0.03 s per resample and metric) only where read
        ci = _frame(y, score, g, threshold, n_boot, seed, CI_METRICS) if n_boot else None
        if not rows:
            overall = {"grouping": "overall", "group": "all", **mf.overall.to_dict()}
            if ci is not None:
                for m in CI_METRICS:
                    overall[f"{m}_ci_low"] = float(ci.overall_ci[0][m])
                    overall[f"{m}_ci_high"] = float(ci.overall_ci[1][m])
            rows.append(overall)
        by = mf.by_group
        for value in sorted(by.index):
            row = {"grouping": name, "group": value, **by.loc[value].to_dict()}
            if ci is not None:
                for m in CI_METRICS:
                    row[f"{m}_ci_low"] = float(ci.by_group_ci[0].loc[value, m])
                    row[f"{m}_ci_high"] = float(ci.by_group_ci[1].loc[value, m])
            rows.append(row)
    if not rows:  # no grouping: the overall row alone
        mf = _frame(y, score, np.zeros(len(np.asarray(y))), threshold, 0, seed)
        rows.append({"grouping": "overall", "group": "all", **mf.overall.to_dict()})
    out = pd.DataFrame(rows)
    out["n"] = out["n"].astype(int)
    return out


DISPARITY_METRICS = ("mean_score", "flagged_rate", "roc_auc", "fpr", "fnr")


#: The limit each disparity is judged against: ``("ratio", r)``: min / max over the groups
#: must be at least ``r``; ``("difference", d)``: max - min at most ``d``. Defaults:
#: the four-fifths rule (ratio >= 0.8, the US EEOC's rule of thumb for selection rates) for
#: the share of cases flagged and the mean score; differences for the error rates (FPR, FNR:
#: at most 10 points, an equalised-odds difference of 0.1) and for the AUC (at most 0.05).
#: These are conventions to be agreed with compliance, not legal thresholds: pass
#: ``disparity_limits`` to the report to change them.
DISPARITY_LIMITS: dict[str, tuple[str, float]] = {
    "mean_score": ("ratio", 0.8),
    "flagged_rate": ("ratio", 0.8),
    "roc_auc": ("difference", 0.05),
    "fpr": ("difference", 0.10),
    "fnr": ("difference", 0.10),
}


#: groupings whose disparities are judged by default: the business segment and the
#: département groups (geography, a possible proxy of origin). The days-past-due bucket
#: drives the risk by design: its gaps are shown, not judged.
JUDGED_GROUPINGS = ("segment", "department_group")


def disparity_verdict(
    difference: float, ratio: float, limit: tuple[str, float] | None
) -> tuple[str, str]:
    """The criterion (text) and the verdict of one disparity: ``within``, ``exceeds``, or
    ``not assessed`` (no limit, or too few groups to compare)."""
    if limit is None:
        return "none", "not assessed"
    kind, value = limit
    if kind == "ratio":
        criterion = f"ratio ≥ {value:.2f}" + (" (four-fifths rule)" if value == 0.8 else "")
        v = ratio
        ok = v >= value
    elif kind == "difference":
        criterion = f"difference ≤ {value:.2f}"
        v = difference
        ok = v <= value
    else:
        raise ValueError(f"a disparity limit is ('ratio', r) or ('difference', d), not {limit!r}")
    if v is None or v != v:  # NaN: fewer than two groups, or a zero maximum
        return criterion, "not assessed"
    return criterion, "within" if ok else "exceeds"


def disparities(
    y: np.ndarray,
    score: np.ndarray,
    groups: dict[str, np.ndarray],
    threshold: float,
    metrics: tuple[str, ...] = DISPARITY_METRICS,
    min_n: int = 30,
    n_boot: int = 0,
    seed: int = 0,
    limits: dict[str, tuple[str, float]] | None = None,
    judged: tuple[str, ...] | None = None,
) -> pd.DataFrame:
    """Between-group gaps of each metric: fairlearn's ``MetricFrame.difference()`` and
    ``.ratio()`` over the groups with at least ``min_n`` cases, with 95 % bootstrap intervals
    of the difference when ``n_boot`` > 0, each judged against its limit.

    Per (``grouping``, ``metric``): ``n_groups``, ``min``, ``max``, the groups holding them,
    ``difference`` (max - min), ``ratio`` (min / max, 1 = parity), ``difference_ci_low`` /
    ``_high``, ``criterion`` (the limit of ``limits``, default :data:`DISPARITY_LIMITS`;
    a metric absent from a given ``limits`` is not assessed) and ``verdict`` (``within``,
    ``exceeds`` or ``not assessed``); ``groups_excluded`` lists the groups left out for size.
    With ``judged``, only these groupings get a verdict (the others: ``not assessed``).
    """
    limits = DISPARITY_LIMITS if limits is None else limits
    y = np.asarray(y, dtype=int)
    score = np.asarray(score, dtype=float)
    rows = []
    for grouping, g in groups.items():
        g = np.asarray(g).astype(str)
        values, counts = np.unique(g, return_counts=True)
        small = [str(v) for v, c in zip(values, counts, strict=True) if c < min_n]
        keep = ~np.isin(g, small)
        empty = {"min": np.nan, "group_min": None, "max": np.nan, "group_max": None,
                 "difference": np.nan, "ratio": np.nan, "difference_ci_low": np.nan,
                 "difference_ci_high": np.nan}  # fmt: skip
        mf = None
        if len(values) - len(small) >= 2:
            mf = _frame(y[keep], score[keep], g[keep], threshold, n_boot, seed, metrics)
            diff, ratio = mf.difference(), mf.ratio()
            diff_ci = mf.difference_ci() if n_boot else None
        for m in metrics:
            row: dict[str, Any] = {"grouping": grouping, "metric": m}
            by = mf.by_group[m].dropna() if mf is not None else pd.Series(dtype=float)
            if len(by) < 2:
                row.update({"n_groups": len(by), **empty})
            else:
                row.update(
                    {
                        "n_groups": len(by),
                        "min": float(by.min()),
                        "group_min": str(by.idxmin()),
                        "max": float(by.max()),
                        "group_max": str(by.idxmax()),
                        "difference": float(diff[m]),
                        "ratio": float(ratio[m]) if by.max() > 0 else np.nan,
                        "difference_ci_low": float(diff_ci[0][m]) if diff_ci else np.nan,
                        "difference_ci_high": float(diff_ci[1][m]) if diff_ci else np.nan,
                    }
                )
            if judged is None or grouping in judged:
                row["criterion"], row["verdict"] = disparity_verdict(
                    row["difference"], row["ratio"], limits.get(m)
                )
            else:
                row["criterion"], row["verdict"] = "none (not a group to protect)", "not assessed"
            row["groups_excluded"] = ", ".join(small)
            rows.append(row)
    return pd.DataFrame(rows)
