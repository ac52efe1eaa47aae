"""Raw history accepted by the API (issue 13): ``past_invoices`` instead of (or with) the
``history`` summary, and the whole actions log instead of the last 180 days of it."""

from __future__ import annotations

import copy
import datetime as dt
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from api_support import headers
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from pydantic import ValidationError
from support import SAMPLE_DIR

from scoring.cases import (
    MAX_PAST_INVOICES,
    RECENT_ACTION_DAYS,
    Case,
    CaseSet,
    PastInvoice,
    build_cases,
)
from scoring.cases.caseset import HISTORY_COLS
from scoring.contract import MAX_AMOUNT
from scoring.features import features

#: instants of the tests: a morning, a night next to a DST change, a late evening in summer
#: (the calendar day of as_of is the Paris one: 23:45+02:00 is still that day)
INSTANTS = (
    "2026-03-02T09:00:00+01:00",
    "2025-10-26T01:30:00+02:00",
    "2025-07-01T23:45:00+02:00",
)


@pytest.fixture(scope="module")
def sample_tables() -> dict[str, pd.DataFrame]:
    from scoring.contract import load_tables

    if not SAMPLE_DIR.exists():
        pytest.skip("no synthetic sample")
    return load_tables(SAMPLE_DIR)


def _json(v):
    if v is None or v is pd.NA or v is pd.NaT or (isinstance(v, float) and pd.isna(v)):
        return None
    if isinstance(v, pd.Timestamp):
        return v.isoformat() if v.tzinfo is not None else v.date().isoformat()
    return v.item() if hasattr(v, "item") else v


def past_invoices(tables, debtor_id: str) -> list[dict]:
    """Every invoice row of the debtor in the tables, later ones included, in table order."""
    inv = tables["invoices"]
    rows = inv.loc[inv["debtor_id"] == debtor_id, list(PastInvoice.model_fields)]
    return [{k: _json(v) for k, v in r.items()} for r in rows.to_dict("records")]


def whole_log(tables, debtor_id: str, as_of: str) -> list[dict]:
    """The debtor's whole actions log before ``as_of``, newest first, as collection software
    holds it (no outcome yet for a contact scheduled after as_of)."""
    ts = pd.Timestamp(as_of).tz_convert("UTC")
    act = tables["actions"]
    act = act[(act["debtor_id"] == debtor_id) & (act["decided_at"] < ts)]
    act = act.sort_values("action_id").sort_values("decided_at", ascending=False, kind="stable")
    out = []
    for r in act.to_dict("records"):
        known = pd.notna(r["scheduled_at"]) and r["scheduled_at"] < ts
        out.append(
            {
                "decided_at": _json(r["decided_at"]),
                "action": r["action"],
                "scheduled_at": _json(r["scheduled_at"]),
                "outcome": _json(r["outcome"]) if known else None,
            }
        )
    return out


def raw_body(case: Case, tables, *, keep_history: bool = False, log: bool = True) -> dict:
    """The case in its raw form: past_invoices (no history unless asked) and the whole log."""
    body = case.model_dump(mode="json")
    if not keep_history:
        del body["history"]
    body["past_invoices"] = past_invoices(tables, case.debtor.debtor_id)
    if log:
        body["recent_actions"] = whole_log(tables, case.debtor.debtor_id, body["as_of"])
    return body


# --------------------------------------------------------------------------------------
# Same features as training


@pytest.mark.parametrize("as_of", INSTANTS)
def test_raw_history_and_summary_give_identical_features(sample_tables, as_of):
    """Cases sent with all their debtor's invoice rows (later ones included) and whole action
    log, without history, give exactly the features that build_cases gives."""
    cs = build_cases(sample_tables, as_of)
    assert len(cs) > 10
    summary = cs.to_cases()
    raw = [Case.model_validate(raw_body(c, sample_tables)) for c in summary]
    # the test means something: later invoice facts to mask, actions older than 180 days
    ts = pd.Timestamp(as_of)
    assert any(
        any(
            i.issue_date >= ts.date() or (i.paid_date or dt.date.min) >= ts.date()
            for i in c.past_invoices or []
        )
        for c in raw
    )
    old = ts - pd.Timedelta(days=RECENT_ACTION_DAYS)
    assert any(any(a.decided_at < old for a in c.recent_actions) for c in raw)

    again = CaseSet.from_cases(raw)
    for c, s in zip(raw, summary, strict=True):
        assert c.history == s.history
    pd.testing.assert_frame_equal(
        again.cases[HISTORY_COLS], cs.cases[HISTORY_COLS], check_exact=True
    )
    pd.testing.assert_frame_equal(features(again), features(cs), check_exact=True)
    # and through JSON, as the API receives them
    via_json = [Case.model_validate_json(c.model_dump_json()) for c in raw]
    pd.testing.assert_frame_equal(
        features(CaseSet.from_cases(via_json)), features(cs), check_exact=True
    )


def test_actions_older_than_the_window_and_their_order_do_not_matter(sample_tables):
    as_of = INSTANTS[0]
    case = build_cases(sample_tables, as_of).to_cases()[0]
    body = case.model_dump(mode="json")
    ts = pd.Timestamp(as_of)
    ancient = [
        {
            "decided_at": (ts - pd.Timedelta(days=RECENT_ACTION_DAYS, seconds=s)).isoformat(),
            "action": action,
            "scheduled_at": (ts - pd.Timedelta(days=RECENT_ACTION_DAYS - 1)).isoformat(),
            "outcome": "complaint",
        }
        for s, action in ((1, "formal_notice"), (86_400 * 400, "phone_call"))
    ]
    edge = {**ancient[0], "decided_at": (ts - pd.Timedelta(days=RECENT_ACTION_DAYS)).isoformat()}
    plain = CaseSet.from_cases([Case.model_validate(body)])
    longer = {**body, "recent_actions": [*ancient, *reversed(body["recent_actions"])]}
    cs = CaseSet.from_cases([Case.model_validate(longer)])
    pd.testing.assert_frame_equal(cs.actions, plain.actions)
    pd.testing.assert_frame_equal(features(cs), features(plain), check_exact=True)
    # decided exactly 180 days before as_of: inside the window, as in build_cases_at
    kept = CaseSet.from_cases([Case.model_validate({**body, "recent_actions": [edge]})])
    assert len(kept.actions) == 1


# --------------------------------------------------------------------------------------
# Validation of the raw form


@pytest.fixture(scope="module")
def rich_case(sample_tables) -> Case:
    """A sample case whose debtor paid several invoices, some late."""
    cases = build_cases(sample_tables, INSTANTS[0]).to_cases()
    return max(cases, key=lambda c: (c.history.n_paid_late > 0, c.history.n_paid))


def test_a_consistent_history_is_accepted_and_replaced_by_the_computed_one(
    rich_case, sample_tables
):
    body = raw_body(rich_case, sample_tables, keep_history=True)
    assert Case.model_validate(body).history == rich_case.history
    # within the tolerance on floats; only the fields sent are compared
    h = rich_case.history
    assert h.mean_invoice_amount is not None
    nudged = {"mean_invoice_amount": h.mean_invoice_amount * (1 + 1e-12), "n_paid": h.n_paid}
    case = Case.model_validate({**body, "history": nudged})
    assert case.history == h  # the computed figures, not the sent ones


def test_an_inconsistent_history_names_every_field_that_differs(rich_case, sample_tables):
    h = rich_case.history
    assert h.last_payment_date is not None and h.mean_days_late is not None
    body = raw_body(rich_case, sample_tables, keep_history=True)
    body["history"].update(
        n_paid_late=h.n_paid_late + 1,
        mean_days_late=h.mean_days_late + 0.5,
        last_payment_date=(h.last_payment_date - dt.timedelta(days=1)).isoformat(),
    )
    # a field left out is not compared (its default would differ when the debtor has some)
    del body["history"]["n_invoices"]
    with pytest.raises(ValidationError) as e:
        Case.model_validate(body)
    errors = {err["loc"]: err for err in e.value.errors()}
    assert set(errors) == {
        ("history", "n_paid_late"),
        ("history", "mean_days_late"),
        ("history", "last_payment_date"),
    }
    assert {err["type"] for err in errors.values()} == {"history_mismatch"}
    assert errors[("history", "n_paid_late")]["msg"] == (
        f"history.n_paid_late: sent {h.n_paid_late + 1}, computed from past_invoices "
        f"{h.n_paid_late}"
    )
    assert errors[("history", "last_payment_date")]["msg"].endswith(
        f"computed from past_invoices {h.last_payment_date.isoformat()}"
    )


def test_past_invoices_must_hold_exactly_the_open_invoices(rich_case, sample_tables):
    body = raw_body(rich_case, sample_tables, log=False)
    open_id = body["open_invoices"][0]["invoice_id"]
    at = next(j for j, r in enumerate(body["past_invoices"]) if r["invoice_id"] == open_id)

    missing = copy.deepcopy(body)
    del missing["past_invoices"][at]
    with pytest.raises(
        ValueError, match=r"open_invoices\[0\]\.invoice_id: .* not in past_invoices"
    ):
        Case.model_validate(missing)

    paid = copy.deepcopy(body)
    paid["past_invoices"][at]["paid_date"] = paid["past_invoices"][at]["issue_date"]
    with pytest.raises(ValueError, match=r"is not open at as_of according to .* \(paid on "):
        Case.model_validate(paid)

    assert len(body["open_invoices"]) > 1
    fewer = {**body, "open_invoices": body["open_invoices"][1:]}
    with pytest.raises(ValueError, match=r"is open at as_of .* missing from open_invoices"):
        Case.model_validate(fewer)

    twice = copy.deepcopy(body)
    twice["past_invoices"].append(dict(twice["past_invoices"][at]))
    with pytest.raises(ValueError, match=r"duplicate of past_invoices"):
        Case.model_validate(twice)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"paid_date": "1999-01-01"}, "paid_date is before issue_date"),
        ({"legal_date": "1999-01-01"}, "legal_date is before issue_date"),
        ({"dispute_date": None, "dispute_reason": "quality"}, "dispute_reason given without"),
        ({"due_date": "1999-01-01"}, "due_date is before issue_date"),
        ({"issue_date": 20250101}, "not a number"),
        ({"paid_date": "2250-01-01"}, "outside the supported range"),
        ({"amount": 0}, "greater than 0"),
        ({"debtor_id": "D1"}, "not permitted"),
    ],
)
def test_a_past_invoice_is_validated_like_a_row_of_the_contract(change, words):
    row = {
        "invoice_id": "P1",
        "issue_date": "2025-01-10",
        "due_date": "2025-02-10",
        "amount": 100.0,
        "paid_date": "2025-02-20",
    }
    with pytest.raises(ValidationError, match=words):
        PastInvoice.model_validate({**row, **change})


def test_the_number_of_past_invoices_is_capped(rich_case):
    body = rich_case.model_dump(mode="json")
    row = {"issue_date": "2020-01-01", "due_date": "2020-01-31", "amount": 1.0}
    body["past_invoices"] = [{**row, "invoice_id": f"P{i}"} for i in range(MAX_PAST_INVOICES + 1)]
    with pytest.raises(ValidationError, match=f"at most {MAX_PAST_INVOICES}"):
        Case.model_validate(body)


# --------------------------------------------------------------------------------------
# Through the API


def test_score_accepts_past_invoices_alone_or_with_a_consistent_history(tiny_client, sample_tables):
    cases = build_cases(sample_tables, INSTANTS[0]).to_cases()[:6]
    summary = [c.model_dump(mode="json") for c in cases]
    raw = [raw_body(c, sample_tables) for c in cases]
    both = [raw_body(c, sample_tables, keep_history=True) for c in cases]
    answers = []
    for body in (summary, raw, both):
        r = tiny_client.post("/score", json=body, headers=headers("scoring"))
        assert r.status_code == 200, r.text
        answers.append(r.json())
    assert answers[1] == answers[0] and answers[2] == answers[0]
    one = tiny_client.post("/score", json=raw[0], headers=headers("scoring"))
    assert one.status_code == 200, one.text
    assert one.json() == answers[0][0]


def test_score_rejects_an_inconsistent_history_naming_the_fields(
    tiny_client, rich_case, sample_tables
):
    h = rich_case.history
    body = raw_body(rich_case, sample_tables, keep_history=True)
    body["history"].update(n_paid_late=h.n_paid_late + 1, n_invoices=h.n_invoices + 2)
    for sent, prefix in ((body, "body"), ([raw_body(rich_case, sample_tables), body], "body.1")):
        r = tiny_client.post("/score", json=sent, headers=headers("scoring"))
        assert r.status_code == 422, r.text
        items = r.json()["detail"]
        assert {i["field"] for i in items} == {
            f"{prefix}.history.n_paid_late",
            f"{prefix}.history.n_invoices",
        }, items
        by = {i["field"]: i for i in items}
        assert by[f"{prefix}.history.n_paid_late"] == {
            "field": f"{prefix}.history.n_paid_late",
            "problem": f"history.n_paid_late: sent {h.n_paid_late + 1}, "
            f"computed from past_invoices {h.n_paid_late}",
            "type": "history_mismatch",
        }


def test_score_names_the_field_of_a_bad_past_invoice(tiny_client, rich_case, sample_tables):
    body = raw_body(rich_case, sample_tables, log=False)
    row = body["past_invoices"][0]
    row["paid_date"] = (dt.date.fromisoformat(row["issue_date"]) - dt.timedelta(days=1)).isoformat()
    r = tiny_client.post("/score", json=body, headers=headers("scoring"))
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == "body.past_invoices.0.paid_date", r.text
    body = raw_body(rich_case, sample_tables, log=False)
    body["past_invoices"] = [
        p
        for p in body["past_invoices"]
        if p["invoice_id"] != body["open_invoices"][0]["invoice_id"]
    ]
    r = tiny_client.post("/score", json=body, headers=headers("scoring"))
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == "body.open_invoices.0.invoice_id", r.text


def test_next_action_with_past_invoices_audits_them_hashed(tiny_client, rich_case, sample_tables):
    body = raw_body(rich_case, sample_tables)
    r = tiny_client.post("/next-action?explore=false", json=body, headers=headers("scoring"))
    assert r.status_code == 200, r.text
    d = r.json()
    summary = rich_case.model_dump(mode="json")
    r0 = tiny_client.post("/next-action?explore=false", json=summary, headers=headers("scoring"))
    assert r0.status_code == 200, r0.text
    assert d["action"] == r0.json()["action"] and d["options"] == r0.json()["options"]
    rec = tiny_client.get(f"/decisions/{d['decision_id']}", headers=headers("compliance")).json()
    sent = {p["invoice_id"] for p in body["past_invoices"]}
    stored = rec["input"]["past_invoices"]
    assert len(stored) == len(sent) and not sent & {p["invoice_id"] for p in stored}
    assert rec["input"]["history"] == summary["history"]  # the history used, computed


def test_openapi_documents_past_invoices(tiny_client):
    spec = tiny_client.get("/openapi.json").json()
    schemas = spec["components"]["schemas"]
    case = next(v for k, v in schemas.items() if k.startswith("Case"))
    prop = case["properties"]["past_invoices"]
    listed = next(s for s in prop["anyOf"] if s.get("type") == "array")
    assert listed["maxItems"] == MAX_PAST_INVOICES
    assert "training" in prop["description"]
    past = next(v for k, v in schemas.items() if k.startswith("PastInvoice"))
    assert set(past["properties"]) == set(PastInvoice.model_fields)
    assert set(past["required"]) == {"invoice_id", "issue_date", "due_date", "amount"}


@st.composite
def raw_cases(draw) -> dict:
    """Schema-valid cases in the raw form, extremes included: open invoices, and past ones
    paid, in litigation, not due yet or issued later, with facts on either side of as_of."""
    day = draw(st.dates(dt.date(1950, 1, 1), dt.date(2150, 12, 31)))
    offset = dt.timedelta(minutes=draw(st.integers(-14 * 60, 14 * 60)))
    as_of = dt.datetime.combine(day, dt.time(draw(st.integers(0, 23)))).replace(
        tzinfo=dt.timezone(offset)
    )
    day = as_of.astimezone(ZoneInfo("Europe/Paris")).date()
    amounts = st.one_of(
        st.floats(0.01, MAX_AMOUNT), st.sampled_from([0.01, 1e-300, MAX_AMOUNT, 123456.78])
    )

    def days(lo: int, hi: int) -> dt.timedelta:
        return dt.timedelta(days=draw(st.integers(lo, hi)))

    open_rows, past = [], []
    for i in range(draw(st.integers(1, 8))):
        issue = day - days(1, 3650)
        due = min(issue + days(0, 120), day + dt.timedelta(days=15))
        row = {"invoice_id": f"O{i}", "issue_date": issue, "due_date": due, "amount": draw(amounts)}
        open_rows.append(row)
        past.append({**row, "paid_date": draw(st.sampled_from([None, day, day + days(1, 30)]))})
    for i in range(draw(st.integers(0, 40))):
        kind = draw(st.sampled_from(["paid", "legal", "not_due", "later"]))
        issue = day + days(0, 60) if kind == "later" else day - days(1, 3650)
        due = max(issue + days(0, 120), day + days(16, 60)) if kind == "not_due" else issue
        row = {"invoice_id": f"P{i}", "issue_date": issue, "due_date": due, "amount": draw(amounts)}
        if kind == "paid":
            row["paid_date"] = min(issue + days(0, 400), day - dt.timedelta(days=1))
        if kind == "legal":
            row["legal_date"] = min(issue + days(0, 400), day - dt.timedelta(days=1))
        if draw(st.booleans()):
            row["dispute_date"] = issue + days(0, 200)
            row["dispute_reason"] = draw(st.sampled_from(["billing_error", "other", None]))
            if draw(st.booleans()):
                row["dispute_resolved_date"] = row["dispute_date"] + days(0, 100)
        past.append(row)
    past = draw(st.permutations(past))

    def text(row: dict) -> dict:
        return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in row.items()}

    return {
        "as_of": as_of.isoformat(),
        "debtor": {
            "debtor_id": "D1",
            "segment": "B2C",
            "department": "75",
            "customer_since": max(day - days(0, 20000), dt.date(1900, 1, 1)).isoformat(),
            "consent_email": True,
            "consent_sms": False,
            "consent_whatsapp": False,
            "consent_phone": True,
        },
        "open_invoices": [text(r) for r in open_rows],
        "past_invoices": [text(r) for r in past],
    }


@hsettings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=raw_cases())
def test_valid_raw_cases_never_get_a_server_error(tiny_client, body):
    r = tiny_client.post("/score", json=body, headers=headers("scoring"))
    if r.status_code == 422:  # only when the paid amounts of 12 months exceed MAX_AMOUNT
        assert "out of range" in r.text and "amount_paid_12m" in r.text, r.text
        return
    assert r.status_code == 200, r.text
    p = r.json()["default_probability"]
    assert 0 <= p <= 1


def test_the_documented_example_gives_the_documented_summary(tiny_client):
    """docs/api.md shows docs/examples/case_past_invoices.json and the summary it gives."""
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "docs" / "examples" / "case_past_invoices.json"
    body = json.loads(path.read_text())
    summary = {
        "n_invoices": 5, "n_paid": 3, "n_paid_late": 2, "n_paid_12m": 3, "n_paid_late_12m": 2,
        "mean_days_late": 22.333333333333332, "max_days_late": 39.0, "n_paid_90d": 1,
        "n_paid_late_90d": 1, "mean_days_late_90d": 39.0, "last5_n": 3, "last5_n_late": 2,
        "amount_paid_12m": 11600.0, "mean_invoice_amount": 3520.0, "n_disputes": 1,
        "n_disputes_12m": 1, "n_disputes_billing": 1, "n_legal": 0, "n_open_disputes_other": 0,
        "last_payment_date": "2026-01-28",
    }  # fmt: skip
    assert Case.model_validate(body).history.model_dump(mode="json") == summary
    docs = (path.parents[1] / "api.md").read_text()
    assert '"mean_days_late": 22.333333333333332' in docs and '"amount_paid_12m": 11600.0' in docs
    alone = {k: v for k, v in body.items() if k != "past_invoices"}
    answers = [
        tiny_client.post("/score", json=b, headers=headers("scoring"))
        for b in (body, {**alone, "history": summary}, {**body, "history": summary})
    ]
    assert [r.status_code for r in answers] == [200, 200, 200], answers[0].text
    assert answers[0].json() == answers[1].json() == answers[2].json()
