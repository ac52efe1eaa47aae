"""The compliance report: one self-contained HTML page a compliance officer can open offline.

``scoring report --model ALIAS --out report.html`` calls :func:`build_report`. Every section is
built by a named ``section_*`` function from data computed by a named function of this module
(or of :mod:`scoring.kpis` / :mod:`scoring.registry`); each table and figure carries that
function's name in a ``data-source`` attribute and in its caption, so every figure can be
traced and recomputed. Images are PNG inlined as base64: the page needs no network.

Sections: the model cards; metrics by segment and by groups of départements; disparities
between groups (fairlearn's MetricFrame: per-group metrics with bootstrap intervals, then
max-min differences with their intervals and min/max ratios); the distribution of reason codes; the action mix; how often each compliance
rule removed actions and how many decisions were flagged for human review (audit trail); the
KPIs; the promotion history of the aliases.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoring import kpis as kpi_mod

#: départements of Alsace-Moselle (local law: two more public holidays)
ALSACE_MOSELLE = frozenset({"57", "67", "68"})
ILE_DE_FRANCE = frozenset({"75", "77", "78", "91", "92", "93", "94", "95"})
DEPARTMENT_GROUPS = ("Île-de-France", "Alsace-Moselle", "other metropolitan", "overseas")
MODEL_KEYS = ("default_risk", "dispute_risk")


class ReportError(RuntimeError):
    """The report cannot be built (no model under the alias, no data to evaluate on, ...)."""


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


# --------------------------------------------------------------------------------------
# Group metrics and disparities (fairlearn MetricFrame)


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


def disparities(
    y: np.ndarray,
    score: np.ndarray,
    groups: dict[str, np.ndarray],
    threshold: float,
    metrics: tuple[str, ...] = DISPARITY_METRICS,
    min_n: int = 30,
    n_boot: int = 0,
    seed: int = 0,
) -> pd.DataFrame:
    """Between-group gaps of each metric: fairlearn's ``MetricFrame.difference()`` and
    ``.ratio()`` over the groups with at least ``min_n`` cases, with 95 % bootstrap intervals
    of the difference when ``n_boot`` > 0.

    Per (``grouping``, ``metric``): ``n_groups``, ``min``, ``max``, the groups holding them,
    ``difference`` (max - min), ``ratio`` (min / max, 1 = parity), ``difference_ci_low`` /
    ``_high``; ``groups_excluded`` lists the groups left out for size.
    """
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
            row["groups_excluded"] = ", ".join(small)
            rows.append(row)
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------
# Evaluation data


@dataclass
class Evaluation:
    """Scores of the models under the alias on the test period of a data set."""

    frame: pd.DataFrame  # segment, department, department_group, bucket, y_*, p_* per case
    X: pd.DataFrame
    cases: Any  # CaseSet of the test period
    data_dir: str


def evaluate_alias(bundle, ts, data_dir: str = "") -> Evaluation:
    """Probabilities of both risk models on the test period of a training set ``ts``."""
    idx = ts.period("test")
    if len(idx) == 0:
        raise ReportError("the data set has no test period to evaluate on")
    X = ts.X.iloc[idx].reset_index(drop=True)
    meta = ts.meta.iloc[idx].reset_index(drop=True)
    frame = pd.DataFrame(
        {
            "debtor_id": meta["debtor_id"].astype(str).to_numpy(),
            "as_of": meta["as_of"].to_numpy(),
            "segment": meta["segment"].astype(str).to_numpy(),
            "department": meta["department"].astype(str).to_numpy(),
            "department_group": department_group(meta["department"]),
            "bucket": meta["bucket"].astype(str).to_numpy(),
        }
    )
    labels = {"default_risk": "default", "dispute_risk": "dispute"}
    for key, model in bundle.risk_models.items():
        frame[f"y_{key}"] = ts.labels[labels[key]].to_numpy()[idx]
        frame[f"p_{key}"] = model.predict_proba(X)
    return Evaluation(frame, X, ts.cases.take(idx), data_dir)


def metrics_tables(
    ev: Evaluation, thresholds: dict[str, float], n_boot: int = REPORT_BOOTSTRAP
) -> dict[str, tuple[pd.DataFrame, pd.DataFrame]]:
    """Per risk model: :func:`group_metrics` by segment, département group and days-past-due
    bucket, and its :func:`disparities`."""
    f = ev.frame
    groups = {
        "segment": f["segment"].to_numpy(),
        "department_group": f["department_group"].to_numpy(),
        "bucket": f["bucket"].to_numpy(),
    }
    out = {}
    for key in scored_keys(ev):
        y, p = f[f"y_{key}"].to_numpy(), f[f"p_{key}"].to_numpy()
        t = group_metrics(y, p, groups, thresholds[key], n_boot=n_boot)
        out[key] = (t, disparities(y, p, groups, thresholds[key], n_boot=n_boot))
    return out


def default_thresholds(ev: Evaluation, threshold: float | None) -> dict[str, float]:
    """The flagging threshold per model: ``threshold`` if given, else the score quantile that
    flags as many cases as there are positives in the evaluation period (the top ``rate``)."""
    if threshold is not None:
        return dict.fromkeys(MODEL_KEYS, float(threshold))
    out = {}
    for k in scored_keys(ev):
        rate = float(ev.frame[f"y_{k}"].mean())
        out[k] = float(np.quantile(ev.frame[f"p_{k}"].to_numpy(), 1.0 - rate))
    return out


def scored_keys(ev: Evaluation) -> list[str]:
    """The risk models scored in ``ev`` (a model not served under the alias is absent)."""
    return [k for k in MODEL_KEYS if f"p_{k}" in ev.frame]


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


def policy_action_mix(bundle, ev: Evaluation) -> pd.DataFrame:
    """Share of each action the policy recommends (greedy) on the evaluation cases, by segment.

    Columns: ``action`` then one column per segment and ``all``.
    """
    if bundle.policy is None:
        return pd.DataFrame(columns=["action"])
    dec = bundle.policy.recommend(ev.cases, ev.X, explore=False).decisions
    return _mix(dec["action"].astype(str), ev.cases.cases["segment"].astype(str))


def _mix(action: pd.Series, segment: pd.Series) -> pd.DataFrame:
    a = pd.Series(np.asarray(action, dtype=object), name="action")
    s = pd.Series(np.asarray(segment, dtype=object), name="segment")
    t = pd.crosstab(a, s, normalize="columns")
    t["all"] = a.value_counts(normalize=True).reindex(t.index).fillna(0.0)
    t.columns.name = None
    return t.reset_index().sort_values("all", ascending=False).reset_index(drop=True)


def audit_action_mix(audit: pd.DataFrame) -> pd.DataFrame:
    """Share of each action among the audited decisions, by segment (columns as
    :func:`policy_action_mix`)."""
    if audit.empty:
        return pd.DataFrame(columns=["action"])
    return _mix(audit["action"], audit["segment"])


def rule_removals(audit: pd.DataFrame) -> pd.DataFrame:
    """How often each compliance rule removed actions, from the audited decisions.

    One row per rule: ``decisions`` (audited decisions where it removed at least one action),
    ``share`` (of all audited decisions), ``removals`` (removed actions it contributed to) and
    ``actions`` (the actions it removed, most often first, with counts).
    """
    cols = ["rule", "decisions", "share", "removals", "actions"]
    if audit.empty:
        return pd.DataFrame(columns=cols)
    per_rule: dict[str, dict[str, Any]] = {}
    for removed in audit["removed"]:
        seen: set[str] = set()
        for item in removed or []:
            for rule in item.get("rules") or []:
                d = per_rule.setdefault(rule, {"decisions": 0, "removals": 0, "actions": {}})
                d["removals"] += 1
                act = str(item.get("action"))
                d["actions"][act] = d["actions"].get(act, 0) + 1
                if rule not in seen:
                    d["decisions"] += 1
                    seen.add(rule)
    n = len(audit)
    rows = [
        {
            "rule": rule,
            "decisions": d["decisions"],
            "share": d["decisions"] / n,
            "removals": d["removals"],
            "actions": ", ".join(
                f"{a} ({c})" for a, c in sorted(d["actions"].items(), key=lambda x: (-x[1], x[0]))
            ),
        }
        for rule, d in per_rule.items()
    ]
    df = pd.DataFrame(rows, columns=cols)
    return df.sort_values(["decisions", "rule"], ascending=[False, True]).reset_index(drop=True)


def review_summary(audit: pd.DataFrame) -> pd.DataFrame:
    """Decisions flagged for human review (``requires_review``, GDPR art. 22) per segment and
    action. Columns: ``segment``, ``action``, ``decisions``, ``flagged``, ``share``; a last
    row ``all``/``all`` holds the totals."""
    cols = ["segment", "action", "decisions", "flagged", "share"]
    if audit.empty:
        return pd.DataFrame(columns=cols)
    a = audit.assign(flag=audit["requires_review"].astype(bool).astype(int))
    g = a.groupby(["segment", "action"]).agg(decisions=("flag", "size"), flagged=("flag", "sum"))
    g = g.reset_index()
    g = g[g["flagged"] > 0]
    total = pd.DataFrame(
        [{"segment": "all", "action": "all", "decisions": len(a), "flagged": int(a["flag"].sum())}]
    )
    out = pd.concat([g, total], ignore_index=True)
    out["share"] = out["flagged"] / out["decisions"]
    return out[cols]


def promotion_table(keys: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Every move of the ``champion`` alias (from :func:`scoring.registry.promotion_history`)
    and the current ``champion``/``challenger`` versions. Columns: ``model``, ``at``, ``by``,
    ``version``, ``previous``, ``reason``."""
    from scoring import registry

    keys = keys or registry.ALL_MODELS
    rows = []
    for key in keys:
        for r in registry.promotion_history(key):
            rows.append({"model": key, **{k: r.get(k) for k in ("at", "by", "version")}})
            rows[-1].update(previous=r.get("previous"), reason=r.get("reason"))
    df = pd.DataFrame(rows, columns=["model", "at", "by", "version", "previous", "reason"])
    return df.sort_values(["at", "model"]).reset_index(drop=True)


def alias_table(keys: tuple[str, ...] | None = None) -> pd.DataFrame:
    """Current version behind ``champion`` and ``challenger`` for each model."""
    from scoring import registry

    keys = keys or registry.ALL_MODELS
    champ = registry.alias_versions(keys, registry.CHAMPION)
    chall = registry.alias_versions(keys, registry.CHALLENGER)
    return pd.DataFrame(
        {
            "model": list(keys),
            "registered_name": [registry.registered_name(k) for k in keys],
            "champion": [champ[k] for k in keys],
            "challenger": [chall[k] for k in keys],
        }
    )


def model_card_markdown(key: str, version: int) -> str | None:
    """The model card logged with the training run of ``key`` version ``version`` (or None)."""
    import mlflow
    from mlflow import MlflowClient

    from scoring import registry

    mv = MlflowClient().get_model_version(registry.registered_name(key), str(version))
    if not mv.run_id:
        return None
    try:
        path = mlflow.artifacts.download_artifacts(
            run_id=mv.run_id, artifact_path=f"{key}/{key}_model_card.md"
        )
    except Exception:  # noqa: BLE001 - a missing card is reported, not fatal
        return None
    return Path(path).read_text(encoding="utf-8")


def training_data_dir(key: str, version: int) -> str | None:
    """``data_dir`` tag of the run that trained a model version."""
    import mlflow
    from mlflow import MlflowClient

    from scoring import registry

    mv = MlflowClient().get_model_version(registry.registered_name(key), str(version))
    if not mv.run_id:
        return None
    return mlflow.get_run(mv.run_id).data.tags.get("data_dir")


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


# --------------------------------------------------------------------------------------
# Figures


def _png(fig) -> str:
    from scoring.reporting import png_base64

    return png_base64(fig, dpi=90)


def plot_group_metrics(table: pd.DataFrame, title: str) -> str:
    """Bar charts of mean score, FPR and FNR per group (base64 PNG)."""
    from scoring.reporting import new_figure

    t = table[table["grouping"] != "overall"].copy()
    t["name"] = t["grouping"] + ": " + t["group"]
    fig, axes = new_figure((12, 0.35 * len(t) + 1.6), 1, 3, sharey=True)
    for ax, m in zip(axes, ("mean_score", "fpr", "fnr"), strict=True):
        ax.barh(t["name"], t[m].fillna(0.0))
        overall = float(table.loc[table["grouping"] == "overall", m].iloc[0])
        ax.axvline(overall, color="k", ls=":")
        ax.set(title=m)
    fig.suptitle(title)
    return _png(fig)


def plot_score_distribution(ev: Evaluation, key: str, by: str) -> str:
    """Box plots of a model's probability per group (base64 PNG)."""
    from scoring.reporting import new_figure

    f = ev.frame
    groups = sorted(f[by].unique())
    fig, ax = new_figure((7, 0.45 * len(groups) + 1.5))
    ax.boxplot(
        [f.loc[f[by] == g, f"p_{key}"].to_numpy() for g in groups],
        vert=False,
        tick_labels=groups,
        showfliers=False,
    )
    ax.set(xlabel=f"{key} probability", title=f"{key}: scores by {by}")
    return _png(fig)


def plot_bar(series: pd.Series, title: str, xlabel: str) -> str:
    """A horizontal bar chart of a series (base64 PNG)."""
    from scoring.reporting import new_figure

    s = series.iloc[::-1]
    fig, ax = new_figure((7, 0.3 * len(s) + 1.4))
    ax.barh([str(i) for i in s.index], s.to_numpy(dtype=float))
    ax.set(title=title, xlabel=xlabel)
    return _png(fig)


def plot_kpi_chart(monthly: pd.DataFrame, config) -> str:
    """The KPI chart of :func:`scoring.kpis.kpis_figure` (base64 PNG)."""
    from scoring.reporting import png_base64

    return png_base64(kpi_mod.kpis_figure(monthly, config), dpi=100)


# --------------------------------------------------------------------------------------
# HTML


@dataclass
class Section:
    """One section of the report: its anchor, title, HTML body and the data behind it."""

    id: str
    title: str
    body: str
    data: dict[str, pd.DataFrame] = field(default_factory=dict)


def _fmt(v: Any) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)):
        return "–"
    if isinstance(v, bool | np.bool_):
        return "yes" if v else "no"
    if isinstance(v, float | np.floating):
        return f"{v:.4f}"
    return str(v)


def html_table(df: pd.DataFrame, source: str, caption: str = "") -> str:
    """An escaped HTML table tagged with the function that computed it."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(v))}</td>" for v in row) + "</tr>"
        for row in df.itertuples(index=False)
    )
    cap = f"{html.escape(caption)} " if caption else ""
    return (
        f"<table data-source='{html.escape(source)}'><caption>{cap}"
        f"<span class='src'>source: <code>{html.escape(source)}</code></span></caption>"
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


def html_figure(png_b64: str, source: str, caption: str) -> str:
    """An inlined PNG tagged with the function that drew it."""
    return (
        f"<figure data-source='{html.escape(source)}'>"
        f"<img alt='{html.escape(caption)}' src='data:image/png;base64,{png_b64}'/>"
        f"<figcaption>{html.escape(caption)} <span class='src'>source: "
        f"<code>{html.escape(source)}</code></span></figcaption></figure>"
    )


def _p(text: str) -> str:
    return f"<p>{html.escape(text)}</p>"


def _md_body(md: str, title: str) -> str:
    from scoring.reporting import markdown_to_html

    page = markdown_to_html(md, title)
    body = page.split("<body>", 1)[-1].rsplit("</body>", 1)[0]
    return (
        body.replace("<h1>", "<h3>")
        .replace("</h1>", "</h3>")
        .replace("<h2>", "<h4>")
        .replace("</h2>", "</h4>")
    )


_NAME = "scoring.compliance_report"


@dataclass
class ReportInputs:
    """Everything the sections read (built by :func:`gather_inputs`)."""

    alias: str
    bundle: Any
    evaluation: Evaluation | None
    thresholds: dict[str, float]
    audit: pd.DataFrame
    tables: dict[str, pd.DataFrame] | None
    kpi_config: Any
    generated_at: str


def section_models(inp: ReportInputs) -> Section:
    """Versions behind the aliases and the model cards of the models under ``inp.alias``."""
    aliases = alias_table()
    parts = [
        _p(
            f"Models under the alias '{inp.alias}': "
            + ", ".join(f"{k} v{v}" for k, v in inp.bundle.versions.items())
        ),
        html_table(aliases, f"{_NAME}.alias_table", "Versions behind the aliases."),
    ]
    for key in MODEL_KEYS:
        v = inp.bundle.versions.get(key)
        md = model_card_markdown(key, v) if v is not None else None
        if md:
            parts.append(
                f"<details open data-source='{_NAME}.model_card_markdown'><summary>"
                f"Model card: {html.escape(key)} v{v}</summary>{_md_body(md, key)}</details>"
            )
        elif v is None:
            why = inp.bundle.missing.get(key, "no version under this alias")
            parts.append(_p(f"{key} is not served: {why}."))
        else:
            parts.append(_p(f"No model card found for {key} v{v}."))
    pol = inp.bundle.policy
    if pol is not None:
        ope = pol.info.get("ope", {}) or {}
        info = pd.DataFrame(
            [
                {"item": "config version", "value": pol.config.version},
                {"item": "config fingerprint", "value": pol.config.fingerprint()},
                *(
                    {"item": f"off-policy {k} value (EUR per decision)", "value": ope.get(k)}
                    for k in ("logging", "ips", "snips", "dr")
                    if k in ope
                ),
            ]
        )
        parts.append(html_table(info, "scoring.policy.recommend.Policy.info", "The policy model."))
    return Section("models", "Model cards", "".join(parts), {"aliases": aliases})


def section_metrics(inp: ReportInputs, tables: dict) -> Section:
    """Metrics by segment, département group and days-past-due bucket, per risk model."""
    if inp.evaluation is None:
        return Section("metrics", "Metrics by group", _p("No data set to evaluate on."))
    parts = [
        _p(
            f"Test period of {inp.evaluation.data_dir}: {len(inp.evaluation.frame)} cases. "
            "Département groups: Île-de-France, Alsace-Moselle (57, 67, 68), overseas "
            "(971-976), other metropolitan (Corsica included). A case is flagged when its "
            "probability is at least the threshold (by default the score above which there are "
            "as many cases as observed positives): "
            + ", ".join(f"{k} {t:.4f}" for k, t in inp.thresholds.items())
            + "."
        )
    ]
    data = {}
    for key, (t, _) in tables.items():
        cols = ["grouping", "group", "n", "prevalence", "mean_score", "roc_auc"]
        cols += [c for c in ("roc_auc_ci_low", "roc_auc_ci_high") if c in t] + ["brier"]
        parts.append(f"<h3>{html.escape(key)}</h3>")
        parts.append(html_table(t[cols], f"{_NAME}.group_metrics", f"{key}: metrics by group."))
        data[key] = t
    return Section("metrics", "Metrics by segment and département group", "".join(parts), data)


def section_disparities(inp: ReportInputs, tables: dict) -> Section:
    """Disparities between groups in scores and error rates."""
    if inp.evaluation is None:
        return Section("disparities", "Disparities between groups", _p("No data set."))
    parts = [
        _p(
            "For each grouping, the lowest and highest value over groups of at least 30 cases, "
            f"their difference (max - min, with a 95 % bootstrap interval over {REPORT_BOOTSTRAP} resamples) "
            "and ratio (min / max; 1 is parity), computed by fairlearn's MetricFrame. An "
            "interval that contains 0 is a gap the test period cannot tell from chance. FPR: "
            "share of negatives flagged; FNR: share of positives not flagged."
        )
    ]
    data = {}
    for key, (t, d) in tables.items():
        parts.append(f"<h3>{html.escape(key)}</h3>")
        parts.append(html_table(d, f"{_NAME}.disparities", f"{key}: disparities."))
        err = t[["grouping", "group", "n", "flagged_rate", "fpr", "fnr"]]
        parts.append(html_table(err, f"{_NAME}.group_metrics", f"{key}: error rates by group."))
        parts.append(
            html_figure(
                plot_group_metrics(t, f"{key}: mean score and error rates by group"),
                f"{_NAME}.plot_group_metrics",
                f"{key}: mean score, FPR and FNR by group (dotted: overall).",
            )
        )
        parts.append(
            html_figure(
                plot_score_distribution(inp.evaluation, key, "department_group"),
                f"{_NAME}.plot_score_distribution",
                f"{key}: distribution of scores by département group.",
            )
        )
        data[key] = d
    return Section("disparities", "Disparities between groups", "".join(parts), data)


def section_reasons(inp: ReportInputs) -> Section:
    """Distribution of the reason codes given with the scores."""
    if inp.evaluation is None:
        return Section("reasons", "Reason codes", _p("No data set."))
    dist = reason_code_distribution(inp.bundle, inp.evaluation)
    parts = [
        _p(
            "How often each reason code is among the top 3 reasons of a case on the test "
            "period (exact TreeSHAP contributions; UP raises the risk, DOWN lowers it)."
        )
    ]
    for key in scored_keys(inp.evaluation):
        d = dist[dist["model"] == key]
        parts.append(html_table(d, f"{_NAME}.reason_code_distribution", f"{key}: reason codes."))
        top = d.head(15).set_index("code")["share"]
        parts.append(
            html_figure(
                plot_bar(top, f"{key}: top reason codes", "share of cases"),
                f"{_NAME}.plot_bar",
                f"{key}: the 15 most frequent reason codes.",
            )
        )
        parts.append(
            html_figure(
                plot_waterfall(inp.bundle, inp.evaluation, key),
                f"{_NAME}.plot_waterfall",
                f"{key}: how one case's score is explained (the case with the highest "
                "probability on the test period): from the base value to its raw score, one "
                "bar per feature contribution (log-odds), with the case's values.",
            )
        )
    return Section("reasons", "Distribution of reason codes", "".join(parts), {"reasons": dist})


def plot_waterfall(bundle, ev: Evaluation, key: str) -> str:
    """SHAP waterfall of the highest-scored case of the evaluation (base64 PNG)."""
    from scoring.reporting import shap_waterfall_figure

    model = bundle.risk_models[key]
    i = int(np.argmax(ev.frame[f"p_{key}"].to_numpy()))
    row = ev.X.iloc[[i]]
    contrib, base = model.contributions(row)
    fig = shap_waterfall_figure(
        contrib[0], float(np.ravel(base)[0]), row[model.feature_names].iloc[0], f"{key}: one case"
    )
    return _png(fig)


def section_actions(inp: ReportInputs) -> Section:
    """Action mix of the service's decisions (audit) and of the policy on the test period."""
    parts, data = [], {}
    am = audit_action_mix(inp.audit)
    if len(am):
        parts.append(
            html_table(am, f"{_NAME}.audit_action_mix", "Decisions of the service (audit).")
        )
        parts.append(
            html_figure(
                plot_bar(am.set_index("action")["all"], "action mix (audit)", "share"),
                f"{_NAME}.plot_bar",
                "Share of each action among the audited decisions.",
            )
        )
        data["audit"] = am
    else:
        parts.append(_p("No decision in the audit trail yet."))
    if inp.evaluation is not None and inp.bundle.policy is not None:
        pm = policy_action_mix(inp.bundle, inp.evaluation)
        parts.append(
            html_table(
                pm,
                f"{_NAME}.policy_action_mix",
                "The policy's best action on the test-period cases (no exploration).",
            )
        )
        data["policy"] = pm
    return Section("actions", "Action mix", "".join(parts), data)


def section_rules(inp: ReportInputs) -> Section:
    """Rules that removed actions and decisions flagged for human review (audit trail)."""
    if inp.audit.empty:
        return Section(
            "rules", "Compliance rules and human review", _p("No decision in the audit trail yet.")
        )
    rem = rule_removals(inp.audit)
    rev = review_summary(inp.audit)
    total = rev.iloc[-1]
    parts = [
        _p(
            f"{len(inp.audit)} audited decisions; {int(total['flagged'])} flagged for human "
            f"review ({100 * float(total['share']):.1f} %)."
        ),
        html_table(rem, f"{_NAME}.rule_removals", "How often each rule removed actions."),
        html_table(rev, f"{_NAME}.review_summary", "Decisions flagged for human review."),
    ]
    return Section(
        "rules",
        "Compliance rules and human review",
        "".join(parts),
        {"removals": rem, "review": rev},
    )


def section_kpis(inp: ReportInputs) -> Section:
    """KPIs of the data set and of the service's decisions next to their targets."""
    parts, data = [], {}
    cfg = inp.kpi_config
    if inp.tables is not None:
        summary = kpi_mod.kpi_summary(inp.tables, cfg)
        monthly = kpi_mod.compute_kpis(inp.tables, cfg)
        parts.append(
            html_table(
                summary.drop(columns=["value"]),
                "scoring.kpis.kpi_summary",
                "KPIs of the data set (complete months) and targets.",
            )
        )
        parts.append(
            html_figure(
                plot_kpi_chart(monthly, cfg),
                "scoring.kpis.plot_kpis",
                "KPIs per month and segment; dashed: target.",
            )
        )
        data["summary"] = summary
    if not inp.audit.empty:
        a = kpi_mod.summary_against_targets(kpi_mod.audit_kpis(inp.audit, by_month=False), cfg)
        parts.append(
            html_table(
                a.drop(columns=["value"]),
                "scoring.kpis.audit_kpis",
                "KPIs of the service's decisions with a reported outcome.",
            )
        )
        data["audit"] = a
    if not parts:
        parts.append(_p("No data set and no audited decision."))
    return Section("kpis", "Collection KPIs", "".join(parts), data)


def section_promotions(inp: ReportInputs) -> Section:
    """Promotion history of the aliases."""
    t = promotion_table()
    body = html_table(t, f"{_NAME}.promotion_table", "Every move of the champion alias.")
    return Section("promotions", "Promotion history", body, {"promotions": t})


CSS = """
body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:.6em 0 1.2em}td,th{border:1px solid #ccc;padding:2px 6px;
font-size:12px;text-align:left}caption{caption-side:bottom;font-size:11px;color:#555;
text-align:left}.src{color:#888}figure{margin:.5em 0 1.5em}img{max-width:100%}
nav li{display:inline;margin-right:1em}details{border:1px solid #ddd;padding:.3em .8em;
margin:.5em 0}h2{border-bottom:2px solid #345;padding-top:1em}
"""


def render_html(sections: list[Section], title: str, meta: dict[str, str]) -> str:
    """The whole page: title, metadata, table of contents, sections (no external resource)."""
    nav = "".join(f"<li><a href='#{s.id}'>{html.escape(s.title)}</a></li>" for s in sections)
    info = "".join(
        f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>" for k, v in meta.items()
    )
    body = "".join(
        f"<section id='{s.id}'><h2>{html.escape(s.title)}</h2>{s.body}</section>" for s in sections
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1><table>{info}</table><nav><ul>{nav}</ul></nav>"
        f"{body}</body></html>"
    )


def gather_inputs(
    alias: str,
    data_dir: str | Path | None = None,
    threshold: float | None = None,
    training_set=None,
    tables: dict[str, pd.DataFrame] | None = None,
    audit: pd.DataFrame | None = None,
    kpi_config_path: str | Path | None = None,
) -> ReportInputs:
    """Load the models under ``alias``, the evaluation data and the audit trail.

    The data set is ``data_dir``, else the one the default-risk model was trained on (the run's
    ``data_dir`` tag) if it still exists; ``training_set``/``tables``/``audit`` may be passed
    in to reuse what the caller already holds.
    """
    from scoring import registry
    from scoring.contract import load_tables
    from scoring.models.dataset import build_training_set, load_training_config
    from scoring.service import Bundle

    registry.setup_mlflow()
    try:
        bundle = Bundle.from_registry(alias, require_policy=False, require_risk=False)
    except Exception as exc:  # noqa: BLE001 - the registry says why
        raise ReportError(f"no models under the alias {alias!r}: {exc}") from exc
    if training_set is None or tables is None:
        if data_dir is None:
            key, v = next(((k, v) for k, v in bundle.versions.items() if v is not None))
            d = training_data_dir(key, v)
            data_dir = d if d and Path(d).exists() else None
        if data_dir is not None:
            tables = tables if tables is not None else load_tables(data_dir)
            if training_set is None:
                training_set = build_training_set(tables, load_training_config(), progress=False)
    ev = evaluate_alias(bundle, training_set, str(data_dir or "")) if training_set else None
    thresholds = default_thresholds(ev, threshold) if ev is not None else {}
    if audit is None:
        engine = kpi_mod.audit_engine()
        audit = kpi_mod.read_audit_decisions(engine)
        if engine is not None:
            engine.dispose()
    return ReportInputs(
        alias=alias,
        bundle=bundle,
        evaluation=ev,
        thresholds=thresholds,
        audit=audit,
        tables=tables,
        kpi_config=kpi_mod.load_kpi_config(kpi_config_path),
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    )


def build_sections(inp: ReportInputs, progress: bool = False) -> list[Section]:
    """Every section, in order."""
    from scoring.progress import bar

    tables = metrics_tables(inp.evaluation, inp.thresholds) if inp.evaluation else {}
    builders: list[Callable[[], Section]] = [
        lambda: section_models(inp),
        lambda: section_metrics(inp, tables),
        lambda: section_disparities(inp, tables),
        lambda: section_reasons(inp),
        lambda: section_actions(inp),
        lambda: section_rules(inp),
        lambda: section_kpis(inp),
        lambda: section_promotions(inp),
    ]
    return [b() for b in bar(builders, "report sections", progress, unit="section")]


def build_report(
    alias: str,
    out: str | Path,
    data_dir: str | Path | None = None,
    threshold: float | None = None,
    inputs: ReportInputs | None = None,
    progress: bool = False,
    **kwargs: Any,
) -> Path:
    """Write the compliance report of the models under ``alias`` to ``out`` (HTML).

    ``inputs`` (from :func:`gather_inputs`) skips loading; ``kwargs`` go to :func:`gather_inputs`.
    """
    inp = inputs or gather_inputs(alias, data_dir, threshold, **kwargs)
    sections = build_sections(inp, progress)
    meta = {
        "generated at (UTC)": inp.generated_at,
        "alias": alias,
        "model versions": ", ".join(f"{k} v{v}" for k, v in inp.bundle.versions.items()),
        "evaluation data": inp.evaluation.data_dir if inp.evaluation else "none",
        "audited decisions": str(len(inp.audit)),
        "KPI configuration": str(inp.kpi_config.version),
    }
    page = render_html(sections, f"Compliance report: models '{alias}'", meta)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
