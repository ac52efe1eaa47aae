"""The five KPIs per month and segment from the raw tables, and their summary against targets."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.cases import REFERENCE_TZ, data_end
from scoring.kpis.config import (
    ALL,
    KPI_LABELS,
    KPI_NAMES,
    KpiConfig,
    default_costs,
    format_kpi,
    load_kpi_config,
)


def month_of(s: pd.Series) -> pd.Series:
    """``YYYY-MM`` of naive dates (NaT stays missing)."""
    return s.dt.to_period("M").astype(str).where(s.notna())


def with_all(df: pd.DataFrame) -> pd.DataFrame:
    return pd.concat([df, df.assign(segment=ALL)], ignore_index=True)


def safe_div(a: pd.Series, b: pd.Series) -> pd.Series:
    return (a / b.where(b > 0)).astype("float64")


def compute_kpis(
    tables: dict[str, pd.DataFrame],
    config: KpiConfig | None = None,
    costs: dict[str, float] | None = None,
    by_month: bool = True,
    complete_only: bool = False,
) -> pd.DataFrame:
    """The five KPIs per month and segment (``B2B``, ``B2C`` and ``all``).

    Columns: ``month`` (``YYYY-MM``, or ``all`` with ``by_month=False``), ``segment``,
    ``n_invoices_due``, ``amount_due``, ``amount_recovered``, ``action_cost`` and the five
    KPIs of the module docstring, then ``complete``. ``complete_only`` keeps only invoices
    whose horizons are observed (and actions and payments up to the same date).
    """
    config = config or load_kpi_config()
    costs = costs if costs is not None else default_costs()
    end = data_end(tables)
    seg = tables["debtors"][["debtor_id", "segment"]].astype({"segment": str})
    inv = tables["invoices"].merge(seg, on="debtor_id", how="left")
    acts = tables["actions"].merge(seg, on="debtor_id", how="left")
    cutoff = end - pd.Timedelta(days=config.max_horizon)
    if complete_only:
        inv = inv[inv["due_date"] <= cutoff]
    due = inv["due_date"]
    paid = inv["paid_date"]
    amount = inv["amount"].astype("float64")
    rec_h = pd.Timedelta(days=config.recovery_days)
    unp_h = pd.Timedelta(days=config.unpaid_days)
    dis_h = pd.Timedelta(days=config.dispute_days)
    cohort = pd.DataFrame(
        {
            "month": month_of(due) if by_month else ALL,
            "segment": inv["segment"].to_numpy(),
            "amount": amount.to_numpy(),
            "recovered_in_h": np.where((paid <= due + rec_h).fillna(False), amount, 0.0),
            "unpaid_after_h": np.where(
                (paid.isna() | (paid > due + unp_h)).fillna(True), amount, 0.0
            ),
            "disputed": (inv["dispute_date"] <= due + dis_h).fillna(False).astype(float),
        }
    )
    g = with_all(cohort).groupby(["month", "segment"])
    out = pd.DataFrame(
        {
            "n_invoices_due": g.size(),
            "amount_due": g["amount"].sum(),
            "recovery_rate": g["recovered_in_h"].sum() / g["amount"].sum(),
            "unpaid_rate": g["unpaid_after_h"].sum() / g["amount"].sum(),
            "dispute_rate": g["disputed"].mean(),
        }
    )
    # payment side: invoices paid in the month
    p = inv[paid.notna()]
    if complete_only:
        p = p[p["paid_date"] <= cutoff]
    days = (p["paid_date"] - p["issue_date"]).dt.days.astype("float64")
    pay = pd.DataFrame(
        {
            "month": month_of(p["paid_date"]) if by_month else ALL,
            "segment": p["segment"].to_numpy(),
            "amount": p["amount"].astype("float64").to_numpy(),
            "weighted_days": (days * p["amount"].astype("float64")).to_numpy(),
            "recovered": np.where(p["paid_date"] > p["due_date"], p["amount"], 0.0),
        }
    )
    gp = with_all(pay).groupby(["month", "segment"])
    pay_out = pd.DataFrame(
        {
            "amount_paid": gp["amount"].sum(),
            "amount_recovered": gp["recovered"].sum(),
            "days_to_pay": gp["weighted_days"].sum() / gp["amount"].sum(),
        }
    )
    # cost side: actions decided in the month (Europe/Paris calendar)
    decided = acts["decided_at"].dt.tz_convert(REFERENCE_TZ).dt.tz_localize(None)
    a = pd.DataFrame(
        {
            "month": month_of(decided) if by_month else ALL,
            "segment": acts["segment"].to_numpy(),
            "cost": acts["action"].astype(str).map(costs).fillna(0.0).astype(float).to_numpy(),
        }
    )
    if complete_only:
        a = a[(decided <= cutoff).to_numpy()]
    cost_out = with_all(a).groupby(["month", "segment"])["cost"].sum().rename("action_cost")

    res = out.join(pay_out, how="outer").join(cost_out, how="outer")
    for c in ("n_invoices_due",):
        res[c] = res[c].fillna(0).astype("int64")
    for c in ("amount_due", "amount_paid", "amount_recovered", "action_cost"):
        res[c] = res[c].fillna(0.0).astype("float64")
    res["cost_of_recovery"] = safe_div(res["action_cost"], res["amount_recovered"])
    res = res.reset_index()
    if by_month:
        month_end = pd.PeriodIndex(res["month"], freq="M").end_time.normalize()
        res["complete"] = np.asarray(month_end <= cutoff, dtype=bool)
    else:
        res["complete"] = bool(complete_only or (inv["due_date"] <= cutoff).all())
    cols = [
        "month",
        "segment",
        "n_invoices_due",
        "amount_due",
        "amount_paid",
        "amount_recovered",
        "action_cost",
        *KPI_NAMES,
        "complete",
    ]
    order = {"B2B": 0, "B2C": 1, ALL: 2}
    res = res.assign(_o=res["segment"].map(order).fillna(3))
    return (
        res.sort_values(["month", "_o", "segment"]).drop(columns="_o")[cols].reset_index(drop=True)
    )


def kpi_summary(
    tables: dict[str, pd.DataFrame],
    config: KpiConfig | None = None,
    costs: dict[str, float] | None = None,
) -> pd.DataFrame:
    """One row per (segment, KPI): the value over the complete period, the target, whether met.

    Columns: ``segment``, ``kpi``, ``label``, ``value``, ``shown``, ``target``, ``met``.
    """
    config = config or load_kpi_config()
    k = compute_kpis(tables, config, costs, by_month=False, complete_only=True)
    return summary_against_targets(k, config)


def summary_against_targets(kpis: pd.DataFrame, config: KpiConfig) -> pd.DataFrame:
    """Long form of a KPI table (one row per segment) next to the targets."""
    rows = []
    for r in kpis.to_dict("records"):
        for kpi in KPI_NAMES:
            if kpi not in r:
                continue
            v = r[kpi]
            v = None if v is None or pd.isna(v) else float(v)
            t = config.targets[kpi]  # type: ignore[index]
            rows.append(
                {
                    "segment": r["segment"],
                    "kpi": kpi,
                    "label": KPI_LABELS[kpi],
                    "value": np.nan if v is None else v,
                    "shown": format_kpi(kpi, v),
                    "target": t.describe(),
                    "met": t.met(v),
                }
            )
    return pd.DataFrame(
        rows, columns=["segment", "kpi", "label", "value", "shown", "target", "met"]
    )


def kpi_metrics(summary: pd.DataFrame) -> dict[str, float]:
    """Flat MLflow metric names ``kpi_{segment}_{kpi}`` (and ``..._met`` as 0/1)."""
    out: dict[str, float] = {}
    for r in summary.to_dict("records"):
        if r["value"] == r["value"]:
            out[f"kpi_{r['segment']}_{r['kpi']}"] = float(r["value"])
        if r["met"] is not None:
            out[f"kpi_{r['segment']}_{r['kpi']}_met"] = float(bool(r["met"]))
    return out
