"""The API's payment-history summary (plain Python) equals the training code's (pandas)."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.cases import (
    PastInvoice,
    as_of_day,
    build_cases,
    history_from_invoices,
    summarize_invoices,
)
from scoring.cases.caseset import HISTORY_COLS

#: a few calendar days around which the invoices are drawn (DST changes, a year end)
ANCHORS = [dt.date(2025, 3, 30), dt.date(2025, 10, 26), dt.date(2026, 1, 1), dt.date(2026, 3, 2)]


@st.composite
def invoice_sets(draw) -> tuple[pd.Timestamp, list[PastInvoice]]:
    """An instant and a debtor's invoices around it: dates drawn from small ranges, so that
    facts fall on either side of the as_of day, at window edges (90 and 365 days) and tie in
    the last-five ordering; amounts with cents or not."""
    anchor = draw(st.sampled_from(ANCHORS))
    minutes = draw(st.integers(min_value=-36 * 60, max_value=36 * 60))
    as_of = pd.Timestamp(anchor).tz_localize("Europe/Paris") + pd.Timedelta(minutes=minutes)
    day = as_of_day(as_of).date()
    ids = draw(
        st.lists(st.text(alphabet="abAB01", min_size=1, max_size=3), unique=True, max_size=40)
    )
    edge = st.sampled_from([-400, -366, -365, -364, -120, -91, -90, -89, -30, -2, -1, 0, 1, 20])
    offset = st.one_of(edge, st.integers(min_value=-800, max_value=40))
    later = st.one_of(st.none(), st.integers(min_value=0, max_value=400))
    amount = st.one_of(
        st.integers(min_value=1, max_value=10**7).map(lambda c: c / 100),
        st.floats(min_value=0.01, max_value=1e9, allow_nan=False, allow_infinity=False),
    )
    out = []
    for invoice_id in ids:
        issue = day + dt.timedelta(days=draw(offset))
        due = issue + dt.timedelta(days=draw(st.integers(min_value=0, max_value=60)))
        paid, dispute, legal = draw(later), draw(later), draw(st.one_of(st.none(), later))
        resolved = draw(later) if dispute is not None else None
        days = dt.timedelta
        out.append(
            PastInvoice(
                invoice_id=invoice_id,
                issue_date=issue,
                due_date=due,
                amount=draw(amount),
                paid_date=None if paid is None else issue + days(days=paid),
                dispute_date=None if dispute is None else issue + days(days=dispute),
                dispute_reason=None
                if dispute is None
                else draw(st.sampled_from(["billing_error", "quality", None])),
                dispute_resolved_date=None
                if resolved is None or dispute is None
                else issue + days(days=dispute + resolved),
                legal_date=None if legal is None else issue + days(days=legal),
            )
        )
    return as_of, out


def frame_of(invoices: list[PastInvoice]) -> pd.DataFrame:
    cols = list(PastInvoice.model_fields)
    return pd.DataFrame([i.model_dump() for i in invoices], columns=cols)


@settings(max_examples=300, deadline=None)
@given(invoice_sets())
def test_summary_equals_the_training_code(case):
    """Equal, not close: counts, dates, None-ness and the float sums and means bit for bit."""
    as_of, invoices = case
    fast = summarize_invoices(invoices, as_of_day(as_of).date())
    assert fast == history_from_invoices(frame_of(invoices), as_of)
    assert list(fast) == HISTORY_COLS


def test_training_path_is_unchanged_by_the_refactor(tables):
    """build_cases and history_from_invoices give the same history on the hand-made tables."""
    inv = tables["invoices"]
    for when in (
        "2026-01-15T10:00:00+01:00",
        "2026-02-15T10:00:00+01:00",
        "2026-03-10T23:30:00+01:00",
    ):
        cs = build_cases(tables, when)
        for i, debtor in enumerate(cs.debtor_ids):
            ref = history_from_invoices(inv[inv["debtor_id"] == debtor], when)
            got = cs.cases.iloc[i][HISTORY_COLS].to_dict()
            got["last_payment_date"] = (
                None if pd.isna(got["last_payment_date"]) else got["last_payment_date"].date()
            )
            got = {k: None if v is not None and pd.isna(v) else v for k, v in got.items()}
            assert got == ref, debtor


def test_no_invoice_gives_the_empty_history():
    as_of = pd.Timestamp("2026-03-02T09:00:00+01:00")
    empty = summarize_invoices([], as_of_day(as_of).date())
    assert empty == history_from_invoices(frame_of([]), as_of)
    assert empty["n_invoices"] == 0 and empty["mean_invoice_amount"] is None
