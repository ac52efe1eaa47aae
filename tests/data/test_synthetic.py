"""Tests of the synthetic collections world (scoring.synthetic)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic_checks import (
    check_contract_validator,
    check_log_contact_caps,
    check_log_days_hours_and_consent,
    check_log_disputes_legal_and_reliable,
    check_propensity,
    local_contacts,
)

from scoring.synthetic import ACTIONS, OUTCOMES, SyntheticWorld, generate, load_world
from scoring.synthetic.params import DEPARTMENTS
from scoring.synthetic.sim import INF

START, END = "2025-01-01", "2025-12-31"
N = 300


@pytest.fixture(scope="module")
def world() -> SyntheticWorld:
    return generate(N, seed=11, start=START, end=END, progress=False)


@pytest.fixture(scope="module")
def tables(world: SyntheticWorld) -> dict[str, pd.DataFrame]:
    return world.tables


@pytest.fixture(scope="module")
def contacts(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    return local_contacts(tables)


# --------------------------------------------------------------------------- determinism
def test_same_seed_identical_and_different_seed_differs(tables, tmp_path: Path) -> None:
    again = generate(N, seed=11, start=START, end=END, progress=False)
    for name, frame in tables.items():
        pd.testing.assert_frame_equal(frame, again.tables[name])
    a = again.write(tmp_path / "a")
    b = generate(N, seed=11, start=START, end=END, progress=False).write(tmp_path / "b")
    for name in ("debtors", "invoices", "actions"):
        assert (a / f"{name}.parquet").read_bytes() == (b / f"{name}.parquet").read_bytes()
    other = generate(N, seed=12, start=START, end=END, progress=False).tables
    assert not other["invoices"]["amount"].equals(tables["invoices"]["amount"])
    assert not other["actions"].equals(tables["actions"])


def test_subset_rerun_reproduces_full_run(world: SyntheticWorld, tables) -> None:
    """Ground truth resumes from the exact hidden state: a subset run equals the full run."""
    idx = np.array([3, 50, 51, 200, 299])
    st = world._state_at(idx, world.n_days)
    inv = tables["invoices"]
    ids = [f"D{k:06d}" for k in idx]
    sub = inv[inv["debtor_id"].isin(ids)].reset_index(drop=True)
    order = np.argsort(st.i["iglob"])
    paid = st.i["paid"][order]
    exp = (sub["paid_date"] - pd.Timestamp(START)).dt.days.fillna(INF).astype(np.int64)
    assert np.array_equal(np.where(paid <= world.n_days - 1, paid, INF), exp.to_numpy())


# --------------------------------------------------------------------------- contract
def test_contract_columns_types_and_values(tables) -> None:
    deb, inv, act = tables["debtors"], tables["invoices"], tables["actions"]
    assert list(deb.columns) == [
        "debtor_id",
        "segment",
        "sector",
        "company_size",
        "department",
        "customer_since",
        "credit_limit",
        "external_score",
        "consent_email",
        "consent_sms",
        "consent_whatsapp",
        "consent_phone",
        "language",
    ]
    assert list(inv.columns) == [
        "invoice_id",
        "debtor_id",
        "issue_date",
        "due_date",
        "amount",
        "purchase_order_ref",
        "delivery_channel",
        "paid_date",
        "dispute_date",
        "dispute_reason",
        "dispute_resolved_date",
        "legal_date",
    ]
    assert list(act.columns) == [
        "action_id",
        "debtor_id",
        "decided_at",
        "action",
        "scheduled_at",
        "propensity",
        "outcome",
    ]
    assert len(deb) == N and deb["debtor_id"].is_unique
    assert inv["invoice_id"].is_unique and act["action_id"].is_unique
    assert set(deb["segment"]) == {"B2B", "B2C"}
    b2b = deb["segment"] == "B2B"
    assert deb.loc[b2b, "sector"].isin(list("ABCDEFGHIJKLMNOPQRSTU")).all()
    assert deb.loc[~b2b, "sector"].isna().all() and deb.loc[~b2b, "company_size"].isna().all()
    assert deb.loc[b2b, "company_size"].isin(["micro", "small", "medium", "large"]).all()
    assert deb["department"].isin(DEPARTMENTS).all()
    assert "20" not in DEPARTMENTS and {"2A", "2B", "971", "976"} <= set(DEPARTMENTS)
    ext = deb["external_score"].dropna()
    assert ext.between(0, 1000).all() and deb["external_score"].isna().any()
    assert (deb["credit_limit"].dropna() >= 0).all()
    for c in (
        "consent_email",
        "consent_sms",
        "consent_whatsapp",
        "consent_phone",
        "purchase_order_ref",
    ):
        frame = deb if c.startswith("consent") else inv
        assert frame[c].dtype == bool
    assert deb["language"].isin(["fr", "en"]).all()
    for c in ("customer_since",):
        assert pd.api.types.is_datetime64_dtype(deb[c])
    for c in (
        "issue_date",
        "due_date",
        "paid_date",
        "dispute_date",
        "dispute_resolved_date",
        "legal_date",
    ):
        assert pd.api.types.is_datetime64_dtype(inv[c]), c
    for c in ("decided_at", "scheduled_at"):
        assert isinstance(act[c].dtype, pd.DatetimeTZDtype) and str(act[c].dt.tz) == "UTC"
    assert inv["debtor_id"].isin(deb["debtor_id"]).all()
    assert act["debtor_id"].isin(deb["debtor_id"]).all()
    assert (inv["amount"] > 0).all() and (inv["due_date"] >= inv["issue_date"]).all()
    assert inv["delivery_channel"].isin(["e_invoice", "email", "paper"]).all()
    paid = inv["paid_date"].dropna()
    assert (paid >= inv.loc[paid.index, "issue_date"]).all()
    d = inv["dispute_date"].notna()
    assert (
        inv.loc[d, "dispute_reason"]
        .isin(["billing_error", "contract_terms", "quality", "other"])
        .all()
    )
    assert inv.loc[~d, "dispute_reason"].isna().all()
    assert inv.loc[~d, "dispute_resolved_date"].isna().all()
    assert (
        inv.loc[d, "dispute_resolved_date"].dropna()
        >= inv.loc[d, "dispute_date"].loc[inv.loc[d, "dispute_resolved_date"].notna()]
    ).all()
    assert (d & inv["dispute_resolved_date"].isna()).any(), "some disputes open at the end"
    assert inv["legal_date"].notna().any()
    assert (
        inv.loc[
            deb.set_index("debtor_id").loc[inv["debtor_id"], "segment"].to_numpy() == "B2C",
            "purchase_order_ref",
        ]
        .eq(False)
        .all()
    )
    assert act["action"].isin(ACTIONS).all()
    wait = act["action"] == "wait"
    assert wait.any() and act.loc[wait, "scheduled_at"].isna().all()
    assert act.loc[wait, "outcome"].isna().all()
    assert act.loc[~wait, "scheduled_at"].notna().all()
    assert act.loc[~wait, "outcome"].isin(OUTCOMES).all()
    assert ((act["propensity"] > 0) & (act["propensity"] <= 1)).all()
    assert act["decided_at"].is_monotonic_increasing


def test_contract_validator_accepts(tables) -> None:
    check_contract_validator(tables)


def test_realism_basics(tables) -> None:
    deb, inv, act = tables["debtors"], tables["invoices"], tables["actions"]
    assert 0.4 < (deb["segment"] == "B2B").mean() < 0.7
    assert 3 <= len(act) / len(deb) <= 40
    late = inv["paid_date"] > inv["due_date"]
    assert 0.1 < late[inv["paid_date"].notna()].mean() < 0.6
    assert 0.005 < inv["dispute_date"].notna().mean() < 0.12
    assert act["action"].nunique() >= 8 and act["outcome"].nunique() == 5


# --------------------------------------------------------------------------- compliance
def test_calendar_holidays_per_department(world: SyntheticWorld) -> None:
    cal = world.cal
    good_friday = (dt.date(2025, 4, 18) - world.start).days
    dep = {d: i for i, d in enumerate(DEPARTMENTS)}
    assert cal.off[dep["57"], good_friday] and cal.off[dep["67"], good_friday]
    assert cal.off[dep["68"], good_friday] and not cal.off[dep["75"], good_friday]
    st_etienne = (dt.date(2025, 12, 26) - world.start).days
    assert cal.off[dep["57"], st_etienne] and not cal.off[dep["13"], st_etienne]
    slavery_972 = (dt.date(2025, 5, 22) - world.start).days
    assert cal.off[dep["972"], slavery_972] and not cal.off[dep["75"], slavery_972]
    sunday = (dt.date(2025, 3, 2) - world.start).days
    assert cal.off[:, sunday].all()


def test_log_days_hours_and_consent(contacts: pd.DataFrame) -> None:
    check_log_days_hours_and_consent(contacts)


def test_log_contact_caps(contacts: pd.DataFrame) -> None:
    check_log_contact_caps(contacts)


def test_log_disputes_legal_and_reliable(tables, contacts: pd.DataFrame) -> None:
    check_log_disputes_legal_and_reliable(tables, contacts)


def test_propensity_matches_policy(tables, world: SyntheticWorld) -> None:
    check_propensity(tables, world.params.epsilon)


# --------------------------------------------------------------------------- ground truth
@pytest.fixture(scope="module")
def case_ids(tables) -> list[str]:
    inv = tables["invoices"]
    t = pd.Timestamp("2025-09-01")
    openi = inv[
        (inv["issue_date"] < t)
        & (inv["paid_date"].isna() | (inv["paid_date"] >= t))
        & (inv["legal_date"].isna() | (inv["legal_date"] >= t))
        & (inv["due_date"] <= t + pd.Timedelta(days=15))
    ]
    return openi["debtor_id"].drop_duplicates().iloc[:25].tolist()


def test_true_risk(world: SyntheticWorld, case_ids: list[str]) -> None:
    ids = case_ids + ["D000000"]
    r = world.true_risk(ids, "2025-09-01T07:00:00Z", n_replicas=32)
    assert list(r.columns[:3]) == ["debtor_id", "p_default", "p_dispute"]
    assert r["debtor_id"].tolist() == ids
    assert r["p_default"].between(0, 1).all() and r["p_dispute"].between(0, 1).all()
    assert r.loc[: len(case_ids) - 1, "has_case"].all()
    assert r["p_default"].std() > 0
    r2 = world.true_risk(ids, "2025-09-01T07:00:00Z", n_replicas=32)
    pd.testing.assert_frame_equal(r, r2)


def test_true_action_values_and_ladder(world: SyntheticWorld, case_ids: list[str]) -> None:
    as_of = pd.Timestamp("2025-09-01T07:00:00Z")
    ids = case_ids[:8]
    v = world.true_action_values(ids, as_of, n_replicas=8)
    assert list(v.columns[:5]) == [
        "debtor_id",
        "action",
        "scheduled_at",
        "expected_reward",
        "p_dispute_or_complaint",
    ]
    assert set(v["action"]) == set(ACTIONS)
    assert v["p_dispute_or_complaint"].between(0, 1).all()
    assert np.isfinite(v["expected_reward"]).all()
    wait = v["action"] == "wait"
    assert v.loc[wait, "scheduled_at"].isna().all() and len(v[wait]) == len(ids)
    sched = v.loc[~wait, "scheduled_at"]
    assert (sched > as_of).all() and (sched <= as_of + pd.Timedelta(days=7)).all()
    bal = world.tables["invoices"].groupby("debtor_id")["amount"].sum()
    upper = v["debtor_id"].map(bal)
    assert (v["expected_reward"] <= upper + 1e-9).all()
    assert (v["expected_reward"] >= -150 - 50 * 10).all()
    assert v["compliant"].dtype == bool and v["compliant"].any()
    # legal escalation costs 150 more than waiting for a debtor who pays nothing anyway
    best = v[v["compliant"]].groupby("debtor_id")["expected_reward"].max()
    assert (best >= v[wait].set_index("debtor_id")["expected_reward"] - 1e-9).all()
    # explicit slots and custom costs
    slots = [pd.Timestamp("2025-09-02T08:00:00Z"), pd.Timestamp("2025-09-03T13:00:00Z")]
    v2 = world.true_action_values(
        ids[:3],
        as_of,
        actions=["wait", "letter"],
        slots=slots,
        costs={"letter": 100.0},
        n_replicas=8,
    )
    assert len(v2) == 3 * (1 + 2)
    v3 = world.true_action_values(
        ids[:3], as_of, actions=["wait", "letter"], slots=slots, n_replicas=8
    )
    diff = (v3["expected_reward"] - v2["expected_reward"])[v2["action"] == "letter"]
    assert np.allclose(diff, 98.5)
    # a disjoint set of replicas: same rows, an independent estimate
    v4 = world.true_action_values(
        ids[:3], as_of, actions=["wait", "letter"], slots=slots, n_replicas=8, first_replica=9
    )
    assert v4[["debtor_id", "action", "scheduled_at"]].equals(
        v3[["debtor_id", "action", "scheduled_at"]]
    )
    assert not np.allclose(v4["expected_reward"], v3["expected_reward"])
    with pytest.raises(ValueError):
        world.true_action_values(ids[:1], as_of, n_replicas=2, first_replica=0)
    lad = world.ladder_action(ids, as_of)
    assert lad["debtor_id"].tolist() == ids and lad["action"].isin(ACTIONS).all()
    contact = lad["action"] != "wait"
    assert (lad.loc[contact, "scheduled_at"] > as_of).all()
    assert lad.loc[~contact, "scheduled_at"].isna().all()


# --------------------------------------------------------------------------- I/O
def test_write_load_roundtrip(world: SyntheticWorld, tmp_path: Path) -> None:
    out = world.write(tmp_path / "ds")
    assert sorted(p.name for p in out.iterdir()) == [
        "actions.parquet",
        "debtors.parquet",
        "invoices.parquet",
        "world.json",
    ]
    w2 = load_world(out)
    for name, frame in world.tables.items():
        pd.testing.assert_frame_equal(frame, w2.tables[name])
    pq = pytest.importorskip("pyarrow.parquet")
    schema = pq.read_schema(out / "invoices.parquet")
    assert str(schema.field("due_date").type) == "date32[day]"
    assert str(pq.read_schema(out / "actions.parquet").field("decided_at").type) == (
        "timestamp[ms, tz=UTC]"
    )
    ids = ["D000010", "D000020"]
    a = world.true_risk(ids, "2025-06-02", n_replicas=8)
    b = w2.true_risk(ids, "2025-06-02", n_replicas=8)
    pd.testing.assert_frame_equal(a, b)


def test_write_is_atomic(world: SyntheticWorld, tmp_path: Path, monkeypatch) -> None:
    import scoring.synthetic.world as wmod

    target = tmp_path / "ds"
    calls = {"n": 0}
    real = wmod.pq.write_table

    def failing(table, where, **kw):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError("disk full")
        return real(table, where, **kw)

    monkeypatch.setattr(wmod.pq, "write_table", failing)
    with pytest.raises(OSError):
        world.write(target)
    assert not target.exists()
    assert list(tmp_path.iterdir()) == []
    monkeypatch.setattr(wmod.pq, "write_table", real)
    world.write(target)
    before = (target / "actions.parquet").read_bytes()
    calls["n"] = 0
    monkeypatch.setattr(wmod.pq, "write_table", failing)
    with pytest.raises(OSError):
        world.write(target)
    assert (target / "actions.parquet").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ds"]
