"""``/outcomes`` and ``/decisions/{id}``: what became of a decision, and the audited record."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request

from scoring.api.deps import (
    ERRORS,
    ApiError,
    ReadReviewsKey,
    ScoringKey,
    ServicesDep,
)
from scoring.api.schemas import (
    DecisionRecord,
    ErrorResponse,
    OutcomeRecorded,
    OutcomeReport,
)
from scoring.review import executable, status_of

router = APIRouter()


@router.post(
    "/outcomes",
    response_model=OutcomeRecorded,
    status_code=201,
    responses={
        **ERRORS,
        404: {"model": ErrorResponse, "description": "Unknown decision_id."},
        409: {
            "model": ErrorResponse,
            "description": "The decision is pending review or was rejected: not executable.",
        },
    },
    tags=["scoring"],
    summary="Report what became of a decision",
)
def post_outcome(
    request: Request, _key: ScoringKey, services: ServicesDep, report: OutcomeReport
) -> OutcomeRecorded:
    """The collection software reports the execution and result of a decision. Several
    reports for one decision are kept; exports use the latest."""
    did = str(report.decision_id)
    as_of = services.store.decision_time(did)
    if as_of is None:
        raise ApiError(404, "body.decision_id", "no decision with this id", "not_found")
    status = services.reviews.status(did)
    if status is not None and not executable(status):
        why = {
            "pending_review": "it awaits human review and must not be executed before a "
            "reviewer approves or replaces it",
            "rejected": "a reviewer rejected it: it must not be executed",
        }.get(status, status)
        raise ApiError(409, "body.decision_id", f"this decision is {status}: {why}", "conflict")
    if report.executed_at is not None and report.executed_at < as_of:
        raise ApiError(
            422,
            "body.executed_at",
            f"executed_at is before the decision's as_of ({as_of.isoformat()})",
            "value_error",
        )
    values = report.model_dump(exclude={"decision_id"})
    values["api_key"] = request.state.api_key_name
    oid, recorded = services.store.add_outcome(did, values)
    return OutcomeRecorded(outcome_id=oid, decision_id=report.decision_id, recorded_at=recorded)


@router.get(
    "/decisions/{decision_id}",
    response_model=DecisionRecord,
    responses={
        401: ERRORS[401],
        403: ERRORS[403],
        404: {"model": ErrorResponse, "description": "Unknown decision_id."},
        422: ERRORS[422],
    },
    tags=["compliance"],
    summary="An audited decision with its inputs, outputs, rules, versions and outcomes",
)
def get_decision(
    decision_id: Annotated[uuid.UUID, Path(description="decision_id from /next-action.")],
    _key: ReadReviewsKey,
    services: ServicesDep,
) -> DecisionRecord:
    """Compliance or reviewer role. Debtor ids appear only as keyed hashes. ``review_status``
    says whether the action may be executed (see ``/reviews``)."""
    d = services.store.get_decision(str(decision_id))
    if d is None:
        raise ApiError(404, "path.decision_id", "no decision with this id", "not_found")
    d.pop("hash_key_id", None)
    d["outcomes"] = [
        {k: v for k, v in o.items() if k not in ("decision_id", "api_key")} for o in d["outcomes"]
    ]
    events = services.reviews.events(str(decision_id))
    d["reviews"] = [
        {k: v for k, v in e.items() if k not in ("decision_id", "debtor_hash")} for e in events
    ]
    d["review_status"] = status_of(d["requires_review"], [e["event"] for e in events])
    return DecisionRecord.model_validate(d)
