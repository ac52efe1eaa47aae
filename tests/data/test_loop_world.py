"""The closed loop in the synthetic world: extra days, tables_until, run_external."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic_checks import (
    check_contract_validator,
    check_log_contact_caps,
    check_log_days_hours_and_consent,
    check_log_disputes_legal_and_reliable,
    local_contacts,
)

from scoring.synthetic import ACTIONS, SyntheticWorld, generate, load_world
from scoring.synthetic.loop import REASONS, ladder_decider

N, START, END, EXTRA = 200, "2025-01-01", "2025-08-31", 60


def _world(extra_days: int = EXTRA, scenario: str = "b2b_phone") -> SyntheticWorld:
    return generate(N, seed=5, start=START, end=END, scenario=scenario, progress=False,
                    extra_days=extra_days)  # fmt: skip


@pytest.fixture(scope="module")
def plain() -> SyntheticWorld:
    return _world(0)


def random_decider(seed: int = 0, drop_every: int = 9):
    """Random actions (and an unknown one) at random on-the-hour UTC slots within 8 days:
    many break a rule. Skips every ``drop_every``-th debtor, answers for a debtor not asked."""

    def decide(ids: list[str], as_of: pd.Timestamp, tables: dict) -> pd.DataFrame:
        assert tables["actions"]["decided_at"].max() < as_of  # only the past is known
        rng = np.random.default_rng([seed, as_of.value // 10**9])
        k = len(ids)
        act = rng.choice(np.array([*ACTIONS, "shout"], dtype=object), k)
        hours = rng.integers(1, 8 * 24, k)
        sched = as_of + pd.to_timedelta(hours, unit="h")
        out = pd.DataFrame(
            {
                "debtor_id": ids,
                "action": act,
                "scheduled_at": pd.Series(sched).where(act != "wait"),
                "propensity": rng.uniform(0.05, 1.0, k),
            }
        )
        out = out[np.arange(k) % drop_every != 1]
        extra = pd.DataFrame({"debtor_id": ["D999999"], "action": ["wait"], "propensity": [1.0]})
        return pd.concat([out, extra], ignore_index=True)

    return decide


def _external_rows(tables: dict, end: str) -> pd.DataFrame:
    a = tables["actions"]
    return a[a["decided_at"] > pd.Timestamp(end, tz="UTC")]


# --------------------------------------------------------------------------- extra days
def test_history_is_the_world_without_extra_days(plain: SyntheticWorld) -> None:
    w = _world()
    for name, frame in plain.tables.items():
        pd.testing.assert_frame_equal(frame, w.tables[name])
        pd.testing.assert_frame_equal(frame, w.tables_until(w.end)[name])
        pd.testing.assert_frame_equal(frame, w.tables_until(w.now)[name])
    m = len(plain.invoices["unit"])
    for k, v in plain.invoices.items():
        np.testing.assert_array_equal(v, w.invoices[k][:m])
    extra = w.invoices["issue"][m:]
    assert len(extra) > 50 and extra.min() >= w.n_days and extra.max() < w.n_days + EXTRA
    assert w.now == pd.Timestamp("2025-09-01", tz="UTC") == plain.now
    with pytest.raises(ValueError, match="extra_days"):
        plain.run_external(7, ladder_decider(plain))
    with pytest.raises(ValueError, match="simulated until"):
        w.tables_until(pd.Timestamp("2025-09-02", tz="UTC"))


# --------------------------------------------------------------------------- plumbing
def test_the_ladder_through_the_outside_path_is_its_own_counterfactual() -> None:
    w = _world()
    r = w.run_external(14, ladder_decider(w))
    s = r.summary
    assert s["decisions"] == s["ladder_decisions"] > 30
    assert s["violations"] == s["missing"] == s["tail_violations"] == 0
    assert s["diff"] == 0.0 and s["diff_se"] == 0.0 and s["net_diff"] == 0.0
    cols = ["debtor_id", "decided_at", "action", "propensity", "paid_14d", "n_bad_14d", "reward"]
    pd.testing.assert_frame_equal(r.decisions[cols], r.ladder[cols])
    assert r.decisions["reward"].notna().all()
    assert (
        s["action_mix"] == s["ladder_action_mix"] and abs(sum(s["action_mix"].values()) - 1) < 1e-3
    )
    # the world moved on by the round, and logged the decisions with their propensities
    assert w.now == pd.Timestamp("2025-09-15", tz="UTC")
    new = _external_rows(w.tables_until(w.now), END)
    assert len(new) == s["decisions"]
    got = new.sort_values(["decided_at", "debtor_id"])["propensity"].to_numpy()
    want = r.decisions.sort_values(["decided_at", "debtor_id"])["propensity"].to_numpy()
    np.testing.assert_allclose(got, want)


def test_violations_are_refused_reported_and_the_log_complies() -> None:
    w = _world()
    r = w.run_external(21, random_decider(), ladder_counterfactual=False)
    s, d = r.summary, r.decisions
    assert "ladder_reward" not in s and r.ladder is None
    assert s["violations"] > 10 and s["violations"] == d["violation"].notna().sum()
    assert set(s["violation_reasons"]) <= set(REASONS)
    assert s["violation_reasons"]["unknown action"] > 0
    bad = d[d["violation"].notna()]
    assert (bad["action"] == "wait").all()  # executed as wait
    assert (bad.loc[bad["requested_action"] == "(unknown)", "violation"] == "unknown action").all()
    assert s["missing"] > 0 and s["extra_rows"] > 0 and not d.loc[~d["given"], "violation"].any()
    ok = d[d["given"] & d["violation"].isna()]
    assert (ok["action"] == ok["requested_action"]).all() and (ok["action"] != "wait").sum() > 10
    tables = w.tables_until(w.now)
    new = _external_rows(tables, END)
    assert len(new) == len(ok)  # refused and missing decisions are not logged
    assert (new["decided_at"].dt.hour == 0).all()
    check_contract_validator(tables)
    # the world's compliance check agrees with the log checks of the ladder's history
    t = dict(tables)
    a = t["actions"].copy()
    late = a["decided_at"] > pd.Timestamp(END, tz="UTC")
    # decided at midnight after the evening: the facts are those of the day before
    a.loc[late, "decided_at"] -= pd.Timedelta(seconds=1)
    t["actions"] = a
    contacts = local_contacts(t)
    check_log_days_hours_and_consent(contacts)
    check_log_contact_caps(contacts)
    check_log_disputes_legal_and_reliable(t, contacts, legal_seen=False)


def test_rounds_chain_and_tables_until_shows_only_the_past() -> None:
    w = _world()
    r1 = w.run_external(10, ladder_decider(w))
    mid = w.now
    r2 = w.run_external(10, ladder_decider(w))
    assert pd.Timestamp(r2.summary["first_as_of"]) == mid == pd.Timestamp("2025-09-11", tz="UTC")
    assert len(w.loop_rounds) == 2 and w.loop_rounds[0] is r1
    full = w.tables_until(w.now)
    at_mid = w.tables_until(mid)
    a_mid = at_mid["actions"]
    assert (a_mid["decided_at"] < mid).all()
    assert len(a_mid) == (full["actions"]["decided_at"] < mid).sum()
    # contacts made after mid have no outcome yet at mid, and one later
    later_contact = a_mid["scheduled_at"] >= mid
    assert later_contact.sum() > 0 and a_mid.loc[later_contact, "outcome"].isna().all()
    f = full["actions"].set_index("action_id").loc[a_mid.loc[later_contact, "action_id"]]
    assert f["outcome"].notna().mean() > 0.5
    inv = at_mid["invoices"]
    day = mid.tz_localize(None)
    for c in ("paid_date", "dispute_date", "legal_date", "issue_date"):
        assert (inv[c].dropna() < day).all()
    assert (full["invoices"]["paid_date"].dropna() >= day).sum() > 0
    # realised rewards: what the tables say for the decisions whose 14 days are known
    d = r1.decisions
    done = d[d["decided_at"] + pd.Timedelta(days=14) <= w.now]
    inv = full["invoices"]
    for row in done.itertuples():
        as_of = row.decided_at.tz_localize(None)
        g = inv[inv["debtor_id"] == row.debtor_id]
        open_ = (
            (g["issue_date"] < as_of)
            & ~(g["paid_date"] < as_of)
            & ~(g["legal_date"] < as_of)
            & (g["due_date"] <= as_of + pd.Timedelta(days=15))
        )
        paid = g["paid_date"] < as_of + pd.Timedelta(days=14)
        assert row.paid_14d == pytest.approx(g.loc[open_ & paid, "amount"].sum())
    assert len(done) > 10
    with pytest.raises(ValueError, match="extra days"):
        w.run_external(45, ladder_decider(w))


def test_write_until_and_reload(tmp_path: Path) -> None:
    w = _world()
    w.run_external(7, ladder_decider(w), ladder_counterfactual=False)
    out = w.write(tmp_path / "loop", until=w.now)
    back = load_world(out)
    assert back.extra_days == EXTRA
    for name, frame in w.tables_until(w.now).items():
        pd.testing.assert_frame_equal(frame, back.tables[name])
    # a reloaded world re-simulates the history and continues from its end
    r = back.run_external(7, ladder_decider(back), ladder_counterfactual=False)
    assert r.summary["first_as_of"] == "2025-09-01T00:00:00+00:00"
    assert r.summary["decisions"] == w.loop_rounds[0].summary["decisions"]


# --------------------------------------------------------------------------- the referee
def test_rule_6_and_7_days_count_at_the_contact_day(plain: SyntheticWorld) -> None:
    """CONTRACT §4.6-7 as written: legal escalation 30+ days past due and 8+ days after *a*
    formal notice that got no payment, both at the contact's day; no formal notice or legal
    escalation to a reliable customer before 30 days past due."""
    from scoring.synthetic.params import EMAIL, FORMAL_NOTICE, LEGAL
    from scoring.synthetic.sim import NEG, State

    t = 400
    u = {
        "fn_unpaid": np.array([t - 5, t - 5, NEG, t - 20, t - 20], np.int32),
        "last_pay": np.array([NEG, t - 2, NEG, NEG, t - 100], np.int32),
        "since": np.array([t - 100, t - 100, t - 100, t - 100, t - 2000], np.int32),
        "last_late_pay": np.full(5, NEG, np.int32),
    }
    st = State(u=u, i={})
    agg = {"maxdpd": np.array([25, 40, 40, 40, 28])}
    D = np.arange(5)
    sim = plain.sim

    def ok(act: int, day: int) -> np.ndarray:
        return sim.legal_timing_ok(st, D, t, agg, np.full(5, act), np.full(5, day))

    # unit 0: 26 days past due tomorrow, 30 in five days; its notice is then 10 days old
    assert not ok(LEGAL, t + 1)[0] and ok(LEGAL, t + 5)[0]
    # unit 1: paid after the notice; unit 2: never got one
    assert not ok(LEGAL, t + 5)[1] and not ok(LEGAL, t + 5)[2]
    # unit 3: an older unpaid notice qualifies, whatever came after it
    assert ok(LEGAL, t + 1)[3]
    # unit 4: reliable (5 years, nothing late): no notice before 30 days past due
    assert not ok(FORMAL_NOTICE, t + 1)[4] and ok(FORMAL_NOTICE, t + 2)[4]
    assert not ok(LEGAL, t + 1)[4] and ok(LEGAL, t + 2)[4]
    assert ok(EMAIL, t + 1).all()
    np.testing.assert_array_equal(sim.unpaid_notice(u, D), [True, False, False, True, True])


def test_the_world_refuses_nothing_the_policy_rule_engine_allows() -> None:
    """The world's CONTRACT §4 check (the loop's referee) and the policy's rule engine read the
    contract alike: no (action, slot) the engine allows is refused by the world."""
    rules = pytest.importorskip("scoring.policy.rules")
    from scoring.cases import build_cases
    from scoring.contract import ACTIONS as CONTRACT_ACTIONS
    from scoring.contract import validate_tables
    from scoring.policy.config import load_policy_config

    assert tuple(CONTRACT_ACTIONS) == tuple(ACTIONS)
    w = generate(400, seed=3, start="2025-01-01", end="2025-12-31", scenario="strategic",
                 progress=False)  # fmt: skip
    typed, problems = validate_tables(w.tables)
    assert not problems
    cfg = load_policy_config()
    n_legal = 0
    for as_of in pd.to_datetime(["2025-09-02", "2025-10-15"], utc=True):
        cs = build_cases(typed, as_of)
        case, act, t = rules.candidate_arrays(cs, cfg)
        mask, _ = rules.evaluate_arrays(cs, case, act, t, cfg)
        idx = w.debtor_index(cs.cases["debtor_id"].astype(str))[case]
        day, _ = w._day(as_of)
        uniq, pos = np.unique(idx, return_inverse=True)
        st, _, _, al, f, fp = w._decision_state(uniq, day)
        va = act.astype(np.int64)
        wait = va == 0
        vd, vm = w._local_slot(idx, np.where(wait, 0, t // 10**9))
        vd, vm = np.where(wait, day, vd), np.where(wait, 0, vm)
        c = w._compliance_parts(st, al, f, fp, pos, idx, va, vd, vm, day, as_of.value // 10**9)
        engine_ok = mask == 0
        refused = engine_ok & ~c["compliant"]
        assert not refused.any(), pd.Series(np.asarray(ACTIONS)[va[refused]]).value_counts()
        n_legal += int((engine_ok & (np.asarray(ACTIONS)[va] == "legal_escalation")).sum())
    assert n_legal > 0
