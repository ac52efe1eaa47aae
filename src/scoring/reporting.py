"""Plots and model cards logged with each training run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_roc(
    y: np.ndarray, p: np.ndarray, title: str, path: Path, truth: np.ndarray | None = None
) -> Path:
    from sklearn.metrics import roc_auc_score, roc_curve

    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5))
    fpr, tpr, _ = roc_curve(y, p)
    ax.plot(fpr, tpr, label=f"model (AUC {roc_auc_score(y, p):.3f})")
    if truth is not None:
        fpr, tpr, _ = roc_curve(y, truth)
        ax.plot(fpr, tpr, "--", label=f"true probability (AUC {roc_auc_score(y, truth):.3f})")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_calibration(
    y: np.ndarray, p: np.ndarray, raw: np.ndarray, title: str, path: Path, bins: int = 10
) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(5, 5))
    for probs, name in ((raw, "before calibration"), (p, "calibrated")):
        order = np.argsort(probs)
        chunks = np.array_split(order, bins)
        ax.plot([probs[c].mean() for c in chunks], [y[c].mean() for c in chunks], "o-", label=name)
    hi = float(max(p.max(), raw.max(), y.mean() * 2, 0.05))
    ax.plot([0, hi], [0, hi], ":", color="grey")
    ax.set(xlabel="predicted probability", ylabel="observed rate", title=title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_metrics_by_group(table: pd.DataFrame, title: str, path: Path) -> Path:
    plt = _plt()
    t = table[table["grouping"] != "overall"].copy()
    t["name"] = t["grouping"] + ": " + t["group"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 0.45 * len(t) + 1.5))
    axes[0].barh(t["name"], t["roc_auc"])
    axes[0].axvline(
        float(table.loc[table["grouping"] == "overall", "roc_auc"].iloc[0]), color="k", ls=":"
    )
    axes[0].set(xlabel="ROC AUC", xlim=(0.5, 1.0), title=title)
    axes[1].barh(t["name"], t["prevalence"], label="observed rate")
    axes[1].set(xlabel="observed rate", title="prevalence by group")
    axes[1].set_yticks([])
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_shap_summary(
    contrib: np.ndarray, X: pd.DataFrame, title: str, path: Path, max_display: int = 15
) -> Path:
    """SHAP beeswarm of exact TreeSHAP values (the shap package draws; LightGBM computed)."""
    import shap

    plt = _plt()
    Xn = X.copy()
    for c in Xn.columns:
        if isinstance(Xn[c].dtype, pd.CategoricalDtype):
            Xn[c] = Xn[c].cat.codes.astype(float)
    shap.summary_plot(contrib, Xn, max_display=max_display, show=False, plot_size=(8, 6))
    plt.title(title)
    plt.tight_layout()
    plt.savefig(path, dpi=110)
    plt.close("all")
    return path


def plot_optuna(trials: pd.DataFrame, title: str, path: Path) -> Path:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 4))
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
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


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
    """A minimal self-contained HTML rendering of a model card (tables and headings)."""
    import html

    body = []
    in_table = False
    for line in md.splitlines():
        if line.startswith("|"):
            cells = [html.escape(c.strip()) for c in line.strip("|").split("|")]
            if all(set(c) <= {"-"} for c in cells):
                continue
            if not in_table:
                body.append("<table>")
                in_table = True
                body.append("<tr>" + "".join(f"<th>{c}</th>" for c in cells) + "</tr>")
            else:
                body.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            continue
        if in_table:
            body.append("</table>")
            in_table = False
        if line.startswith("## "):
            body.append(f"<h2>{html.escape(line[3:])}</h2>")
        elif line.startswith("# "):
            body.append(f"<h1>{html.escape(line[2:])}</h1>")
        elif line.startswith("- "):
            body.append(f"<li>{html.escape(line[2:])}</li>")
        elif line.strip():
            body.append(f"<p>{html.escape(line)}</p>")
    if in_table:
        body.append("</table>")
    style = "body{font-family:sans-serif;max-width:960px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px}"
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head><body>{''.join(body)}</body></html>"


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def plot_action_mix(mix: pd.DataFrame, path: Path) -> Path:
    """Share of each action: logging policy vs the new policy, on held-out decisions."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 4))
    mix.sort_index().plot.barh(ax=ax)
    ax.set(xlabel="share of decisions", title="action mix on held-out decisions")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_reach_heatmap(table: np.ndarray, path: Path, bucket: int = 1) -> Path:
    """Population probability of reaching the debtor by weekday and local time (half hours),
    per channel and segment (``table``: :attr:`scoring.policy.reach.ReachModel.table`)."""
    from scoring.contract import ACTIONS

    plt = _plt()
    channels = ["email_reminder", "sms_reminder", "whatsapp_reminder", "phone_call", "letter"]
    fig, axes = plt.subplots(
        2, len(channels), figsize=(3.6 * len(channels), 6), sharex=True, sharey=True
    )
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
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_learner_selection(table: pd.DataFrame, path: Path) -> Path:
    """Doubly robust off-policy value of each candidate learner on the validation period."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(6, 3.5))
    y = np.arange(len(table))
    err = [table["dr"] - table["dr_ci_low"], table["dr_ci_high"] - table["dr"]]
    colors = ["C1" if c else "C0" for c in table["chosen"]]
    ax.barh(y, table["dr"], xerr=err, color=colors, capsize=4)
    ax.axvline(float(table["logging"].iloc[0]), color="grey", ls=":", label="logging policy")
    ax.set_yticks(y, table["learner"])
    ax.set(xlabel="EUR per decision (DR estimate, 95 % CI)", title="policy learners (validation)")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_ope(est: dict, path: Path) -> Path:
    """Off-policy estimates of the value per decision with their confidence intervals."""
    plt = _plt()
    names = ["logging", "ips", "snips", "dr", "dm"]
    vals = [est[n] for n in names]
    err = [
        [est[n] - est[f"{n}_ci_low"] for n in names],
        [est[f"{n}_ci_high"] - est[n] for n in names],
    ]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.bar(names, vals, yerr=err, capsize=4, color=["grey", "C0", "C0", "C1", "C2"])
    ax.set(
        ylabel="EUR per decision (14-day reward)", title="logging policy vs new policy (off-policy)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
