"""Helpers shared by the test folders (import as ``support``; fixtures live in conftest.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

#: the committed synthetic sample (or SCORING_TEST_SAMPLE)
SAMPLE_DIR = Path(
    os.environ.get(
        "SCORING_TEST_SAMPLE", Path(__file__).resolve().parents[1] / "data" / "synthetic" / "sample"
    )
)


def tiny_tables() -> dict[str, pd.DataFrame]:
    """Three debtors, a handful of invoices and actions, with known timelines."""
    debtors = pd.DataFrame(
        {
            "debtor_id": ["D1", "D2", "D3"],
            "segment": ["B2B", "B2C", "B2B"],
            "sector": ["C", None, "G"],
            "company_size": ["small", None, "large"],
            "department": ["57", "972", "75"],
            "customer_since": ["2018-01-15", "2025-06-01", "2020-03-01"],
            "credit_limit": [5000.0, None, 20000.0],
            "external_score": [620.0, 410.0, None],
            "consent_email": [True, True, True],
            "consent_sms": [False, True, True],
            "consent_whatsapp": [False, False, True],
            "consent_phone": [True, True, False],
            "language": ["fr", "fr", "en"],
        }
    )
    invoices = pd.DataFrame(
        {
            "invoice_id": ["I1", "I2", "I3", "I4", "I5", "I6"],
            "debtor_id": ["D1", "D1", "D1", "D2", "D2", "D3"],
            "issue_date": [
                "2025-09-01",
                "2025-12-01",
                "2026-01-10",
                "2025-12-20",
                "2026-01-05",
                "2026-01-20",
            ],
            "due_date": [
                "2025-10-01",
                "2026-01-01",
                "2026-02-10",
                "2026-01-05",
                "2026-01-20",
                "2026-03-20",
            ],
            "amount": [1000.0, 2500.0, 800.0, 90.0, 60.0, 12000.0],
            "purchase_order_ref": [True, False, True, None, None, True],
            "delivery_channel": ["email", "paper", "e_invoice", "email", "email", "e_invoice"],
            "paid_date": ["2025-10-20", "2026-05-15", None, "2026-02-10", None, "2026-03-18"],
            "dispute_date": [None, "2026-02-05", None, None, "2026-03-01", None],
            "dispute_reason": [None, "billing_error", None, None, "quality", None],
            "dispute_resolved_date": [None, "2026-03-01", None, None, None, None],
            "legal_date": [None, None, None, None, None, None],
        }
    )
    actions = pd.DataFrame(
        {
            "action_id": ["A1", "A2", "A3", "A4", "A5"],
            "debtor_id": ["D1", "D1", "D2", "D2", "D1"],
            "decided_at": [
                "2026-01-05T09:00:00+01:00",
                "2026-01-20T09:00:00+01:00",
                "2026-01-21T10:00:00+01:00",
                "2026-02-03T10:00:00+01:00",
                "2026-02-12T10:00:00+01:00",
            ],
            "action": ["email_reminder", "phone_call", "sms_reminder", "wait", "formal_notice"],
            "scheduled_at": [
                "2026-01-05T10:00:00+01:00",
                "2026-01-21T11:00:00+01:00",
                "2026-01-21T14:00:00-04:00",
                None,
                "2026-02-13T10:00:00+01:00",
            ],
            "propensity": [0.8, 0.5, 0.9, 0.7, 0.6],
            "outcome": ["reached", "promise_to_pay", "not_reached", None, "complaint"],
        }
    )
    return {"debtors": debtors, "invoices": invoices, "actions": actions}
