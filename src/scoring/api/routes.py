"""HTTP routes. CPU-bound endpoints are plain ``def`` (run in the thread pool), cheap
dependencies are ``async def`` (no thread hop)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from functools import partial
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Path, Query, Request, Response
from fastapi.responses import PlainTextResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from scoring.api import responses
from scoring.api.auth import ApiKey, KeyStore
from scoring.api.batching import MicroBatcher
from scoring.api.metrics import Metrics
from scoring.api.schemas import (
    CASES_EXAMPLES,
    MAX_TOP_K,
    CasesBody,
    DecisionRecord,
    ErrorResponse,
    Health,
    Lang,
    ModelInfo,
    ModelsResponse,
    NextActionResult,
    OutcomeRecorded,
    OutcomeReport,
    Ready,
    ReloadResponse,
    ScoreResult,
)
from scoring.api.state import BundleHolder, ReloadError
from scoring.audit import AuditStore, now_utc
from scoring.service import Bundle

log = logging.getLogger("scoring.api")


class ApiError(HTTPException):
    """An HTTP error whose body names the field at fault."""

    def __init__(
        self,
        status_code: int,
        field: str | None,
        problem: str,
        type_: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code, problem, headers)
        self.field = field
        self.problem = problem
        self.type = type_


@dataclass
class Services:
    """What the routes need, built by :func:`scoring.api.app.create_app`."""

    settings: Any
    holder: BundleHolder
    metrics: Metrics
    keys: KeyStore | None = None
    audit: AuditStore | None = None
    batcher: MicroBatcher = field(default_factory=MicroBatcher)

    @property
    def store(self) -> AuditStore:
        """The audit store (opened at startup; a request never arrives before it)."""
        if self.audit is None:
            raise ApiError(503, None, "the audit trail is not open", "not_ready")
        return self.audit


# --------------------------------------------------------------------------------------
# Dependencies


async def get_services(request: Request) -> Services:
    return request.app.state.services


ServicesDep = Annotated[Services, Depends(get_services)]

_api_key = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="API key (or Authorization: Bearer)."
)
_bearer = HTTPBearer(auto_error=False, description="The API key as a bearer token.")


def require(role: str):
    """Dependency: a valid key (401 otherwise) that holds ``role`` (403 otherwise)."""

    async def check(
        request: Request,
        services: ServicesDep,
        key: Annotated[str | None, Depends(_api_key)],
        bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> ApiKey:
        plaintext = key or (bearer.credentials if bearer is not None else None)
        found = services.keys.lookup(plaintext) if services.keys is not None else None
        if found is None:
            raise ApiError(
                401,
                "header.X-API-Key",
                "missing or invalid API key (send it in X-API-Key or Authorization: Bearer)",
                "unauthorized",
                {"WWW-Authenticate": 'Bearer, ApiKey realm="scoring"'},
            )
        if role != "any" and not found.allows(role):
            raise ApiError(
                403, "header.X-API-Key", f"this API key lacks the role {role!r}", "forbidden"
            )
        request.state.api_key_name = found.name
        return found

    check.__name__ = f"require_{role}"
    return check


ScoringKey = Annotated[ApiKey, Depends(require("scoring"))]
ComplianceKey = Annotated[ApiKey, Depends(require("compliance"))]
AdminKey = Annotated[ApiKey, Depends(require("admin"))]
AnyKey = Annotated[ApiKey, Depends(require("any"))]
#: registry tags that say who promoted a version and why: for compliance and admin keys only
PRIVATE_TAGS = ("promoted_by", "promotion_reason")


async def get_bundle(services: ServicesDep) -> Bundle:
    """The bundle in use, read once: the request keeps it even if a reload happens."""
    bundle = services.holder.current
    if bundle is None:
        raise ApiError(
            503,
            None,
            f"models not ready: {services.holder.reason}",
            "not_ready",
            {"Retry-After": "30"},
        )
    return bundle


BundleDep = Annotated[Bundle, Depends(get_bundle)]


def _request_id(request: Request, response: Response) -> str:
    rid = request.headers.get("x-request-id", "")
    if not (0 < len(rid) <= 64 and rid.isprintable()):
        rid = uuid.uuid4().hex
    response.headers["X-Request-ID"] = rid
    return rid


LangQ = Annotated[
    Lang | None,
    Query(description="Language of labels and reason texts; default: each debtor's language."),
]
TopKQ = Annotated[
    int, Query(ge=1, le=MAX_TOP_K, description="Contributions returned per model (largest first).")
]
FullQ = Annotated[
    bool,
    Query(description="Also return every feature's contribution (they add up to raw_score)."),
]
Cases = Annotated[CasesBody, Body(openapi_examples=CASES_EXAMPLES)]

ERRORS: dict[int | str, dict[str, Any]] = {
    400: {
        "model": ErrorResponse,
        "description": "The body is not JSON (or not UTF-8), or Content-Length is invalid.",
    },
    401: {"model": ErrorResponse, "description": "Missing or invalid API key."},
    403: {"model": ErrorResponse, "description": "The key lacks the role."},
    413: {"model": ErrorResponse, "description": "Body larger than SCORING_MAX_BODY_BYTES."},
    422: {"model": ErrorResponse, "description": "Invalid request: each problem names its field."},
    503: {"model": ErrorResponse, "description": "Models not loaded (or audit trail unavailable)."},
}

router = APIRouter()


# --------------------------------------------------------------------------------------
# Scoring and decisions


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
    rid = _request_id(request, response)
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
    _, _, results = responses.score(bundle, [c for j in jobs for c in j.cases], lang, top_k, full)
    per_job = _split(results, jobs)
    audit = services.store
    versions = bundle.model_versions()
    called = now_utc()
    rows = [
        {
            "call_id": str(uuid.uuid4()),
            "called_at": called,
            "request_id": job.request_id,
            "api_key": job.api_key,
            "n_cases": len(rs),
            "model_versions": versions,
            "items": [
                {
                    "debtor_hash": audit.hash_debtor(r.debtor_id),
                    "as_of": r.as_of.isoformat(),
                    "default_probability": r.default_probability,
                    "dispute_probability": r.dispute_probability,
                    "risk_grade": r.risk_grade,
                    "unknown_values": [u.field for u in r.unknown_values],
                }
                for r in rs
            ],
        }
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
    rid = _request_id(request, response)
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
    results = responses.decide(bundle, cases, lang, top_k, full, explore)
    audit = services.store
    decided = now_utc()
    rows = []
    for job, job_cases, rs in zip(jobs, _split(cases, jobs), _split(results, jobs), strict=True):
        for case, r in zip(job_cases, rs, strict=True):
            h = audit.hash_debtor(r.debtor_id)
            inp = case.model_dump(mode="json")
            inp["debtor"]["debtor_id"] = h
            for inv in inp.get("open_invoices", []):
                inv["invoice_id"] = audit.hash_invoice(inv["invoice_id"])
            out = r.model_dump(mode="json")
            out["debtor_id"] = h
            rows.append(
                {
                    "decision_id": str(r.decision_id),
                    "decided_at": decided,
                    "as_of": r.as_of,
                    "debtor_hash": h,
                    "action": r.action,
                    "scheduled_at": r.scheduled_at,
                    "propensity": r.propensity,
                    "expected_value": r.expected_value,
                    "requires_review": r.requires_review,
                    "model_versions": r.model_versions,
                    "input": inp,
                    "output": out,
                    "request_id": job.request_id,
                    "api_key": job.api_key,
                }
            )
    _audited(lambda: audit.record_decisions(rows))
    services.metrics.count_batch("/next-action", len(jobs))
    services.metrics.count_decisions(
        [r.action for r in results], sum(r.requires_review for r in results)
    )
    services.metrics.count_unknown([u.field for r in results for u in r.unknown_values])
    return _split(results, jobs)


def _audited(write) -> None:
    try:
        write()
    except Exception as exc:
        log.exception("audit write failed")
        raise ApiError(
            503,
            None,
            f"the audit trail is unavailable, nothing was decided: {type(exc).__name__}",
            "audit_unavailable",
        ) from exc


@router.post(
    "/outcomes",
    response_model=OutcomeRecorded,
    status_code=201,
    responses={
        **ERRORS,
        404: {"model": ErrorResponse, "description": "Unknown decision_id."},
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
    _key: ComplianceKey,
    services: ServicesDep,
) -> DecisionRecord:
    """Compliance role. Debtor ids appear only as keyed hashes."""
    d = services.store.get_decision(str(decision_id))
    if d is None:
        raise ApiError(404, "path.decision_id", "no decision with this id", "not_found")
    d.pop("hash_key_id", None)
    d["outcomes"] = [
        {k: v for k, v in o.items() if k not in ("decision_id", "api_key")} for o in d["outcomes"]
    ]
    return DecisionRecord.model_validate(d)


# --------------------------------------------------------------------------------------
# Service state


@router.get("/health", response_model=Health, tags=["service"], summary="The process is alive")
async def health() -> Health:
    return Health(status="alive")


@router.get(
    "/ready",
    response_model=Ready,
    responses={503: {"model": ErrorResponse, "description": "Models not loaded, and why."}},
    tags=["service"],
    summary="Models are loaded and requests are served",
)
async def ready(services: ServicesDep) -> Ready:
    b = services.holder.current
    if b is None:
        raise ApiError(503, None, f"models not ready: {services.holder.reason}", "not_ready")
    return Ready(
        status="ready",
        alias=services.holder.alias,
        model_versions=b.model_versions(),
        unavailable=dict(b.missing),
    )


def _metrics_of(tags: dict[str, str]) -> dict[str, float]:
    out = {}
    for k, v in tags.items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            continue
    return out


@router.get(
    "/models",
    response_model=ModelsResponse,
    tags=["service"],
    summary="Models in use",
    responses={401: ERRORS[401]},
)
async def models(services: ServicesDep, api_key: AnyKey) -> ModelsResponse:
    """Versions in use and their metrics (from the registry's version tags). Any valid key;
    who promoted a version and their note are shown to ``compliance`` and ``admin`` keys
    only."""
    private_ok = api_key.allows("compliance")
    from scoring.registry import registered_name

    h = services.holder
    b = h.current
    info: dict[str, ModelInfo] = {}
    if b is not None:
        for key, version in b.versions.items():
            tags = {
                k: str(v)
                for k, v in b.tags.get(key, {}).items()
                if private_ok or k not in PRIVATE_TAGS
            }
            info[key] = ModelInfo(
                name=registered_name(key, services.settings) if b.alias != "local" else None,
                version=None if version is None else str(version),
                metrics=_metrics_of(tags),
                tags=tags,
                unavailable=b.missing.get(key),
            )
    return ModelsResponse(
        alias=h.alias, ready=b is not None, loaded_at=h.loaded_at, reason=h.reason, models=info
    )


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    tags=["service"],
    summary="Prometheus metrics (text format)",
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(services: ServicesDep) -> PlainTextResponse:
    return PlainTextResponse(
        services.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8"
    )


@router.post(
    "/admin/reload",
    response_model=ReloadResponse,
    responses={401: ERRORS[401], 403: ERRORS[403], 503: ERRORS[503]},
    tags=["admin"],
    summary="Reload the models from the registry alias",
)
def admin_reload(_key: AdminKey, services: ServicesDep) -> ReloadResponse:
    """Admin role. Loads the alias's versions and swaps them in; requests in flight finish
    with the models they started with. On failure the models in use are kept (503)."""
    try:
        new, previous = services.holder.reload()
    except ReloadError as exc:
        services.metrics.count_reload("failed")
        raise ApiError(503, None, str(exc), "reload_failed") from exc
    services.metrics.count_reload("ok")
    before = previous.model_versions() if previous is not None else {}
    return ReloadResponse(
        reloaded=before != new.model_versions(),
        model_versions=new.model_versions(),
        previous_versions=before,
    )
