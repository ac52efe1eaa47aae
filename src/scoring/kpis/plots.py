"""The KPI chart: one panel per KPI, a line per segment, the target dashed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scoring.kpis.config import ALL, KPI_LABELS, KPI_NAMES, RATE_KPIS, KpiConfig


def plot_kpis(
    kpis: pd.DataFrame, config: KpiConfig, path: Path, title: str = "Collection KPIs"
) -> Path:
    """One panel per KPI: a line per segment by month, the target dashed, incomplete months
    hollow."""
    fig = kpis_figure(kpis, config, title)
    fig.savefig(path, dpi=100)
    return path


def kpis_figure(kpis: pd.DataFrame, config: KpiConfig, title: str = "Collection KPIs"):
    """The KPI chart as a matplotlib Figure (see :func:`plot_kpis`)."""
    from scoring.reporting import new_figure

    fig, axes = new_figure((14, 7.5), 2, 3)
    months = sorted(kpis["month"].dropna().unique())
    x = {m: i for i, m in enumerate(months)}
    for ax, kpi in zip(axes.ravel(), KPI_NAMES, strict=False):
        scale = 100.0 if kpi in RATE_KPIS else 1.0
        for j, (seg, g) in enumerate(kpis.groupby("segment", sort=True)):
            g = g.sort_values("month")
            xs = g["month"].map(x).to_numpy()
            ys = g[kpi].to_numpy(dtype=float) * scale
            color = "k" if seg == ALL else f"C{j}"
            ax.plot(xs, ys, "-", color=color, lw=2 if seg == ALL else 1.2, label=seg)
            done = g["complete"].to_numpy(dtype=bool)
            ax.plot(xs[done], ys[done], "o", color=color, ms=3)
            ax.plot(xs[~done], ys[~done], "o", mfc="white", color=color, ms=4)
        t = config.targets.get(kpi)  # type: ignore[call-overload]
        shown = list(kpis.loc[kpis["complete"].to_numpy(dtype=bool), kpi].dropna() * scale)
        if t is not None and t.value is not None:
            ax.axhline(t.value * scale, color="red", ls="--", lw=1, label=f"target {t.describe()}")
            shown.append(t.value * scale)
        if shown:  # scale on complete months: immature cohorts would flatten the lines
            lo, hi = min(shown), max(shown)
            pad = 0.1 * (hi - lo) or 1.0
            ax.set_ylim(lo - pad, hi + pad)
        ax.set_title(KPI_LABELS[kpi])
        ax.set_ylabel("%" if kpi in RATE_KPIS else "days")
        step = max(1, len(months) // 6)
        ax.set_xticks(range(0, len(months), step), months[::step], rotation=30, fontsize=8)
        ax.legend(fontsize=7)
    axes.ravel()[-1].axis("off")
    axes.ravel()[-1].text(
        0.0,
        0.5,
        "hollow markers: months whose horizons are\nnot fully observed (not compared with targets)",
        fontsize=9,
    )
    fig.suptitle(title)
    fig.tight_layout()
    return fig
