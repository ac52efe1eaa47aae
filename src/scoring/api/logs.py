"""Logs of the service: one JSON object per line, each with the request id of the request it
belongs to.

:class:`RequestContext` (pure ASGI middleware) gives every HTTP request an id (the caller's
``X-Request-ID`` when it is printable and at most 64 characters, else a new one), returns it in
the ``X-Request-ID`` header, keeps it in a context variable for the duration of the request and
writes one access line per request (``scoring.access``: method, path, status, milliseconds).
:class:`JsonFormatter` adds the id to every record logged while the request runs, so a
decision's audit record (which stores the id), its access line and any error can be joined.
``scoring serve --log-format json`` (the default when the output is not a terminal) installs
it in every worker through :func:`log_config`; API keys never appear in logs (only their
names), and query parameters that look like credentials are masked.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
import uuid
from datetime import UTC, datetime
from typing import Any

REQUEST_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
access_log = logging.getLogger("scoring.access")

_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "request_id",
    "color_message",
}
_base_factory = logging.getLogRecordFactory()


def _record_with_request_id(*args: Any, **kwargs: Any) -> logging.LogRecord:
    """Every record is stamped at creation with the id of the request it is logged in."""
    record = _base_factory(*args, **kwargs)
    record.request_id = REQUEST_ID.get()
    return record


def install_record_factory() -> None:
    if logging.getLogRecordFactory() is not _record_with_request_id:
        logging.setLogRecordFactory(_record_with_request_id)


def valid_request_id(value: str | None) -> bool:
    return value is not None and 0 < len(value) <= 64 and value.isprintable()


class JsonFormatter(logging.Formatter):
    """``{"time", "level", "logger", "message", "request_id", ...extra fields, "exc"}``."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", None)
        if rid:
            out["request_id"] = rid
        for k, v in vars(record).items():
            if k not in _STANDARD and k not in out and not k.startswith("_"):
                out[k] = v if isinstance(v, str | int | float | bool | None) else str(v)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """The human format, with the request id when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        rid = getattr(record, "request_id", None)
        return f"{text} [request {rid}]" if rid and record.name != "scoring.access" else text


def log_config(level: str = "info", fmt: str = "json") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for uvicorn's ``log_config`` (applied in every worker):
    everything through one formatter; uvicorn's own access log is replaced by ours."""
    formatter = (
        "scoring.api.logs.JsonFormatter" if fmt == "json" else "scoring.api.logs.TextFormatter"
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"main": {"()": formatter}},
        "handlers": {
            "main": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "stream": "ext://sys.stderr",
            }
        },  # fmt: skip
        "root": {"handlers": ["main"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "WARNING"},
        },
    }


class RequestContext:
    """Pure ASGI middleware: the request id, its header, its context and the access line."""

    def __init__(self, app) -> None:
        self.app = app
        install_record_factory()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = given if valid_request_id(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        token = REQUEST_ID.set(rid)
        start = time.perf_counter()
        status = {"code": 500}

        async def send_with_id(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k != b"x-request-id"]
                message["headers"] = [*headers, (b"x-request-id", rid.encode("latin-1"))]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if access_log.isEnabledFor(logging.INFO):
                access_log.info(
                    "%s %s %d",
                    scope.get("method", ""),
                    scope.get("path", ""),
                    status["code"],
                    extra={
                        "method": scope.get("method", ""),
                        "path": scope.get("path", ""),
                        "status": status["code"],
                        "ms": round((time.perf_counter() - start) * 1000, 2),
                    },
                )
            REQUEST_ID.reset(token)
