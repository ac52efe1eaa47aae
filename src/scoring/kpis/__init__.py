"""Collection KPIs per month and segment, next to the targets of ``config/kpis.yaml``.

Five KPIs, each from the raw tables of a data set (CONTRACT §1) by :func:`compute_kpis`:

* ``recovery_rate``: share of the amount falling due in the month that is paid within
  ``recovery_days`` (60) after its due date (invoices grouped by due month);
* ``days_to_pay``: average days from issue to payment of the invoices paid in the month,
  weighted by amount (the payment-side DSO);
* ``unpaid_rate``: share of the amount falling due in the month still unpaid ``unpaid_days``
  (90) after its due date (CONTRACT §3 payment default, in EUR);
* ``cost_of_recovery``: cost of the actions decided in the month (policy configuration costs)
  divided by the amount *recovered* in the month (paid after its due date);
* ``dispute_rate``: share of the invoices falling due in the month disputed before
  ``dispute_days`` (90) after the due date.

A due-month cohort is ``complete`` when the data set extends past the longest horizon for all
its invoices; incomplete months are shown but not compared with targets.

The same KPIs are computed from the service's own decisions and reported outcomes (the audit
trail) by :func:`audit_kpis` over :func:`read_audit_decisions`; there they are measured between
the decision and the reported payment, so they read as trends, not as the portfolio figures.
:func:`scoring.tracking.log_kpis` logs the KPIs of a data set to the active MLflow run."""

from scoring.kpis.audit import AUDIT_COLUMNS, audit_engine, audit_kpis, read_audit_decisions
from scoring.kpis.compute import (
    compute_kpis,
    kpi_metrics,
    kpi_summary,
    month_of,
    safe_div,
    summary_against_targets,
    with_all,
)
from scoring.kpis.config import (
    ALL,
    CONFIG_PATH,
    KPI_LABELS,
    KPI_NAMES,
    RATE_KPIS,
    Horizons,
    KpiConfig,
    KpiName,
    Target,
    default_costs,
    format_kpi,
    load_kpi_config,
)
from scoring.kpis.plots import kpis_figure, plot_kpis
from scoring.kpis.report import write_kpi_report

__all__ = [
    "ALL",
    "AUDIT_COLUMNS",
    "CONFIG_PATH",
    "Horizons",
    "KPI_LABELS",
    "KPI_NAMES",
    "KpiConfig",
    "KpiName",
    "RATE_KPIS",
    "Target",
    "audit_engine",
    "audit_kpis",
    "compute_kpis",
    "default_costs",
    "format_kpi",
    "kpi_metrics",
    "kpi_summary",
    "kpis_figure",
    "load_kpi_config",
    "month_of",
    "plot_kpis",
    "read_audit_decisions",
    "safe_div",
    "summary_against_targets",
    "with_all",
    "write_kpi_report",
]
