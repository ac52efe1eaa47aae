"""Drift (PSI vs the training period) and automatic alerts through the API."""

from __future__ import annotations

import datetime as dt

import pytest
from api_support import case_json, headers, review_everything
from fastapi.testclient import TestClient

from scoring.api.app import create_app


@pytest.fixture
def mclient(bundle, settings, tmp_path):
    cfg = tmp_path / "monitoring.yaml"
    cfg.write_text(
        "version: test\ndrift: {min_cases: 10, refresh_seconds: 0}\n"
        "alerts: {review_wait_hours: 0.000001, invoice_dispute: 0.05}\n"
    )
    s = settings.model_copy(update={"monitoring_config": cfg})
    with TestClient(create_app(bundle=review_everything(bundle), settings=s)) as c:
        yield c


def test_drift_is_measured_against_the_training_profile(mclient, sample_cases):
    body = [case_json(c) for c in sample_cases[:30]]
    assert mclient.post("/score", json=body, headers=headers("scoring")).status_code == 200
    r = mclient.post("/next-action", json=body[:10], headers=headers("scoring"))
    assert r.status_code == 200
    services = mclient.app.state.services
    services.store.flush()
    d = services.monitor.drift(services.holder.current, force=True)
    for key in ("default_risk", "dispute_risk"):
        w = d["models"][key]["windows"][7]
        assert w["n"] == 40
        names = {row["name"] for row in w["rows"]}
        assert f"score:{key}" in names and "max_days_past_due" in names or len(names) > 10
        assert all(row["verdict"] in ("stable", "watch", "alert", "ignored") for row in w["rows"])
        assert {r["verdict"] for r in w["rows"] if r["name"] in ("month", "weekday")} == {"ignored"}
    models = mclient.get("/models", headers=headers("scoring")).json()
    assert set(models["drift_max_psi"]) == {
        f"{k}/{w}d" for k in ("default_risk", "dispute_risk") for w in (7, 30)
    }
    assert isinstance(models["drift_alert"], bool)
    text = mclient.get("/metrics").text
    assert (
        'scoring_drift_psi{feature="score:default_risk",model="default_risk",window="7d"}' in text
    )
    assert "scoring_drift_alert{" in text


def test_alerts(mclient, sample_cases):
    h = headers("scoring")
    decided = mclient.post(
        "/next-action?explore=false", json=[case_json(c) for c in sample_cases[:30]], headers=h
    ).json()
    flagged = [d for d in decided if d["requires_review"]]
    assert flagged
    # a promise made at the decision and never kept
    target = flagged[0]
    assert mclient.post(f"/reviews/{target['decision_id']}", json={"verdict": "approve"},
                        headers=headers("reviewer")).status_code == 201  # fmt: skip
    r = mclient.post(
        "/outcomes",
        json={"decision_id": target["decision_id"], "outcome": "promise_to_pay",
              "executed_at": "2026-03-03T10:00:00+01:00"},
        headers=h,
    )  # fmt: skip
    assert r.status_code == 201, r.text
    # a default probability that jumps between two scorings of one debtor
    services = mclient.app.state.services
    store = services.store
    now = dt.datetime.now(dt.UTC)
    item = {"debtor_hash": "d" * 64, "as_of": now.isoformat(), "dispute_probability": 0.1,
            "risk_grade": "C", "unknown_values": []}  # fmt: skip
    store.record_score_calls([
        {"call_id": f"00000000-0000-4000-8000-00000000000{i}", "called_at": now - dt.timedelta(days=3 - i),
         "request_id": "t", "api_key": "t", "n_cases": 1, "model_versions": {},
         "items": [{**item, "default_probability": p}]}
        for i, p in enumerate((0.10, 0.45))
    ])  # fmt: skip
    r = mclient.get("/alerts", headers=headers("reviewer"))
    assert r.status_code == 200, r.text
    a = r.json()
    kinds = a["by_kind"]
    assert kinds.get("review_waiting", 0) == len(flagged) - 1
    assert kinds.get("promise_broken") == 1
    assert kinds.get("default_jump", 0) >= 1
    jump = next(
        x for x in a["items"] if x["kind"] == "default_jump" and x["debtor_hash"] == "d" * 64
    )
    assert jump["details"]["previous"] == 0.10 and jump["severity"] == "high"
    only = mclient.get("/alerts?kind=promise_broken", headers=headers("compliance")).json()
    assert only["count"] == 1 and only["items"][0]["decision_id"] == target["decision_id"]
    assert mclient.get("/alerts", headers=headers("scoring")).status_code == 403
    assert mclient.get("/alerts?kind=nope", headers=headers("reviewer")).status_code == 422
    assert 'scoring_alerts{kind="promise_broken"} 1' in mclient.get("/metrics").text
