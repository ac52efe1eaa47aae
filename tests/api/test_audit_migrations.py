"""The audit schema is managed by Alembic migrations (``scoring.audit_migrations``): a fresh
store is migrated to the head, a store of the releases before migrations is stamped at the
baseline and upgraded with its records and chain intact, later revisions run, a revision from
a newer release is refused, and replicas opening one database together migrate it once."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from api_support import STORES
from typer.testing import CliRunner

from scoring import audit
from scoring.audit import (
    BASELINE_REVISION,
    VERSION_TABLE,
    AuditConfigError,
    AuditStore,
    alembic_config,
    metadata,
    schema_revision,
    upgrade_schema,
    verify_chain,
)

pytestmark = pytest.mark.parametrize("store_kind", STORES, indirect=True)

KEY = b"test-audit-key-0123456789abcdef!"
LATER = "e2e7a1e5c0de"  # a revision after the baseline, written by the tests


@pytest.fixture
def new_url(store_kind, tmp_path, request):
    """A function giving the URL of a fresh empty database of the test's kind."""
    counter = iter(range(100))

    def make() -> str:
        if store_kind == "postgresql":
            return request.getfixturevalue("postgres_server").new_database()
        return f"sqlite:///{tmp_path / f'audit{next(counter)}.db'}"

    return make


@pytest.fixture
def engines():
    made: list[sa.Engine] = []

    def make(url: str) -> sa.Engine:
        made.append(sa.create_engine(url, poolclass=sa.pool.NullPool))
        return made[-1]

    yield make
    for e in made:
        e.dispose()


def _head() -> str:
    from alembic.script import ScriptDirectory

    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, heads  # one line of history
    return heads[0]


def _schema(engine) -> dict:
    """Tables (but the version table) with their columns, keys and indexes, as reflected."""
    insp = sa.inspect(engine)
    out = {}
    for t in sorted(set(insp.get_table_names()) - {VERSION_TABLE}):
        cols = [(c["name"], str(c["type"]), c["nullable"], str(c.get("default")),
                 c.get("autoincrement")) for c in insp.get_columns(t)]  # fmt: skip
        pk = insp.get_pk_constraint(t)
        fks = sorted(
            (tuple(f["constrained_columns"]), f["referred_table"], tuple(f["referred_columns"]))
            for f in insp.get_foreign_keys(t)
        )
        idx = sorted(
            (i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(t)
        )
        out[t] = {"columns": cols, "pk": (pk.get("name"), pk["constrained_columns"]),
                  "fks": fks, "indexes": idx}  # fmt: skip
    return out


def _autogenerate_diff(engine) -> list:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    def ours(name, type_, parent_names) -> bool:
        return type_ != "table" or name in metadata.tables

    with engine.connect() as conn:
        ctx = MigrationContext.configure(
            conn, opts={"include_name": ours, "compare_type": True, "compare_server_default": True}
        )
        return compare_metadata(ctx, metadata)


def _version_rows(engine) -> list[str]:
    with engine.connect() as conn:
        return list(conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def _decision(when: dt.datetime) -> dict:
    return {
        "decision_id": str(uuid.uuid4()), "decided_at": when, "as_of": when,
        "debtor_hash": "h" * 64, "action": "phone_call", "scheduled_at": None,
        "propensity": 0.5, "expected_value": 1.0, "requires_review": False,
        "model_versions": {"default_risk": "1"}, "input": {"debtor": {"segment": "B2C"}},
        "output": {"removed": []}, "request_id": "r", "api_key": "test",
    }  # fmt: skip


def _counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: conn.execute(sa.text(f"SELECT COUNT(*) FROM {t}")).scalar_one()
            for t in ("decisions", "outcomes", "score_calls", "audit_chain")
        }


def test_a_fresh_store_is_at_the_head_with_the_schema_of_the_metadata(new_url, engines):
    url = new_url()
    store = AuditStore(url, KEY)
    try:
        assert store.schema.before is None and not store.schema.adopted
        assert store.schema.after == _head() == BASELINE_REVISION
    finally:
        store.close()
    migrated = engines(url)
    assert _version_rows(migrated) == [BASELINE_REVISION]

    # what the metadata declares: table names, column names, nullability
    insp = sa.inspect(migrated)
    assert set(insp.get_table_names()) == set(metadata.tables) | {VERSION_TABLE}
    for name, table in metadata.tables.items():
        reflected = [(c["name"], c["nullable"]) for c in insp.get_columns(name)]
        assert reflected == [(c.name, c.nullable) for c in table.columns], name

    # and exactly what create_all (the releases before migrations) made: types, keys, indexes
    legacy = engines(new_url())
    metadata.create_all(legacy)
    assert _schema(migrated) == _schema(legacy)

    # and what Alembic's autogenerate compares (``alembic check``): a change of the metadata
    # without a revision fails here
    assert _autogenerate_diff(migrated) == []

    # opening again changes nothing
    again = AuditStore(url, KEY)
    assert again.schema == (BASELINE_REVISION, BASELINE_REVISION, False)
    again.close()


def _old_release_store(url: str, monkeypatch, tables=None) -> None:
    """A store as the releases before migrations left it: ``create_all`` (of ``tables``, all
    by default), records written through the store, no version table."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    metadata.create_all(engine, tables=tables)
    engine.dispose()
    with monkeypatch.context() as m:
        m.setattr(audit, "upgrade_schema", lambda engine: None)
        old = AuditStore(url, KEY)
        try:
            decisions = [_decision(audit.now_utc()) for _ in range(3)]
            old.record_decisions(decisions)
            old.add_outcome(
                decisions[0]["decision_id"],
                {"outcome": "reached", "dispute": False, "complaint": False},
            )
            old.record_score_calls([{
                "call_id": str(uuid.uuid4()), "called_at": audit.now_utc(), "request_id": "r",
                "api_key": "k", "n_cases": 1, "model_versions": {}, "items": [],
            }])  # fmt: skip
        finally:
            old.close()


def test_a_store_of_the_previous_release_is_stamped_and_upgraded(new_url, engines, monkeypatch):
    url = new_url()
    _old_release_store(url, monkeypatch)
    engine = engines(url)
    assert VERSION_TABLE not in sa.inspect(engine).get_table_names()
    before = _counts(engine)
    assert before == {"decisions": 3, "outcomes": 1, "score_calls": 1, "audit_chain": 5}
    schema = _schema(engine)

    store = AuditStore(url, KEY)  # today's code
    try:
        assert store.schema == (None, BASELINE_REVISION, True)
        assert _version_rows(engine) == [BASELINE_REVISION]
        assert _counts(engine) == before and _schema(engine) == schema
        res = verify_chain(store.engine)
        assert res["ok"] and res["links"] == 5 and res["before_chain"] == {}
        # and it keeps working: one more decision, linked after the old ones
        store.record_decisions([_decision(audit.now_utc())])
        assert verify_chain(store.engine)["links"] == 6
    finally:
        store.close()


def test_a_store_older_than_some_tables_gets_them_from_the_baseline(new_url, engines, monkeypatch):
    url = new_url()
    # before the review loop, the drift monitor and the chain
    first = [metadata.tables[t] for t in ("decisions", "outcomes", "score_calls", "audit_meta")]
    engine = engines(url)
    metadata.create_all(engine, tables=first)
    old = _decision(dt.datetime(2025, 1, 2, 9, 0))
    with engine.begin() as conn:
        conn.execute(sa.insert(audit.decisions), [{**old, "hash_key_id": "x" * 16}])

    store = AuditStore(url, KEY)
    try:
        assert store.schema == (None, BASELINE_REVISION, True)
    finally:
        store.close()
    reference = engines(new_url())
    metadata.create_all(reference)
    assert _schema(engine) == _schema(reference)
    res = verify_chain(engine)
    assert res["ok"] and res["before_chain"] == {"decision": 1}


def _later_revision(folder: Path) -> Path:
    folder.mkdir()
    (folder / f"add_a_note_{LATER}.py").write_text(
        f'''"""add a note column to audit_meta (a test revision)"""

import sqlalchemy as sa
from alembic import op

revision = "{LATER}"
down_revision = "{BASELINE_REVISION}"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("audit_meta") as batch:
        batch.add_column(sa.Column("note", sa.String(64), nullable=True))


def downgrade():
    with op.batch_alter_table("audit_meta") as batch:
        batch.drop_column("note")
'''
    )
    return folder


def _config_with(folder: Path):
    import os

    cfg = alembic_config()
    shipped = Path(audit.__file__).with_name("audit_migrations") / "versions"
    cfg.set_main_option("version_locations", f"{shipped}{os.pathsep}{folder}")
    return cfg


def test_a_later_revision_runs_and_older_code_refuses_the_store(
    new_url, engines, tmp_path, monkeypatch
):
    url = new_url()
    AuditStore(url, KEY).close()  # at the baseline
    cfg = _config_with(_later_revision(tmp_path / "later"))
    engine = engines(url)
    assert upgrade_schema(engine, cfg) == (BASELINE_REVISION, LATER, False)
    assert "note" in {c["name"] for c in sa.inspect(engine).get_columns("audit_meta")}
    assert _version_rows(engine) == [LATER]
    assert upgrade_schema(engine, cfg) == (LATER, LATER, False)  # current: nothing to do

    # this release does not know LATER: a clear refusal, no stack trace of Alembic
    with pytest.raises(AuditConfigError) as err:
        AuditStore(url, KEY)
    msg = str(err.value)
    assert repr(LATER) in msg and "Upgrade scoring" in msg and "newer release" in msg

    # with the test revision known, a store of the previous release goes all the way
    url2 = new_url()
    _old_release_store(url2, monkeypatch)
    engine2 = engines(url2)
    assert upgrade_schema(engine2, cfg) == (None, LATER, True)
    assert verify_chain(engine2)["ok"]


def test_the_baseline_downgrades_and_upgrades_on_an_empty_database(new_url, engines):
    from alembic import command

    url = new_url()
    engine = engines(url)
    upgrade_schema(engine)
    schema = _schema(engine)
    cfg = alembic_config()
    with engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
        conn.commit()
    assert set(sa.inspect(engine).get_table_names()) <= {VERSION_TABLE}
    with engine.connect() as conn:
        assert schema_revision(conn) is None
    assert upgrade_schema(engine) == (None, BASELINE_REVISION, False)
    assert _schema(engine) == schema


def test_an_unknown_revision_is_refused_with_a_clear_message(new_url, engines, monkeypatch):
    url = new_url()
    AuditStore(url, KEY).close()
    engine = engines(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = 'ffff00001111'"))
    with pytest.raises(AuditConfigError, match=r"revision 'ffff00001111'.*Upgrade scoring"):
        AuditStore(url, KEY)
    with pytest.raises(AuditConfigError, match="ffff00001111"):
        upgrade_schema(engine)
    assert _version_rows(engine) == ["ffff00001111"]  # untouched


def test_replicas_opening_a_fresh_database_together_migrate_it_once(
    new_url, engines, monkeypatch, caplog
):
    url = new_url()
    n = 3
    # every opener gets past the unlocked check before any takes the lock: all of them race
    gate = threading.Barrier(n)
    lock = audit._lock_schema

    def gated(conn) -> None:
        gate.wait(30)
        lock(conn)

    monkeypatch.setattr(audit, "_lock_schema", gated)
    # the database's lock alone must do (replicas are separate processes)
    monkeypatch.setattr(audit, "_ALEMBIC_LOCK", contextlib.nullcontext())
    results: list = []
    errors: list = []

    def open_store() -> None:
        try:
            store = AuditStore(url, KEY)
            results.append(store.schema)
            store.close()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    caplog.set_level(logging.INFO, logger="alembic.runtime.migration")
    threads = [threading.Thread(target=open_store) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert len(results) == n
    assert sorted(r.before or "" for r in results) == ["", BASELINE_REVISION, BASELINE_REVISION]
    assert all(r.after == BASELINE_REVISION for r in results)
    ran = [r for r in caplog.records if r.getMessage().startswith("Running upgrade")]
    assert len(ran) == 1, [r.getMessage() for r in ran]
    engine = engines(url)
    assert _version_rows(engine) == [BASELINE_REVISION]
    with engine.connect() as conn:
        keys = conn.execute(sa.text("SELECT COUNT(*) FROM audit_meta")).scalar_one()
    assert keys == 3  # chain head, its start, the key id: each written once


def test_migrate_command(new_url, engines, tmp_path, monkeypatch):
    from scoring.cli import app
    from scoring.settings import get_settings

    url = new_url()
    monkeypatch.setenv("SCORING_HOME", str(tmp_path / "home"))
    if url.startswith("sqlite"):
        url = f"sqlite:///{(tmp_path / 'home' / 'audit.db').resolve()}"  # the default store
        monkeypatch.delenv("SCORING_AUDIT_URL", raising=False)
    else:
        monkeypatch.setenv("SCORING_AUDIT_URL", url)
    monkeypatch.delenv("SCORING_AUDIT_KEY", raising=False)  # not needed to migrate
    get_settings.cache_clear()
    try:
        sql = CliRunner().invoke(app, ["audit", "migrate", "--sql"])
        assert sql.exit_code == 0, sql.output
        assert "CREATE TABLE decisions" in sql.output and VERSION_TABLE in sql.output
        engine = engines(url)
        assert sa.inspect(engine).get_table_names() == []  # --sql only prints

        first = CliRunner().invoke(app, ["audit", "migrate"])
        assert first.exit_code == 0, first.output
        assert "before: none (empty database)" in first.output
        assert f"after:  {BASELINE_REVISION}" in first.output
        assert _version_rows(engine) == [BASELINE_REVISION]
        again = CliRunner().invoke(app, ["audit", "migrate"])
        assert again.exit_code == 0 and "already current" in again.output

        with engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = 'ffff00001111'"))
        bad = CliRunner().invoke(app, ["audit", "migrate"])
        assert bad.exit_code == 1 and "ffff00001111" in bad.output
    finally:
        get_settings.cache_clear()
