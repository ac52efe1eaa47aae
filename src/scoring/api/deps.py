"""What the routes depend on: the services, the key checks, the bundle in use, the request id, the
shared query parameters and error responses. Cheap dependencies are ``async def`` (no thread
hop)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Body, Depends, HTTPException, Query, Request, Response
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from scoring.api.auth import ApiKey, KeyStore
from scoring.api.batching import MicroBatcher
from scoring.api.experiment import Experiment
from scoring.api.metrics import Metrics
from scoring.api.schemas import (
    CASES_EXAMPLES,
    MAX_TOP_K,
    CasesBody,
    ErrorResponse,
    Lang,
)
from scoring.api.state import BundleHolder
from scoring.audit import AuditStore
from scoring.review import ReviewBook
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
    webhook: Any = None  # scoring.api.webhook.Webhook when configured
    monitor: Any = None  # scoring.monitoring.Monitor, opened with the audit store
    experiment: Experiment = field(default_factory=lambda: Experiment(None, None))

    @property
    def reviews(self) -> ReviewBook:
        """The review loop on the audit store."""
        return ReviewBook(self.store)

    def notify(self, event: str, data: dict[str, Any]) -> None:
        """Queue a webhook event when a webhook is configured."""
        if self.webhook is not None:
            self.webhook.send(event, data)

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
        if role != "any" and not any(found.allows(r) for r in role.split("|")):
            raise ApiError(
                403,
                "header.X-API-Key",
                f"this API key lacks the role {' or '.join(map(repr, role.split('|')))}",
                "forbidden",
            )
        request.state.api_key_name = found.name
        return found

    check.__name__ = f"require_{role.replace('|', '_or_')}"
    return check


ScoringKey = Annotated[ApiKey, Depends(require("scoring"))]
ComplianceKey = Annotated[ApiKey, Depends(require("compliance"))]
ReviewerKey = Annotated[ApiKey, Depends(require("reviewer"))]
ReadReviewsKey = Annotated[ApiKey, Depends(require("reviewer|compliance"))]
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


def request_id(request: Request, response: Response) -> str:
    """The request's id (set by :class:`scoring.api.logs.RequestContext`)."""
    rid = getattr(request.state, "request_id", None) or request.headers.get("x-request-id", "")
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
