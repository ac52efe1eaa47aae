"""The KPIs of the service's own decisions and reported outcomes (the audit trail)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from scoring.cases import REFERENCE_TZ
from scoring.kpis.compute import month_of, safe_div, with_all
from scoring.kpis.config import ALL, KPI_NAMES, default_costs


def audit_engine(settings=None):
    """A SQLAlchemy engine on the audit trail, or None when there is none yet.

    Read-only use: opening it neither creates the database nor the HMAC key.
    """
    import sqlalchemy as sa

    from scoring.settings import get_settings

    s = settings or get_settings()
    if s.audit_url:
        return sa.create_engine(s.audit_url)
    path = Path(s.home).resolve() / "audit.db"
    if not path.exists():
        return None
    return sa.create_engine(f"sqlite:///{path}")


AUDIT_COLUMNS = [
    "decision_id",
    "decided_at",
    "as_of",
    "month",
    "segment",
    "department",
    "open_amount",
    "action",
    "propensity",
    "requires_review",
    "removed",
    "model_versions",
    "has_outcome",
    "executed_at",
    "outcome",
    "paid_amount",
    "paid_at",
    "dispute",
    "complaint",
]


def read_audit_decisions(engine, since=None, until=None) -> pd.DataFrame:
    """One row per audited decision with its last reported outcome (columns :data:`AUDIT_COLUMNS`).

    ``segment``, ``department`` and ``open_amount`` come from the stored case; ``removed`` is
    the list of ``{action, rules}`` the compliance rules removed (from the stored response).
    ``since``/``until`` filter on ``as_of``. An engine of None gives an empty frame.
    """
    import sqlalchemy as sa

    from scoring.audit import decisions, last_outcome_query, outcomes

    if engine is None:
        return _empty_audit()
    insp = sa.inspect(engine)
    if not insp.has_table("decisions"):
        return _empty_audit()
    q = last_outcome_query(
        [
            decisions.c.decision_id,
            decisions.c.decided_at,
            decisions.c.as_of,
            decisions.c.action,
            decisions.c.propensity,
            decisions.c.requires_review,
            decisions.c.model_versions,
            decisions.c.input,
            decisions.c.output,
            outcomes.c.outcome_id,
            outcomes.c.executed_at,
            outcomes.c.outcome,
            outcomes.c.paid_amount,
            outcomes.c.paid_at,
            outcomes.c.dispute,
            outcomes.c.complaint,
        ],
        None if since is None else pd.Timestamp(since).to_pydatetime(),
        None if until is None else pd.Timestamp(until).to_pydatetime(),
    )
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(q).mappings()]
    if not rows:
        return _empty_audit()
    df = pd.DataFrame(rows)
    inp = df["input"].map(lambda d: d if isinstance(d, dict) else {})
    out = df["output"].map(lambda d: d if isinstance(d, dict) else {})
    res = pd.DataFrame(
        {
            "decision_id": df["decision_id"].astype(str),
            "decided_at": pd.to_datetime(df["decided_at"]).dt.tz_localize("UTC"),
            "as_of": pd.to_datetime(df["as_of"]).dt.tz_localize("UTC"),
            "segment": inp.map(lambda d: (d.get("debtor") or {}).get("segment")).astype(str),
            "department": inp.map(lambda d: (d.get("debtor") or {}).get("department")).astype(str),
            "open_amount": inp.map(
                lambda d: float(sum(float(i.get("amount", 0)) for i in d.get("open_invoices", [])))
            ),
            "action": df["action"].astype(str),
            "propensity": df["propensity"].astype(float),
            "requires_review": df["requires_review"].astype(bool),
            "removed": out.map(lambda d: list(d.get("removed") or [])),
            "model_versions": df["model_versions"],
            "has_outcome": df["outcome_id"].notna(),
            "executed_at": pd.to_datetime(df["executed_at"]).dt.tz_localize("UTC"),
            "outcome": df["outcome"].astype(object).where(df["outcome"].notna(), None),
            "paid_amount": pd.to_numeric(df["paid_amount"], errors="coerce").astype(float),
            "paid_at": pd.to_datetime(df["paid_at"]),
            "dispute": df["dispute"].astype("boolean").fillna(False).astype(bool),
            "complaint": df["complaint"].astype("boolean").fillna(False).astype(bool),
        }
    )
    local = res["as_of"].dt.tz_convert(REFERENCE_TZ).dt.tz_localize(None)
    res["month"] = month_of(local)
    return res[AUDIT_COLUMNS]


def _empty_audit() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in AUDIT_COLUMNS})


def audit_kpis(
    audit: pd.DataFrame, costs: dict[str, float] | None = None, by_month: bool = True
) -> pd.DataFrame:
    """The KPIs of the service's decisions with a reported outcome, per month and segment.

    On decisions with an outcome: ``recovery_rate`` = paid / open amount at the decision,
    ``unpaid_rate`` = 1 - recovery rate, ``days_to_pay`` = days from the decision to the
    payment (weighted by amount paid), ``cost_of_recovery`` = cost of the actions / amount paid,
    ``dispute_rate`` = share of reports with a dispute. Also ``n_decisions``, ``n_outcomes``,
    ``complaint_rate`` and ``review_rate`` (share of decisions flagged for human review).
    """
    costs = costs if costs is not None else default_costs()
    cols = [
        "month",
        "segment",
        "n_decisions",
        "n_outcomes",
        "open_amount",
        "paid_amount",
        *KPI_NAMES,
        "complaint_rate",
        "review_rate",
    ]
    if audit.empty:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    a = audit.copy()
    a["month"] = a["month"] if by_month else ALL
    rep = a["has_outcome"].to_numpy(dtype=bool)
    paid = a["paid_amount"].fillna(0.0).to_numpy(dtype=float)
    as_of_day = a["as_of"].dt.tz_convert(REFERENCE_TZ).dt.tz_localize(None).dt.normalize()
    days = (a["paid_at"] - as_of_day).dt.days.astype(float).clip(lower=0)
    has_pay = rep & (paid > 0) & days.notna().to_numpy()
    f = pd.DataFrame(
        {
            "month": a["month"].to_numpy(),
            "segment": a["segment"].to_numpy(),
            "one": 1.0,
            "rep": rep.astype(float),
            "open_rep": np.where(rep, a["open_amount"].to_numpy(dtype=float), 0.0),
            "paid_rep": np.where(rep, paid, 0.0),
            "pay_w": np.where(has_pay, paid, 0.0),
            "days_w": np.where(has_pay, days.fillna(0).to_numpy() * paid, 0.0),
            "cost_rep": np.where(
                rep, a["action"].map(costs).fillna(0.0).to_numpy(dtype=float), 0.0
            ),
            "dispute_rep": np.where(rep, a["dispute"].to_numpy(dtype=float), 0.0),
            "complaint_rep": np.where(rep, a["complaint"].to_numpy(dtype=float), 0.0),
            "review": a["requires_review"].to_numpy(dtype=float),
        }
    )
    g = with_all(f).groupby(["month", "segment"])
    s = g.sum(numeric_only=True)
    res = pd.DataFrame(
        {
            "n_decisions": s["one"].astype("int64"),
            "n_outcomes": s["rep"].astype("int64"),
            "open_amount": s["open_rep"],
            "paid_amount": s["paid_rep"],
            "recovery_rate": safe_div(s["paid_rep"], s["open_rep"]),
            "days_to_pay": safe_div(s["days_w"], s["pay_w"]),
            "cost_of_recovery": safe_div(s["cost_rep"], s["paid_rep"]),
            "dispute_rate": safe_div(s["dispute_rep"], s["rep"]),
            "complaint_rate": safe_div(s["complaint_rep"], s["rep"]),
            "review_rate": s["review"] / s["one"],
        }
    )
    res["unpaid_rate"] = 1.0 - res["recovery_rate"]
    return res.reset_index()[cols]
