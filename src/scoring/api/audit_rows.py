"""The audit trail's records of API calls: what is stored of a ``/score`` call (a summary) and of
a ``/next-action`` decision (its input and output, with debtor and invoice ids hashed)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from scoring.api.schemas import Case, NextActionResult, ScoreResult
from scoring.audit import AuditStore


def score_call(
    audit: AuditStore,
    request_id: str,
    api_key: str | None,
    model_versions: dict[str, str],
    results: list[ScoreResult],
    called_at: dt.datetime,
) -> dict[str, Any]:
    """The summary of one ``/score`` request: per case the debtor hash, ``as_of``, the
    probabilities, the grade and the values never seen in training."""
    return {
        "call_id": str(uuid.uuid4()),
        "called_at": called_at,
        "request_id": request_id,
        "api_key": api_key,
        "n_cases": len(results),
        "model_versions": model_versions,
        "items": [
            {
                "debtor_hash": audit.hash_debtor(r.debtor_id),
                "as_of": r.as_of.isoformat(),
                "default_probability": r.default_probability,
                "dispute_probability": r.dispute_probability,
                "risk_grade": r.risk_grade,
                "unknown_values": [u.field for u in r.unknown_values],
            }
            for r in results
        ],
    }


def decision(
    audit: AuditStore,
    case: Case,
    result: NextActionResult,
    decided_at: dt.datetime,
    request_id: str,
    api_key: str | None,
) -> dict[str, Any]:
    """The record of one decision: its input (the case, with the history used: computed from
    ``past_invoices`` when they were sent) and output (the answer) with the debtor id and the
    invoice ids (open and past) replaced by their keyed hashes."""
    h = audit.hash_debtor(result.debtor_id)
    inp = case.model_dump(mode="json")
    inp["debtor"]["debtor_id"] = h
    for inv in [*inp.get("open_invoices", []), *(inp.get("past_invoices") or [])]:
        inv["invoice_id"] = audit.hash_invoice(inv["invoice_id"])
    out = result.model_dump(mode="json")
    out["debtor_id"] = h
    hashed = {}
    for inv in out.get("invoices") or []:
        hashed[inv["invoice_id"]] = inv["invoice_id"] = audit.hash_invoice(inv["invoice_id"])
    check = out.get("invoice_to_check")
    if check:
        # "facture F12 : ...": the id is the second word
        word, raw_id, *rest = check.split(" ", 2)
        key = raw_id.rstrip(":")
        tail = raw_id[len(key) :]
        out["invoice_to_check"] = " ".join(
            [word, hashed.get(key, audit.hash_invoice(key)) + tail, *rest]
        )
    return {
        "decision_id": str(result.decision_id),
        "decided_at": decided_at,
        "as_of": result.as_of,
        "debtor_hash": h,
        "action": result.action,
        "scheduled_at": result.scheduled_at,
        "propensity": result.propensity,
        "expected_value": result.expected_value,
        "requires_review": result.requires_review,
        "model_versions": result.model_versions,
        "input": inp,
        "output": out,
        "request_id": request_id,
        "api_key": api_key,
    }
