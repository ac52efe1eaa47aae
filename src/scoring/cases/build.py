"""Cases from the raw tables at an instant, with only the facts known before it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from scoring.cases.caseset import (
    ACTION_COLS,
    DEBTOR_COLS,
    HISTORY_COLS,
    INVOICE_COLS,
    CaseSet,
    typed_actions,
    typed_cases,
    typed_invoices,
)
from scoring.cases.schema import as_of_day
from scoring.contract import (
    DUE_HORIZON_DAYS,
    RECENT_ACTION_DAYS,
)

# --------------------------------------------------------------------------------------
# Building cases from raw tables


def _to_utc(as_of) -> pd.Timestamp:
    ts = pd.Timestamp(as_of)
    if ts.tzinfo is None:
        raise ValueError(
            f"as_of {as_of!r} must carry a UTC offset (e.g. 2026-03-02T09:00:00+01:00)"
        )
    return ts.tz_convert("UTC")


def open_invoice_mask(inv: pd.DataFrame, day: pd.Timestamp | pd.Series) -> pd.Series:
    """Invoices open on ``day`` (CONTRACT §3), using only facts dated before ``day``."""
    return (
        (inv["issue_date"] < day)
        & ~(inv["paid_date"] < day).fillna(False)
        & ~(inv["legal_date"] < day).fillna(False)
        & (inv["due_date"] <= day + pd.Timedelta(days=DUE_HORIZON_DAYS))
    ).astype(bool)


def _history(m: pd.DataFrame, n: int) -> pd.DataFrame:
    """Payment-history summary per request ``rid`` from (request x invoice) rows ``m``.

    ``m`` holds each request's invoices with the request's calendar ``day``; only facts dated
    before that day are used.
    """
    day = m["day"]
    year_ago = day - pd.Timedelta(days=365)
    issued_mask = m["issue_date"] < day
    paid_mask = issued_mask & (m["paid_date"] < day).fillna(False)
    paid = m[paid_mask]
    late_days = (paid["paid_date"] - paid["due_date"]).dt.days.clip(lower=0).astype("float64")
    paid = paid.assign(
        late_days=late_days, late=late_days > 0, recent=paid["paid_date"] >= year_ago[paid_mask]
    )
    h = pd.DataFrame(index=pd.RangeIndex(n))
    issued = m[issued_mask]
    gi = issued.groupby("rid")
    h["n_invoices"] = gi.size()
    h["mean_invoice_amount"] = gi["amount"].mean()
    g = paid.groupby("rid")
    h["n_paid"] = g.size()
    h["n_paid_late"] = g["late"].sum()
    rec = paid[paid["recent"]].groupby("rid")
    h["n_paid_12m"] = rec.size()
    h["n_paid_late_12m"] = rec["late"].sum()
    h["amount_paid_12m"] = rec["amount"].sum()
    h["mean_days_late"] = g["late_days"].mean()
    quarter = paid[paid["paid_date"] >= (paid["day"] - pd.Timedelta(days=90))].groupby("rid")
    h["n_paid_90d"] = quarter.size()
    h["n_paid_late_90d"] = quarter["late"].sum()
    h["mean_days_late_90d"] = quarter["late_days"].mean()
    h["max_days_late"] = g["late_days"].max()
    h["last_payment_date"] = g["paid_date"].max()
    last5 = paid.sort_values(["rid", "paid_date", "due_date", "invoice_id"]).groupby("rid").tail(5)
    g5 = last5.groupby("rid")
    h["last5_n"] = g5.size()
    h["last5_n_late"] = g5["late"].sum()
    disp_mask = issued_mask & (m["dispute_date"] < day).fillna(False)
    disp = m[disp_mask]
    h["n_disputes"] = disp.groupby("rid").size()
    h["n_disputes_12m"] = disp[disp["dispute_date"] >= year_ago[disp_mask]].groupby("rid").size()
    billing = (disp["dispute_reason"] == "billing_error").fillna(False).to_numpy(dtype=bool)
    h["n_disputes_billing"] = disp[billing].groupby("rid").size()
    h["n_legal"] = m[issued_mask & (m["legal_date"] < day).fillna(False)].groupby("rid").size()
    unresolved = disp_mask & ~(m["dispute_resolved_date"] < day).fillna(False)
    unpaid = ~(m["paid_date"] < day).fillna(False)
    # disputes on invoices outside the case's open invoices (open ones are counted there)
    h["n_open_disputes_other"] = (
        m[unresolved & unpaid & ~open_invoice_mask(m, day)].groupby("rid").size()
    )
    ints = [
        "n_invoices", "n_paid", "n_paid_late", "n_paid_12m", "n_paid_late_12m", "last5_n",
        "last5_n_late", "n_disputes", "n_disputes_12m", "n_legal", "n_paid_90d", "n_paid_late_90d",
        "n_open_disputes_other", "n_disputes_billing",
    ]  # fmt: skip
    h[ints] = h[ints].fillna(0).astype("int64")
    h["amount_paid_12m"] = h["amount_paid_12m"].fillna(0.0)
    return h


_INVOICE_DATES = (
    "issue_date", "due_date", "paid_date", "dispute_date", "dispute_resolved_date", "legal_date",
)  # fmt: skip


def history_from_invoices(invoices: pd.DataFrame, as_of) -> dict[str, Any]:
    """The payment-history summary (the fields of :class:`~scoring.cases.PaymentHistory`) of
    one debtor's invoices at ``as_of``, computed by the training code (:func:`_history`, as
    :func:`build_cases` computes it for each case).

    ``invoices`` holds rows of the contract's ``invoices`` table (dates as dates or ISO text);
    rows and facts dated on or after the calendar day of ``as_of`` are masked. The API computes
    the same figures without pandas (:func:`scoring.cases.history.summarize_invoices`); this is
    the reference it is tested against.
    """
    day = as_of_day(_to_utc(as_of))
    n = len(invoices)

    def col(name: str) -> np.ndarray:
        if name not in invoices:  # an optional column left out
            return np.full(n, None, dtype=object)
        return pd.Series(invoices[name]).to_numpy()

    m = pd.DataFrame(
        {c: pd.to_datetime(col(c)).astype("datetime64[ns]") for c in _INVOICE_DATES},
        index=pd.RangeIndex(n),
    )
    m["invoice_id"] = pd.array(col("invoice_id"), dtype="string")
    m["amount"] = col("amount").astype("float64")
    m["dispute_reason"] = pd.array(col("dispute_reason"), dtype="string")
    m["rid"] = 0
    m["day"] = pd.Series([day] * n, dtype="datetime64[ns]").to_numpy()
    row = _history(m, 1).iloc[0]
    out: dict[str, Any] = {}
    for c in HISTORY_COLS:
        v = row[c]
        if c == "last_payment_date":
            out[c] = None if pd.isna(v) else pd.Timestamp(v).date()
        elif pd.isna(v):
            out[c] = None
        else:
            out[c] = float(v) if isinstance(v, float | np.floating) else int(v)
    return out


def build_cases_at(
    tables: dict[str, pd.DataFrame], requests: pd.DataFrame
) -> tuple[CaseSet, np.ndarray]:
    """Cases for (``debtor_id``, ``as_of``) requests, each at its own instant.

    Returns the cases of the requests whose debtor had open invoices at that instant (in request
    order) and the positions of those requests. Only facts known before each request's
    ``as_of`` are used.
    """
    as_of = pd.Series(requests["as_of"]).reset_index(drop=True)
    req = pd.DataFrame(
        {
            "debtor_id": pd.Series(requests["debtor_id"]).astype("string").reset_index(drop=True),
            "as_of": pd.to_datetime(as_of, utc=True).astype("datetime64[ns, UTC]"),
        }
    )
    req["day"] = as_of_day(req["as_of"])
    req["rid"] = np.arange(len(req))
    inv = tables["invoices"]
    m = req[["rid", "debtor_id", "day"]].merge(inv, on="debtor_id", how="inner")
    open_mask = open_invoice_mask(m, m["day"])
    has_open = np.bincount(m["rid"].to_numpy()[open_mask.to_numpy()], minlength=len(req)) > 0
    kept = np.flatnonzero(has_open)
    pos = np.full(len(req), -1, dtype=np.int64)
    pos[kept] = np.arange(len(kept))

    hist = _history(m[m["rid"].isin(kept)], len(req)).iloc[kept]
    debtors = tables["debtors"].set_index("debtor_id")
    d = debtors.loc[req["debtor_id"].to_numpy()[kept], [c for c in DEBTOR_COLS if c != "debtor_id"]]
    cases = pd.concat(
        [
            req.iloc[kept][["as_of", "debtor_id"]].reset_index(drop=True),
            d.reset_index(drop=True),
            hist.reset_index(drop=True)[HISTORY_COLS],
        ],
        axis=1,
    )
    cases = typed_cases(cases[["as_of", *DEBTOR_COLS, *HISTORY_COLS]])

    oi = m[open_mask].copy()
    day = oi["day"]
    known_dispute = (oi["dispute_date"] < day).fillna(False)
    oi["dispute_date"] = oi["dispute_date"].where(known_dispute)
    oi["dispute_reason"] = oi["dispute_reason"].where(known_dispute)
    oi["dispute_resolved_date"] = oi["dispute_resolved_date"].where(
        (oi["dispute_resolved_date"] < day).fillna(False)
    )
    oi["case"] = pos[oi["rid"].to_numpy()]
    oi = oi.sort_values(["case", "due_date", "invoice_id"], kind="stable")
    invoices = typed_invoices(oi[["case", *INVOICE_COLS]])

    act = req.iloc[kept][["rid", "debtor_id", "as_of"]].merge(
        tables["actions"].drop(columns=["as_of"], errors="ignore"), on="debtor_id", how="inner"
    )
    lo = act["as_of"] - pd.Timedelta(days=RECENT_ACTION_DAYS)
    act = act[(act["decided_at"] < act["as_of"]) & (act["decided_at"] >= lo)].copy()
    # what happened after as_of is not known yet: a contact scheduled later has no outcome yet
    pending = ~(act["scheduled_at"] < act["as_of"]).fillna(False)
    act["outcome"] = act["outcome"].where(~pending)
    act["case"] = pos[act["rid"].to_numpy()]
    act = act.sort_values(["case", "decided_at", "action_id"], kind="stable")
    actions = typed_actions(act[["case", *ACTION_COLS]])
    return CaseSet(cases, invoices, actions), kept


def build_cases(
    tables: dict[str, pd.DataFrame], as_of, debtor_ids: Iterable[str] | None = None
) -> CaseSet:
    """All cases at ``as_of`` from validated tables (see :func:`scoring.contract.load_tables`).

    Only facts known before ``as_of`` enter a case: later payments, disputes, resolutions and
    actions are masked, so the result is the same whether or not the tables hold later rows.
    Cases are ordered by debtor id.
    """
    ts = _to_utc(as_of)
    day = as_of_day(ts)
    inv = tables["invoices"]
    if debtor_ids is not None:
        inv = inv[inv["debtor_id"].isin(pd.Index(list(debtor_ids)))]
    ids = inv.loc[open_invoice_mask(inv, day), "debtor_id"].unique()
    ids = np.sort(np.asarray(ids, dtype=object))
    cs, _ = build_cases_at(tables, pd.DataFrame({"debtor_id": ids, "as_of": ts}))
    return cs


def data_end(tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    """Last calendar day the data set describes (labels need this much future)."""
    inv = tables["invoices"]
    cols = ["issue_date", "paid_date", "dispute_date", "dispute_resolved_date", "legal_date"]
    last = max(inv[c].max() for c in cols if inv[c].notna().any())
    acts = tables["actions"]["decided_at"]
    if len(acts):
        last = max(last, as_of_day(acts.max()))
    return pd.Timestamp(last)
