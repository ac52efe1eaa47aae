"""The service's state: ``/health``, ``/ready``, ``/models``, ``/metrics``, ``/admin/reload``."""

from __future__ import annotations

import anyio
from fastapi import APIRouter
from fastapi.responses import PlainTextResponse

from scoring.api.deps import (
    ERRORS,
    PRIVATE_TAGS,
    AdminKey,
    AnyKey,
    ApiError,
    ServicesDep,
)
from scoring.api.schemas import (
    ErrorResponse,
    Health,
    ModelInfo,
    ModelsResponse,
    Ready,
    ReloadResponse,
)
from scoring.api.state import ReloadError

router = APIRouter()


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
    drift_alert, worst = False, {}
    if b is not None and services.monitor is not None:
        d = await anyio.to_thread.run_sync(services.monitor.drift, b)
        drift_alert = d["alert"]
        for key, m in d["models"].items():
            for days, w in m.get("windows", {}).items():
                ok = w["verdict"] != "too_few"
                worst[f"{key}/{days}d"] = round(w["max_psi"], 4) if ok else None
    return ModelsResponse(
        alias=h.alias, ready=b is not None, loaded_at=h.loaded_at, reason=h.reason, models=info,
        drift_alert=drift_alert, drift_max_psi=worst, split=services.experiment.describe(),
    )  # fmt: skip


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
