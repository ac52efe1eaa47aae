"""``/score`` and ``/next-action``: scores, explanations and decisions, micro-batched across
concurrent requests; every decision written to the audit trail before its response. CPU-bound
endpoints are plain ``def`` (run in the thread pool)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from scoring.api import audit_rows, responses
from scoring.api.deps import (
    ERRORS,
    ApiError,
    BundleDep,
    Cases,
    FullQ,
    LangQ,
    ScoringKey,
    Services,
    ServicesDep,
    TopKQ,
    log,
    request_id,
)
from scoring.api.schemas import (
    NextActionResult,
    ScoreResult,
)
from scoring.audit import now_utc
from scoring.service import Bundle

router = APIRouter()


@router.post(
    "/score",
    response_model=ScoreResult | list[ScoreResult],
    responses=ERRORS,
    tags=["scoring"],
    summary="Default and dispute risk of one case or a list, with explanations",
)
def post_score(
    request: Request,
    response: Response,
    _key: ScoringKey,
    bundle: BundleDep,
    services: ServicesDep,
    body: Cases,
    lang: LangQ = None,
    top_k: TopKQ = 5,
    full_contributions: FullQ = False,
) -> Any:
    """Calibrated probabilities, risk grade, the top-k TreeSHAP contributions of each model
    (log-odds) with base value and reason texts, model versions, and values never seen in
    training (scored as unknown). One case in, one object out; a list in, a list out."""
    rid = request_id(request, response)
    cases = body if isinstance(body, list) else [body]
    job = _Job(cases, rid, request.state.api_key_name)
    results = services.batcher.run(
        ("score", id(bundle), lang, top_k, full_contributions),
        partial(_score_batch, services, bundle, lang, top_k, full_contributions),
        job,
        len(cases),
    )
    return results if isinstance(body, list) else results[0]


@dataclass
class _Job:
    """One request's share of a micro-batch."""

    cases: list
    request_id: str
    api_key: str


def _split(results: list, jobs: list[_Job]) -> list[list]:
    out, i = [], 0
    for j in jobs:
        out.append(results[i : i + len(j.cases)])
        i += len(j.cases)
    return out


def _score_batch(
    services: Services, bundle: Bundle, lang, top_k: int, full: bool, jobs: list[_Job]
) -> list[list]:
    """/score for the requests of a micro-batch: one scoring pass; the call summaries go to the
    audit trail's background writer."""
    _, scores, results = responses.score(
        bundle, [c for j in jobs for c in j.cases], lang, top_k, full
    )
    _observe(services, bundle, scores)
    per_job = _split(results, jobs)
    audit = services.store
    versions, called = bundle.model_versions(), now_utc()
    rows = [
        audit_rows.score_call(audit, job.request_id, job.api_key, versions, rs, called)
        for job, rs in zip(jobs, per_job, strict=True)
    ]
    audit.queue_score_calls(rows)  # summaries: written in the background (no decision)
    services.metrics.count_batch("/score", len(jobs))
    services.metrics.count_unknown([u.field for r in results for u in r.unknown_values])
    return per_job


@router.post(
    "/next-action",
    response_model=NextActionResult | list[NextActionResult],
    responses=ERRORS,
    tags=["scoring"],
    summary="Scores plus the next best action of one case or a list (audited)",
)
def post_next_action(
    request: Request,
    response: Response,
    _key: ScoringKey,
    bundle: BundleDep,
    services: ServicesDep,
    body: Cases,
    lang: LangQ = None,
    top_k: TopKQ = 5,
    full_contributions: FullQ = False,
    explore: Annotated[
        bool,
        Query(description="Sample the action (propensity logged); false takes the best one."),
    ] = True,
) -> Any:
    """Everything /score returns, plus the recommended action, channel, time (debtor's local
    time), tone and template, instalments, the expected value of every allowed action, the
    actions removed by compliance rules and why, the propensity, whether a person must review
    it, and a ``decision_id``. The decision is written to the audit trail before the
    response is sent."""
    rid = request_id(request, response)
    if bundle.policy is None:
        why = bundle.missing.get("policy", "none registered under this alias")
        raise ApiError(
            503,
            None,
            f"the models in use have no policy model ({why}); /score still works",
            "not_ready",
        )
    cases = body if isinstance(body, list) else [body]
    job = _Job(cases, rid, request.state.api_key_name)
    results = services.batcher.run(
        ("next-action", id(bundle), lang, top_k, full_contributions, explore),
        partial(_decide_batch, services, bundle, lang, top_k, full_contributions, explore),
        job,
        len(cases),
    )
    return results if isinstance(body, list) else results[0]


def _decide_batch(
    services: Services, bundle: Bundle, lang, top_k: int, full: bool, explore: bool, jobs
) -> list[list]:
    """/next-action for the requests of a micro-batch: one pass, one audit transaction (every
    decision is committed before any response leaves)."""
    cases = [c for j in jobs for c in j.cases]
    audit = services.store
    hashes = [audit.hash_debtor(c.debtor.debtor_id) for c in cases]
    paused_debtors = _audited(lambda: services.reviews.paused(hashes))
    paused = [h in paused_debtors for h in hashes]
    results = _decide_arms(services, bundle, cases, lang, top_k, full, explore, paused)
    decided = now_utc()
    rows = [
        audit_rows.decision(audit, case, r, decided, job.request_id, job.api_key)
        for job, job_cases, rs in zip(jobs, _split(cases, jobs), _split(results, jobs), strict=True)
        for case, r in zip(job_cases, rs, strict=True)
    ]
    _audited(lambda: audit.record_decisions(rows))
    services.metrics.count_batch("/next-action", len(jobs))
    services.metrics.count_decisions(
        [r.action for r in results], sum(r.requires_review for r in results)
    )
    services.metrics.count_unknown([u.field for r in results for u in r.unknown_values])
    return _split(results, jobs)


def _decide_arms(
    services: Services, bundle: Bundle, cases, lang, top_k, full, explore, paused
) -> list:
    """The decisions of ``cases``: by the champion ``bundle``, except the debtors a
    champion/challenger split sends to the challenger release (read once per batch)."""
    split = services.experiment.current
    challenger = None
    if split is not None and split[1].policy is not None:
        which = [split[0].arm(c.debtor.debtor_id) for c in cases]
        challenger = [i for i, a in enumerate(which) if a == "challenger"]
    if not challenger:
        services.metrics.count_arms(len(cases), 0)
        return responses.decide(
            bundle, cases, lang, top_k, full, explore, paused,
            lambda s: _observe(services, bundle, s),
        )  # fmt: skip
    assert split is not None
    chall_bundle = split[1]
    picked = set(challenger)
    champion = [i for i in range(len(cases)) if i not in picked]
    results: list = [None] * len(cases)
    arms: tuple[tuple[list[int], Bundle, Literal["champion", "challenger"]], ...] = (
        (champion, bundle, "champion"),
        (challenger, chall_bundle, "challenger"),
    )
    for idx, b, arm in arms:
        if not idx:
            continue
        part = responses.decide(
            b, [cases[i] for i in idx], lang, top_k, full, explore, [paused[i] for i in idx],
            (lambda s: _observe(services, bundle, s)) if arm == "champion" else None,
        )  # fmt: skip
        for i, r in zip(idx, part, strict=True):
            r.arm = arm
            results[i] = r
    services.metrics.count_arms(len(champion), len(challenger))
    return results


def _observe(services: Services, bundle: Bundle, scores) -> None:
    """Feed the drift monitor (never fails a request)."""
    if services.monitor is None:
        return
    try:
        services.monitor.observe(bundle, scores)
    except Exception:
        log.exception("drift monitor: observing a batch failed")


def _audited(write):
    try:
        return write()
    except Exception as exc:
        log.exception("audit write failed")
        raise ApiError(
            503,
            None,
            f"the audit trail is unavailable, nothing was decided: {type(exc).__name__}",
            "audit_unavailable",
        ) from exc
