"""The console without a browser: sign-in, sessions, CSRF, roles, security headers, bad input."""

from __future__ import annotations

import re

import pytest
from api_support import KEYS, case_json, headers, review_everything
from fastapi.testclient import TestClient

from scoring.api.app import create_app


@pytest.fixture
def console(small_bundle, settings, sample_cases):
    with TestClient(create_app(bundle=review_everything(small_bundle), settings=settings)) as c:
        decided = c.post(
            "/next-action?explore=false",
            json=[case_json(x) for x in sample_cases[:12]],
            headers=headers("scoring"),
        ).json()
        c.flagged = [d["decision_id"] for d in decided if d["requires_review"]]  # type: ignore[attr-defined]
        yield c


def sign_in(c: TestClient, role: str) -> str:
    """Sign in with the key of ``role``; returns the session's CSRF token."""
    tok = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/console/login").text).group(1)
    r = c.post(
        "/console/login", data={"csrf_token": tok, "api_key": KEYS[role]}, follow_redirects=False
    )
    assert r.status_code == 303, r.text
    page = c.get("/console/reviews").text
    assert KEYS[role] not in page
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_pages_need_a_session_and_carry_security_headers(console):
    for path in ("/console/reviews", "/console/monitoring", "/console/audit", "/console/models"):
        r = console.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/login"
    r = console.get("/console/login")
    assert r.headers["x-frame-options"] == "DENY"
    csp = r.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["cache-control"] == "no-store"
    assert console.get("/console/static/console.css").status_code == 200
    # no API key needed for the console's forms; a forged session cookie is ignored
    console.cookies.set("console_session", "forged.value", path="/console")
    assert console.get("/console/reviews", follow_redirects=False).status_code == 303


def _token(c: TestClient) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', c.get("/console/login").text).group(1)


def test_login_refuses_bad_keys_and_expired_forms(console):
    r = console.post("/console/login", data={"csrf_token": _token(console), "api_key": "nope"})
    assert r.status_code == 401 and "api_key" in r.text and "nope" not in r.text
    r = console.post(
        "/console/login", data={"csrf_token": _token(console), "api_key": KEYS["scoring"]}
    )
    assert r.status_code == 401 and "no console role" in r.text
    _token(console)
    r = console.post("/console/login", data={"csrf_token": "other", "api_key": KEYS["reviewer"]})
    assert r.status_code == 401 and "expired" in r.text


def test_reviewer_acts_compliance_reads(console):
    did = console.flagged[0]
    csrf = sign_in(console, "compliance")
    page = console.get(f"/console/decisions/{did}")
    assert page.status_code == 200 and "a reviewer acts on it" in page.text
    r = console.post(
        f"/console/decisions/{did}/review", data={"csrf_token": csrf, "verdict": "approve"}
    )
    assert r.status_code == 403

    csrf = sign_in(console, "reviewer")
    url = f"/console/decisions/{did}/review"
    assert console.post(url, data={"csrf_token": "x", "verdict": "approve"}).status_code == 403
    assert console.post(url, data={"verdict": "approve"}).status_code == 403
    r = console.post(url, data={"csrf_token": csrf, "verdict": "reject", "reason": "other"})
    assert r.status_code == 422 and "comment" in r.text
    r = console.post(url, data={"csrf_token": csrf, "verdict": "maybe"})
    assert r.status_code == 422 and "verdict" in r.text
    r = console.post(url, data={"csrf_token": csrf, "verdict": "replace", "option": "letter|",
                                "scheduled_at": "2026-03-08T10:00:00+01:00"})  # fmt: skip
    assert r.status_code == 422 and "R1_sunday_holiday" in r.text
    r = console.post(url, data={"csrf_token": csrf, "verdict": "approve", "comment": "ok"},
                     follow_redirects=False)  # fmt: skip
    assert r.status_code == 303
    r = console.post(url, data={"csrf_token": csrf, "verdict": "approve"})
    assert r.status_code == 409 and "already approved" in r.text
    rec = console.get(f"/decisions/{did}", headers=headers("compliance")).json()
    assert rec["review_status"] == "approved" and rec["reviews"][0]["actor"] == "env-1"

    assert console.get("/console/reviews?status=bogus").status_code == 422
    assert console.get("/console/decisions/not-a-uuid").status_code == 422
    assert console.get("/console/decisions/00000000-0000-4000-8000-000000000000").status_code == 404
    assert console.get("/console/monitoring?days=0").status_code == 422
    assert (
        console.post(
            "/console/logout", data={"csrf_token": csrf}, follow_redirects=False
        ).status_code
        == 303
    )
    assert console.get("/console/reviews", follow_redirects=False).status_code == 303
