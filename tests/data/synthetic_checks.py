"""Checks of a synthetic world's log against the contract, shared by the data tests."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import holidays
import numpy as np
import pandas as pd
import pytest

from scoring.synthetic import ACTIONS
from scoring.synthetic.params import DEPARTMENT_TZ, HOLIDAY_SUBDIV

START, END = "2025-01-01", "2025-12-31"
N = 300


def local_contacts(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Non-wait actions with the debtor's columns and the local scheduled time."""
    act = tables["actions"]
    deb = tables["debtors"].set_index("debtor_id")
    c = act[act["action"] != "wait"].join(deb, on="debtor_id")
    local = []
    for dep, when in zip(c["department"], c["scheduled_at"], strict=True):
        tz = ZoneInfo(DEPARTMENT_TZ.get(dep, "Europe/Paris"))
        local.append(when.to_pydatetime().astimezone(tz).replace(tzinfo=None))
    c = c.assign(local=pd.to_datetime(pd.Series(local, index=c.index)))
    c["local_date"] = c["local"].dt.normalize()
    return c


def check_contract_validator(tables: dict[str, pd.DataFrame]) -> None:
    """The contract's own validation finds no problem."""
    contract = pytest.importorskip("scoring.contract")
    validate = getattr(contract, "validate_tables", None)
    if validate is None:
        pytest.skip("no validate_tables yet")
    result = validate(tables)
    problems = result[1] if isinstance(result, tuple) else result
    assert not problems, problems


def check_log_days_hours_and_consent(c: pd.DataFrame) -> None:
    """Rules 1-3 on the logged contacts; the ladder schedules on the hour."""
    assert (c["local"].dt.dayofweek != 6).all(), "no Sunday contacts"
    cache: dict = {}
    for dep, day in zip(c["department"], c["local_date"], strict=True):
        sub = HOLIDAY_SUBDIV.get(dep)
        key = (sub, day.year)
        if key not in cache:
            cache[key] = holidays.France(subdiv=sub, years=day.year)
        assert day.date() not in cache[key], (dep, day)
    h = c["local"].dt.hour + c["local"].dt.minute / 60
    assert ((h >= 8) & (h < 20)).all()
    ph = c["action"] == "phone_call"
    assert (c.loc[ph, "local"].dt.dayofweek < 5).all()
    b2b = c["segment"] == "B2B"
    assert h[ph & b2b].between(9, 18).all()
    hc = h[ph & ~b2b]
    assert (((hc >= 10) & (hc <= 13)) | ((hc >= 14) & (hc <= 20))).all()
    for act, flag in (
        ("email_reminder", "consent_email"),
        ("sms_reminder", "consent_sms"),
        ("whatsapp_reminder", "consent_whatsapp"),
        ("phone_call", "consent_phone"),
    ):
        assert c.loc[c["action"] == act, flag].all(), act
    delay = c["scheduled_at"] - c["decided_at"]
    assert (delay > pd.Timedelta(0)).all() and (delay <= pd.Timedelta(days=7)).all()
    assert (c["local"].dt.minute == 0).all()


def check_log_contact_caps(contacts: pd.DataFrame) -> None:
    """Rule 4 on the logged contacts."""
    for _, g in contacts.groupby("debtor_id"):
        days = g["local_date"].sort_values().to_numpy()
        assert len(np.unique(days)) == len(days), "one contact a day"
        for k in range(3, len(days)):
            assert days[k] - days[k - 3] >= np.timedelta64(7, "D"), "three per 7 days"
        ph = g.loc[g["action"] == "phone_call", "local_date"].sort_values().to_numpy()
        for k in range(4, len(ph)):
            assert ph[k] - ph[k - 4] >= np.timedelta64(30, "D"), "four calls per 30 days"


def check_log_disputes_legal_and_reliable(
    tables: dict[str, pd.DataFrame], contacts: pd.DataFrame, legal_seen: bool = True
) -> None:
    """Rules 5-7 on the logged contacts (``legal_seen``: some legal escalation is logged)."""
    inv = tables["invoices"]
    deb = tables["debtors"].set_index("debtor_id")
    by_debtor = dict(tuple(inv.groupby("debtor_id")))
    act = tables["actions"]
    fn = act[act["action"] == "formal_notice"]
    fn_by = dict(tuple(fn.groupby("debtor_id")))
    contact_by = dict(tuple(contacts.groupby("debtor_id")))
    n_checked_legal = 0
    for row in contacts.itertuples():
        d = row.decided_at.tz_convert(None).normalize()
        s = row.local_date
        g = by_debtor[row.debtor_id]
        open_disp = (g["dispute_date"] <= d) & (
            g["dispute_resolved_date"].isna() | (g["dispute_resolved_date"] > d)
        )
        raised_between = (g["dispute_date"] > d) & (g["dispute_date"] < s)
        if row.action != "dispute_review":
            assert not open_disp.any(), f"contact during an open dispute {row.action_id}"
            assert not raised_between.any(), row.action_id
        openi = g[
            (g["issue_date"] <= d)
            & (g["paid_date"].isna() | (g["paid_date"] > d))
            & (g["legal_date"].isna() | (g["legal_date"] > d))
        ]
        dpd = (d - openi["due_date"]).dt.days.max() if len(openi) else -999
        if row.action == "legal_escalation":
            n_checked_legal += 1
            assert dpd >= 30
            f = fn_by[row.debtor_id]
            f = f[f["scheduled_at"].dt.tz_convert(None).dt.normalize() <= d - pd.Timedelta(days=8)]
            assert len(f)
            last_fn = f["scheduled_at"].max().tz_convert(None).normalize()
            paid_since = g["paid_date"].between(last_fn, d)
            assert not paid_since.any(), "legal escalation after a paid formal notice"
        # rule 7: reliable customers
        since = deb.loc[row.debtor_id, "customer_since"]
        late = g[
            (g["paid_date"] > g["due_date"])
            & (g["paid_date"] <= d)
            & (g["paid_date"] > d - pd.Timedelta(days=365))
        ]
        reliable = (since + pd.DateOffset(years=3) <= d) and late.empty
        if reliable:
            prev = contact_by[row.debtor_id]
            prev = prev[(prev["local_date"] < s) & (prev["local_date"] > s - pd.Timedelta(days=14))]
            assert prev.empty, f"reliable customer contacted twice in 14 days {row.action_id}"
            if row.action in ("formal_notice", "legal_escalation"):
                assert dpd >= 30
    assert n_checked_legal > 0 or not legal_seen


def check_propensity(tables: dict[str, pd.DataFrame], eps: float) -> None:
    """Every logged propensity is the epsilon-greedy ladder's."""
    act = tables["actions"]
    p = act["propensity"]
    # either the ladder's choice (>= 1 - eps) or an exploration-only choice (eps / |allowed|)
    small = p < 1 - eps
    assert (p[small] <= eps + 1e-12).all()
    k = eps / p[small]
    assert np.allclose(k, np.round(k)) and (np.round(k) <= len(ACTIONS)).all()
    assert small.mean() > 0.03
