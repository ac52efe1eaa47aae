"""The HTTP contract: shapes of every endpoint, every error path, authentication and roles."""

from __future__ import annotations

import copy
import uuid

import pytest
from api_support import KEYS, case_json, headers

from scoring.api.schemas import EXAMPLE_CASE, MAX_CASES
from scoring.policy.rules import RULE_IDS

SCORE_FIELDS = {
    "debtor_id", "as_of", "default_probability", "dispute_probability", "risk_grade", "reasons",
    "explanations", "unknown_values", "model_versions", "lang", "unavailable",
    "probability_sources", "invoices", "invoice_to_check",
}  # fmt: skip
DECISION_FIELDS = SCORE_FIELDS | {
    "decision_id", "action", "channel", "scheduled_at", "tone", "template", "installments",
    "expected_value", "uplift_vs_wait", "propensity", "requires_review", "review_status", "options", "removed",
    "timing_reason", "p_reach", "debtor_explanation", "arm",
}  # fmt: skip


def with_debtor(**changes) -> dict:
    case = copy.deepcopy(EXAMPLE_CASE)
    case["debtor"].update(changes)
    return case


def problems(r) -> list[dict]:
    body = r.json()
    assert set(body) == {"detail"}, body
    for item in body["detail"]:
        assert set(item) >= {"field", "problem"}, item
        assert item["problem"]
    return body["detail"]


# --------------------------------------------------------------------------------------
# Service endpoints


def test_health_ready_models(client, bundle):
    assert client.get("/health").json() == {"status": "alive"}
    ready = client.get("/ready").json()
    assert ready["status"] == "ready"
    assert ready["model_versions"] == bundle.model_versions()
    assert client.get("/models").status_code == 401
    models = client.get("/models", headers=headers("scoring")).json()
    assert models["ready"] is True
    assert set(models["models"]) == {"default_risk", "dispute_risk", "policy", "invoice_risk"}
    assert "test_roc_auc" in models["models"]["default_risk"]["metrics"]


def test_openapi_documents_every_endpoint(tiny_client):
    spec = tiny_client.get("/openapi.json").json()
    paths = spec["paths"]
    for p in ("/score", "/next-action", "/outcomes", "/decisions/{decision_id}", "/health",
              "/ready", "/models", "/metrics", "/admin/reload"):  # fmt: skip
        assert p in paths, p
    score = paths["/score"]["post"]
    assert "examples" in score["requestBody"]["content"]["application/json"]
    assert "422" in score["responses"] and "401" in score["responses"]
    schemas = spec["components"]["schemas"]
    assert "NextActionResult" in schemas and "ErrorResponse" in schemas


# --------------------------------------------------------------------------------------
# /score


def test_score_one_case(client, bundle):
    r = client.post("/score", json=EXAMPLE_CASE, headers=headers("scoring"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == SCORE_FIELDS
    assert body["debtor_id"] == "D000123"
    assert 0 <= body["default_probability"] <= 1 and 0 <= body["dispute_probability"] <= 1
    assert body["risk_grade"] in "ABCDE"
    assert body["unavailable"] == {}
    assert body["model_versions"] == bundle.model_versions()
    assert r.headers["X-Request-ID"]
    for key in ("default_risk", "dispute_risk"):
        e = body["explanations"][key]
        assert len(e["contributions"]) == 5
        assert e["all_contributions"] is None
        mags = [abs(c["contribution"]) for c in e["contributions"]]
        assert mags == sorted(mags, reverse=True)
        assert set(e["contributions"][0]) == {
            "feature",
            "label",
            "value",
            "contribution",
            "code",
            "text",
        }
        assert len(e["reasons"]) == 5
    # the served probability is the case model's unless the invoice models won on validation
    for key, field in (
        ("default_risk", "default_probability"),
        ("dispute_risk", "dispute_probability"),
    ):
        src = body["probability_sources"][key]
        assert src in ("case", "invoices", "blend")
        if src == "case":
            assert body[field] == body["explanations"][key]["probability"]
    assert len(body["invoices"]) == len(EXAMPLE_CASE["open_invoices"])


def test_score_list_keeps_order_and_options(client, sample_cases):
    cases = [case_json(c) for c in sample_cases[:4]]
    r = client.post("/score?lang=en&top_k=2", json=cases, headers=headers("scoring"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert [b["debtor_id"] for b in body] == [c["debtor"]["debtor_id"] for c in cases]
    assert all(b["lang"] == "en" for b in body)
    assert all(len(b["explanations"]["default_risk"]["contributions"]) == 2 for b in body)
    assert all(b["reasons"].startswith("Default risk: ") for b in body)


def test_score_language_defaults_to_the_debtors(client):
    fr = client.post("/score", json=with_debtor(language="fr"), headers=headers("scoring")).json()
    en = client.post("/score", json=with_debtor(language="en"), headers=headers("scoring")).json()
    assert fr["lang"] == "fr" and fr["reasons"].startswith("Risque de défaut : ")
    assert en["lang"] == "en" and en["reasons"].startswith("Default risk: ")
    assert fr["default_probability"] == en["default_probability"]


def test_unknown_sector_is_scored_and_flagged(client):
    r = client.post("/score", json=with_debtor(sector="Z9"), headers=headers("scoring"))
    assert r.status_code == 200, r.text
    assert r.json()["unknown_values"] == [{"field": "debtor.sector", "value": "Z9"}]
    known = client.post("/score", json=EXAMPLE_CASE, headers=headers("scoring")).json()
    assert known["unknown_values"] == []


# --------------------------------------------------------------------------------------
# Validation errors name the field


@pytest.mark.parametrize(
    ("body", "query", "field", "words"),
    [
        (with_debtor(segment="B2X"), "", "body.debtor.segment", "B2B"),
        ([with_debtor(segment="B2X")], "", "body.0.debtor.segment", "B2B"),
        ([EXAMPLE_CASE, with_debtor(department="00")], "", "body.1.debtor.department", ""),
        ([EXAMPLE_CASE] * (MAX_CASES + 1), "", "body", f"at most {MAX_CASES}"),
        ([], "", "body", "at least one"),
        ({**EXAMPLE_CASE, "as_of": "2026-03-02T09:00:00"}, "", "body.as_of", "offset"),
        ({k: v for k, v in EXAMPLE_CASE.items() if k != "debtor"}, "", "body.debtor", "required"),
        ({**EXAMPLE_CASE, "open_invoices": []}, "", "body.open_invoices", "at least 1"),
        ({**EXAMPLE_CASE, "surprise": 1}, "", "body.surprise", "not permitted"),
        (with_debtor(sector=None), "", "body.debtor.sector", "sector is required"),
        (
            {**EXAMPLE_CASE, "as_of": "2300-01-01T00:00:00+00:00"},
            "",
            "body.as_of",
            "outside the supported range",
        ),
        (EXAMPLE_CASE, "?lang=de", "query.lang", "fr"),
        (EXAMPLE_CASE, "?top_k=0", "query.top_k", "greater"),
        ("a string", "", "body", ""),
    ],
)
def test_validation_errors_name_the_field(tiny_client, body, query, field, words):
    r = tiny_client.post(f"/score{query}", json=body, headers=headers("scoring"))
    assert r.status_code == 422, r.text
    items = problems(r)
    assert field in [i["field"] for i in items], items
    assert any(words.lower() in i["problem"].lower() for i in items if i["field"] == field), items


def test_invalid_json_and_wrong_content(tiny_client):
    r = tiny_client.post(
        "/score",
        content=b'{"as_of": ',
        headers={**headers("scoring"), "content-type": "application/json"},
    )
    assert r.status_code == 422
    assert problems(r)[0]["field"] == "body"
    assert "JSON" in problems(r)[0]["problem"]
    r = tiny_client.post("/score", headers=headers("scoring"))
    assert r.status_code == 422 and problems(r)[0]["field"] == "body"


def test_unknown_route_and_method_have_json_errors(tiny_client):
    r = tiny_client.get("/nowhere")
    assert r.status_code == 404 and problems(r)
    r = tiny_client.get("/score", headers=headers("scoring"))
    assert r.status_code == 405 and problems(r)


# --------------------------------------------------------------------------------------
# Authentication and roles


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("post", "/score", "scoring"),
        ("post", "/next-action", "scoring"),
        ("post", "/outcomes", "scoring"),
        ("get", f"/decisions/{uuid.uuid4()}", "compliance"),
        ("post", "/admin/reload", "admin"),
    ],
)
def test_keys_and_roles(tiny_client, method, path, role):
    call = getattr(tiny_client, method)
    kw = {"json": EXAMPLE_CASE} if method == "post" else {}
    r = call(path, **kw)
    assert r.status_code == 401, r.text
    assert problems(r)[0]["field"] == "header.X-API-Key"
    assert "WWW-Authenticate" in r.headers
    assert call(path, headers={"X-API-Key": "not-a-key"}, **kw).status_code == 401
    for other in ("scoring", "compliance"):
        if other != role:
            r = call(path, headers=headers(other), **kw)
            assert r.status_code == 403, r.text
            assert role in problems(r)[0]["problem"]
    # the right role (or admin) gets past authentication
    for ok in (role, "admin"):
        assert call(path, headers=headers(ok), **kw).status_code not in (401, 403)


def test_bearer_token_works(tiny_client):
    r = tiny_client.post(
        "/score", json=EXAMPLE_CASE, headers={"Authorization": f"Bearer {KEYS['scoring']}"}
    )
    assert r.status_code == 200


def test_keys_are_not_logged(tiny_client, caplog):
    with caplog.at_level("DEBUG"):
        tiny_client.post("/score", json=EXAMPLE_CASE, headers=headers("scoring"))
        tiny_client.post("/score", json=EXAMPLE_CASE, headers={"X-API-Key": "wrong-key-xyz"})
    assert KEYS["scoring"] not in caplog.text and "wrong-key-xyz" not in caplog.text


# --------------------------------------------------------------------------------------
# /next-action


def test_next_action_one_case(client, bundle):
    r = client.post("/next-action", json=EXAMPLE_CASE, headers=headers("scoring"))
    assert r.status_code == 200, r.text
    d = r.json()
    assert set(d) == DECISION_FIELDS
    assert d["debtor_explanation"] and "_" not in d["debtor_explanation"]
    uuid.UUID(d["decision_id"])
    actions = [o["action"] for o in d["options"]]
    assert d["action"] in actions
    if d["action"] != "wait":  # why that time, in the response language
        assert d["timing_reason"] and 0 < d["p_reach"] <= 1
    chosen = d["options"][actions.index(d["action"])]
    assert chosen["probability"] == pytest.approx(d["propensity"])
    assert chosen["expected_value"] == pytest.approx(d["expected_value"])
    evs = [o["expected_value"] for o in d["options"]]
    assert evs == sorted(evs, reverse=True)
    assert sum(o["probability"] for o in d["options"]) == pytest.approx(1.0)
    assert 0 < d["propensity"] <= 1
    removed = {x["action"] for x in d["removed"]}
    assert not removed & set(actions)
    assert removed | set(actions) <= set(bundle.policy.config.costs)
    assert all(x["rules"] and set(x["rules"]) <= set(RULE_IDS) for x in d["removed"])
    if d["action"] == "wait":
        assert d["scheduled_at"] is None and d["channel"] is None and d["template"] is None
    else:
        assert d["scheduled_at"].endswith(("+01:00", "+02:00"))  # Lyon, local time
        assert d["template"] == f"{d['action']}.{d['tone']}.fr"
    assert (d["installments"] is not None) == (d["action"] == "payment_plan_offer")


def test_next_action_overseas_local_time_and_no_explore(client, sample_cases):
    cases = [c for c in sample_cases if c.debtor.department in ("971", "972", "973", "974", "976")]
    if not cases:
        pytest.skip("no overseas debtor in the sample at this instant")
    body = [case_json(c) for c in cases[:5]]
    r = client.post("/next-action?explore=false", json=body, headers=headers("scoring"))
    assert r.status_code == 200, r.text
    for d in r.json():
        best = max(d["options"], key=lambda o: o["expected_value"])
        assert d["action"] == best["action"]
        for o in d["options"]:
            if o["scheduled_at"] is not None:
                assert o["scheduled_at"][-6:] in ("-04:00", "-03:00", "+04:00", "+03:00")


def test_next_action_many_cases_distinct_ids(client, sample_cases):
    body = [case_json(c) for c in sample_cases[:10]]
    r = client.post("/next-action", json=body, headers=headers("scoring"))
    assert r.status_code == 200, r.text
    out = r.json()
    assert len(out) == 10 and len({d["decision_id"] for d in out}) == 10
    assert [d["debtor_id"] for d in out] == [c["debtor"]["debtor_id"] for c in body]


# --------------------------------------------------------------------------------------
# /outcomes and /decisions


def _decide(client, body=None) -> dict:
    r = client.post("/next-action", json=body or EXAMPLE_CASE, headers=headers("scoring"))
    assert r.status_code == 200, r.text
    return r.json()


def test_outcome_is_stored_and_returned_with_the_decision(client):
    d = _decide(client)
    report = {
        "decision_id": d["decision_id"],
        "executed_at": "2026-03-03T10:05:00+01:00",
        "outcome": "promise_to_pay",
        "paid_amount": 1200.0,
        "paid_at": "2026-03-09",
        "dispute": False,
        "complaint": False,
    }
    r = client.post("/outcomes", json=report, headers=headers("scoring"))
    assert r.status_code == 201, r.text
    assert r.json()["decision_id"] == d["decision_id"]
    rec = client.get(f"/decisions/{d['decision_id']}", headers=headers("compliance"))
    assert rec.status_code == 200, rec.text
    rec = rec.json()
    assert rec["action"] == d["action"]
    assert rec["output"]["options"] == d["options"]
    assert rec["output"]["removed"] == d["removed"]
    assert rec["output"]["explanations"] == d["explanations"]
    assert rec["model_versions"] == d["model_versions"]
    assert rec["api_key"] == "env-0"
    assert len(rec["outcomes"]) == 1
    o = rec["outcomes"][0]
    assert o["outcome"] == "promise_to_pay" and o["paid_amount"] == 1200.0
    assert o["executed_at"].startswith("2026-03-03T09:05:00")


def test_decision_record_holds_only_the_debtor_hash(client, settings):
    d = _decide(client, with_debtor(debtor_id="SECRET-DEBTOR-42"))
    rec = client.get(f"/decisions/{d['decision_id']}", headers=headers("compliance")).json()
    assert len(rec["debtor_hash"]) == 64
    assert rec["input"]["debtor"]["debtor_id"] == rec["debtor_hash"]
    assert rec["output"]["debtor_id"] == rec["debtor_hash"]
    client.post(
        "/score", json=with_debtor(debtor_id="SECRET-DEBTOR-42"), headers=headers("scoring")
    )
    db = (settings.home / "audit.db").read_bytes()
    wal = settings.home / "audit.db-wal"
    db += wal.read_bytes() if wal.exists() else b""
    assert b"SECRET-DEBTOR-42" not in db


@pytest.mark.parametrize(
    ("report", "status", "field"),
    [
        ({"decision_id": str(uuid.uuid4()), "outcome": "reached"}, 404, "body.decision_id"),
        ({"decision_id": "not-a-uuid"}, 422, "body.decision_id"),
        ({"decision_id": "{id}", "outcome": "paid"}, 422, "body.outcome"),
        ({"decision_id": "{id}", "paid_amount": -1}, 422, "body.paid_amount"),
        (
            {"decision_id": "{id}", "executed_at": "2020-01-01T10:00:00+01:00"},
            422,
            "body.executed_at",
        ),
        ({"decision_id": "{id}", "executed_at": "2026-03-03T10:00:00"}, 422, "body.executed_at"),
    ],
)
def test_outcome_errors(client, report, status, field):
    d = _decide(client)
    report = {
        k: (v.format(id=d["decision_id"]) if isinstance(v, str) else v) for k, v in report.items()
    }
    r = client.post("/outcomes", json=report, headers=headers("scoring"))
    assert r.status_code == status, r.text
    assert field in [i["field"] for i in problems(r)]


def test_decision_errors(client):
    r = client.get(f"/decisions/{uuid.uuid4()}", headers=headers("compliance"))
    assert r.status_code == 404 and problems(r)[0]["field"] == "path.decision_id"
    r = client.get("/decisions/xyz", headers=headers("compliance"))
    assert r.status_code == 422 and problems(r)[0]["field"] == "path.decision_id"


def test_metrics_text_format(client):
    client.post("/score", json=EXAMPLE_CASE, headers=headers("scoring"))
    d = _decide(client)
    client.post("/score", json={}, headers=headers("scoring"))
    text = client.get("/metrics").text
    assert 'scoring_requests_total{endpoint="/score",method="POST",status="200"} 1' in text
    assert 'scoring_requests_total{endpoint="/score",method="POST",status="422"} 1' in text
    assert (
        'scoring_request_duration_seconds_bucket{endpoint="/score",le="+Inf",method="POST"} 2'
        in text
    )
    assert 'scoring_request_duration_seconds_count{endpoint="/next-action",method="POST"} 1' in text
    assert f'scoring_decisions_total{{action="{d["action"]}"}} 1' in text
    assert "scoring_ready 1" in text
    assert "# TYPE scoring_request_duration_seconds histogram" in text


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        ('"amount": 4200.0', '"amount": Infinity', "body.open_invoices.0.amount"),
        ('"credit_limit": 15000.0', '"credit_limit": -Infinity', "body.debtor.credit_limit"),
        ('"n_invoices": 14', '"n_invoices": 99999999999999999999999', "body.history.n_invoices"),
        ('"2019-11-14"', '"1677-01-01"', "body.debtor.customer_since"),
        # finite but absurd: two such invoices used to overflow the open amount into a 500
        ('"amount": 4200.0', '"amount": 1e308', "body.open_invoices.0.amount"),
        ('"credit_limit": 15000.0', '"credit_limit": 1e300', "body.debtor.credit_limit"),
        ('"amount_paid_12m": 38000.0', '"amount_paid_12m": 1e200', "body.history.amount_paid_12m"),
    ],
)
def test_numbers_and_dates_out_of_range_are_422(tiny_client, old, new, field):
    import json

    text = json.dumps(EXAMPLE_CASE)
    assert old in text
    for path in ("/score", "/next-action"):
        r = tiny_client.post(
            path,
            content=text.replace(old, new),
            headers={**headers("scoring"), "content-type": "application/json"},
        )
        assert r.status_code == 422, r.text
        assert field in [i["field"] for i in problems(r)]


def test_body_is_not_read_without_a_key_and_is_capped_with_one(bundle, settings):
    """An anonymous body gets 401 before it is read (our error format); a body above
    ``max_body_bytes`` gets 413 in the same format; a normal body still works."""
    import json

    from fastapi.testclient import TestClient

    from scoring.api.app import create_app

    small = settings.model_copy(update={"max_body_bytes": 20_000})
    big = json.dumps([EXAMPLE_CASE] * 100)
    assert len(big) > 20_000
    with TestClient(create_app(bundle=bundle, settings=small)) as c:
        medium = json.dumps([EXAMPLE_CASE] * 5)
        assert len(medium) < 20_000
        for path in ("/score", "/next-action"):
            r = c.post(path, content=medium, headers={"content-type": "application/json"})
            assert r.status_code == 401, r.text
            assert problems(r)[0]["field"] == "header.X-API-Key"
            # a declared length above the cap is refused before anything is read, key or not
            r = c.post(path, content=big, headers={"content-type": "application/json"})
            assert r.status_code in (401, 413), r.text
            assert problems(r)
            r = c.post(
                path,
                content=big,
                headers={**headers("scoring"), "content-type": "application/json"},
            )
            assert r.status_code == 413, r.text
            assert problems(r)[0]["problem"]
            # chunked (no content-length): counted while read
            r = c.post(
                path,
                content=iter([big[i : i + 4096].encode() for i in range(0, len(big), 4096)]),
                headers={**headers("scoring"), "content-type": "application/json"},
            )
            assert r.status_code == 413, r.text
        r = c.post("/score", json=EXAMPLE_CASE, headers=headers("scoring"))
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("old", "new", "field"),
    [
        # numbers are not timestamps, text is not a boolean
        ('"as_of": "2026-03-02T09:00:00+01:00"', '"as_of": 1772438400', "body.as_of"),
        ('"customer_since": "2019-11-14"', '"customer_since": 20191114', "debtor.customer_since"),
        ('"consent_email": true', '"consent_email": "true"', "debtor.consent_email"),
        ('"consent_phone": true', '"consent_phone": 1', "debtor.consent_phone"),
        ('"purchase_order_ref": true', '"purchase_order_ref": "yes"', "purchase_order_ref"),
        # facts dated after as_of, actions scheduled before they were decided
        ('"last_payment_date": "2026-01-28"', '"last_payment_date": "2026-03-05"', "body"),
        ('"customer_since": "2019-11-14"', '"customer_since": "2026-04-01"', "body"),
        (
            '"scheduled_at": "2026-02-16T10:00:00+01:00"',
            '"scheduled_at": "2026-02-15T10:00:00+01:00"',
            "body",
        ),
    ],
)
def test_no_silent_misreading_of_types_and_chronology(tiny_client, old, new, field):
    import json

    text = json.dumps(EXAMPLE_CASE)
    assert old in text
    r = tiny_client.post(
        "/next-action",
        content=text.replace(old, new),
        headers={**headers("scoring"), "content-type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert any(field in (i["field"] or "") for i in problems(r)), problems(r)


def test_duplicate_invoice_ids_are_422_and_b2b_sector_is_in_the_schema(tiny_client):
    import copy

    body = copy.deepcopy(EXAMPLE_CASE)
    body["open_invoices"].append(dict(body["open_invoices"][0]))
    r = tiny_client.post("/next-action", json=body, headers=headers("scoring"))
    assert r.status_code == 422 and "duplicate" in r.text, r.text
    schema = tiny_client.get("/openapi.json").json()["components"]["schemas"]
    debtor = next(v for k, v in schema.items() if k.startswith("Debtor"))
    assert debtor["if"]["properties"]["segment"]["const"] == "B2B"
    assert "sector" in debtor["then"]["required"]


def test_models_needs_a_key_and_hides_who_promoted_from_scoring_keys(bundle, settings):
    import dataclasses

    from fastapi.testclient import TestClient

    from scoring.api.app import create_app

    tags = {k: dict(v) for k, v in bundle.tags.items()}
    tags["default_risk"].update({"promoted_by": "alice", "promotion_reason": "better AUC"})
    b = dataclasses.replace(bundle, tags=tags)
    with TestClient(create_app(bundle=b, settings=settings)) as c:
        assert c.get("/models").status_code == 401
        seen = c.get("/models", headers=headers("scoring")).json()["models"]["default_risk"]
        assert "promoted_by" not in seen["tags"] and "promotion_reason" not in seen["tags"]
        full = c.get("/models", headers=headers("compliance")).json()["models"]["default_risk"]
        assert full["tags"]["promoted_by"] == "alice"


def test_a_key_in_the_query_string_never_reaches_the_access_log():
    import logging

    from scoring.api.app import RedactSecrets

    rec = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d', None, None
    )
    rec.args = ("127.0.0.1:5000", "GET", "/models?api_key=sk-scoring-SECRET&x=1", "1.1", 401)
    assert RedactSecrets().filter(rec)
    line = rec.getMessage()
    assert "SECRET" not in line and "api_key=***" in line and "x=1" in line
    rec.args = ("127.0.0.1:5000", "GET", "/x?token=abc", "1.1", 200)
    RedactSecrets().filter(rec)
    assert "abc" not in rec.getMessage()


def test_a_trickled_body_times_out_with_408(bundle, settings):
    """A client that sends its headers and then nothing cannot hold a worker: 408 in our
    error format after ``body_timeout_seconds``."""
    import json

    import anyio

    from scoring.api.app import create_app
    from scoring.api.auth import load_keys

    app = create_app(
        bundle=bundle, settings=settings.model_copy(update={"body_timeout_seconds": 0.3})
    )
    app.state.services.keys = load_keys(settings)
    sent: list[dict] = []

    async def receive():
        await anyio.sleep(3600)

    async def send(message):
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/score",
        "raw_path": b"/score",
        "query_string": b"",
        "root_path": "",
        "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", b"100"),
            (b"x-api-key", headers("scoring")["X-API-Key"].encode()),
        ],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "state": {},
    }

    stack = app.build_middleware_stack()

    async def main():
        with anyio.fail_after(10):
            await stack(scope, receive, send)

    anyio.run(main)
    start = next(m for m in sent if m["type"] == "http.response.start")
    assert start["status"] == 408
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    assert json.loads(body)["detail"][0]["type"] == "timeout"
