"""The explanation a debtor reads: the invoice, how late, what to do; no internal code."""

from __future__ import annotations

import pytest
from support import tiny_tables

from scoring.cases import build_cases
from scoring.contract import validate_tables
from scoring.presentation import debtor_explanation


@pytest.fixture(scope="module")
def cases():
    tables = validate_tables(tiny_tables())[0]
    return {
        c.debtor.debtor_id: c for c in build_cases(tables, "2026-02-20T10:00:00+01:00").to_cases()
    }


def test_a_reminder_names_the_oldest_overdue_invoice(cases):
    # D1: I2 (issued 1 December 2025, due 1 January 2026) and I3 (due 10 February) overdue
    text = debtor_explanation("email_reminder", cases["D1"], "fr")
    assert text == (
        "Nous vous avons adressé ce rappel car 2 factures sont échues, la plus ancienne "
        "(facture du 1er décembre 2025) depuis 50 jours ; vous pouvez nous contacter pour "
        "convenir d'un échéancier."
    )
    en = debtor_explanation("formal_notice", cases["D1"], "en")
    assert en.startswith("We are sending you a formal notice because 2 invoices are overdue")
    assert "1 December 2025" in en


def test_a_dispute_review_names_the_contested_invoice(cases):
    # D2: I5 issued 5 January 2026 is contested (2026-03-01 is after as_of: not yet) -> the
    # oldest overdue one, I5 (I4 is paid on 10 February)
    text = debtor_explanation("dispute_review", cases["D2"], "fr")
    assert text.startswith("Nous revenons vers vous au sujet de la facture du 5 janvier 2026")


@pytest.mark.parametrize("action", ["wait", "sms_reminder", "phone_call", "letter",
                                    "payment_plan_offer", "legal_escalation"])  # fmt: skip
@pytest.mark.parametrize("lang", ["fr", "en"])
def test_no_internal_code_in_any_explanation(cases, action, lang):
    for case in cases.values():
        text = debtor_explanation(action, case, lang)
        assert text and "_" not in text and "DEFAULT." not in text and "%" not in text
