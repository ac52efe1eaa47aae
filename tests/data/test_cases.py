"""Cases, labels and features: leakage, hand-made timelines, round trips."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import tiny_tables

from scoring.cases import Case, CaseSet, as_of_day, build_cases
from scoring.contract import load_tables, validate_tables
from scoring.features import FEATURE_NAMES, FEATURES, features
from scoring.labels import action_rewards, case_labels

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "synthetic" / "sample"


def truncate(tables: dict[str, pd.DataFrame], as_of) -> dict[str, pd.DataFrame]:
    """What the tables held at ``as_of``: later rows dropped, later facts blanked."""
    ts = pd.Timestamp(as_of).tz_convert("UTC")
    day = as_of_day(ts)
    inv = tables["invoices"]
    inv = inv[inv["issue_date"] < day].copy()
    for col in ("paid_date", "dispute_resolved_date", "legal_date"):
        inv[col] = inv[col].where(inv[col] < day)
    later_dispute = ~(inv["dispute_date"] < day).fillna(False)
    inv["dispute_date"] = inv["dispute_date"].where(~later_dispute)
    inv["dispute_reason"] = inv["dispute_reason"].where(~later_dispute)
    inv["dispute_resolved_date"] = inv["dispute_resolved_date"].where(~later_dispute)
    act = tables["actions"]
    act = act[act["decided_at"] < ts].copy()
    act["outcome"] = act["outcome"].where((act["scheduled_at"] < ts).fillna(False))
    return {"debtors": tables["debtors"], "invoices": inv, "actions": act}


def _assert_same(a: CaseSet, b: CaseSet) -> None:
    pd.testing.assert_frame_equal(a.cases, b.cases)
    pd.testing.assert_frame_equal(a.invoices, b.invoices)
    pd.testing.assert_frame_equal(a.actions, b.actions)
    pd.testing.assert_frame_equal(features(a), features(b))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    minutes=st.integers(min_value=0, max_value=60 * 24 * 240),
)
def test_no_leakage_tiny(tables, minutes):
    as_of = pd.Timestamp("2025-10-01T00:00:00+00:00") + pd.Timedelta(minutes=minutes)
    full = build_cases(tables, as_of)
    cut = build_cases(truncate(tables, as_of), as_of)
    _assert_same(full, cut)


@pytest.fixture(scope="module")
def sample_tables():
    if not SAMPLE.exists():
        pytest.skip("no synthetic sample")
    return load_tables(SAMPLE)


@settings(
    max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(day=st.integers(min_value=60, max_value=650), hour=st.integers(min_value=0, max_value=23))
def test_no_leakage_sample(sample_tables, day, hour):
    start = sample_tables["invoices"]["issue_date"].min()
    as_of = pd.Timestamp(start + pd.Timedelta(days=day, hours=hour)).tz_localize("Europe/Paris")
    full = build_cases(sample_tables, as_of)
    assert len(full) > 0
    _assert_same(full, build_cases(truncate(sample_tables, as_of), as_of))


def test_open_invoice_definition(tables):
    cs = build_cases(tables, "2026-02-01T10:00:00+01:00")
    assert cs.debtor_ids.tolist() == ["D1", "D2"]  # D3's invoice is due more than 15 days later
    assert cs.invoices["invoice_id"].tolist() == ["I2", "I3", "I4", "I5"]  # I1 was paid
    # the dispute on I2 (2026-02-05) is in the future: not in the case
    assert cs.invoices["dispute_date"].isna().all()
    cs = build_cases(tables, "2026-03-10T10:00:00+01:00")
    i2 = cs.invoices.set_index("invoice_id").loc["I2"]
    assert i2["dispute_reason"] == "billing_error" and pd.notna(i2["dispute_resolved_date"])
    assert "D3" in cs.debtor_ids.tolist()  # I6 now due within 15 days


def test_labels_on_hand_made_timelines(tables):
    cs = build_cases(tables, "2026-02-01T10:00:00+01:00")
    lab = case_labels(cs, tables)
    # D1: I2 due 2026-01-01 paid 2026-05-15 (> 90 days late), dispute 2026-02-05 -> both
    # D2: I5 never paid; dispute on I5 2026-03-01 -> both
    assert lab["default"].tolist() == [1, 1]
    assert lab["dispute"].tolist() == [1, 1]
    cs = build_cases(tables, "2026-03-10T10:00:00+01:00")
    lab = case_labels(cs, tables).assign(debtor=cs.debtor_ids.to_numpy()).set_index("debtor")
    # D3: I6 due 2026-03-20 paid 2026-03-18 -> no default, no dispute
    assert lab.loc["D3", "default"] == 0 and lab.loc["D3", "dispute"] == 0
    # D2: its dispute was raised 2026-03-01, before this as_of -> not a new dispute
    assert lab.loc["D2", "dispute"] == 0
    # data end 2026-05-15: 90 days after 2026-03-10 is not known yet -> not observable,
    # while the February cases (last due 2026-02-10 + 90 days = 2026-05-11) are
    assert not lab["observable"].any()
    feb = build_cases(tables, "2026-02-01T10:00:00+01:00")
    assert case_labels(feb, tables)["observable"].all()


def test_action_rewards_on_hand_made_log(tables):
    costs = {
        "wait": 0.0,
        "email_reminder": 0.05,
        "sms_reminder": 0.10,
        "phone_call": 4.0,
        "formal_notice": 7.5,
    }
    r = action_rewards(tables, costs, penalty=50.0).set_index("action_id")
    # A4: wait on 2026-02-03 for D2; I4 (90 EUR) paid 2026-02-10 within 14 days
    assert r.loc["A4", "paid_14d"] == pytest.approx(90.0)
    assert r.loc["A4", "reward"] == pytest.approx(90.0)
    # A5: formal notice for D1 on 2026-02-12 with a complaint; nothing paid in 14 days
    assert r.loc["A5", "n_complaints_14d"] == 1
    assert r.loc["A5", "reward"] == pytest.approx(-7.5 - 50.0)
    # A2: phone call 2026-01-20; I2 dispute 2026-02-05 is 16 days later: outside the window
    assert r.loc["A2", "n_disputes_14d"] == 0
    assert r.loc["A2", "reward"] == pytest.approx(-4.0)
    # policy learning counts from the day after the decision: a payment or dispute dated the
    # decision day may have come before it (and driven it)
    t = {k: v.copy() for k, v in tables.items()}
    inv = t["invoices"]
    inv.loc[inv["invoice_id"] == "I4", "paid_date"] = pd.Timestamp("2026-02-03")  # A4's day
    same_day = action_rewards(t, costs, penalty=50.0).set_index("action_id")
    next_day = action_rewards(t, costs, penalty=50.0, start_day=1).set_index("action_id")
    assert same_day.loc["A4", "paid_14d"] == pytest.approx(90.0)
    assert next_day.loc["A4", "paid_14d"] == 0.0


def test_features_of_a_hand_made_case(tables):
    cs = build_cases(tables, "2026-02-01T10:00:00+01:00")
    X = features(cs).assign(debtor=cs.debtor_ids.to_numpy()).set_index("debtor")
    d1 = X.loc["D1"]
    assert d1["n_open_invoices"] == 2
    assert d1["open_amount"] == pytest.approx(3300.0)
    assert d1["overdue_amount"] == pytest.approx(2500.0)
    assert d1["max_days_past_due"] == 31  # I2 due 2026-01-01
    assert d1["share_no_po_ref"] == pytest.approx(0.5)
    assert d1["share_paper"] == pytest.approx(0.5)
    assert d1["exposure_ratio"] == pytest.approx(3300 / 5000)
    assert d1["share_paid_late"] == 1.0 and d1["max_days_late"] == 19  # I1 paid 19 days late
    assert d1["n_contacts_30d"] == 2 and d1["n_calls_30d"] == 1
    assert d1["last_action"] == "phone_call" and d1["last_outcome"] == "promise_to_pay"
    assert (
        d1["days_since_last_payment"]
        == (pd.Timestamp("2026-02-01") - pd.Timestamp("2025-10-20")).days
    )
    d2 = X.loc["D2"]
    assert d2["sector"] == "none" and d2["overseas"] == 1.0
    assert np.isnan(d2["share_paid_late"])  # nothing paid yet: unknown, not zero
    assert list(X.drop(columns="debtor", errors="ignore").columns) == FEATURE_NAMES


def test_skipped_invoices_and_billing_disputes(tables):
    # 2026-02-15: D2 paid I4 on 2026-02-10 while I5 (due 2026-01-20) stayed unpaid: skipped
    cs = build_cases(tables, "2026-02-15T10:00:00+01:00")
    X = features(cs).assign(debtor=cs.debtor_ids.to_numpy()).set_index("debtor")
    d2 = X.loc["D2"]
    assert d2["n_open_undisputed"] == 1 and d2["n_open_skipped"] == 1
    assert d2["share_open_skipped"] == 1.0
    assert d2["skip_days"] == 21  # 2026-01-20 -> 2026-02-10
    assert d2["max_days_past_due_undisputed"] == d2["min_days_past_due_undisputed"] == 26
    # D1 last paid (2025-10-20) before its open invoices were due: nothing skipped; its
    # billing-error dispute on I2 (2026-02-05) is known and I2 no longer counts as undisputed
    d1 = X.loc["D1"]
    assert d1["n_open_skipped"] == 0 and np.isnan(d1["skip_days"])
    assert d1["n_open_undisputed"] == 1 and d1["max_days_past_due_undisputed"] == 5  # I3
    assert d1["n_disputes_billing"] == 1 and d1["billing_dispute_rate"] == pytest.approx(1 / 3)
    # 2026-03-10: I5 is now disputed (quality, 2026-03-01): no longer skipped, and not a
    # billing error
    cs = build_cases(tables, "2026-03-10T10:00:00+01:00")
    X = features(cs).assign(debtor=cs.debtor_ids.to_numpy()).set_index("debtor")
    d2 = X.loc["D2"]
    assert d2["n_open_skipped"] == 0 and d2["n_open_undisputed"] == 0
    assert np.isnan(d2["min_days_past_due_undisputed"])
    assert d2["n_disputes_billing"] == 0 and X.loc["D2", "n_open_disputes"] == 1


def test_every_feature_has_labels():
    for f in FEATURES:
        assert f.label_fr and f.label_en and f.description


def test_case_model_round_trip_gives_same_features(tables):
    cs = build_cases(tables, "2026-02-01T10:00:00+01:00")
    cases = cs.to_cases()
    again = CaseSet.from_cases([Case.model_validate_json(c.model_dump_json()) for c in cases])
    pd.testing.assert_frame_equal(features(cs), features(again))


def test_case_model_rejects_incoherent_input():
    base = build_cases(validate_tables(tiny_tables())[0], "2026-02-01T10:00:00+01:00").to_cases()[0]
    body = base.model_dump(mode="json")
    bad = {**body, "as_of": "2026-02-01T10:00:00"}
    with pytest.raises(ValueError, match="offset"):
        Case.model_validate(bad)
    bad = {**body, "open_invoices": []}
    with pytest.raises(ValueError):
        Case.model_validate(bad)
    inv = dict(body["open_invoices"][0], due_date="2026-06-01")
    with pytest.raises(ValueError, match="not open yet"):
        Case.model_validate({**body, "open_invoices": [inv]})
    debtor = dict(body["debtor"], sector=None)
    with pytest.raises(ValueError, match="sector is required"):
        Case.model_validate({**body, "debtor": debtor})
    history = dict(body["history"], n_disputes_billing=body["history"]["n_disputes"] + 1)
    with pytest.raises(ValueError, match="n_disputes_billing exceeds"):
        Case.model_validate({**body, "history": history})


def test_as_of_must_be_aware(tables):
    with pytest.raises(ValueError, match="offset"):
        build_cases(tables, dt.datetime(2026, 2, 1))


def test_responsiveness_features_on_a_hand_made_timeline():
    """D1 last paid on 2025-10-20 and got three contacts since (an e-mail, a call, a formal
    notice; no contact before that payment in the log); D2 paid I4 on 2026-02-10, 20 days
    after an SMS on 2026-01-21, and got only a 'wait' since."""
    tables = validate_tables(tiny_tables())[0]
    cs = build_cases(tables, "2026-02-20T10:00:00+01:00")
    X = features(cs).set_index(cs.cases["debtor_id"].astype(str))
    assert X.loc["D1", "contacts_since_last_payment"] == 3
    assert np.isnan(X.loc["D1", "days_contact_to_payment"])
    assert X.loc["D2", "contacts_since_last_payment"] == 0
    assert X.loc["D2", "days_contact_to_payment"] == 20
