"""The files ``scoring kpis`` writes: tables and charts of the data set and of the audit trail."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from scoring.kpis.audit import audit_kpis
from scoring.kpis.compute import compute_kpis, kpi_summary, summary_against_targets
from scoring.kpis.config import KpiConfig, load_kpi_config
from scoring.kpis.plots import plot_kpis


def write_kpi_report(
    tables: dict[str, pd.DataFrame] | None,
    out_dir: str | Path,
    config: KpiConfig | None = None,
    audit: pd.DataFrame | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Write ``kpis_by_month.csv``, ``kpis_summary.csv``, ``kpis.png`` (and the audit-based
    ``audit_kpis*.csv``/``audit_kpis.png`` when ``audit`` has rows) to ``out_dir``.

    Returns the frames and paths written (used by ``scoring kpis``).
    """
    from scoring.progress import bar

    config = config or load_kpi_config()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"paths": []}
    steps = [
        s
        for s, todo in (("data", tables is not None), ("audit", audit is not None and len(audit)))
        if todo
    ]
    done = iter(bar(steps, "KPIs", progress, unit="source"))
    if tables is not None:
        next(done)
        monthly = compute_kpis(tables, config)
        summary = kpi_summary(tables, config)
        monthly.to_csv(out / "kpis_by_month.csv", index=False)
        summary.to_csv(out / "kpis_summary.csv", index=False)
        plot_kpis(monthly, config, out / "kpis.png")
        res.update(monthly=monthly, summary=summary)
        res["paths"] += [out / "kpis_by_month.csv", out / "kpis_summary.csv", out / "kpis.png"]
    if audit is not None and len(audit):
        next(done)
        am = audit_kpis(audit)
        asum = summary_against_targets(audit_kpis(audit, by_month=False), config)
        am.to_csv(out / "audit_kpis_by_month.csv", index=False)
        asum.to_csv(out / "audit_kpis_summary.csv", index=False)
        plot_kpis(
            am.assign(complete=True),
            config,
            out / "audit_kpis.png",
            "KPIs of the service's decisions (reported outcomes)",
        )
        res.update(audit_monthly=am, audit_summary=asum)
        res["paths"] += [
            out / "audit_kpis_by_month.csv",
            out / "audit_kpis_summary.csv",
            out / "audit_kpis.png",
        ]
    for _ in done:  # close the bar
        pass
    return res
