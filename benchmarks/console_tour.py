"""A compliance officer's day in the console, on the champion models of a registry: the
screenshots of docs/console.md, and how long each console page takes to render.

The script serves the registry's champion models with a fresh audit trail (a temporary home),
lets the collection software decide for a few hundred cases of a data set (``/next-action``,
``/score``), then plays the day through the API and the browser: reviewers approve, reject
and replace flagged decisions, a debtor contests one, outcomes come back (one promise is not
kept). It then visits each page in headless Chromium and saves five screenshots.

    python benchmarks/console_tour.py --home models --data data/synthetic/default

Results: ``benchmarks/results/console.json`` (page times) and ``docs/img/console-*.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
KEYS = {
    "scoring": "tour-scoring-key-0123456789abcdef",
    "reviewer": "tour-reviewer-key-0123456789abcdef",
    "compliance": "tour-compliance-key-0123456789abcdef",
}
NAMES = {"scoring": "collection-software", "reviewer": "claire.reviewer",
         "compliance": "marc.compliance"}  # fmt: skip


def _port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _key_file(path: Path) -> None:
    lines = ["keys:"]
    for role, key in KEYS.items():
        digest = hashlib.sha256(key.encode()).hexdigest()
        lines += [f"  - name: {NAMES[role]}", f'    sha256: "{digest}"', f"    roles: [{role}]"]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--home", type=Path, default=ROOT / "models", help="registry home (MLflow)")
    ap.add_argument("--data", type=Path, default=ROOT / "data/synthetic/default")
    ap.add_argument("--as-of", default="2026-10-05T09:00:00+02:00")
    ap.add_argument("--cases", type=int, default=400)
    ap.add_argument("--shots", type=Path, default=ROOT / "docs/img")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/console.json")
    args = ap.parse_args()

    import httpx
    import uvicorn
    from playwright.sync_api import sync_playwright

    from scoring.cases import build_cases
    from scoring.contract import load_tables

    tmp = Path(tempfile.mkdtemp(prefix="console-tour-"))
    _key_file(tmp / "keys.yaml")
    home = args.home.resolve()
    os.environ.update({
        "SCORING_HOME": str(home),
        "SCORING_AUDIT_URL": f"sqlite:///{tmp / 'audit.db'}",
        "SCORING_AUDIT_KEY": "tour-audit-key-0123456789abcdef",
        "SCORING_API_KEYS_FILE": str(tmp / "keys.yaml"),
        "SCORING_RELOAD_SECONDS": "0",
        "SCORING_KPI_DATA": str(args.data.resolve()),
    })  # fmt: skip
    from scoring.api.app import create_app

    app = create_app()
    port = _port()
    server = uvicorn.Server(uvicorn.Config(app, port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    api = httpx.Client(base_url=base, timeout=120)
    for _ in range(600):
        with contextlib.suppress(httpx.HTTPError):
            if api.get("/ready").status_code == 200:
                break
        time.sleep(0.5)
    else:
        sys.exit("the service did not become ready")

    def h(role: str) -> dict[str, str]:
        return {"X-API-Key": KEYS[role]}

    cases = build_cases(load_tables(args.data), pd.Timestamp(args.as_of)).to_cases()
    # the latest B2C debts first: they are the ones the rules send to review (formal notices)
    as_of = pd.Timestamp(args.as_of).date()

    def lateness(c) -> tuple:
        late = max((as_of - i.due_date).days for i in c.open_invoices)
        return (c.debtor.segment == "B2C", late)

    cases = sorted(cases, key=lateness, reverse=True)[: args.cases]
    body = [c.model_dump(mode="json") for c in cases]
    decided = []
    for i in range(0, len(body), 100):
        api.post("/score", json=body[i : i + 100], headers=h("scoring")).raise_for_status()
        r = api.post("/next-action", json=body[i : i + 100], headers=h("scoring"))
        r.raise_for_status()
        decided += r.json()
    flagged = [d for d in decided if d["review_status"] == "pending_review"]
    plain = [d for d in decided if d["review_status"] == "not_required" and d["action"] != "wait"]
    print(f"{len(decided)} decisions, {len(flagged)} flagged")

    def review(d, verdict, **kw):
        r = api.post(f"/reviews/{d['decision_id']}", json={"verdict": verdict, **kw},
                     headers=h("reviewer"))  # fmt: skip
        r.raise_for_status()

    # the reviewers' morning: most flagged decisions approved, one rejected, one replaced
    keep = flagged[2:] if len(flagged) > 4 else []
    for d in keep[: max(0, len(keep) - 3)]:
        review(d, "approve", comment="Invoices and notices checked.")
    if len(flagged) > 1:
        review(flagged[1], "reject", reason="payment_or_arrangement",
               comment="Plan agreed by phone yesterday.")  # fmt: skip
    if flagged:
        alt = [
            o for o in flagged[0]["options"] if o["action"] not in ("wait", flagged[0]["action"])
        ]
        if alt:
            review(flagged[0], "replace", action=alt[0]["action"], scheduled_at=alt[0]["scheduled_at"],
                   comment="A letter first.")  # fmt: skip
    # outcomes come back; one promise to pay is not kept; a debtor contests a reminder
    for d in plain[:40]:
        api.post("/outcomes", json={"decision_id": d["decision_id"], "outcome": "reached",
                                    "executed_at": d["scheduled_at"]}, headers=h("scoring"))  # fmt: skip
    if len(plain) > 41:
        api.post("/outcomes", json={"decision_id": plain[41]["decision_id"], "outcome": "promise_to_pay",
                                    "executed_at": plain[41]["scheduled_at"]}, headers=h("scoring"))  # fmt: skip
    contested = plain[0] if plain else None
    if contested:
        r = api.post(f"/decisions/{contested['decision_id']}/contest",
                     json={"debtor_words": "J'ai réglé cette facture le 2 octobre par virement, "
                           "je joins la preuve de paiement."}, headers=h("scoring"))  # fmt: skip
        r.raise_for_status()

    args.shots.mkdir(parents=True, exist_ok=True)
    timings: dict[str, float] = {}
    with sync_playwright() as p:
        exe = shutil.which("chromium") or shutil.which("chromium-browser")
        browser = p.chromium.launch(executable_path=exe, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/console/login")
        page.get_by_label("API key").fill(KEYS["compliance"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**/console/reviews")

        def visit(path: str, shot: str | None = None, full: bool = True) -> None:
            start = time.perf_counter()
            page.goto(base + path)
            timings[path.split("?")[0].rsplit("/", 1)[0] if "/decisions/" in path else path] = (
                round((time.perf_counter() - start) * 1000, 1)
            )
            if shot:
                page.screenshot(path=str(args.shots / f"console-{shot}.png"), full_page=full)

        visit("/console/monitoring", "1-monitoring")
        visit("/console/reviews", "2-queue", full=False)
        waiting = [
            d for d in flagged if d not in flagged[:2] and d not in keep[: max(0, len(keep) - 3)]
        ]
        target = contested or (waiting[0] if waiting else decided[0])
        visit(f"/console/decisions/{target['decision_id']}", "3-decision")
        visit("/console/audit?verify=true&limit=25", "4-audit", full=False)
        visit("/console/dashboard", "5-dashboard")
        visit("/console/alerts")
        visit("/console/models")
        browser.close()
    server.should_exit = True
    thread.join(10)
    result = {"decisions": len(decided), "flagged": len(flagged), "page_ms": timings,
              "as_of": args.as_of, "cases": len(body)}  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
