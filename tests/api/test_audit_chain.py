"""The audit trail is a hash chain: every record linked, every change found, the first broken
link named (``scoring audit verify``)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from api_support import STORES, headers
from typer.testing import CliRunner

from scoring.api.schemas import EXAMPLE_CASE
from scoring.audit import verify_chain

pytestmark = pytest.mark.parametrize("store_kind", STORES, indirect=True)


def _fill(client) -> list[str]:
    ids = []
    for _ in range(3):
        r = client.post("/next-action", json=EXAMPLE_CASE, headers=headers("scoring"))
        assert r.status_code == 200, r.text
        ids.append(r.json()["decision_id"])
    report = {"decision_id": ids[0], "executed_at": "2026-03-03T10:05:00+01:00",
              "outcome": "reached", "dispute": False, "complaint": False}  # fmt: skip
    assert client.post("/outcomes", json=report, headers=headers("scoring")).status_code == 201
    assert client.post("/score", json=EXAMPLE_CASE, headers=headers("scoring")).status_code == 200
    client.app.state.services.audit.flush()
    return ids


def test_every_record_is_linked_and_the_chain_verifies(tiny_client):
    _fill(tiny_client)
    res = verify_chain(tiny_client.app.state.services.audit.engine)
    assert res["ok"] and res["first_break"] is None
    assert res["links"] == 3 + 1 + 1  # decisions, the outcome, the /score summary
    assert res["not_linked"] == {} and res["before_chain"] == {}


def test_a_changed_record_is_named(tiny_client):
    ids = _fill(tiny_client)
    engine = tiny_client.app.state.services.audit.engine
    with engine.begin() as conn:
        conn.execute(
            sa.text("UPDATE decisions SET action = 'legal_escalation' WHERE decision_id = :d"),
            {"d": ids[1]},
        )
    b = verify_chain(engine)["first_break"]
    assert b["kind"] == "decision" and b["ref"] == ids[1] and b["seq"] == 2
    assert "changed" in b["problem"]


def test_deleted_records_removed_links_and_records_around_the_chain(tiny_client):
    ids = _fill(tiny_client)
    engine = tiny_client.app.state.services.audit.engine
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM outcomes"))
    b = verify_chain(engine)["first_break"]
    assert b["kind"] == "outcome" and "deleted" in b["problem"]

    # a link removed in the middle, then the last one
    engine2 = engine
    with engine2.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_chain WHERE seq = 2"))
    assert verify_chain(engine2)["first_break"]["seq"] == 2

    # a decision written around the service (no link)
    with engine.begin() as conn:
        row = (
            conn.execute(sa.text("SELECT * FROM decisions WHERE decision_id = :d"), {"d": ids[0]})
            .mappings()
            .one()
        )
        conn.execute(
            sa.text(
                "INSERT INTO decisions SELECT '00000000-0000-0000-0000-000000000000', decided_at, "
                "as_of, debtor_hash, action, scheduled_at, propensity, expected_value, "
                "requires_review, model_versions, input, output, request_id, api_key, "
                "hash_key_id FROM decisions WHERE decision_id = :d"
            ),
            {"d": row["decision_id"]},
        )
    # that one, and the decision whose link was removed above
    assert verify_chain(engine)["not_linked"] == {"decision": 2}


def test_truncating_the_end_of_the_chain_is_found(tiny_client):
    _fill(tiny_client)
    engine = tiny_client.app.state.services.audit.engine
    with engine.begin() as conn:
        conn.execute(
            sa.text("DELETE FROM audit_chain WHERE seq = (SELECT MAX(seq) FROM audit_chain)")
        )
    b = verify_chain(engine)["first_break"]
    assert b is not None and "removed" in b["problem"]


def test_verify_command(tiny_client, settings, monkeypatch):
    from scoring.cli import app
    from scoring.settings import get_settings

    _fill(tiny_client)
    monkeypatch.setenv("SCORING_HOME", str(settings.home))
    for name in ("audit_url", "audit_key"):
        if getattr(settings, name):
            monkeypatch.setenv(f"SCORING_{name.upper()}", getattr(settings, name))
    get_settings.cache_clear()
    try:
        ok = CliRunner().invoke(app, ["audit", "verify"])
        assert ok.exit_code == 0, ok.output
        assert "audit chain OK: 5 links" in ok.output
        engine = tiny_client.app.state.services.audit.engine
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE outcomes SET outcome = 'promise_to_pay'"))
        bad = CliRunner().invoke(app, ["audit", "verify"])
        assert bad.exit_code == 1
        assert "BROKEN at link 4 (outcome" in bad.output
    finally:
        get_settings.cache_clear()


def test_a_store_older_than_the_chain_starts_one(tiny_client, settings):
    """Records written before the chain existed are reported as not covered, not as broken."""
    from scoring.audit import AuditStore

    _fill(tiny_client)
    engine = tiny_client.app.state.services.audit.engine
    with engine.begin() as conn:  # what a store of the previous version looks like
        conn.execute(sa.text("DELETE FROM audit_chain"))
        conn.execute(sa.text("DELETE FROM audit_meta WHERE key LIKE 'chain_%'"))
    store = AuditStore.from_settings(settings)  # opening it starts the chain
    try:
        res = verify_chain(store.engine)
        assert res["ok"] and res["links"] == 0
        assert res["before_chain"] == {"decision": 3, "outcome": 1, "score_call": 1}
    finally:
        store.close()
