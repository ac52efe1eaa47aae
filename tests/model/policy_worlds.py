"""A small world with a planted best action, shared by the policy tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from scoring.contract import validate_tables


def planted_world(n: int = 300, seed: int = 0) -> dict[str, pd.DataFrame]:
    """B2C debtors; an SMS sent at 19:00 gets the invoice paid two days later, nothing else works
    (payments come 40 days later). Decisions are random (propensity 1/3 each), hours random."""
    rng = np.random.default_rng(seed)
    debtors = pd.DataFrame(
        {
            "debtor_id": [f"P{i:04d}" for i in range(n)],
            "segment": "B2C",
            "sector": None,
            "department": "75",
            "customer_since": "2023-01-01",
            "consent_email": True,
            "consent_sms": True,
            "consent_whatsapp": False,
            "consent_phone": False,
        }
    )
    inv, acts = [], []
    actions = ["wait", "sms_reminder", "email_reminder"]
    for i in range(n):
        for m in range(10):
            issue = pd.Timestamp("2025-01-05") + pd.DateOffset(months=m)
            due = issue + pd.Timedelta(days=20)
            decided = pd.Timestamp(due + pd.Timedelta(days=5, hours=18), tz="Europe/Paris")
            a = actions[rng.integers(3)]
            day = (decided + pd.Timedelta(days=1)).normalize()
            while day.weekday() == 6:
                day += pd.Timedelta(days=1)
            hour = 19 if rng.random() < 0.5 else 9
            sched = day + pd.Timedelta(hours=hour) if a != "wait" else pd.NaT
            works = a == "sms_reminder" and hour == 19
            paid = (
                (sched.tz_localize(None).normalize() + pd.Timedelta(days=2))
                if works
                else due + pd.Timedelta(days=45)
            )
            inv_id = f"I{i:04d}_{m}"
            inv.append((inv_id, debtors.debtor_id[i], issue, due, 100.0, paid))
            outcome = None if a == "wait" else ("reached" if hour == 19 else "not_reached")
            acts.append((f"A{i:04d}_{m}", debtors.debtor_id[i], decided, a, sched, 1 / 3, outcome))
    invoices = pd.DataFrame(
        inv, columns=["invoice_id", "debtor_id", "issue_date", "due_date", "amount", "paid_date"]
    )
    actions_df = pd.DataFrame(
        acts,
        columns=[
            "action_id",
            "debtor_id",
            "decided_at",
            "action",
            "scheduled_at",
            "propensity",
            "outcome",
        ],
    )
    typed, problems = validate_tables(
        {"debtors": debtors, "invoices": invoices, "actions": actions_df}
    )
    assert not problems, problems
    return typed
