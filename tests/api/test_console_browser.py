"""The console in a real browser (Playwright driving Debian's Chromium): sign in, approve a
pending decision, replace another, find both in the audit trail; screenshots of each page go to
``artifacts/console/`` (at 1280 px and at a tablet's 768 px). Every asset comes from the app,
every form field has a label, the pages fit a tablet's width, and the keyboard reaches the
forms.

``.ci/run`` installs Chromium when it is missing and sets ``SCORING_REQUIRE_BROWSER=1``, which
turns a missing browser into a failure; elsewhere the test is skipped without one."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest
from api_support import KEYS, case_json, headers, review_everything, running_server
from fastapi.testclient import TestClient

from scoring.api.app import create_app

ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "console"


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if os.environ.get("SCORING_REQUIRE_BROWSER") == "1":
        pytest.fail("no Chromium found (apt-get install chromium)")
    pytest.skip("no Chromium on this machine")


@pytest.fixture
def browser_page():
    sync_api = pytest.importorskip("playwright.sync_api")
    exe = _chromium()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        yield page
        browser.close()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _unlabelled(page) -> list[str]:
    """Visible form fields without a <label for> nor an aria-label."""
    return page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
          .filter(e => !(e.id && document.querySelector(`label[for="${e.id}"]`)) && !e.getAttribute('aria-label'))
          .map(e => e.name || e.outerHTML.slice(0, 60))"""
    )


def _fits(page) -> bool:
    return page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_review_in_the_browser(browser_page, small_bundle, settings, sample_cases):
    page = browser_page
    app = create_app(bundle=review_everything(small_bundle), settings=settings)
    with TestClient(app) as api, running_server(app) as base:
        decided = api.post(
            "/next-action?explore=false",
            json=[case_json(c) for c in sample_cases[:20]],
            headers=headers("scoring"),
        ).json()
        flagged = [d for d in decided if d["review_status"] == "pending_review"]
        assert len(flagged) >= 2
        foreign: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(base) else foreign.append(r.url))

        # sign in: a protected page sends to the login form; a wrong key is refused
        response = page.goto(f"{base}/console/reviews")
        assert response is not None
        csp = response.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "script-src" not in csp
        assert page.url.endswith("/console/login")
        _shot(page, "01-login")
        page.get_by_label("API key").fill("not-a-key")
        page.get_by_role("button", name="Sign in").click()
        assert "unknown key" in page.inner_text("[role=alert]")
        page.get_by_label("API key").fill(KEYS["reviewer"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/console/reviews")
        assert KEYS["reviewer"] not in page.content()
        assert page.context.cookies()[0]["httpOnly"]

        # the queue, oldest first; open the first decision and approve it
        rows = page.locator("tbody tr")
        assert rows.count() == len(flagged)
        _shot(page, "02-queue")
        first = flagged[0]["decision_id"]
        page.locator(f"a[href='/console/decisions/{first}']").click()
        page.wait_for_url(f"**/console/decisions/{first}")
        assert page.locator("svg.waterfall").count() == 2  # both risk models
        assert _unlabelled(page) == []
        _shot(page, "03-decision")
        page.get_by_label("Comment (optional)").first.fill("Invoices checked, notice justified.")
        page.get_by_role("button", name=re.compile("^Approve")).click()
        page.wait_for_url("**done=approve")
        assert "approved" in page.inner_text("[role=status]")
        assert "approve" in page.inner_text("ol.history")

        # the second: keyboard only, replace it by another allowed action
        second = flagged[1]["decision_id"]
        page.goto(f"{base}/console/decisions/{second}")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.className") == "skip"
        page.get_by_label("Another action the rules allow").focus()
        page.keyboard.press("ArrowDown")
        page.get_by_label("Another action the rules allow").press("Tab")
        page.get_by_role("button", name="Replace").press("Enter")
        page.wait_for_url("**done=replace")
        assert "replaced" in page.inner_text("[role=status]")

        # a rejection without a reason is refused, naming the field
        third = flagged[2]["decision_id"]
        page.goto(f"{base}/console/decisions/{third}")
        page.evaluate("document.getElementById('reason').removeAttribute('required')")
        page.get_by_role("button", name="Reject").click()
        assert "reason" in page.inner_text("[role=alert]")

        # the audit trail shows both verdicts and verifies
        page.goto(f"{base}/console/audit")
        page.get_by_role("button", name="Verify the whole chain").click()
        assert "The chain verifies" in page.inner_text("[role=status]")
        text = page.inner_text("table")
        assert "review: approve by env-1" in text and "review: replace by env-1" in text
        _shot(page, "04-audit")

        for name in ("monitoring", "alerts", "dashboard", "models"):
            page.goto(f"{base}/console/{name}")
            assert (
                page.locator("h1").count() == 1
                and not page.locator(".error").count()
                or name == "models"
            )
            _shot(page, f"05-{name}")

        # a tablet's width: nothing overflows sideways
        page.set_viewport_size({"width": 768, "height": 1024})
        for path in (
            "/console/reviews",
            f"/console/decisions/{first}",
            "/console/monitoring",
            "/console/audit",
        ):
            page.goto(base + path)
            assert _fits(page), path
        _shot(page, "06-tablet-audit")
        assert foreign == []

    # the API agrees with what the browser did
    with TestClient(app) as api:
        got = {d: api.get(f"/decisions/{d}", headers=headers("compliance")).json()["review_status"]
               for d in (first, second, third)}  # fmt: skip
    assert got == {first: "approved", second: "replaced", third: "pending_review"}
