"""The report's figures, as base64 PNG (nothing is fetched when the page opens)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring import kpis as kpi_mod
from scoring.compliance_report.evaluation import Evaluation


def png(fig) -> str:
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
    return png(fig)


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
    return png(fig)


def plot_bar(series: pd.Series, title: str, xlabel: str) -> str:
    """A horizontal bar chart of a series (base64 PNG)."""
    from scoring.reporting import new_figure

    s = series.iloc[::-1]
    fig, ax = new_figure((7, 0.3 * len(s) + 1.4))
    ax.barh([str(i) for i in s.index], s.to_numpy(dtype=float))
    ax.set(title=title, xlabel=xlabel)
    return png(fig)


def plot_kpi_chart(monthly: pd.DataFrame, config) -> str:
    """The KPI chart of :func:`scoring.kpis.kpis_figure` (base64 PNG)."""
    from scoring.reporting import png_base64

    return png_base64(kpi_mod.kpis_figure(monthly, config), dpi=100)


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
    return png(fig)
