"""The audit trail: durable, survives restarts, hashes debtor ids, exports to the contract."""

from __future__ import annotations

import stat

import pandas as pd
import pytest
import sqlalchemy as sa
from api_support import SAMPLE_DIR, STORES, case_json, headers
from fastapi.testclient import TestClient

from scoring.api.app import create_app
from scoring.api.schemas import EXAMPLE_CASE
from scoring.audit import AuditConfigError, AuditStore, export_decisions, now_utc
from scoring.contract import read_raw_tables, validate_tables


@pytest.mark.parametrize("store_kind", STORES, indirect=True)
def test_decisions_survive_a_restart(bundle, settings):
    with TestClient(create_app(bundle=bundle, settings=settings)) as c:
        d = c.post("/next-action", json=EXAMPLE_CASE, headers=headers("scoring")).json()
        r = c.post(
            "/outcomes",
            json={"decision_id": d["decision_id"], "outcome": "reached"},
            headers=headers("scoring"),
        )
        assert r.status_code == 201
    # a new app (new process in real life) on the same home
    with TestClient(create_app(bundle=bundle, settings=settings)) as c:
        rec = c.get(f"/decisions/{d['decision_id']}", headers=headers("compliance"))
        assert rec.status_code == 200, rec.text
        rec = rec.json()
        assert rec["action"] == d["action"] and rec["propensity"] == d["propensity"]
        assert rec["output"]["decision_id"] == d["decision_id"]
        assert [o["outcome"] for o in rec["outcomes"]] == ["reached"]
        r = c.post(
            "/outcomes",
            json={"decision_id": d["decision_id"], "outcome": "promise_to_pay"},
            headers=headers("scoring"),
        )
        assert r.status_code == 201


def test_store_files_wal_and_key_permissions(client, settings):
    client.post("/score", json=EXAMPLE_CASE, headers=headers("scoring"))
    client.app.state.services.audit.flush()  # /score summaries are written in the background
    home = settings.home
    key = home / "audit.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_text().strip()) == 64
    engine = sa.create_engine(f"sqlite:///{home / 'audit.db'}")
    with engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        calls = conn.exec_driver_sql("SELECT n_cases, items FROM score_calls").all()
    engine.dispose()
    assert len(calls) == 1 and calls[0][0] == 1
    assert "D000123" not in calls[0][1]


@pytest.mark.parametrize("store_kind", STORES, indirect=True)
def test_hashes_are_keyed_and_a_changed_key_is_refused(settings, tmp_path):
    store = AuditStore.from_settings(settings)
    h = store.hash_debtor("D1")
    assert len(h) == 64 and h == store.hash_debtor("D1") and h != store.hash_debtor("D2")
    store.close()
    other = settings.model_copy(update={"audit_key": "another-key-of-sufficient-length"})
    with pytest.raises(AuditConfigError, match="another HMAC key"):
        AuditStore.from_settings(other)
    pg = settings.model_copy(update={"audit_url": "postgresql://u@localhost/db", "audit_key": None})
    with pytest.raises(AuditConfigError, match="SCORING_AUDIT_KEY is required"):
        AuditStore.from_settings(pg)


def test_audit_failure_means_no_decision(client, monkeypatch):
    audit = client.app.state.services.audit

    def broken(_rows):
        raise sa.exc.OperationalError("INSERT", {}, Exception("disk I/O error"))

    monkeypatch.setattr(audit, "record_decisions", broken)
    r = client.post("/next-action", json=EXAMPLE_CASE, headers=headers("scoring"))
    assert r.status_code == 503
    assert "audit" in r.json()["detail"][0]["problem"]


@pytest.mark.parametrize("store_kind", STORES, indirect=True)
@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_export_validates_with_the_callers_tables(bundle, settings, sample_cases, tmp_path, suffix):
    cases = [case_json(c) for c in sample_cases[:12]]
    with TestClient(create_app(bundle=bundle, settings=settings)) as c:
        out = c.post("/next-action", json=cases, headers=headers("scoring")).json()
        stranger = {
            **EXAMPLE_CASE,
            "debtor": {**EXAMPLE_CASE["debtor"], "debtor_id": "NOT-IN-SAMPLE"},
        }
        c.post("/next-action", json=stranger, headers=headers("scoring"))
        for d in out[:5]:
            r = c.post(
                "/outcomes",
                json={
                    "decision_id": d["decision_id"],
                    "outcome": "reached",
                    "executed_at": d["scheduled_at"] or d["as_of"],
                    "paid_amount": 10.0,
                },
                headers=headers("scoring"),
            )
            assert r.status_code == 201, r.text

    path = tmp_path / f"actions{suffix}"
    df, counts = export_decisions(path, debtors=SAMPLE_DIR, settings=settings)
    assert counts == {"decisions": 13, "exported": 12, "unmatched": 1}
    assert set(df["action_id"]) == {d["decision_id"] for d in out}
    assert set(df["debtor_id"]) == {c["debtor"]["debtor_id"] for c in cases}
    assert df["outcome"].notna().sum() == 5
    raw, problems = read_raw_tables(SAMPLE_DIR)
    assert not problems
    back = pd.read_parquet(path) if suffix == ".parquet" else pd.read_csv(path)
    _, problems = validate_tables({**raw, "actions": back})
    assert not problems, [str(p) for p in problems]

    hashed, counts = export_decisions(tmp_path / "hashed.csv", settings=settings)
    assert counts["exported"] == 13
    assert all(len(x) == 64 for x in hashed["debtor_id"])


def test_export_command(bundle, settings, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from scoring.cli import app as cli
    from scoring.settings import get_settings

    with TestClient(create_app(bundle=bundle, settings=settings)) as c:
        c.post("/next-action", json=EXAMPLE_CASE, headers=headers("scoring"))
    monkeypatch.setenv("SCORING_HOME", str(settings.home))
    get_settings.cache_clear()
    try:
        out = tmp_path / "a.parquet"
        res = CliRunner().invoke(cli, ["export-decisions", "--output", str(out)])
        assert res.exit_code == 0, res.output
        assert "1 of 1 decisions" in res.output
        assert len(pd.read_parquet(out)) == 1
        res = CliRunner().invoke(cli, ["export-decisions", "--output", str(tmp_path / "a.txt")])
        assert res.exit_code == 2
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()


@pytest.mark.parametrize("store_kind", STORES, indirect=True)
def test_score_summaries_are_written_in_the_background_and_flushed_on_close(settings):
    store = AuditStore.from_settings(settings)
    row = {
        "call_id": "c1",
        "called_at": now_utc(),
        "request_id": "r1",
        "api_key": "k",
        "n_cases": 2,
        "model_versions": {"default_risk": "1"},
        "items": [],
    }
    store.queue_score_calls([row])
    store.queue_score_calls([{**row, "call_id": "c2"}, {**row, "call_id": "c3"}])
    store.close()  # flushes the queue
    engine = sa.create_engine(store.url)
    with engine.connect() as conn:
        ids = [r[0] for r in conn.exec_driver_sql("SELECT call_id FROM score_calls").all()]
    engine.dispose()
    assert sorted(ids) == ["c1", "c2", "c3"]


def test_no_raw_debtor_or_invoice_id_in_the_stored_decision(client, settings):
    d = client.post("/next-action", json=EXAMPLE_CASE, headers=headers("scoring")).json()
    engine = sa.create_engine(f"sqlite:///{settings.home / 'audit.db'}")
    with engine.connect() as conn:
        row = conn.exec_driver_sql(
            "SELECT input, output FROM decisions WHERE decision_id = ?", (d["decision_id"],)
        ).one()
    engine.dispose()
    stored = " ".join(str(x) for x in row)
    assert "D000123" not in stored and "F2026-0042" not in stored
    audit = client.app.state.services.audit
    assert audit.hash_invoice("F2026-0042") in stored
    assert audit.hash_invoice("X") != audit.hash_debtor("X")
