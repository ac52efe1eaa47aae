"""Compliance rules (CONTRACT §4): hand-made cases, the configuration, and a property test
against an independent per-row reference implementation."""

from __future__ import annotations

import datetime as dt
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import holidays
import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from scoring.cases import Case, CaseSet
from scoring.configuration import ConfigError
from scoring.contract import ACTIONS, CONTACT_ACTIONS
from scoring.policy.config import PolicyConfig, default_policy_path, load_policy_config
from scoring.policy.rules import (
    RULE_IDS,
    allowed_pairs,
    candidates,
    evaluate,
    removal_reasons,
    removal_summary,
    violation_list,
)

AS_OF = "2026-03-30T08:00:00+02:00"  # a Monday, Paris summer time
CONFIG = load_policy_config()
AGENCY = CONFIG.with_overrides({"compliance": {"agency_mode": {"enabled": True}}})


def make_case(
    *,
    as_of: str = AS_OF,
    department: str = "75",
    segment: str = "B2B",
    customer_since: str = "2025-01-01",
    consent: bool = True,
    due_date: str = "2026-02-01",
    dispute_date: str | None = None,
    dispute_resolved_date: str | None = None,
    actions: list[dict[str, Any]] | None = None,
    history: dict[str, Any] | None = None,
) -> Case:
    """A case with one open invoice (57 days past due at ``AS_OF``) and no actions."""
    return Case(
        as_of=as_of,
        debtor={
            "debtor_id": "d1",
            "segment": segment,
            "sector": "C" if segment == "B2B" else None,
            "department": department,
            "customer_since": customer_since,
            "consent_email": consent,
            "consent_sms": consent,
            "consent_whatsapp": consent,
            "consent_phone": consent,
        },
        open_invoices=[
            {
                "invoice_id": "i1",
                "issue_date": "2026-01-01",
                "due_date": due_date,
                "amount": 120.0,
                "dispute_date": dispute_date,
                "dispute_resolved_date": dispute_resolved_date,
            }
        ],
        recent_actions=actions or [],
        history=history or {},
    )


def contact(action: str, when: str, decided: str | None = None) -> dict[str, Any]:
    """A logged contact made at ``when`` (decided then, or at ``decided``)."""
    return {"decided_at": decided or when, "action": action, "scheduled_at": when}


def run(cases: Case | list[Case], rows: list[tuple], config: PolicyConfig = CONFIG) -> pd.DataFrame:
    """Evaluate ``rows`` of ``(case, action, scheduled_at or None)``."""
    cases = [cases] if isinstance(cases, Case) else cases
    table = pd.DataFrame(
        {
            "case": [r[0] for r in rows],
            "action": [r[1] for r in rows],
            "scheduled_at": pd.to_datetime([r[2] for r in rows], utc=True),
        }
    )
    return evaluate(CaseSet.from_cases(cases), table, config)


def verdicts(result: pd.DataFrame) -> list[str | None]:
    """``removed_by`` of each row, None when allowed."""
    return [
        None if a else str(r) for a, r in zip(result["allowed"], result["removed_by"], strict=True)
    ]


def local(day_time: str, department: str) -> str:
    """ISO instant of a local wall-clock time in a département."""
    tz = {"972": "America/Martinique", "974": "Indian/Reunion"}.get(department, "Europe/Paris")
    return pd.Timestamp(day_time, tz=tz).isoformat()


# --------------------------------------------------------------------------------------
# Configuration


def test_default_config_holds_the_contract_defaults() -> None:
    cfg = load_policy_config()
    assert cfg.costs == {
        "wait": 0.0,
        "email_reminder": 0.05,
        "sms_reminder": 0.10,
        "whatsapp_reminder": 0.08,
        "phone_call": 4.00,
        "letter": 1.50,
        "formal_notice": 7.50,
        "payment_plan_offer": 6.00,
        "dispute_review": 15.00,
        "legal_escalation": 150.00,
    }
    assert cfg.penalties.dispute == 50.0
    assert cfg.compliance.agency_mode.enabled is False
    assert cfg.compliance.horizon.days == 7
    # every 30 minutes from 08:00 to 19:30, within six days (safely inside the 7-day horizon)
    assert cfg.slots.hours == tuple(f"{h:02d}:{m:02d}" for h in range(8, 20) for m in (0, 30))
    assert cfg.slots.days_ahead == 6 and cfg.harm_cap is None
    assert cfg.exploration.temperature > 0
    assert cfg.fingerprint() == load_policy_config(default_policy_path()).fingerprint()
    with pytest.raises(ValidationError):
        cfg.version = "x"  # frozen


def test_config_overrides_and_invalid_files(tmp_path: Path) -> None:
    assert AGENCY.compliance.agency_mode.enabled is True
    assert AGENCY.fingerprint() != CONFIG.fingerprint()
    data = yaml.safe_load(default_policy_path().read_text())
    bad_cases = [
        ("costs", lambda d: d["costs"].pop("letter")),
        (
            "hours",
            lambda d: d["compliance"]["contact_hours"]["hours"].update(B2B=[["20:00", "08:00"]]),
        ),
        ("action", lambda d: d["compliance"]["open_dispute"].update(allowed_actions=["fax"])),
        ("extra", lambda d: d["compliance"].update(unknown_rule={"enabled": True})),
        ("consent", lambda d: d["compliance"]["consent"]["required"].update(letter="consent_fax")),
    ]
    for name, mutate in bad_cases:
        d = yaml.safe_load(yaml.safe_dump(data))
        mutate(d)
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(d))
        with pytest.raises(ConfigError, match=str(path)):  # names the file and the field
            load_policy_config(path)
    (tmp_path / "list.yaml").write_text("- 1\n")
    with pytest.raises(ValueError):
        load_policy_config(tmp_path / "list.yaml")


def test_rule_parameters_come_from_the_config() -> None:
    calls = [contact("phone_call", f"2026-03-{d}T10:00:00+01:00") for d in ("10", "17", "24")]
    case = make_case(actions=calls)
    row = [(0, "phone_call", "2026-04-01T10:00:00+02:00")]
    assert verdicts(run(case, row)) == [None]
    tighter = CONFIG.with_overrides({"compliance": {"caps": {"phone_30d": {"max_contacts": 3}}}})
    assert verdicts(run(case, row, tighter)) == ["R4_phone_30d_cap"]
    off = CONFIG.with_overrides({"compliance": {"sunday_holiday": {"enabled": False}}})
    friday = [(0, "email_reminder", "2026-04-03T10:00:00+02:00")]
    assert verdicts(run(make_case(department="57"), friday, off)) == [None]


# --------------------------------------------------------------------------------------
# Rule 1: Sundays and public holidays


def test_good_friday_in_moselle_and_alsace_but_not_in_paris() -> None:
    cases = [make_case(department=d) for d in ("57", "67", "68", "75")]
    when = "2026-04-03T10:00:00+02:00"  # Good Friday
    res = run(cases, [(i, "email_reminder", when) for i in range(4)])
    assert verdicts(res) == ["R1_sunday_holiday"] * 3 + [None]
    # the day before is an ordinary Thursday everywhere
    res = run(cases, [(i, "email_reminder", "2026-04-02T10:00:00+02:00") for i in range(4)])
    assert res["allowed"].all()


def test_14_july_everywhere_in_local_time() -> None:
    deps = ("75", "57", "2A", "972", "974")
    cases = [make_case(department=d, as_of="2026-07-10T09:00:00+02:00") for d in deps]
    res = run(cases, [(i, "letter", local("2026-07-14 11:00", d)) for i, d in enumerate(deps)])
    assert verdicts(res) == ["R1_sunday_holiday"] * len(deps)
    res = run(cases, [(i, "letter", local("2026-07-15 11:00", d)) for i, d in enumerate(deps)])
    assert res["allowed"].all()


def test_sunday_is_never_a_contact_day() -> None:
    case = make_case(as_of="2026-03-12T09:00:00+01:00")
    res = run(
        case,
        [(0, a, "2026-03-15T10:00:00+01:00") for a in CONTACT_ACTIONS]
        + [(0, "letter", "2026-03-14T10:00:00+01:00")],  # Saturday
    )
    assert verdicts(res)[:-1] == ["R1_sunday_holiday"] * len(CONTACT_ACTIONS)
    assert "R2_contact_hours" in violation_list(res["violations"].iloc[0])
    assert verdicts(res)[-1] is None


# --------------------------------------------------------------------------------------
# Rule 2: hours


def test_overseas_hours_are_local() -> None:
    mq = make_case(department="972", as_of="2026-03-30T12:00:00Z")
    res = run(
        mq,
        [
            (0, "email_reminder", "2026-03-31T20:01:00-04:00"),
            (0, "email_reminder", "2026-03-31T20:00:00-04:00"),  # the end is excluded
            (0, "email_reminder", "2026-03-31T19:59:00-04:00"),
            (0, "email_reminder", "2026-03-31T08:00:00-04:00"),  # the start is included
        ],
    )
    assert verdicts(res) == ["R2_contact_hours", "R2_contact_hours", None, None]
    # the same instant: 07:30 in Martinique, 13:30 in Paris
    instant = "2026-03-31T11:30:00Z"
    cases = [mq, make_case(department="75", as_of="2026-03-30T12:00:00Z")]
    res = run(cases, [(0, "email_reminder", instant), (1, "email_reminder", instant)])
    assert verdicts(res) == ["R2_contact_hours", None]


def test_phone_hours_by_segment_and_weekday() -> None:
    b2c, b2b = make_case(segment="B2C"), make_case(segment="B2B")
    sat = "2026-04-04T11:00:00+02:00"
    res = run(b2c, [(0, "phone_call", sat), (0, "email_reminder", sat), (0, "letter", sat)])
    assert verdicts(res) == ["R2_phone_hours", None, None]
    tue = "2026-03-31T{}:00+02:00"
    b2c_rows = [(0, "phone_call", tue.format(h)) for h in ("09:30", "12:59", "13:30", "14:00")]
    assert verdicts(run(b2c, b2c_rows)) == ["R2_phone_hours", None, "R2_phone_hours", None]
    b2b_rows = [(0, "phone_call", tue.format(h)) for h in ("08:30", "09:00", "17:59", "18:00")]
    assert verdicts(run(b2b, b2b_rows)) == ["R2_phone_hours", None, None, "R2_phone_hours"]
    assert verdicts(run(b2b, [(0, "phone_call", sat)])) == ["R2_phone_hours"]


# --------------------------------------------------------------------------------------
# Rule 3: consent


def test_consent_flags() -> None:
    res = run(
        make_case(consent=False),
        [(0, a, "2026-03-31T10:00:00+02:00") for a in CONTACT_ACTIONS],
    )
    removed = dict(zip(res["action"].astype(str), verdicts(res), strict=True))
    for a in ("email_reminder", "sms_reminder", "whatsapp_reminder", "phone_call"):
        assert removed[a] == "R3_consent"
    for a in ("letter", "formal_notice", "payment_plan_offer", "dispute_review"):
        assert removed[a] is None


# --------------------------------------------------------------------------------------
# Rule 4: caps


def test_daily_cap_counts_the_log_on_the_local_day() -> None:
    log = [
        contact("sms_reminder", "2026-03-31T09:00:00+02:00", decided="2026-03-29T10:00:00+02:00")
    ]
    res = run(
        make_case(actions=log),
        [
            (0, "email_reminder", "2026-03-31T17:00:00+02:00"),
            (0, "email_reminder", "2026-04-01T09:00:00+02:00"),
        ],
    )
    assert verdicts(res) == ["R4_daily_cap", None]
    # a decision without scheduled_at counts at decided_at
    log = [{"decided_at": "2026-03-30T07:00:00+02:00", "action": "email_reminder"}]
    res = run(make_case(actions=log), [(0, "letter", "2026-03-30T17:00:00+02:00")])
    assert verdicts(res) == ["R4_daily_cap"]
    # 23:30 in Martinique is already the next day in UTC: it counts on the Martinique day
    log = [contact("email_reminder", "2026-03-29T23:30:00-04:00")]
    mq = make_case(department="972", as_of="2026-03-30T12:00:00Z", actions=log)
    res = run(
        mq,
        [
            (0, "letter", "2026-03-30T10:00:00-04:00"),
            (0, "letter", "2026-03-31T10:00:00-04:00"),
        ],
    )
    assert verdicts(res) == [None, None]
    log = [contact("email_reminder", "2026-03-30T23:30:00-04:00", decided="2026-03-30T10:00Z")]
    mq = make_case(department="972", as_of="2026-03-30T12:00:00Z", actions=log)
    res = run(
        mq,
        [
            (0, "letter", "2026-03-30T19:00:00-04:00"),
            (0, "letter", local("2026-03-31 10:00", "972")),
        ],
    )
    assert verdicts(res) == ["R4_daily_cap", None]


def test_weekly_cap_three_per_rolling_seven_days() -> None:
    log = [contact("email_reminder", f"2026-03-{d}T10:00:00+01:00") for d in ("26", "27", "28")]
    rows = [(0, "letter", f"2026-{d}T10:00:00+02:00") for d in ("03-30", "04-01", "04-02")]
    assert verdicts(run(make_case(actions=log), rows)) == ["R4_weekly_cap"] * 2 + [None]
    # contacts already scheduled after the candidate count too (every window holding it)
    log = [
        contact("email_reminder", "2026-03-27T10:00:00+01:00"),
        contact("letter", "2026-04-01T10:00:00+02:00", decided="2026-03-29T10:00:00+02:00"),
        contact("letter", "2026-04-02T10:00:00+02:00", decided="2026-03-29T10:00:00+02:00"),
    ]
    rows = [
        (0, "email_reminder", "2026-03-31T10:00:00+02:00"),
        (0, "email_reminder", "2026-04-01T15:00:00+02:00"),
        (0, "email_reminder", "2026-04-04T10:00:00+02:00"),
    ]
    assert verdicts(run(make_case(actions=log), rows)) == [
        "R4_weekly_cap",
        "R4_daily_cap",
        None,
    ]


def test_a_fifth_call_in_thirty_days_is_removed() -> None:
    days = ("03", "10", "17", "24")  # 29, 22, 15 and 8 days before 1 April
    calls = [contact("phone_call", f"2026-03-{d}T10:00:00+01:00") for d in days]
    rows = [
        (0, "phone_call", "2026-04-01T10:00:00+02:00"),
        (0, "email_reminder", "2026-04-01T10:00:00+02:00"),
        (0, "phone_call", "2026-04-02T10:00:00+02:00"),  # 3 March has left the window
    ]
    assert verdicts(run(make_case(actions=calls), rows)) == ["R4_phone_30d_cap", None, None]
    assert verdicts(run(make_case(actions=calls[1:]), rows[:1])) == [None]


# --------------------------------------------------------------------------------------
# Rule 5: open dispute


def test_open_dispute_allows_only_dispute_review_and_wait() -> None:
    open_case = make_case(dispute_date="2026-02-10")
    res = allowed_pairs(CaseSet.from_cases([open_case]))
    allowed_actions = set(res.loc[res["allowed"], "action"].astype(str))
    assert allowed_actions == {"wait", "dispute_review"}
    summary = removal_summary(res)
    assert set(summary["action"].astype(str)) == set(CONTACT_ACTIONS) - {"dispute_review"}
    assert (summary["removed_by"] == "R5_open_dispute").all()
    resolved = make_case(dispute_date="2026-02-10", dispute_resolved_date="2026-03-01")
    res = allowed_pairs(CaseSet.from_cases([resolved]))
    assert "email_reminder" in set(res.loc[res["allowed"], "action"].astype(str))


# --------------------------------------------------------------------------------------
# Rule 6: legal escalation


def test_legal_escalation_prerequisites() -> None:
    fn = [contact("formal_notice", "2026-03-23T10:00:00+01:00")]
    due_1_march = {"due_date": "2026-03-01"}  # 29 days past due on 30 March, 30 on 31 March
    rows = [
        (0, "legal_escalation", "2026-03-30T10:00:00+02:00"),
        (0, "legal_escalation", "2026-03-31T10:00:00+02:00"),
    ]
    assert verdicts(run(make_case(**due_1_march), rows)) == ["R6_legal_prerequisites"] * 2
    assert verdicts(run(make_case(actions=fn, **due_1_march), rows)) == [
        "R6_legal_prerequisites",
        None,
    ]
    # notice early enough but not yet 30 days past due
    fn_early = [contact("formal_notice", "2026-03-16T10:00:00+01:00")]
    res = run(make_case(actions=fn_early, due_date="2026-03-02"), rows)
    assert verdicts(res) == ["R6_legal_prerequisites", "R6_legal_prerequisites"]
    # a payment since the notice (on its day or later) voids it
    for paid, verdict in (
        ("2026-03-24", "R6_legal_prerequisites"),
        ("2026-03-23", "R6_legal_prerequisites"),
        ("2026-03-22", None),
    ):
        case = make_case(
            actions=fn, history={"n_paid": 1, "last_payment_date": paid}, **due_1_march
        )
        assert verdicts(run(case, rows[1:])) == [verdict]


# --------------------------------------------------------------------------------------
# Rule 7: reliable customers


def test_reliable_customer() -> None:
    reliable = {
        "customer_since": "2020-01-01",
        "history": {"n_paid": 10, "n_paid_12m": 4, "n_paid_late_12m": 0},
        "actions": [contact("email_reminder", "2026-03-20T10:00:00+01:00")],
    }
    rows = [
        (0, "email_reminder", "2026-04-02T10:00:00+02:00"),  # 13 days after the last reminder
        (0, "email_reminder", "2026-04-03T10:00:00+02:00"),  # 14 days after
    ]
    assert verdicts(run(make_case(**reliable), rows)) == ["R7_reliable_customer", None]
    late = {**reliable, "history": {"n_paid": 10, "n_paid_12m": 4, "n_paid_late_12m": 1}}
    assert verdicts(run(make_case(**late), rows)) == [None, None]
    young = {**reliable, "customer_since": "2023-03-31"}  # 3 years on 31 March only
    assert verdicts(run(make_case(**young), rows)) == [None, None]
    # no formal notice before 30 days past due
    fn = [(0, "formal_notice", "2026-04-03T10:00:00+02:00")]  # 24 days past due
    case = make_case(customer_since="2020-01-01", due_date="2026-03-10")
    assert verdicts(run(case, fn)) == ["R7_reliable_customer"]
    case = make_case(customer_since="2024-01-01", due_date="2026-03-10")
    assert verdicts(run(case, fn)) == [None]


# --------------------------------------------------------------------------------------
# Rule 8: agency mode


def test_agency_mode_first_contact_is_a_letter() -> None:
    rows = [
        (0, "email_reminder", "2026-03-31T10:00:00+02:00"),
        (0, "letter", "2026-03-31T10:00:00+02:00"),
        (0, "wait", None),
    ]
    assert verdicts(run(make_case(), rows)) == [None, None, None]  # off by default
    assert verdicts(run(make_case(), rows, AGENCY)) == ["R8_agency_first_letter", None, None]
    waited = make_case(actions=[{"decided_at": "2026-03-20T10:00:00+01:00", "action": "wait"}])
    assert verdicts(run(waited, rows, AGENCY))[0] == "R8_agency_first_letter"
    prior = make_case(actions=[contact("letter", "2026-03-20T10:00:00+01:00")])
    assert verdicts(run(prior, rows, AGENCY)) == [None, None, None]
    # a letter already scheduled after the candidate does not make it a second contact
    later = make_case(
        actions=[contact("letter", "2026-04-02T10:00:00+02:00", decided="2026-03-29T10:00Z")]
    )
    assert verdicts(run(later, rows, AGENCY))[0] == "R8_agency_first_letter"


# --------------------------------------------------------------------------------------
# Rule 9, horizon, wait


def test_requires_review_for_b2c_formal_notice_and_legal() -> None:
    when = "2026-03-31T10:00:00+02:00"
    rows = [(0, a, when) for a in ("formal_notice", "legal_escalation", "email_reminder")]
    rows.append((0, "wait", None))
    assert run(make_case(segment="B2C"), rows)["requires_review"].tolist() == [
        True,
        True,
        False,
        False,
    ]
    assert not run(make_case(segment="B2B"), rows)["requires_review"].any()


def test_horizon() -> None:
    rows = [
        (0, "email_reminder", "2026-03-31T08:00:00+02:00"),  # at as_of
        (0, "email_reminder", "2026-03-30T10:00:00+02:00"),  # past
        (0, "email_reminder", "2026-04-07T08:00:00+02:00"),  # as_of + 7 days exactly
        (0, "email_reminder", "2026-04-07T08:01:00+02:00"),
        (0, "email_reminder", None),
    ]
    res = run(make_case(as_of="2026-03-31T08:00:00+02:00"), rows)
    assert verdicts(res) == ["R0_horizon", "R0_horizon", None, "R0_horizon", "R0_horizon"]


def test_wait_is_always_allowed() -> None:
    hostile = make_case(
        consent=False,
        dispute_date="2026-02-10",
        actions=[contact("phone_call", "2026-03-30T07:00:00+02:00")],
    )
    res = run(hostile, [(0, "wait", None), (0, "wait", "2026-04-05T10:00:00+02:00")], AGENCY)
    assert res["allowed"].all()
    assert (res["violations"] == "").all()
    assert res["removed_by"].isna().all()


# --------------------------------------------------------------------------------------
# The grid, summaries, errors


def test_candidates_grid_and_summary() -> None:
    cases = [make_case(department="57"), make_case(department="972", consent=False)]
    cs = CaseSet.from_cases(cases)
    grid = candidates(cs)
    assert list(grid.columns) == ["case", "action", "scheduled_at"]
    assert (grid[grid["action"] == "wait"].groupby("case").size() == 1).all()
    assert grid.loc[grid["action"] == "wait", "scheduled_at"].isna().all()
    per = grid[grid["action"] != "wait"].groupby(["case", "action"], observed=True).size()
    assert set(per) == {24 * 6}  # every 30 minutes 08:00-19:30 on the next 6 days
    assert len(per) == 2 * len(CONTACT_ACTIONS)
    res = evaluate(cs, grid)
    assert res.index.equals(grid.index)
    assert res["allowed"].dtype == bool
    assert set(res["removed_by"].dropna().astype(str)) <= set(RULE_IDS)
    reasons = removal_reasons(res, n_cases=2)
    assert reasons[1]["sms_reminder"][0] == "R3_consent"
    assert "sms_reminder" not in reasons[0]
    summary = removal_summary(res)
    assert set(summary.columns) == {"case", "action", "removed_by", "rules", "n_rows"}
    # the first rule of a row is the earliest failing one in RULE_IDS order
    for removed_by, violations in zip(res["removed_by"], res["violations"], strict=True):
        if violations:
            assert violation_list(violations)[0] == removed_by


def test_grid_edge_cases() -> None:
    cs = CaseSet.from_cases([make_case()])
    none = cs.take([])
    assert len(candidates(none)) == 0
    assert removal_reasons(allowed_pairs(none)) == []
    no_hours = CONFIG.with_overrides({"slots": {"hours": []}})
    res = allowed_pairs(cs, no_hours)
    assert res["action"].astype(str).tolist() == ["wait"] and res["allowed"].all()
    short = CONFIG.with_overrides({"slots": {"days_ahead": 2, "hours": ["10:00"]}})
    grid = candidates(cs, short)
    assert len(grid) == 1 + 2 * len(CONTACT_ACTIONS)  # 31 March and 1 April at 10:00


def test_evaluate_rejects_bad_input() -> None:
    cs = CaseSet.from_cases([make_case()])
    when = pd.to_datetime(["2026-03-31T10:00:00+02:00"], utc=True)
    with pytest.raises(ValueError, match="unknown"):
        evaluate(cs, pd.DataFrame({"case": [0], "action": ["fax"], "scheduled_at": when}))
    with pytest.raises(ValueError, match="position"):
        evaluate(cs, pd.DataFrame({"case": [1], "action": ["letter"], "scheduled_at": when}))
    with pytest.raises(ValueError, match="timezone"):
        naive = pd.to_datetime(["2026-03-31T10:00:00"])
        evaluate(cs, pd.DataFrame({"case": [0], "action": ["letter"], "scheduled_at": naive}))
    with pytest.raises(ValueError, match="column"):
        evaluate(cs, pd.DataFrame({"case": [0], "action": ["letter"]}))
    empty = pd.DataFrame(
        {
            "case": np.zeros(0, dtype=np.int64),
            "action": pd.Series([], dtype=str),
            "scheduled_at": pd.DatetimeIndex([], tz="UTC"),
        }
    )
    assert len(evaluate(cs, empty)) == 0


# --------------------------------------------------------------------------------------
# Property test: every verdict agrees with a simple per-row reference implementation

_TZ = {
    "971": "America/Guadeloupe",
    "972": "America/Martinique",
    "973": "America/Cayenne",
    "974": "Indian/Reunion",
    "975": "America/Miquelon",
    "976": "Indian/Mayotte",
}
_SUBDIV = {"57": "57", "67": "6AE", "68": "6AE", "975": "PM"}
_SUBDIV.update({d: d for d in ("971", "972", "973", "974", "976")})


@cache
def _holidays(department: str, year: int) -> frozenset[dt.date]:
    return frozenset(holidays.France(subdiv=_SUBDIV.get(department), years=year))


def reference(case: Case, action: str, when: dt.datetime | None, agency: bool) -> set[str]:
    """The rules of CONTRACT §4 for one row, written plainly (default configuration)."""
    if action == "wait":
        return set()
    out: set[str] = set()
    tz = ZoneInfo(_TZ.get(case.debtor.department, "Europe/Paris"))
    as_of = case.as_of
    if when is None or not (as_of < when <= as_of + dt.timedelta(days=7)):
        out.add("R0_horizon")
    consent = {
        "email_reminder": case.debtor.consent_email,
        "sms_reminder": case.debtor.consent_sms,
        "whatsapp_reminder": case.debtor.consent_whatsapp,
        "phone_call": case.debtor.consent_phone,
    }
    if not consent.get(action, True):
        out.add("R3_consent")
    disputed = any(i.dispute_date and not i.dispute_resolved_date for i in case.open_invoices)
    if disputed and action != "dispute_review":
        out.add("R5_open_dispute")
    log = [
        (a.action, a.scheduled_at or a.decided_at)
        for a in case.recent_actions
        if a.action != "wait"
    ]
    if agency and action != "letter":
        at = when if when is not None else as_of
        if not any(t < at for _, t in log):
            out.add("R8_agency_first_letter")
    if when is None:
        return out

    lt = when.astimezone(tz)
    day, minute, weekday = lt.date(), lt.hour * 60 + lt.minute, lt.weekday()
    if weekday == 6 or day in _holidays(case.debtor.department, day.year):
        out.add("R1_sunday_holiday")
    if weekday == 6 or not 8 * 60 <= minute < 20 * 60:
        out.add("R2_contact_hours")
    if action == "phone_call":
        if case.debtor.segment == "B2B":
            ok = 9 * 60 <= minute < 18 * 60
        else:
            ok = 10 * 60 <= minute < 13 * 60 or 14 * 60 <= minute < 20 * 60
        if weekday >= 5 or not ok:
            out.add("R2_phone_hours")

    days = [t.astimezone(tz).date() for _, t in log]
    call_days = [t.astimezone(tz).date() for a, t in log if a == "phone_call"]

    def over(counted: list[dt.date], width: int, cap: int) -> bool:
        for k in range(width):
            start = day - dt.timedelta(days=width - 1 - k)
            end = start + dt.timedelta(days=width - 1)
            if sum(start <= d <= end for d in counted) + 1 > cap:
                return True
        return False

    as_of_day = as_of.astimezone(tz).date()
    near = 0 <= (day - as_of_day).days <= 8  # count rules are checked near as_of only
    if near and over(days, 1, 1):
        out.add("R4_daily_cap")
    if near and over(days, 7, 3):
        out.add("R4_weekly_cap")
    if near and action == "phone_call" and over(call_days, 30, 4):
        out.add("R4_phone_30d_cap")

    dpd = (day - min(i.due_date for i in case.open_invoices)).days
    if action == "legal_escalation":
        paid = case.history.last_payment_date
        notices = [
            t.astimezone(tz).date()
            for a, t in log
            if a == "formal_notice"
            and (day - t.astimezone(tz).date()).days >= 8
            and (paid is None or paid < t.astimezone(tz).date())
        ]
        if dpd < 30 or not notices:
            out.add("R6_legal_prerequisites")

    since = case.debtor.customer_since
    years = (as_of_day.year - since.year) - (
        (as_of_day.month, as_of_day.day) < (since.month, since.day)
    )
    reliable = years >= 3 and case.history.n_paid_late_12m == 0
    too_often = near and over(days, 14, 1)
    too_early = action in ("formal_notice", "legal_escalation") and dpd < 30
    if reliable and (too_often or too_early):
        out.add("R7_reliable_customer")
    return out


_DEPS = ["75", "57", "67", "13", "2A", "971", "972", "973", "974", "975", "976"]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    as_of = start + dt.timedelta(minutes=draw(st.integers(0, 365 * 24 * 60)))
    day = as_of.astimezone(ZoneInfo("Europe/Paris")).date()
    segment = draw(st.sampled_from(["B2B", "B2C"]))
    invoices = []
    for i in range(draw(st.integers(1, 3))):
        issue = day - dt.timedelta(days=draw(st.integers(1, 120)))
        due = min(issue + dt.timedelta(days=draw(st.integers(0, 60))), day + dt.timedelta(days=15))
        disputed = draw(st.booleans()) and draw(st.booleans())
        invoices.append(
            {
                "invoice_id": f"i{i}",
                "issue_date": issue,
                "due_date": due,
                "amount": 50.0,
                "dispute_date": issue if disputed else None,
                "dispute_resolved_date": issue if disputed and draw(st.booleans()) else None,
            }
        )
    actions = []
    for _ in range(draw(st.integers(0, 10))):
        decided = as_of - dt.timedelta(minutes=draw(st.integers(1, 45 * 24 * 60)))
        action = draw(st.sampled_from(ACTIONS + ("formal_notice", "phone_call")))
        scheduled = None
        if action != "wait" and draw(st.integers(0, 3)) > 0:
            scheduled = decided + dt.timedelta(minutes=draw(st.integers(0, 12 * 24 * 60)))
        actions.append({"decided_at": decided, "action": action, "scheduled_at": scheduled})
    n_paid_12m = draw(st.integers(0, 3))
    paid = draw(st.none() | st.integers(1, 60))
    return Case(
        as_of=as_of,
        debtor={
            "debtor_id": "d",
            "segment": segment,
            "sector": "C" if segment == "B2B" else None,
            "department": draw(st.sampled_from(_DEPS)),
            "customer_since": day - dt.timedelta(days=draw(st.integers(0, 2000))),
            "consent_email": draw(st.booleans()),
            "consent_sms": draw(st.booleans()),
            "consent_whatsapp": draw(st.booleans()),
            "consent_phone": draw(st.booleans()),
        },
        open_invoices=invoices,
        recent_actions=actions,
        history={
            "n_paid": n_paid_12m,
            "n_paid_12m": n_paid_12m,
            "n_paid_late_12m": draw(st.integers(0, n_paid_12m)),
            "last_payment_date": None if paid is None else day - dt.timedelta(days=paid),
        },
    )


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(cases(), min_size=1, max_size=3), st.integers(0, 2**32 - 1), st.booleans())
def test_verdicts_match_a_per_row_reference(case_list: list[Case], seed: int, agency: bool) -> None:
    config = AGENCY if agency else CONFIG
    cs = CaseSet.from_cases(case_list)
    rng = np.random.default_rng(seed)
    grid = candidates(cs, config)
    grid = grid.iloc[np.sort(rng.choice(len(grid), size=min(len(grid), 120), replace=False))]
    # plus rows at arbitrary minutes around the horizon, and waits with and without a time
    n_extra = 40
    extra_case = rng.integers(0, len(case_list), n_extra)
    offsets = pd.to_timedelta(rng.integers(-2 * 1440, 10 * 1440, n_extra), unit="min")
    extra = pd.DataFrame(
        {
            "case": extra_case,
            "action": rng.choice(ACTIONS, n_extra),
            "scheduled_at": cs.cases["as_of"].iloc[extra_case].to_numpy(dtype="datetime64[ns]")
            + offsets,
        }
    )
    extra.loc[rng.random(n_extra) < 0.1, "scheduled_at"] = pd.NaT
    table = pd.concat([grid.astype({"action": str}), extra], ignore_index=True)
    table["scheduled_at"] = pd.to_datetime(table["scheduled_at"], utc=True)
    res = evaluate(cs, table, config)
    for row in res.itertuples(index=False):
        when = None if pd.isna(row.scheduled_at) else row.scheduled_at.to_pydatetime()
        want = reference(case_list[row.case], row.action, when, agency)
        got = set(violation_list(row.violations))
        assert got == want, (row, case_list[row.case])
        assert row.allowed == (not want)
        if row.action == "wait":
            assert row.allowed
        review = case_list[row.case].debtor.segment == "B2C" and row.action in (
            "formal_notice",
            "legal_escalation",
        )
        assert row.requires_review == review


def test_removal_reasons_name_the_rule_that_fails_everywhere():
    """Without consent, SMS is removed by R3 alone, though its Sunday slots also break R1;
    a paused debtor (R9) loses every contact action to R9 alone."""
    from scoring.policy.rules import candidate_arrays, evaluate_arrays, removal_reasons_arrays

    cs = CaseSet.from_cases([make_case(consent=False), make_case()])
    case, act, t = candidate_arrays(cs, CONFIG)
    mask, _ = evaluate_arrays(cs, case, act, t, CONFIG)
    reasons = removal_reasons_arrays(case, act, mask, len(cs))
    assert reasons[0]["sms_reminder"] == ["R3_consent"]
    assert reasons[0]["phone_call"] == ["R3_consent"]
    assert "sms_reminder" not in reasons[1]
    # legal escalation without a formal notice: R6 on every slot
    assert reasons[1]["legal_escalation"] == ["R6_legal_prerequisites"]

    cs.paused = np.array([False, True])
    mask, _ = evaluate_arrays(cs, case, act, t, CONFIG)
    reasons = removal_reasons_arrays(case, act, mask, len(cs))
    assert set(reasons[1]) == set(CONTACT_ACTIONS)
    assert all("R9_contest_pause" in r for r in reasons[1].values())
    assert "R9_contest_pause" not in str(reasons[0])
    paused_off = CONFIG.with_overrides({"compliance": {"contest_pause": {"enabled": False}}})
    mask, _ = evaluate_arrays(cs, case, act, t, paused_off)
    assert "R9_contest_pause" not in str(removal_reasons_arrays(case, act, mask, len(cs)))
