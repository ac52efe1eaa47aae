"""``/reviews`` and ``/decisions/{id}/contest``: human review of flagged decisions and the
debtor's right to contest (see :mod:`scoring.review`)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal

import pandas as pd
from fastapi import APIRouter, Path, Query, Request

from scoring.api.deps import (
    ERRORS,
    ApiError,
    ReadReviewsKey,
    ReviewerKey,
    ScoringKey,
    Services,
    ServicesDep,
)
from scoring.api.schemas import (
    Alert,
    Alerts,
    CaseSummary,
    ContestRequest,
    ErrorResponse,
    QueueItem,
    ReviewEvent,
    ReviewQueue,
    ReviewResult,
    ReviewVerdict,
)
from scoring.review import OPEN, Replacement, ReviewError

router = APIRouter()

DecisionId = Annotated[uuid.UUID, Path(description="decision_id from /next-action.")]
_CONFLICT: dict[int | str, dict[str, Any]] = {409: {"model": ErrorResponse, "description": "The decision is not in a state that "
                   "allows this step (e.g. not pending review, already contested)."}}  # fmt: skip
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "Unknown decision_id."}
}


def event_out(ev: dict[str, Any]) -> ReviewEvent:
    """A stored review event as the API shows it (no debtor hash)."""
    return ReviewEvent.model_validate(
        {k: v for k, v in ev.items() if k not in ("decision_id", "debtor_hash")}
    )


def _api_error(exc: ReviewError) -> ApiError:
    return ApiError(exc.status, exc.field, exc.problem, exc.type)


def case_summary(inp: dict[str, Any]) -> CaseSummary:
    """Segment, département, open invoices, amount due and how late, from a stored input."""
    debtor = inp.get("debtor") or {}
    invs = inp.get("open_invoices") or []
    as_of = pd.Timestamp(inp.get("as_of"))
    late = []
    for i in invs:
        try:
            late.append((as_of.tz_localize(None).normalize() - pd.Timestamp(i["due_date"])).days)
        except (KeyError, ValueError, TypeError):
            continue
    return CaseSummary(
        segment=debtor.get("segment"),
        department=debtor.get("department"),
        open_invoices=len(invs),
        amount_due=round(sum(float(i.get("amount") or 0) for i in invs), 2),
        max_days_past_due=max(late) if late else None,
    )


def reason_texts(out: dict[str, Any]) -> list[str]:
    texts = []
    for model in ("default_risk", "dispute_risk"):
        exp = (out.get("explanations") or {}).get(model) or {}
        texts += [c["text"] for c in exp.get("contributions", []) if c.get("text")][:3]
    return texts


def queue_item(entry: dict[str, Any]) -> QueueItem:
    d = entry["decision"]
    out = d["output"] or {}
    contest = next(
        (e["comment"] for e in reversed(entry["events"]) if e["event"] == "contest"), None
    )
    return QueueItem(
        decision_id=d["decision_id"],
        review_status=entry["status"],
        waiting_since=entry["waiting_since"],
        decided_at=d["decided_at"],
        as_of=d["as_of"],
        debtor_hash=d["debtor_hash"],
        case=case_summary(d["input"] or {}),
        default_probability=out.get("default_probability"),
        dispute_probability=out.get("dispute_probability"),
        risk_grade=out.get("risk_grade"),
        reasons=reason_texts(out),
        proposed_action=d["action"],
        scheduled_at=d["scheduled_at"],
        expected_value=d["expected_value"],
        contest=contest if entry["status"] == "contested" else None,
        model_versions=d["model_versions"] or {},
    )


@router.get(
    "/reviews",
    response_model=ReviewQueue,
    responses={k: ERRORS[k] for k in (401, 403, 422)},
    tags=["review"],
    summary="The review queue: decisions waiting for a person, oldest first",
)
def get_reviews(
    _key: ReadReviewsKey,
    services: ServicesDep,
    status: Annotated[
        Literal[
            "pending", "pending_review", "contested", "approved", "rejected", "replaced", "all"
        ],
        Query(description="pending = pending_review or contested (the default)."),
    ] = "pending",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> ReviewQueue:
    """Reviewer or compliance role. Each item has the case summary, both scores, the reason
    texts, the proposed action and, when contested, the debtor's words."""
    items = [queue_item(e) for e in services.reviews.queue(status, limit)]
    return ReviewQueue(status=status, count=len(items), items=items)


def check_replacement(
    services: Services, record: dict[str, Any], action: str, when: dt.datetime | None
) -> None:
    """The replacement must pass the same compliance rules as the policy's own choices, on
    the case as it was decided (422 naming the rules otherwise)."""
    from scoring.api.schemas import Case
    from scoring.cases import CaseSet
    from scoring.policy.config import load_policy_config
    from scoring.policy.rules import evaluate, violation_list

    if action != "wait" and when is None:
        raise ApiError(422, "body.scheduled_at", f"{action} needs a time", "missing")
    if action == "wait" and when is not None:
        raise ApiError(422, "body.scheduled_at", "wait takes no time: omit it", "value_error")
    if action == record["action"] and when == record["scheduled_at"]:
        raise ApiError(
            422, "body.action", "that is the proposed action: approve it instead", "value_error"
        )
    bundle = services.holder.current
    config = (
        bundle.policy.config if bundle is not None and bundle.policy is not None
        else load_policy_config()
    )  # fmt: skip
    case = Case.model_validate(record["input"])
    cs = CaseSet.from_cases([case])
    cand = pd.DataFrame(
        {"case": [0], "action": [action], "scheduled_at": pd.to_datetime([when], utc=True)}
    )
    broken = violation_list(evaluate(cs, cand, config)["violations"].iloc[0])
    if broken:
        raise ApiError(
            422,
            "body.action" if when is None else "body.scheduled_at",
            f"the compliance rules forbid {action}"
            + (f" at {when.isoformat()}" if when else "")
            + f" for this case: {', '.join(broken)}",
            "rule_violation",
        )


def apply_verdict(
    services: Services, did: str, verdict: ReviewVerdict, actor: str
) -> dict[str, Any]:
    """Check and record a verdict (the API's and the console's path): the replacement
    against the rules, the status in the same transaction; metrics and webhook after."""
    replacement = None
    if verdict.verdict == "replace":
        if verdict.action is None:
            raise ApiError(422, "body.action", "replace needs the action put in place", "missing")
        record = services.store.get_decision(did)
        if record is None:
            raise ApiError(404, "path.decision_id", "no decision with this id", "not_found")
        check_replacement(services, record, verdict.action, verdict.scheduled_at)
        replacement = Replacement(verdict.action, verdict.scheduled_at)
    elif verdict.action is not None or verdict.scheduled_at is not None:
        raise ApiError(422, "body.action", "only a replacement names an action", "value_error")
    try:
        ev = services.reviews.review(
            did, verdict.verdict, actor, verdict.reason, verdict.comment, replacement
        )
    except ReviewError as exc:
        raise _api_error(exc) from exc
    services.metrics.count_review(verdict.verdict)
    services.notify(
        "contest.resolved" if ev["status_before"] == "contested" else "review.resolved",
        {"decision_id": did, "review_status": ev["status_after"],
         **event_out(ev).model_dump(mode="json")},
    )  # fmt: skip
    return ev


@router.post(
    "/reviews/{decision_id}",
    response_model=ReviewResult,
    status_code=201,
    responses={**ERRORS, **_NOT_FOUND, **_CONFLICT},
    tags=["review"],
    summary="Approve, reject or replace a decision waiting for review",
)
def post_review(
    decision_id: DecisionId,
    request: Request,
    key: ReviewerKey,
    services: ServicesDep,
    verdict: ReviewVerdict,
) -> ReviewResult:
    """Reviewer role. ``reject`` needs a reason from the list (``other`` with a comment);
    ``replace`` names another action (and its time) that the compliance rules allow for this
    case. Only a decision that is ``pending_review`` or ``contested`` can be reviewed, once.
    The webhook (when configured) is notified."""
    ev = apply_verdict(services, str(decision_id), verdict, key.name)
    event = event_out(ev)
    return ReviewResult(decision_id=decision_id, review_status=ev["status_after"], event=event)


@router.get(
    "/alerts",
    response_model=Alerts,
    responses={k: ERRORS[k] for k in (401, 403, 422)},
    tags=["review"],
    summary="Automatic alerts: default jumps, broken promises, invoices to check, late reviews",
)
def get_alerts(
    _key: ReadReviewsKey,
    services: ServicesDep,
    kind: Annotated[
        Literal["default_jump", "promise_broken", "invoice_dispute", "review_waiting"] | None,
        Query(description="Only this kind."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> Alerts:
    """Reviewer or compliance role. Thresholds come from the monitoring configuration; the
    figures are recomputed at most once a minute. New alerts are also pushed to the webhook."""
    found = services.monitor.alerts(notify=services.notify) if services.monitor else []
    by_kind: dict[str, int] = {}
    for a in found:
        by_kind[a["kind"]] = by_kind.get(a["kind"], 0) + 1
    items = [a for a in found if kind is None or a["kind"] == kind][:limit]
    return Alerts(count=len(items), by_kind=by_kind, items=[Alert.model_validate(a) for a in items])


@router.post(
    "/decisions/{decision_id}/contest",
    response_model=ReviewResult,
    status_code=201,
    responses={**ERRORS, **_NOT_FOUND, **_CONFLICT},
    tags=["review"],
    summary="The debtor contests a decision: back to review, collection paused",
)
def post_contest(
    decision_id: DecisionId,
    key: ScoringKey,
    services: ServicesDep,
    body: ContestRequest,
) -> ReviewResult:
    """Scoring role (the collection software, on the debtor's behalf). The decision goes back
    to the review queue as ``contested``; until a reviewer resolves it, rule R9 removes every
    contact action for that debtor from /next-action (it answers ``wait``). The debtor's words
    are stored with the contest."""
    try:
        ev = services.reviews.contest(str(decision_id), key.name, body.debtor_words)
    except ReviewError as exc:
        raise _api_error(exc) from exc
    services.metrics.count_review("contest")
    return ReviewResult(
        decision_id=decision_id,
        review_status=ev["status_after"],
        event=event_out(ev),
    )


__all__ = ["OPEN", "router"]
