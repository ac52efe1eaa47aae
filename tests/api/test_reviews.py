"""The review loop through the API: pending_review, verdicts, contests, the pause rule (R9),
409 on outcomes of unapproved decisions, chained review records and the signed webhook."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from api_support import STORES, case_json, free_port, headers, review_everything
from fastapi.testclient import TestClient

from scoring.api.app import create_app
from scoring.api.webhook import verify
from scoring.audit import verify_chain

pytestmark = pytest.mark.parametrize("store_kind", STORES, indirect=True)


@pytest.fixture(scope="module")
def flag_bundle(small_bundle):
    return review_everything(small_bundle)


@pytest.fixture
def rclient(flag_bundle, settings):
    with TestClient(create_app(bundle=flag_bundle, settings=settings)) as c:
        yield c


def flagged(client, sample_cases, n: int = 2) -> list[dict]:
    """Decisions that require review (contacts, under the review-everything configuration)."""
    body = [case_json(c) for c in sample_cases[:40]]
    r = client.post("/next-action?explore=false", json=body, headers=headers("scoring"))
    assert r.status_code == 200, r.text
    out = [d for d in r.json() if d["requires_review"]]
    assert len(out) >= n, [d["action"] for d in r.json()]
    for d in out:
        assert d["review_status"] == "pending_review"
    for d in r.json():
        if not d["requires_review"]:
            assert d["review_status"] == "not_required"
    return out


def test_pending_decision_is_queued_and_not_executable(rclient, sample_cases):
    d = flagged(rclient, sample_cases)[0]
    did = d["decision_id"]
    rec = rclient.get(f"/decisions/{did}", headers=headers("compliance")).json()
    assert rec["review_status"] == "pending_review" and rec["reviews"] == []
    r = rclient.post("/outcomes", json={"decision_id": did}, headers=headers("scoring"))
    assert r.status_code == 409
    assert r.json()["detail"][0]["field"] == "body.decision_id"
    assert "pending_review" in r.json()["detail"][0]["problem"]

    q = rclient.get("/reviews", headers=headers("reviewer")).json()
    ids = [i["decision_id"] for i in q["items"]]
    assert did in ids and q["count"] == len(ids)
    waits = [i["waiting_since"] for i in q["items"]]
    assert waits == sorted(waits)  # oldest first
    item = next(i for i in q["items"] if i["decision_id"] == did)
    assert item["proposed_action"] == d["action"]
    assert item["case"]["open_invoices"] >= 1 and item["reasons"]
    assert item["default_probability"] == pytest.approx(d["default_probability"])
    # compliance reads the queue; scoring keys do not
    assert rclient.get("/reviews", headers=headers("compliance")).status_code == 200
    assert rclient.get("/reviews", headers=headers("scoring")).status_code == 403


def test_approve_then_outcome_then_contest_pauses_the_debtor(rclient, sample_cases, settings):
    d = flagged(rclient, sample_cases)[0]
    did = d["decision_id"]
    # a scoring key cannot review
    r = rclient.post(f"/reviews/{did}", json={"verdict": "approve"}, headers=headers("scoring"))
    assert r.status_code == 403
    r = rclient.post(
        f"/reviews/{did}", json={"verdict": "approve", "comment": "ok"}, headers=headers("reviewer")
    )
    assert r.status_code == 201, r.text
    ev = r.json()["event"]
    assert r.json()["review_status"] == "approved" and ev["actor"] and ev["recorded_at"]
    # cannot approve twice
    r2 = rclient.post(f"/reviews/{did}", json={"verdict": "approve"}, headers=headers("reviewer"))
    assert r2.status_code == 409 and "already approved" in r2.json()["detail"][0]["problem"]
    assert (
        rclient.post("/outcomes", json={"decision_id": did}, headers=headers("scoring")).status_code
        == 201
    )

    # the debtor contests: back in the queue, their next decision is a wait (R9)
    r = rclient.post(
        f"/decisions/{did}/contest",
        json={"debtor_words": "J'ai déjà payé par virement le 3 mars."},
        headers=headers("scoring"),
    )
    assert r.status_code == 201 and r.json()["review_status"] == "contested"
    again = rclient.post(
        f"/decisions/{did}/contest", json={"debtor_words": "encore"}, headers=headers("scoring")
    )
    assert again.status_code == 409
    q = rclient.get("/reviews?status=contested", headers=headers("reviewer")).json()
    item = next(i for i in q["items"] if i["decision_id"] == did)
    assert item["contest"].startswith("J'ai déjà payé")
    case = next(c for c in sample_cases if c.debtor.debtor_id == d["debtor_id"])
    nxt = rclient.post(
        "/next-action?explore=false", json=case_json(case), headers=headers("scoring")
    ).json()
    assert nxt["action"] == "wait"
    assert any("R9_contest_pause" in rm["rules"] for rm in nxt["removed"])
    assert nxt["options"] and all(o["action"] == "wait" for o in nxt["options"])

    # the reviewer upholds the decision: the pause is lifted
    r = rclient.post(
        f"/reviews/{did}", json={"verdict": "approve", "comment": "payment not received"},
        headers=headers("reviewer"),
    )  # fmt: skip
    assert r.status_code == 201 and r.json()["event"]["status_before"] == "contested"
    nxt = rclient.post(
        "/next-action?explore=false", json=case_json(case), headers=headers("scoring")
    ).json()
    assert not any("R9_contest_pause" in rm["rules"] for rm in nxt["removed"])
    rec = rclient.get(f"/decisions/{did}", headers=headers("compliance")).json()
    assert [e["event"] for e in rec["reviews"]] == ["approve", "contest", "approve"]
    assert rec["reviews"][1]["comment"].startswith("J'ai")

    # reviews are chained records: the chain verifies, and a changed verdict is detected
    rclient.app.state.services.store.flush()
    engine = rclient.app.state.services.store.engine
    res = verify_chain(engine)
    assert res["ok"], res
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE reviews SET event = 'reject' WHERE review_id = 1")
    res = verify_chain(engine)
    assert not res["ok"] and res["first_break"]["kind"] == "review"


def test_reject_and_replace_are_validated(rclient, sample_cases):
    a, b = flagged(rclient, sample_cases)[:2]
    url = f"/reviews/{a['decision_id']}"
    h = headers("reviewer")
    r = rclient.post(url, json={"verdict": "reject"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "body.reason"
    r = rclient.post(url, json={"verdict": "reject", "reason": "other"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "body.comment"
    r = rclient.post(url, json={"verdict": "reject", "reason": "because"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "body.reason"
    r = rclient.post(url, json={"verdict": "reject", "reason": "dispute_pending"}, headers=h)
    assert r.status_code == 201 and r.json()["review_status"] == "rejected"
    r = rclient.post(
        "/outcomes", json={"decision_id": a["decision_id"]}, headers=headers("scoring")
    )
    assert r.status_code == 409 and "rejected" in r.json()["detail"][0]["problem"]
    r = rclient.post(
        f"/decisions/{a['decision_id']}/contest", json={"debtor_words": "x"},
        headers=headers("scoring"),
    )  # fmt: skip
    assert r.status_code == 409

    url = f"/reviews/{b['decision_id']}"
    # a Sunday slot, and a time outside every window: both refused by the rules, naming them
    options = [o for o in b["options"] if o["action"] not in ("wait", b["action"])]
    sunday = "2026-03-08T10:00:00+01:00"
    r = rclient.post(
        url, json={"verdict": "replace", "action": "letter", "scheduled_at": sunday}, headers=h
    )
    assert r.status_code == 422
    assert "R1_sunday_holiday" in r.json()["detail"][0]["problem"]
    r = rclient.post(url, json={"verdict": "replace", "action": "letter"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "body.scheduled_at"
    r = rclient.post(url, json={"verdict": "approve", "action": "letter"}, headers=h)
    assert r.status_code == 422
    r = rclient.post(url, json={"verdict": "replace", "action": "fax"}, headers=h)
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "body.action"
    # an allowed option of the decision itself is accepted
    pick = options[0] if options else {"action": "wait", "scheduled_at": None}
    body = {"verdict": "replace", "action": pick["action"], "comment": "softer first"}
    if pick["scheduled_at"]:
        body["scheduled_at"] = pick["scheduled_at"]
    r = rclient.post(url, json=body, headers=h)
    assert r.status_code == 201, r.text
    assert r.json()["review_status"] == "replaced"
    assert r.json()["event"]["replacement"]["action"] == pick["action"]
    assert (
        rclient.post(
            "/outcomes", json={"decision_id": b["decision_id"]}, headers=headers("scoring")
        ).status_code
        == 201
    )
    r = rclient.post(url, json={"verdict": "approve"}, headers=h)
    assert r.status_code == 409
    missing = "00000000-0000-4000-8000-000000000000"
    assert (
        rclient.post(f"/reviews/{missing}", json={"verdict": "approve"}, headers=h).status_code
        == 404
    )
    assert (
        rclient.post("/reviews/not-a-uuid", json={"verdict": "approve"}, headers=h).status_code
        == 422
    )


class _Receiver(BaseHTTPRequestHandler):
    got: list = []
    fail_first = 1

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if _Receiver.fail_first > 0:
            _Receiver.fail_first -= 1
            self.send_response(503)
            self.end_headers()
            return
        _Receiver.got.append((dict(self.headers), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_webhook_is_signed_and_retried(flag_bundle, settings, sample_cases):
    _Receiver.got, _Receiver.fail_first = [], 1
    port = free_port()
    server = ThreadingHTTPServer(("127.0.0.1", port), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = "s3cret-for-the-webhook-test"
    s = settings.model_copy(
        update={"webhook_url": f"http://127.0.0.1:{port}/hook", "webhook_secret": secret}
    )
    try:
        with TestClient(create_app(bundle=flag_bundle, settings=s)) as c:
            c.app.state.services.webhook.backoff = 0.05
            d = flagged(c, sample_cases)[0]
            r = c.post(
                f"/reviews/{d['decision_id']}",
                json={"verdict": "approve"},
                headers=headers("reviewer"),
            )
            assert r.status_code == 201
            assert c.app.state.services.webhook.join(10)
            metrics = c.get("/metrics").text
    finally:
        server.shutdown()
    assert len(_Receiver.got) == 1
    hdrs, body = _Receiver.got[0]
    assert verify(secret, hdrs["X-Scoring-Timestamp"], body, hdrs["X-Scoring-Signature"])
    assert not verify(
        "another-secret-xxxxxxxx", hdrs["X-Scoring-Timestamp"], body, hdrs["X-Scoring-Signature"]
    )
    payload = json.loads(body)
    assert payload["event"] == "review.resolved" == hdrs["X-Scoring-Event"]
    assert payload["data"]["decision_id"] == d["decision_id"]
    assert payload["data"]["review_status"] == "approved"
    assert 'scoring_webhook_deliveries_total{result="retried"} 1' in metrics
    assert 'scoring_webhook_deliveries_total{result="delivered"} 1' in metrics


def test_two_replicas_share_one_chain_and_one_verdict(rclient, sample_cases, settings):
    """Two stores on one database (two replicas): a decision gets one verdict however many
    reviewers race for it, and records written at once from both form one unbroken chain."""
    import datetime as dt
    import uuid

    from scoring.audit import AuditStore
    from scoring.review import ReviewBook, ReviewError

    did = flagged(rclient, sample_cases)[0]["decision_id"]
    stores = [rclient.app.state.services.store, AuditStore.from_settings(settings)]
    try:
        results: list = []
        start = threading.Barrier(6)

        def approve(store):
            start.wait()
            try:
                ReviewBook(store).review(did, "approve", "racer")
                results.append("ok")
            except ReviewError as exc:
                results.append(exc.status)

        def summaries(store):
            for _ in range(20):
                row = {"call_id": str(uuid.uuid4()), "called_at": dt.datetime.now(dt.UTC),
                       "request_id": "r", "api_key": "k", "n_cases": 0, "model_versions": {},
                       "items": []}  # fmt: skip
                store.record_score_calls([row])

        threads = [threading.Thread(target=approve, args=(stores[i % 2],)) for i in range(6)]
        threads += [threading.Thread(target=summaries, args=(s,)) for s in stores]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert results.count("ok") == 1 and results.count(409) == 5, results
        res = verify_chain(stores[1].engine)
        assert res["ok"], res
        assert res["links"] >= 40 + 1
    finally:
        stores[1].close()
