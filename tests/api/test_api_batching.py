"""Concurrent requests are micro-batched: every caller gets the answer for its own case, the
same answer as when it is alone, and every decision is audited."""

from __future__ import annotations

import threading

from api_support import case_json, headers


def _post_concurrently(client, path, bodies):
    out = [None] * len(bodies)
    start = threading.Barrier(len(bodies))

    def worker(i):
        start.wait()
        out[i] = client.post(path, json=bodies[i], headers=headers("scoring"))

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def test_concurrent_scores_match_lone_scores(client, sample_cases):
    cases = [case_json(c) for c in sample_cases[:12]]
    alone = [client.post("/score", json=c, headers=headers("scoring")).json() for c in cases]
    together = _post_concurrently(client, "/score", cases)
    for a, r in zip(alone, together, strict=True):
        assert r.status_code == 200, r.text
        b = r.json()
        assert b["debtor_id"] == a["debtor_id"]
        assert b["default_probability"] == a["default_probability"]
        assert b["explanations"] == a["explanations"]
    batcher = client.app.state.services.batcher
    assert batcher.items >= 24
    m = client.get("/metrics").text
    assert 'scoring_batched_requests_total{endpoint="/score"} 24' in m
    assert 'scoring_batches_total{endpoint="/score"}' in m


def test_concurrent_decisions_are_each_audited(client, sample_cases):
    cases = [case_json(c) for c in sample_cases[:10]]
    together = _post_concurrently(client, "/next-action?explore=false", cases)
    ids = set()
    for c, r in zip(cases, together, strict=True):
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["debtor_id"] == c["debtor"]["debtor_id"]
        ids.add(body["decision_id"])
        alone = client.post("/next-action?explore=false", json=c, headers=headers("scoring"))
        assert alone.json()["action"] == body["action"]
        assert alone.json()["expected_value"] == body["expected_value"]
    assert len(ids) == len(cases)
    for did in ids:
        d = client.get(f"/decisions/{did}", headers=headers("compliance"))
        assert d.status_code == 200, d.text


def test_mixed_options_are_not_mixed_up(client, sample_cases):
    c = case_json(sample_cases[0])
    bodies = [c] * 6
    out = [None] * 6
    start = threading.Barrier(6)

    def worker(i):
        start.wait()
        lang = "fr" if i % 2 else "en"
        out[i] = client.post(
            f"/score?lang={lang}&top_k={1 + i % 3}", json=bodies[i], headers=headers("scoring")
        )

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for i, r in enumerate(out):
        assert r.status_code == 200, r.text
        e = r.json()["explanations"]["default_risk"]
        assert len(e["contributions"]) == 1 + i % 3
        assert r.json()["lang"] == ("fr" if i % 2 else "en")
