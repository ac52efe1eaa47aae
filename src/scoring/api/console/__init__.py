"""The console: server-rendered pages under ``/console`` for reviewers, compliance officers and
collection managers (Jinja2 templates, plain HTML forms, no JavaScript; the stylesheet is
served by the app itself).

Sign-in takes an API key holding the ``reviewer``, ``compliance`` or ``admin`` role; the key is
checked and forgotten: the session cookie (signed, HttpOnly, SameSite=Strict, 8 hours) holds
the key's *name* and roles and a CSRF token, which every form sends back. Reviewers act on
decisions; compliance keys read every page. Every answer carries security headers (a CSP that
allows nothing but the app's own stylesheet, ``frame-ancestors 'none'``, no referrer, no
caching).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Any

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from itsdangerous import BadSignature, URLSafeTimedSerializer

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
static = StaticFiles(directory=str(HERE / "static"))

COOKIE = "console_session"
LOGIN_COOKIE = "console_login_csrf"
MAX_AGE = 8 * 3600
CONSOLE_ROLES = ("reviewer", "compliance", "admin")

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


class ConsoleHeaders:
    """Pure ASGI middleware: the security headers on every ``/console`` answer."""

    def __init__(self, app) -> None:
        self.app = app
        self._headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/console"):
            await self.app(scope, receive, send)
            return

        async def add(message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [
                    (k, v) for k, v in message.get("headers", []) if k != b"cache-control"
                ] + self._headers
            await send(message)

        await self.app(scope, receive, add)


def _serializer(services) -> URLSafeTimedSerializer:
    secret = hmac.new(services.store._key, b"scoring-console-session", hashlib.sha256).hexdigest()
    return URLSafeTimedSerializer(secret, salt="console")


def session_of(request: Request) -> dict[str, Any] | None:
    """The signed-in user (name, roles, csrf), or None."""
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(request.app.state.services).loads(raw, max_age=MAX_AGE)
    except BadSignature:
        return None
    return data if isinstance(data, dict) and "n" in data else None


def can_review(user: dict[str, Any]) -> bool:
    return bool({"reviewer", "admin"} & set(user["r"]))


def render(request: Request, name: str, status_code: int = 200, **ctx: Any) -> HTMLResponse:
    user = ctx.pop("user", None)
    if user is None:
        user = session_of(request)
    user = user or None  # False: render as signed out (the login page)
    return templates.TemplateResponse(
        request,
        name,
        {
            "user": user,
            "can_review": bool(user and can_review(user)),
            "now": dt.datetime.now(dt.UTC),
            **ctx,
        },
        status_code=status_code,
    )


def error_page(request: Request, status: int, field: str | None, problem: str) -> HTMLResponse:
    return render(request, "error.html", status, field=field, problem=problem)


def check_csrf(user: dict[str, Any], token: Any) -> bool:
    return bool(token) and hmac.compare_digest(str(user.get("c", "")), str(token))


router = APIRouter(prefix="/console", include_in_schema=False)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, error: str | None = None) -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    resp = render(request, "login.html", 401 if error else 200, csrf=token, error=error, user=False)
    resp.set_cookie(LOGIN_COOKIE, token, max_age=600, httponly=True, samesite="strict",
                    secure=request.url.scheme == "https", path="/console")  # fmt: skip
    return resp


@router.post("/login")
async def login(request: Request) -> Response:
    form = await request.form()
    token, key = form.get("csrf_token"), form.get("api_key")
    cookie = request.cookies.get(LOGIN_COOKIE)
    if not token or not cookie or not hmac.compare_digest(str(token), cookie):
        return login_form(request, "The form expired: please sign in again.")
    services = request.app.state.services
    found = services.keys.lookup(str(key).strip()) if key and services.keys else None
    if found is None:
        await anyio.sleep(0.2)  # slows guessing a little
        return login_form(request, "api_key: unknown key.")
    roles = sorted(r for r in found.roles if r in CONSOLE_ROLES)
    if not roles:
        return login_form(
            request, "api_key: this key has no console role (reviewer or compliance)."
        )
    data = {"n": found.name, "r": roles, "c": secrets.token_urlsafe(24)}
    resp = RedirectResponse("/console/reviews", status_code=303)
    resp.set_cookie(COOKIE, _serializer(services).dumps(data), max_age=MAX_AGE, httponly=True,
                    samesite="strict", secure=request.url.scheme == "https", path="/console")  # fmt: skip
    resp.delete_cookie(LOGIN_COOKIE, path="/console")
    return resp


@router.post("/logout")
async def logout(request: Request) -> Response:
    user = session_of(request)
    form = await request.form()
    if user is not None and not check_csrf(user, form.get("csrf_token")):
        return error_page(request, 403, "csrf_token", "invalid form token")
    resp = RedirectResponse("/console/login", status_code=303)
    resp.delete_cookie(COOKIE, path="/console")
    return resp


from scoring.api.console import pages  # noqa: E402  (registers the pages on the router)

__all__ = ["ConsoleHeaders", "pages", "router", "static"]
