"""The application factory.

``create_app()`` builds the FastAPI app without touching disk or loading anything; at
startup it reads the API keys, opens the audit trail and loads the models of the registry
alias (``SCORING_SERVE_ALIAS``, default ``champion``), then polls the alias every
``SCORING_RELOAD_SECONDS`` and swaps new versions in. Without models the service starts
anyway, answers 503 with the reason on model endpoints and keeps polling.

Tests pass a ready ``bundle`` (and optionally a ``bundle_loader``/``version_probe``).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from scoring.api.deps import ApiError, Services
from scoring.api.experiment import Experiment
from scoring.api.metrics import Metrics, MetricsMiddleware
from scoring.api.routes import router
from scoring.api.schemas import MAX_CASES
from scoring.api.state import BundleHolder, BundleLoader, VersionProbe
from scoring.service import Bundle

log = logging.getLogger("scoring.api")

DESCRIPTION = """\
Risk scores (payment default, dispute) with TreeSHAP explanations and the next best
collection action under French compliance rules, for cases that follow the data contract.

Authenticate with an API key in `X-API-Key` (or `Authorization: Bearer <key>`). Roles:
`scoring` (/score, /next-action, /outcomes), `compliance` (/decisions), `admin` (all, and
/admin/reload). Every error body is `{"detail": [{"field": ..., "problem": ...}]}`.
"""


def _registry_loader(settings) -> tuple[BundleLoader, VersionProbe]:
    def load() -> Bundle:
        from scoring import registry

        registry.setup_mlflow(settings)
        # serve what exists: a model that could not be trained (no action log, no default in
        # the history) is reported in /ready and /models; /next-action answers 503 without a
        # policy, /score answers null for a missing risk model's probability
        return Bundle.from_registry(settings.serve_alias, require_policy=False, require_risk=False)

    def probe() -> dict[str, int | None]:
        from scoring import registry

        return registry.release_versions(registry.ALL_MODELS, settings.serve_alias)

    return load, probe


def _split_follower(settings) -> Experiment:
    """The champion/challenger split of the registry (only when serving the champion)."""

    def read() -> dict | None:
        from scoring import registry

        registry.setup_mlflow(settings)
        return registry.read_split()

    def load(versions: dict[str, int]) -> Bundle:
        from scoring import registry

        registry.setup_mlflow(settings)
        return Bundle.from_registry(
            registry.CHALLENGER, require_policy=False, require_risk=False, versions=versions
        )

    if settings.serve_alias != "champion":
        return Experiment(None, None)
    return Experiment(read, load)


def _field(loc: tuple[Any, ...] | list[Any]) -> str | None:
    parts = list(loc)
    if len(parts) >= 2 and parts[0] == "body" and parts[1] in ("one", "many"):
        del parts[1]
    return ".".join(str(p) for p in parts) or None


def _problem(err: dict[str, Any]) -> tuple[str | None, str]:
    loc, kind, msg = err.get("loc", ()), err.get("type", ""), str(err.get("msg", "invalid"))
    msg = msg.removeprefix("Value error, ")
    if kind == "json_invalid":
        pos = loc[1] if len(loc) > 1 else "?"
        reason = (err.get("ctx") or {}).get("error", msg)
        return "body", f"the body is not valid JSON (at character {pos}: {reason})"
    if kind == "too_long" and tuple(loc) == ("body", "many"):
        got = (err.get("ctx") or {}).get("actual_length", "more")
        return "body", (
            f"too many cases: at most {MAX_CASES} per request, got {got}; "
            "split the list or use `scoring batch` for portfolios"
        )
    if kind == "too_short" and tuple(loc) == ("body", "many"):
        return "body", "the list of cases is empty: send at least one case"
    field = _field(loc)
    # model-level checks name the field at fault at the start of their message:
    # "open_invoices[0].issue_date must be before as_of", "as_of: 1677-01-01 is outside ..."
    m = _PATH_IN_MSG.match(msg)
    if m and field and kind == "value_error" and m.group(1).split("[")[0].split(".")[0] in _FIELDS:
        field = field + "." + _INDEX.sub(r".\1", m.group(1))
    return field, msg


def _field_names() -> frozenset[str]:
    from scoring.cases import Case, Debtor, OpenInvoice, PastAction, PastInvoice, PaymentHistory

    models = (Case, Debtor, OpenInvoice, PastAction, PastInvoice, PaymentHistory)
    return frozenset(f for m in models for f in m.model_fields)


_FIELDS = _field_names()
_INDEX = re.compile(r"\[(\d+)\]")
_PATH_IN_MSG = re.compile(
    r"^((?:[a-z_]+(?:\[\d+\]|\.\d+)?\.)*[a-z_]+(?:\[\d+\])?)(?::| (?:is|must|was|has))"
)


def _error(status: int, items: list[dict[str, Any]], headers=None) -> JSONResponse:
    return JSONResponse({"detail": items}, status_code=status, headers=headers)


class RedactSecrets(logging.Filter):
    """Access-log filter: the values of query parameters that look like credentials (``key``,
    ``api_key``, ``token``, ``secret``, ``password``...) are replaced by ``***``. Keys belong in
    headers; one sent in the URL must still not end up in the logs."""

    _SECRET = re.compile(r"(?i)([?&][^=&]*(?:key|token|secret|password|passwd|auth)[^=&]*=)[^&\s]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and record.args:
            record.args = tuple(
                self._SECRET.sub(r"\1***", a) if isinstance(a, str) and "=" in a else a
                for a in record.args
            )
        return True


def install_log_redaction() -> None:
    """Add :class:`RedactSecrets` to uvicorn's access logger (once)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactSecrets) for f in logger.filters):
        logger.addFilter(RedactSecrets())


class BodyGuard:
    """Pure ASGI middleware for requests that carry a body (POST, PUT, PATCH):

    * no valid API key: 401 *before* the body is read, so an anonymous client cannot make
      the server read, buffer and parse megabytes (each route still checks the role);
    * a declared ``Content-Length`` above ``max_bytes``: 413 without reading; a body without
      one (chunked) is counted as it is read and refused with 413 past ``max_bytes``.

    Both answers use the API's error format."""

    def __init__(self, app, services, max_bytes: int, read_timeout: float = 30.0) -> None:
        self.app = app
        self.services = services
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        if scope["path"].startswith("/console/"):  # session cookie + CSRF, checked there
            await self._limited(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        keys = self.services.keys
        if keys is not None:
            key = headers.get(b"x-api-key", b"").decode("latin-1").strip()
            auth = headers.get(b"authorization", b"").decode("latin-1").strip()
            if not key and auth[:7].lower() == "bearer ":
                key = auth[7:].strip()
            if keys.lookup(key or None) is None:
                await self._refuse(
                    scope,
                    receive,
                    send,
                    401,
                    "header.X-API-Key",
                    "missing or invalid API key (send it in X-API-Key or Authorization: Bearer)",
                    "unauthorized",
                    {"WWW-Authenticate": 'Bearer, ApiKey realm="scoring"'},
                )
                return
        await self._limited(scope, receive, send)

    async def _limited(self, scope, receive, send) -> None:
        """The body size and read-time limits."""
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        too_big = f"request body larger than {self.max_bytes} bytes (send fewer cases per request)"
        if declared is not None:
            try:
                n = int(declared)
            except ValueError:
                n = -1
            if n < 0 or n > self.max_bytes:
                problem = too_big if n >= 0 else "invalid Content-Length header"
                code = 413 if n >= 0 else 400
                await self._refuse(
                    scope, receive, send, code, "header.Content-Length", problem, "body_too_large"
                )
                return
        seen = 0
        complete = False
        limit = self.max_bytes if declared is None else None
        timeout = self.read_timeout

        async def guarded():
            """Each chunk of the body within ``read_timeout`` (a client that trickles its
            body cannot hold a worker), at most ``max_bytes`` in all when undeclared."""
            nonlocal seen, complete
            from scoring.api.deps import ApiError

            if complete:  # the body is in: later reads wait for a disconnect, unbounded
                return await receive()
            try:
                with anyio.fail_after(timeout):
                    message = await receive()
            except TimeoutError:
                raise ApiError(
                    408, "body", f"request body not received within {timeout:g} s", "timeout"
                ) from None
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if limit is not None and seen > limit:
                    raise ApiError(413, "body", too_big, "body_too_large")
            return message

        await self.app(scope, guarded, send)

    @staticmethod
    async def _refuse(scope, receive, send, status, field, problem, type_, headers=None):
        response = _error(
            status,
            [{"field": field, "problem": problem, "type": type_}],
            {**(headers or {}), "Connection": "close"},
        )
        await response(scope, receive, send)


def _install_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        items = []
        for err in exc.errors():
            field, problem = _problem(err)
            items.append({"field": field, "problem": problem, "type": err.get("type")})
        return _error(422, items)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, ApiError):
            item = {"field": exc.field, "problem": exc.problem, "type": exc.type}
        else:
            item = {"field": None, "problem": str(exc.detail), "type": None}
        return _error(exc.status_code, [item], getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(
            500,
            [
                {
                    "field": None,
                    "problem": "internal error; the server log has the details",
                    "type": "internal",
                }
            ],
        )


def _start_alert_pusher(services: Services, stopping: threading.Event) -> None:
    """With a webhook: recompute the alerts every ``refresh_seconds`` (at least 10 s) and push
    the new ones, even when nobody opens the console or calls ``GET /alerts``."""

    def run() -> None:
        while not stopping.wait(max(10.0, services.monitor.config.drift.refresh_seconds)):
            try:
                services.monitor.alerts(force=True, notify=services.notify)
            except Exception:
                log.exception("computing the alerts failed")

    threading.Thread(target=run, name="alert-pusher", daemon=True).start()


def create_app(
    bundle_loader: BundleLoader | None = None,
    settings=None,
    bundle: Bundle | None = None,
    *,
    version_probe: VersionProbe | None = None,
    reload_seconds: float | None = None,
) -> FastAPI:
    """The scoring service.

    - no argument: models from the registry alias ``settings.serve_alias``, polled for moves;
    - ``bundle``: serve this bundle (tests); ``bundle_loader`` then serves ``/admin/reload``;
    - ``bundle_loader`` alone: called at startup and on reload; ``version_probe`` (returns
      ``{model: version}``) enables polling for it.
    """
    if settings is None:
        from scoring.settings import get_settings

        settings = get_settings()
    probe = version_probe
    if bundle_loader is None and bundle is None:
        bundle_loader, default_probe = _registry_loader(settings)
        probe = probe or default_probe
    interval = settings.reload_seconds if reload_seconds is None else reload_seconds

    install_log_redaction()
    metrics = Metrics()
    holder = BundleHolder(bundle_loader, settings.serve_alias if bundle is None else "local", probe)
    holder.on_change = lambda: metrics.set_models(
        holder.current.model_versions() if holder.current else {}, holder.current is not None
    )
    if bundle is not None:
        holder.alias = bundle.alias
        holder.set(bundle)
    services = Services(settings=settings, holder=holder, metrics=metrics)
    if bundle is None and version_probe is None and probe is not None:
        services.experiment = _split_follower(settings)
    stopping = threading.Event()

    def start() -> None:
        from scoring.api.auth import load_keys
        from scoring.audit import AuditStore

        services.keys = load_keys(settings)
        services.audit = AuditStore.from_settings(settings)
        from scoring.monitoring import Monitor, load_monitoring_config

        services.monitor = Monitor(
            services.audit, load_monitoring_config(settings.monitoring_config), metrics
        )
        log.info(
            "API keys: %d from %s; audit trail: %s",
            len(services.keys),
            services.keys.source,
            services.audit.engine.url.render_as_string(hide_password=True),
        )
        if settings.webhook_url:
            from scoring.api.webhook import Webhook

            services.webhook = Webhook(
                settings.webhook_url,
                settings.webhook_secret or "",
                retries=settings.webhook_retries,
                on_result=metrics.count_webhook,
            )
            _start_alert_pusher(services, stopping)
        if holder.current is None:
            holder.load_at_start()
        holder.start_polling(interval)
        services.experiment.start_polling(interval)

    def stop() -> None:
        stopping.set()
        holder.stop()
        services.experiment.stop()
        if services.webhook is not None:
            services.webhook.close()
        if services.audit is not None:
            services.audit.close()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await anyio.to_thread.run_sync(start)
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(stop)

    # /docs and /redoc with their assets served by the app (no CDN: they work air-gapped)
    app = FastAPIOffline(
        title="Debt-collection scoring API",
        version=_version(),
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = services
    _install_handlers(app)
    app.include_router(router)
    from scoring.api.console import ConsoleHeaders, static
    from scoring.api.console import router as console_router

    app.include_router(console_router)
    app.mount("/console/static", static, name="console-static")
    app.add_middleware(
        BodyGuard,
        services=services,
        max_bytes=settings.max_body_bytes,
        read_timeout=settings.body_timeout_seconds,
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    app.add_middleware(ConsoleHeaders)
    from scoring.api.logs import RequestContext

    app.add_middleware(RequestContext)  # outermost: the request id covers everything
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("scoring")
    except PackageNotFoundError:  # pragma: no cover
        return "0"
