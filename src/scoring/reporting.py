"""Plots and model cards logged with each training run."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# --------------------------------------------------------------------------------------
# Figures: every builder returns a matplotlib Figure that belongs to no pyplot state (no
# backend is switched, nothing needs closing, a notebook shows it inline); ``plot_*`` save one.


def new_figure(figsize: tuple[float, float] = (6, 4), nrows: int = 1, ncols: int = 1, **kw):
    """``(Figure, axes)`` outside pyplot (``Figure.subplots``)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kw)


def save_figure(fig, path: str | Path, dpi: int = 110) -> Path:
    """Save ``fig`` (laid out tight) to ``path``; returns the path."""
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return Path(path)


def png_base64(fig, dpi: int = 90) -> str:
    """``fig`` as a base64 PNG (for self-contained HTML pages)."""
    import base64
    import io

    buf = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buf, format="png", dpi=dpi)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def pyplot_drawn(draw) -> Figure:
    """Call ``draw()``, a library function that draws on pyplot's current figure (SHAP's
    plots), and return that figure detached from pyplot. Imports pyplot without choosing a
    backend (matplotlib falls back to Agg without a display)."""
    import matplotlib.pyplot as plt

    fig = plt.figure()
    try:
        draw()
        fig = plt.gcf()
    finally:
        plt.close(fig)
    return fig


def roc_figure(y: np.ndarray, p: np.ndarray, title: str, truth: np.ndarray | None = None):
    """ROC curve (scikit-learn's ``RocCurveDisplay``), the true probability's when known."""
    from sklearn.metrics import RocCurveDisplay

    fig, ax = new_figure((5, 5))
    RocCurveDisplay.from_predictions(y, p, ax=ax, name="model", plot_chance_level=True)
    if truth is not None:
        RocCurveDisplay.from_predictions(y, truth, ax=ax, name="true probability", ls="--")
    ax.set(title=title)
    ax.legend(loc="lower right")
    return fig


def plot_roc(
    y: np.ndarray, p: np.ndarray, title: str, path: Path, truth: np.ndarray | None = None
) -> Path:
    return save_figure(roc_figure(y, p, title, truth), path)


def calibration_figure(
    y: np.ndarray, p: np.ndarray, raw: np.ndarray | None, title: str, bins: int = 10
):
    """Reliability diagram (scikit-learn's ``CalibrationDisplay``, quantile bins), before
    and after calibration."""
    from sklearn.calibration import CalibrationDisplay

    fig, ax = new_figure((5, 5))
    curves = ([(raw, "before calibration")] if raw is not None else []) + [(p, "calibrated")]
    for probs, name in curves:
        CalibrationDisplay.from_predictions(
            y, probs, n_bins=bins, strategy="quantile", ax=ax, name=name
        )
    hi = float(max(p.max(), raw.max() if raw is not None else 0.0, y.mean() * 2, 0.05))
    ax.set(xlim=(0, hi), ylim=(0, hi), title=title)
    ax.legend(loc="upper left")
    return fig


def plot_calibration(
    y: np.ndarray, p: np.ndarray, raw: np.ndarray, title: str, path: Path, bins: int = 10
) -> Path:
    return save_figure(calibration_figure(y, p, raw, title, bins), path)


def calibration_by_month_figure(y: np.ndarray, p: np.ndarray, month: np.ndarray, title: str):
    """Mean predicted probability and observed rate per month (drift shows as a gap)."""
    df = pd.DataFrame({"y": np.asarray(y, dtype=float), "p": p, "month": month})
    g = df.groupby("month", sort=True).agg(
        predicted=("p", "mean"), observed=("y", "mean"), n=("y", "size")
    )
    fig, ax = new_figure((7, 4))
    x = np.arange(len(g))
    ax.plot(x, g["predicted"], "o-", label="mean predicted")
    ax.plot(x, g["observed"], "s--", label="observed rate")
    ax.set_xticks(x, [str(m) for m in g.index], rotation=30, fontsize=8)
    ax.set(ylabel="probability", title=title)
    ax.legend()
    return fig


def plot_calibration_by_month(
    y: np.ndarray, p: np.ndarray, month: np.ndarray, title: str, path: Path
) -> Path:
    return save_figure(calibration_by_month_figure(y, p, month, title), path)


def lift_table(y: np.ndarray, p: np.ndarray, groups: int = 10) -> pd.DataFrame:
    """Deciles by score (1 = highest): cases, positives, rate, lift over the mean, cumulative
    share of positives captured (gains)."""
    y = np.asarray(y, dtype=float)
    order = np.argsort(-np.asarray(p), kind="stable")
    chunks = np.array_split(order, groups)
    total, base = max(y.sum(), 1e-12), max(y.mean(), 1e-12)
    rows, captured = [], 0.0
    for i, c in enumerate(chunks, start=1):
        pos = float(y[c].sum())
        captured += pos
        rows.append(
            {
                "decile": i,
                "n": len(c),
                "positives": pos,
                "rate": pos / max(len(c), 1),
                "lift": pos / max(len(c), 1) / base,
                "gains": captured / total,
            }
        )
    return pd.DataFrame(rows)


def lift_figure(y: np.ndarray, p: np.ndarray, title: str):
    """Lift per score decile and cumulative gains (share of positives in the top deciles)."""
    t = lift_table(y, p)
    fig, (a, b) = new_figure((10, 4), 1, 2)
    a.bar(t["decile"], t["lift"])
    a.axhline(1.0, color="grey", ls=":")
    a.set(xlabel="score decile (1 = riskiest)", ylabel="lift", title=f"{title}: lift")
    share = np.concatenate([[0.0], t["decile"].to_numpy() / len(t)])
    b.plot(share, np.concatenate([[0.0], t["gains"].to_numpy()]), "o-", label="model")
    b.plot([0, 1], [0, 1], ":", color="grey", label="random")
    b.set(xlabel="share of cases (riskiest first)", ylabel="share of positives", title="gains")
    b.legend()
    return fig


def plot_lift(y: np.ndarray, p: np.ndarray, title: str, path: Path) -> Path:
    return save_figure(lift_figure(y, p, title), path)


def metrics_by_group_figure(table: pd.DataFrame, title: str):
    t = table[table["grouping"] != "overall"].copy()
    t["name"] = t["grouping"] + ": " + t["group"]
    fig, axes = new_figure((10, 0.45 * len(t) + 1.5), 1, 2)
    axes[0].barh(t["name"], t["roc_auc"])
    axes[0].axvline(
        float(table.loc[table["grouping"] == "overall", "roc_auc"].iloc[0]), color="k", ls=":"
    )
    axes[0].set(xlabel="ROC AUC", xlim=(0.5, 1.0), title=title)
    axes[1].barh(t["name"], t["prevalence"], label="observed rate")
    axes[1].set(xlabel="observed rate", title="prevalence by group")
    axes[1].set_yticks([])
    return fig


def plot_metrics_by_group(table: pd.DataFrame, title: str, path: Path) -> Path:
    return save_figure(metrics_by_group_figure(table, title), path)


def numeric_frame(X: pd.DataFrame) -> pd.DataFrame:
    """Features as floats for SHAP's plots (categories by code)."""
    Xn = X.copy()
    for c in Xn.columns:
        if isinstance(Xn[c].dtype, pd.CategoricalDtype):
            Xn[c] = Xn[c].cat.codes.astype(float)
        elif not pd.api.types.is_numeric_dtype(Xn[c]):
            Xn[c] = pd.to_numeric(Xn[c], errors="coerce")
    return Xn.astype(float)


def shap_summary_figure(contrib: np.ndarray, X: pd.DataFrame, title: str, max_display: int = 15):
    """SHAP beeswarm of exact TreeSHAP values (the shap package draws; LightGBM computed)."""
    import shap

    Xn = numeric_frame(X)

    def draw() -> None:
        shap.summary_plot(contrib, Xn, max_display=max_display, show=False, plot_size=(8, 6))

    fig = pyplot_drawn(draw)
    fig.suptitle(title)
    return fig


def plot_shap_summary(
    contrib: np.ndarray, X: pd.DataFrame, title: str, path: Path, max_display: int = 15
) -> Path:
    return save_figure(shap_summary_figure(contrib, X, title, max_display), path)


def shap_waterfall_figure(
    contrib: np.ndarray, base: float, row: pd.Series, title: str, max_display: int = 12
):
    """SHAP waterfall of one case: from the base value (log-odds) to its raw score, one bar
    per feature contribution, with the case's values."""
    import shap

    values = row.astype(object).where(row.notna(), None).to_numpy()
    expl = shap.Explanation(
        values=np.asarray(contrib, dtype=float),
        base_values=float(base),
        data=values,
        feature_names=[str(c) for c in row.index],
    )

    def draw() -> None:
        shap.plots.waterfall(expl, max_display=max_display, show=False)

    fig = pyplot_drawn(draw)
    fig.suptitle(title)
    return fig


def shap_dependence_figure(
    contrib: np.ndarray, X: pd.DataFrame, feature: str, interaction: str | None = None
):
    """SHAP dependence plot of one feature (categorical features drawn by category code)."""
    import shap

    Xn = numeric_frame(X)

    def draw() -> None:
        shap.dependence_plot(
            feature, np.asarray(contrib), Xn, interaction_index=interaction, show=False
        )

    fig = pyplot_drawn(draw)
    fig.suptitle(f"SHAP dependence: {feature}")
    return fig


def optuna_figure(trials: pd.DataFrame, title: str):
    fig, ax = new_figure((6, 4))
    done = trials[trials["state"] == "COMPLETE"]
    ax.scatter(done["user_attrs_leaves"], done["valid_auc"], label="trials")
    ch = done[done["chosen"]]
    ax.scatter(
        ch["user_attrs_leaves"],
        ch["valid_auc"],
        color="red",
        s=80,
        label="chosen (smallest within tolerance)",
    )
    ax.set(xscale="log", xlabel="model size (total leaves)", ylabel="validation AUC", title=title)
    ax.legend()
    return fig


def plot_optuna(trials: pd.DataFrame, title: str, path: Path) -> Path:
    return save_figure(optuna_figure(trials, title), path)


def model_card(
    key: str,
    model,
    summary: pd.DataFrame,
    test_table: pd.DataFrame,
    fingerprint: str,
    data_dir: str,
    top_features: list[str],
) -> str:
    """Markdown model card: intended use, data and period, metrics by segment, features, limits."""
    from scoring.features import FEATURE_BY_NAME

    what = (
        "payment default (an open invoice still unpaid 90 days after its due date)"
        if key == "default_risk"
        else "dispute (a dispute raised on an open invoice within 90 days)"
    )
    lines = [
        f"# Model card: {key}",
        "",
        "## Intended use",
        f"Probability of {what} for a debtor with open invoices (CONTRACT §3), to prioritise and",
        "explain collection actions. Decision support only: it does not decide alone on actions with",
        "a significant effect (B2C formal notices and legal escalations require human review).",
        "Not for credit granting, pricing, or any use on people outside a collection relationship.",
        "",
        "## Data and period",
        f"- data set: `{data_dir}` (fingerprint `{fingerprint}`)",
        "",
        markdown_table(summary.reset_index()),
        "",
        "## Model",
        f"- LightGBM, {model.info.get('trees')} trees, {model.info.get('leaves')} leaves in total, max depth {model.info.get('max_depth')}",
        f"- chosen trial {model.info.get('chosen_trial')}: validation AUC {model.info.get('valid_auc', float('nan')):.4f} (best {model.info.get('best_valid_auc', float('nan')):.4f}); smallest within tolerance",
        f"- calibration: {model.calibrator.method} on the calibration period",
        f"- monotone constraints: {'yes' if model.info.get('monotone') else 'no'}",
        "",
        "## Test-period metrics",
        "",
        markdown_table(
            test_table[
                ["grouping", "group", "n", "prevalence", "roc_auc", "pr_auc", "brier", "ece", "ks"]
            ]
        ),
        "",
        "## Features",
        "",
        "| feature | label (fr) | description |",
        "|---|---|---|",
        *[
            f"| {f} | {FEATURE_BY_NAME[f].label_fr} | {FEATURE_BY_NAME[f].description} |"
            for f in model.feature_names
        ],
        "",
        f"Most influential on the test period (mean |SHAP|): {', '.join(top_features)}.",
        "",
        "## Known limits",
        "- Learned from one creditor's history: retrain on your own data before use; scores drift when",
        "  terms, products or the economy change (watch calibration by month).",
        "- Cases sampled every few weeks overlap (the same debtor at several instants): metrics are",
        "  optimistic about the number of independent observations.",
        "- Labels look 90 days ahead: the most recent three months of data cannot be used for training.",
        "- Contributions explain the raw (log-odds) score; calibration is a monotone map applied after.",
        "- No personal data is used; the département enters only through the overseas flag. Check",
        "  disparities between groups in the compliance report before promotion.",
    ]
    return "\n".join(lines) + "\n"


def markdown_table(df: pd.DataFrame) -> str:
    """A data frame as a Markdown table (numbers rounded for reading)."""
    cols = list(df.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        cells = []
        for c in cols:
            v = r[c]
            cells.append(
                f"{v:.4f}"
                if isinstance(v, float) and c != "n"
                else (f"{int(v)}" if c == "n" else str(v))
            )
        out.append("| " + " | ".join(cells) + " |")
    return "\n".join(out)


def markdown_to_html(md: str, title: str) -> str:
    """A self-contained HTML page of a Markdown text (model cards): CommonMark with tables,
    rendered by markdown-it-py; raw HTML in the text is escaped."""
    import html

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(md)
    style = (
        "body{font-family:sans-serif;max-width:960px;margin:2em auto}"
        "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;"
        "font-size:13px}code{background:#f4f4f4;padding:0 3px}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head><body>{body}</body></html>"
    )


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def action_mix_figure(mix: pd.DataFrame):
    """Share of each action: logging policy vs the new policy, on held-out decisions."""
    fig, ax = new_figure((7, 4))
    mix.sort_index().plot.barh(ax=ax)
    ax.set(xlabel="share of decisions", title="action mix on held-out decisions")
    return fig


def plot_action_mix(mix: pd.DataFrame, path: Path) -> Path:
    return save_figure(action_mix_figure(mix), path)


def reach_heatmap_figure(table: np.ndarray, bucket: int = 1):
    """Population probability of reaching the debtor by weekday and local time (half hours),
    per channel and segment (``table``: :attr:`scoring.policy.reach.ReachModel.table`)."""
    from scoring.contract import ACTIONS

    channels = ["email_reminder", "sms_reminder", "whatsapp_reminder", "phone_call", "letter"]
    fig, axes = new_figure((3.6 * len(channels), 6), 2, len(channels), sharex=True, sharey=True)
    im = None
    for i, seg in enumerate(["B2B", "B2C"]):
        for j, ch in enumerate(channels):
            grid = np.asarray(table)[i, ACTIONS.index(ch), :, 16:40, bucket]  # 08:00-20:00
            ax = axes[i, j]
            im = ax.imshow(
                grid, aspect="auto", vmin=0, vmax=1, cmap="viridis", extent=(8, 20, 6.5, -0.5)
            )
            ax.set_title(f"{seg} {ch.replace('_reminder', '')}")
            ax.set_yticks(range(7), ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"])
            if i == 1:
                ax.set_xlabel("local time (h)")
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.7, label="P(reached), population")
    return fig


def plot_reach_heatmap(table: np.ndarray, path: Path, bucket: int = 1) -> Path:
    fig = reach_heatmap_figure(table, bucket)
    fig.savefig(path, dpi=100)  # the colour bar spans the axes: no tight layout
    return Path(path)


def learner_selection_figure(table: pd.DataFrame):
    """Doubly robust off-policy value of each candidate learner on the validation period."""
    fig, ax = new_figure((6, 3.5))
    y = np.arange(len(table))
    err = [table["dr"] - table["dr_ci_low"], table["dr_ci_high"] - table["dr"]]
    colors = ["C1" if c else "C0" for c in table["chosen"]]
    ax.barh(y, table["dr"], xerr=err, color=colors, capsize=4)
    ax.axvline(float(table["logging"].iloc[0]), color="grey", ls=":", label="logging policy")
    ax.set_yticks(y, table["learner"])
    ax.set(xlabel="EUR per decision (DR estimate, 95 % CI)", title="policy learners (validation)")
    ax.legend(loc="lower right")
    return fig


def plot_learner_selection(table: pd.DataFrame, path: Path) -> Path:
    return save_figure(learner_selection_figure(table), path)


def ope_figure(est: dict):
    """Off-policy estimates of the value per decision with their confidence intervals."""
    names = ["logging", "ips", "snips", "dr", "dm"]
    vals = [est[n] for n in names]
    err = [
        [est[n] - est[f"{n}_ci_low"] for n in names],
        [est[f"{n}_ci_high"] - est[n] for n in names],
    ]
    fig, ax = new_figure((6, 4))
    ax.bar(names, vals, yerr=err, capsize=4, color=["grey", "C0", "C0", "C1", "C2"])
    ax.set(
        ylabel="EUR per decision (14-day reward)", title="logging policy vs new policy (off-policy)"
    )
    return fig


def plot_ope(est: dict, path: Path) -> Path:
    return save_figure(ope_figure(est), path)


# --------------------------------------------------------------------------------------
# Invoice models and the cash forecast


def payment_curve_figure(curve: pd.DataFrame, title: str = "Share of invoices paid, test period"):
    """Predicted vs observed cumulative share paid by each week after as_of (count and
    amount-weighted)."""
    fig, ax = new_figure((6.5, 4))
    ax.plot(curve["days"], curve["observed"], "o-", color="black", label="observed (invoices)")
    ax.plot(curve["days"], curve["predicted"], "s--", color="C0", label="predicted (invoices)")
    ax.plot(curve["days"], curve["observed_amount"], "o-", color="grey", alpha=0.6,
            label="observed (amount)")  # fmt: skip
    ax.plot(curve["days"], curve["predicted_amount"], "s--", color="C1", alpha=0.8,
            label="predicted (amount)")  # fmt: skip
    ax.set(xlabel="days after as_of", ylabel="share paid", ylim=(0, 1), title=title)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return fig


def plot_payment_curve(curve: pd.DataFrame, path: Path) -> Path:
    return save_figure(payment_curve_figure(curve), path)


def candidates_figure(comparison: pd.DataFrame, period: str = "test"):
    """AUC of the case probabilities from the case model, the invoice roll-up and the blend,
    overall and by days-past-due bucket, for each label."""
    c = comparison[(comparison["period"] == period) & (comparison["grouping"] != "segment")]
    labels = list(dict.fromkeys(c["label"]))
    fig, axes = new_figure((6 * max(len(labels), 1), 4), 1, max(len(labels), 1), squeeze=False)
    for ax, label in zip(axes[0], labels, strict=False):
        t = c[c["label"] == label].pivot_table(index="group", columns="candidate", values="roc_auc")
        t.plot.bar(ax=ax, rot=0)
        lo = float(np.nanmin(t.to_numpy())) if t.size else 0.5
        ax.set(ylim=(max(0.5, lo - 0.05), 1.0), title=f"{label}: ROC AUC, {period} period",
               xlabel="days past due", ylabel="ROC AUC")  # fmt: skip
        ax.grid(axis="y", alpha=0.3)
    return fig


def plot_candidates(comparison: pd.DataFrame, path: Path) -> Path:
    return save_figure(candidates_figure(comparison), path)


def cash_forecast_figure(weekly: pd.DataFrame, realized: np.ndarray | None = None, title: str = ""):
    """Expected cash-in per week with 80 % and 95 % intervals (all segments), and what was
    actually paid when known."""
    w = weekly[weekly["segment"] == "all"]
    fig, ax = new_figure((7, 4))
    x = w["week"].to_numpy()
    ax.fill_between(x, w["p2_5"], w["p97_5"], color="C0", alpha=0.15, label="95 % interval")
    ax.fill_between(x, w["p10"], w["p90"], color="C0", alpha=0.3, label="80 % interval")
    ax.plot(x, w["expected"], "o-", color="C0", label="expected")
    if realized is not None:
        ax.plot(x, realized[: len(x)], "k^", label="actually paid")
    ax.set(xlabel="week after as_of", ylabel="cash-in, EUR", title=title or "Cash forecast")
    ax.grid(alpha=0.3)
    ax.legend()
    return fig


def plot_cash_forecast(
    weekly: pd.DataFrame, path: Path, realized: np.ndarray | None = None, title: str = ""
) -> Path:
    return save_figure(cash_forecast_figure(weekly, realized, title), path)
