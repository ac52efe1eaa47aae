"""KPIs next to their targets with the sample size behind each value: a rate computed on a
handful of decisions is reported as too few, not as a percentage."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring import kpis as kpi_mod

#: below this many observations a KPI is shown as "too few" (and not judged against its
#: target); the report's ``min_n`` overrides it
MIN_N = 30

KPI_TABLE_COLUMNS = ["segment", "kpi", "label", "n", "shown", "target", "met", "value"]


def too_few(n: int, min_n: int) -> str:
    return f"too few (n = {n} < {min_n})"


def rate_text(k: int, n: int, min_n: int = MIN_N) -> str:
    """``3 of 40 (7.5 %)``, or ``3 of 7 (too few for a rate: n = 7 < 30)``."""
    if n < min_n:
        return f"{k} of {n} (too few for a rate: n = {n} < {min_n})"
    return f"{k} of {n} ({100 * k / n:.1f} %)"


def with_sample_size(
    wide: pd.DataFrame, config, n_columns: dict[str, str], min_n: int = MIN_N
) -> pd.DataFrame:
    """A wide KPI table (one row per segment, a column per KPI and the count columns named
    in ``n_columns``: KPI -> column) in long form next to the targets
    (:func:`scoring.kpis.summary_against_targets`), with ``n`` beside each value; below
    ``min_n`` the value is shown as too few and ``met`` is empty."""
    long = kpi_mod.summary_against_targets(wide, config)
    if long.empty:
        return pd.DataFrame(columns=KPI_TABLE_COLUMNS)
    counts = wide.set_index("segment")
    n = [
        int(counts.loc[seg, n_columns[kpi]]) if n_columns.get(kpi) in counts.columns else 0
        for seg, kpi in zip(long["segment"], long["kpi"], strict=True)
    ]
    long["n"] = pd.array(n, dtype="Int64")
    small = np.asarray(n) < min_n
    long["shown"] = long["shown"].where(~small, [too_few(k, min_n) for k in n])
    long["met"] = long["met"].astype(object).where(~small, None)
    return long[KPI_TABLE_COLUMNS]


def dataset_kpi_table(tables: dict[str, pd.DataFrame], config, min_n: int = MIN_N) -> pd.DataFrame:
    """The data set's KPIs over its complete period (as :func:`scoring.kpis.kpi_summary`);
    ``n``: invoices falling due in that period."""
    wide = kpi_mod.compute_kpis(tables, config, by_month=False, complete_only=True)
    return with_sample_size(wide, config, dict.fromkeys(kpi_mod.KPI_NAMES, "n_invoices_due"), min_n)


def audit_kpi_table(audit: pd.DataFrame, config, min_n: int = MIN_N) -> pd.DataFrame:
    """The KPIs of the audited decisions with a reported outcome
    (:func:`scoring.kpis.audit_kpis`); ``n``: decisions with an outcome, or for days to pay
    and cost of recovery (per amount paid) decisions whose outcome reports a payment."""
    wide = kpi_mod.audit_kpis(audit, by_month=False)
    if wide.empty:
        return pd.DataFrame(columns=KPI_TABLE_COLUMNS)
    paid = audit["has_outcome"].astype(bool) & (audit["paid_amount"].fillna(0.0) > 0)
    per_seg = paid.groupby(audit["segment"].astype(str)).sum()
    n_paid = {str(k): int(v) for k, v in per_seg.items()} | {kpi_mod.ALL: int(paid.sum())}
    wide = wide.assign(n_paid=wide["segment"].map(n_paid).fillna(0).astype(int))
    n_columns = dict.fromkeys(kpi_mod.KPI_NAMES, "n_outcomes") | {
        "days_to_pay": "n_paid",
        "cost_of_recovery": "n_paid",
    }
    return with_sample_size(wide, config, n_columns, min_n)
