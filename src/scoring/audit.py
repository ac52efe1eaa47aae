"""The audit trail: every decision, every scoring call (summarised) and every reported outcome.

Decisions and outcomes are written with SQLAlchemy before the response leaves; summaries of
``/score`` calls (no decision is taken) are queued and written by a background thread within
moments, in batches, so that scoring does not wait for a disk flush (they are flushed when the
service stops). The default store is SQLite in WAL mode with ``synchronous=FULL`` at
``<home>/audit.db``; ``SCORING_AUDIT_URL`` takes any SQLAlchemy
URL (PostgreSQL for several replicas).

Debtor ids are stored only as keyed hashes, HMAC-SHA256 with the key ``SCORING_AUDIT_KEY`` or,
by default, a random key generated once into ``<home>/audit.key`` (mode 0600). A non-SQLite
store requires ``SCORING_AUDIT_KEY`` so that every replica hashes alike. The store remembers
the key's fingerprint and refuses to open with another key (hashes would silently stop
matching). Stored inputs and outputs carry the hash in place of ``debtor_id``; cases hold no
other personal data by contract.

The trail is append-only and tamper-evident: every record (decision, outcome, ``/score``
summary) gets a link in the ``audit_chain`` table, written in the same transaction, that holds
the SHA-256 of the record's canonical content and of the previous link (one chain per store,
appends serialised by a lock on the chain head, so several replicas on one PostgreSQL share
it). :func:`verify_chain` (``scoring audit verify``) recomputes every link and names the first
broken one: a record changed or deleted, a link removed, a record written around the chain.

The schema is managed by Alembic migrations (:mod:`scoring.audit_migrations`, version table
``audit_alembic_version``): :func:`upgrade_schema` brings a store to the latest revision when it
opens (or ``scoring audit migrate``), under a lock so that replicas starting together migrate
once; a store written before migrations existed is stamped at the baseline first, and one
migrated by a newer release is refused (:class:`AuditConfigError`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import logging
import os
import queue
import secrets
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.engine import Engine

if TYPE_CHECKING:
    import pandas as pd
    from alembic.config import Config

log = logging.getLogger("scoring.audit")

metadata = sa.MetaData()

decisions = sa.Table(
    "decisions",
    metadata,
    sa.Column("decision_id", sa.String(36), primary_key=True),
    sa.Column("decided_at", sa.DateTime, nullable=False, index=True),
    sa.Column("as_of", sa.DateTime, nullable=False),
    sa.Column("debtor_hash", sa.String(64), nullable=False, index=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("scheduled_at", sa.DateTime),
    sa.Column("propensity", sa.Float, nullable=False),
    sa.Column("expected_value", sa.Float),
    sa.Column("requires_review", sa.Boolean, nullable=False),
    sa.Column("model_versions", sa.JSON, nullable=False),
    sa.Column("input", sa.JSON, nullable=False),
    sa.Column("output", sa.JSON, nullable=False),
    sa.Column("request_id", sa.String(64)),
    sa.Column("api_key", sa.String(128)),
    sa.Column("hash_key_id", sa.String(16), nullable=False),
)

outcomes = sa.Table(
    "outcomes",
    metadata,
    sa.Column("outcome_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "decision_id",
        sa.String(36),
        sa.ForeignKey("decisions.decision_id"),
        nullable=False,
        index=True,
    ),
    sa.Column("recorded_at", sa.DateTime, nullable=False),
    sa.Column("executed_at", sa.DateTime),
    sa.Column("outcome", sa.String(32)),
    sa.Column("paid_amount", sa.Float),
    sa.Column("paid_at", sa.Date),
    sa.Column("dispute", sa.Boolean, nullable=False),
    sa.Column("complaint", sa.Boolean, nullable=False),
    sa.Column("api_key", sa.String(128)),
)

score_calls = sa.Table(
    "score_calls",
    metadata,
    sa.Column("call_id", sa.String(36), primary_key=True),
    sa.Column("called_at", sa.DateTime, nullable=False, index=True),
    sa.Column("request_id", sa.String(64)),
    sa.Column("api_key", sa.String(128)),
    sa.Column("n_cases", sa.Integer, nullable=False),
    sa.Column("model_versions", sa.JSON, nullable=False),
    sa.Column("items", sa.JSON, nullable=False),
)

reviews = sa.Table(
    "reviews",
    metadata,
    sa.Column("review_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "decision_id",
        sa.String(36),
        sa.ForeignKey("decisions.decision_id"),
        nullable=False,
        index=True,
    ),
    # approve | reject | replace (a reviewer) or contest (the debtor, through the software)
    sa.Column("event", sa.String(16), nullable=False),
    sa.Column("recorded_at", sa.DateTime, nullable=False, index=True),
    sa.Column("actor", sa.String(128)),  # the API key's name (never the key)
    sa.Column("status_before", sa.String(16), nullable=False),
    sa.Column("status_after", sa.String(16), nullable=False),
    sa.Column("reason", sa.String(32)),
    sa.Column("comment", sa.Text),
    sa.Column("replacement", sa.JSON),
    sa.Column("debtor_hash", sa.String(64), nullable=False, index=True),
)

#: the drift monitor's samples: bin indices of scored cases (no feature value), not chained
drift_samples = sa.Table(
    "drift_samples",
    metadata,
    sa.Column("sample_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("recorded_at", sa.DateTime, nullable=False, index=True),
    sa.Column("model", sa.String(32), nullable=False),
    sa.Column("profile_id", sa.String(16), nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
    sa.Column("bins", sa.JSON, nullable=False),
)

meta = sa.Table(
    "audit_meta",
    metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.String(256), nullable=False),
)


chain = sa.Table(
    "audit_chain",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("ref", sa.String(64), nullable=False),
    sa.Column("record_hash", sa.String(64), nullable=False),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("link_hash", sa.String(64), nullable=False),
    sa.Column("linked_at", sa.DateTime, nullable=False),
)
GENESIS = "0" * 64
#: kind of record -> (table, key column)
CHAINED = {
    "decision": ("decisions", "decision_id"),
    "outcome": ("outcomes", "outcome_id"),
    "score_call": ("score_calls", "call_id"),
    "review": ("reviews", "review_id"),
}
#: kind of record -> its time column
CHAIN_TIMES = {
    "decision": "decided_at",
    "outcome": "recorded_at",
    "score_call": "called_at",
    "review": "recorded_at",
}


def _canonical_value(col: sa.Column, v: Any) -> Any:
    if v is None:
        return None
    if isinstance(col.type, sa.DateTime):
        naive = utc_naive(v) if isinstance(v, dt.datetime) else None
        return naive.isoformat() if naive is not None else str(v)
    if isinstance(col.type, sa.Date):
        return v.isoformat() if isinstance(v, dt.date) else str(v)
    if isinstance(col.type, sa.Boolean):
        return bool(v)
    if isinstance(col.type, sa.Float):
        return repr(float(v))
    if isinstance(col.type, sa.Integer):
        return int(v)
    if isinstance(col.type, sa.JSON):
        return json.dumps(v, sort_keys=True, separators=(",", ":"), default=str)
    return str(v)


def record_hash(table: sa.Table, row: dict[str, Any]) -> str:
    """SHA-256 of a record's canonical content (every column, as stored)."""
    content = [[c.name, _canonical_value(c, row.get(c.name))] for c in table.columns]
    text = json.dumps(content, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def link_hash(seq: int, kind: str, ref: str, rec_hash: str, prev: str) -> str:
    return hashlib.sha256(f"{seq}|{kind}|{ref}|{rec_hash}|{prev}".encode()).hexdigest()


class AuditConfigError(RuntimeError):
    """The audit trail cannot be opened safely."""


# --------------------------------------------------------------------------------------
# Schema migrations (Alembic)

#: Alembic's version table of the audit schema: not ``alembic_version``, which MLflow uses
#: when its tracking store shares the database
VERSION_TABLE = "audit_alembic_version"
#: the first revision: the schema written by ``metadata.create_all`` before migrations
BASELINE_REVISION = "116dcf0dcce5"
#: the tables of the baseline (a store holding any of them but no version table predates
#: migrations)
BASELINE_TABLES = (
    "decisions", "outcomes", "score_calls", "reviews", "drift_samples", "audit_meta",
    "audit_chain",
)  # fmt: skip
#: key of the PostgreSQL advisory lock held while migrating (a constant, same everywhere)
MIGRATION_LOCK_KEY = int.from_bytes(
    hashlib.sha256(b"scoring.audit schema migration").digest()[:8], "big", signed=True
)

#: Alembic's ``context`` and ``op`` are module-level proxies: one migration at a time in a
#: process (taken after the database's lock, see :func:`upgrade_schema`)
_ALEMBIC_LOCK = threading.Lock()


class SchemaUpgrade(NamedTuple):
    """What :func:`upgrade_schema` did: revisions before (None: no version table) and after,
    and whether tables of a release before migrations were adopted (stamped)."""

    before: str | None
    after: str | None
    adopted: bool = False


def alembic_config(url: str | None = None) -> Config:
    """The Alembic configuration of the audit schema, built in code (no ``alembic.ini``);
    ``url`` only serves offline SQL (``--sql``)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("audit_migrations")))
    cfg.set_main_option("path_separator", "os")
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def schema_revision(conn) -> str | None:
    """The revision a database is at (None: no version table or no row)."""
    if not sa.inspect(conn).has_table(VERSION_TABLE):
        return None
    found = conn.execute(sa.text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    return ",".join(sorted(found)) if found else None


def _check_known(script, current: str | None, where: str) -> None:
    from alembic.util import CommandError

    for rev in (current or "").split(","):
        if not rev:
            continue
        try:
            known = script.get_revision(rev)
        except CommandError:  # ResolutionError and friends
            known = None
        if known is None:
            raise AuditConfigError(
                f"the audit trail at {where} is at schema revision {rev!r}, which this version "
                "of scoring does not know: a newer release migrated it. Upgrade scoring to "
                "that release (or newer); do not open the store with this one"
            )


def _lock_schema(conn) -> None:
    """Serialise migrations of one database until ``conn`` commits (replicas and workers
    starting together): an advisory transaction lock on PostgreSQL, the write lock on SQLite
    (``BEGIN IMMEDIATE``, which waits up to the busy timeout)."""
    name = conn.dialect.name
    if name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": MIGRATION_LOCK_KEY})
    elif name == "sqlite":
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def upgrade_schema(engine: Engine, config: Config | None = None) -> SchemaUpgrade:
    """Bring the audit schema of ``engine`` to the latest revision.

    An empty database is migrated from scratch; one whose audit tables were created before
    migrations (no version table) is stamped at :data:`BASELINE_REVISION` (tables missing
    from an older store are created first) and then upgraded; a versioned one is upgraded
    (nothing to do when current). Everything happens in one transaction under a lock (see
    :func:`_lock_schema`), rechecked once the lock is held, so that concurrent openers
    migrate once. A revision this code does not know raises :class:`AuditConfigError`.
    ``config`` replaces :func:`alembic_config` (tests add revisions).
    """
    from alembic import command
    from alembic.script import ScriptDirectory

    cfg = config or alembic_config()
    script = ScriptDirectory.from_config(cfg)
    head = script.get_current_head()
    where = engine.url.render_as_string(hide_password=True)
    with engine.connect() as conn:
        current = schema_revision(conn)
    _check_known(script, current, where)
    if current == head:
        return SchemaUpgrade(current, current)
    with engine.connect() as conn, contextlib.ExitStack() as locks:
        _lock_schema(conn)
        locks.enter_context(_ALEMBIC_LOCK)
        current = schema_revision(conn)
        _check_known(script, current, where)
        adopted = False
        cfg.attributes["connection"] = conn
        try:
            if current is None:
                present = set(sa.inspect(conn).get_table_names()) & set(BASELINE_TABLES)
                if present:
                    adopted = True
                    cfg.attributes["audit_existing_tables"] = present
                    if len(present) == len(BASELINE_TABLES):
                        command.stamp(cfg, BASELINE_REVISION)
                    else:  # an older store: the baseline creates only the missing tables
                        command.upgrade(cfg, BASELINE_REVISION)
            command.upgrade(cfg, "heads")
            after = schema_revision(conn)
            conn.commit()
        finally:
            cfg.attributes.pop("connection", None)
            cfg.attributes.pop("audit_existing_tables", None)
    if after != current:
        log.info(
            "audit schema of %s: %s -> %s%s", where, current or "(none)", after,
            " (tables of a release before migrations, stamped)" if adopted else "",
        )  # fmt: skip
    return SchemaUpgrade(current, after, adopted)


def upgrade_schema_sql(engine: Engine, url: str) -> None:
    """Print (stdout) the SQL that :func:`upgrade_schema` would run on ``engine``, without
    running it (offline mode, for a DBA); ``url`` is the URL of ``engine`` (with password)."""
    from alembic.script import ScriptDirectory

    cfg = alembic_config(url)
    script = ScriptDirectory.from_config(cfg)
    with engine.connect() as conn:
        current = schema_revision(conn)
        present = set(sa.inspect(conn).get_table_names()) & set(BASELINE_TABLES)
    _check_known(script, current, engine.url.render_as_string(hide_password=True))
    with _ALEMBIC_LOCK:
        _print_upgrade_sql(cfg, script, current, present)


def _print_upgrade_sql(cfg: Config, script, current: str | None, present: set[str]) -> None:
    from alembic import command

    if current is None and present:
        if len(present) < len(BASELINE_TABLES):
            cfg.attributes["audit_existing_tables"] = present
            command.upgrade(cfg, BASELINE_REVISION, sql=True)
        else:
            command.stamp(cfg, BASELINE_REVISION, sql=True)
        current = BASELINE_REVISION
    if current != script.get_current_head():
        command.upgrade(cfg, f"{current}:heads" if current else "heads", sql=True)


def utc_naive(t: dt.datetime | None) -> dt.datetime | None:
    """UTC wall time without tzinfo (how every timestamp is stored)."""
    if t is None:
        return None
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC).replace(tzinfo=None)
    return t


def utc_aware(t: dt.datetime | None) -> dt.datetime | None:
    if t is None:
        return None
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def now_utc() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _default_key(path: Path) -> bytes:
    """Read ``path``, or create it (0600, 32 random bytes as hex) if absent."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".audit.key.", dir=path.parent)
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(secrets.token_hex(32) + "\n")
            with contextlib.suppress(FileExistsError):  # another worker won the race
                os.link(tmp, path)  # atomic
        finally:
            Path(tmp).unlink(missing_ok=True)
    key = path.read_text(encoding="ascii").strip()
    if len(key) < 32:
        raise AuditConfigError(f"{path}: the audit key is too short (32+ characters expected)")
    return key.encode("ascii")


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=FULL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.close()


def make_engine(url: str) -> Engine:
    """The engine of an audit store (SQLite: WAL, ``synchronous=FULL``, a busy timeout)."""
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=8
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=8, max_overflow=8)


class _BackgroundWriter:
    """A daemon thread that writes queued rows in batches with ``write(rows)``.

    An item is a list of rows or a function returning one (work the request thread hands
    off, e.g. the drift bins of a scored batch). After the first item the writer lingers up
    to ``linger`` seconds gathering more (at most ``max_items``), so that a steady stream of
    requests costs one transaction per linger period instead of one per request.
    """

    def __init__(self, write, linger: float = 0.2, max_items: int = 1000) -> None:
        self._write = write
        self._linger = linger
        self._max_items = max_items
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
        self._thread.start()

    def put(self, rows) -> None:
        self._queue.put(rows)

    def _gather(self, first) -> list:
        batch = [first]
        if first is not None and self._linger > 0:
            # sleep rather than wait on the queue: a put then wakes nobody (the request
            # thread never hands the interpreter lock over to this thread per item)
            time.sleep(self._linger)
        while batch[-1] is not None and len(batch) < self._max_items:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _run(self) -> None:
        while True:
            batch = self._gather(self._queue.get())
            try:
                rows = [r for b in batch if b is not None for r in (b() if callable(b) else b)]
                if rows:
                    self._write(rows)
            except Exception:
                log.exception("writing %d queued audit items failed", len(batch))
            finally:
                for _ in batch:
                    self._queue.task_done()
            if any(b is None for b in batch):
                return

    def flush(self, timeout: float) -> None:
        done = threading.Event()

        def wait() -> None:
            self._queue.join()
            done.set()

        threading.Thread(target=wait, daemon=True).start()
        done.wait(timeout)

    def stop(self) -> None:
        self._queue.put(None)
        self._thread.join(30)


class AuditStore:
    """Durable record of decisions, scoring calls and outcomes."""

    def __init__(self, url: str, key: bytes) -> None:
        self.url = url
        self._key = key
        self.key_id = hashlib.sha256(b"scoring-audit-key|" + key).hexdigest()[:16]
        self.engine: Engine = self._engine(url)
        try:
            self.schema = upgrade_schema(self.engine)
            self._check_key()
        except Exception:
            self.engine.dispose()
            raise
        self._score_writer: _BackgroundWriter | None = None
        self._drift_writer: _BackgroundWriter | None = None
        self._writer_lock = threading.Lock()

    @staticmethod
    def _engine(url: str) -> Engine:
        return make_engine(url)

    @staticmethod
    def url_of(settings) -> str:
        """The URL of the store the settings name (``audit_url``, default SQLite in home)."""
        return settings.audit_url or f"sqlite:///{Path(settings.home).resolve() / 'audit.db'}"

    @classmethod
    def from_settings(cls, settings) -> AuditStore:
        """Open the store the settings name (see the module docstring)."""
        home = Path(settings.home).resolve()
        url = cls.url_of(settings)
        if settings.audit_key:
            key = settings.audit_key.encode("utf-8")
            if len(key) < 16:
                raise AuditConfigError("SCORING_AUDIT_KEY is too short (16+ characters)")
        elif url.startswith("sqlite"):
            key = _default_key(home / "audit.key")
        else:
            raise AuditConfigError(
                "SCORING_AUDIT_KEY is required with a non-SQLite SCORING_AUDIT_URL "
                "(every replica must hash debtor ids with the same key)"
            )
        return cls(url, key)

    def _check_key(self) -> None:
        self._init_chain()
        # another replica may record its key id at the same moment: then compare with it
        with contextlib.suppress(sa.exc.IntegrityError), self.engine.begin() as conn:
            have = conn.execute(sa.select(meta.c.key).where(meta.c.key == "hash_key_id")).first()
            if have is None:
                conn.execute(sa.insert(meta).values(key="hash_key_id", value=self.key_id))
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(meta.c.value).where(meta.c.key == "hash_key_id")).first()
            if row is not None and row[0] != self.key_id:
                raise AuditConfigError(
                    f"the audit trail at {self.engine.url!r} was started with another HMAC key "
                    f"(key id {row[0]}, now {self.key_id}): restore the original key "
                    "(SCORING_AUDIT_KEY or <home>/audit.key)"
                )

    def _init_chain(self) -> None:
        """The chain head (in ``audit_meta``), created once per store."""
        # another replica may create it at the same moment
        with contextlib.suppress(sa.exc.IntegrityError), self.engine.begin() as conn:
            have = conn.execute(sa.select(meta.c.key).where(meta.c.key == "chain_head")).first()
            if have is None:
                conn.execute(
                    sa.insert(meta),
                    [
                        {"key": "chain_head", "value": f"0|{GENESIS}"},
                        {"key": "chain_started_at", "value": now_utc().isoformat()},
                    ],
                )

    def lock_chain(self, conn) -> None:
        """Lock the chain head in the transaction ``conn`` (until its commit): writers that
        read state before appending (the review loop) take it first, so that two of them
        never act on the same state."""
        conn.execute(sa.update(meta).where(meta.c.key == "chain_head").values(value=meta.c.value))

    def link(self, conn, kind: str, items: list[tuple[str, str]]) -> None:
        """Public form of :meth:`_link` (modules that write their own chained records)."""
        self._link(conn, kind, items)

    def _link(self, conn, kind: str, items: list[tuple[str, str]]) -> None:
        """Append links for records ``(ref, record hash)`` of ``kind`` in the transaction
        ``conn`` (the UPDATE of the head first: it locks the head until the commit)."""
        if not items:
            return
        self.lock_chain(conn)
        head = conn.execute(sa.select(meta.c.value).where(meta.c.key == "chain_head")).scalar()
        seq_s, prev = str(head).split("|")
        seq = int(seq_s)
        now = utc_naive(now_utc())
        rows = []
        for ref, h in items:
            seq += 1
            link = link_hash(seq, kind, ref, h, prev)
            rows.append({"seq": seq, "kind": kind, "ref": ref, "record_hash": h,
                         "prev_hash": prev, "link_hash": link, "linked_at": now})  # fmt: skip
            prev = link
        conn.execute(sa.insert(chain), rows)
        conn.execute(
            sa.update(meta).where(meta.c.key == "chain_head").values(value=f"{seq}|{prev}")
        )

    def close(self) -> None:
        if self._score_writer is not None:
            self._score_writer.stop()
        if self._drift_writer is not None:
            self._drift_writer.stop()
        self.engine.dispose()

    # ------------------------------------------------------------------------------
    def hash_debtor(self, debtor_id: str) -> str:
        """Keyed hash of a debtor id (HMAC-SHA256, hex)."""
        return hmac.new(self._key, debtor_id.encode("utf-8"), hashlib.sha256).hexdigest()

    def hash_invoice(self, invoice_id: str) -> str:
        """Keyed hash of an invoice id (callers often embed customer numbers in them); a
        separate domain from debtor ids, so equal strings do not give equal hashes."""
        msg = b"invoice\x00" + invoice_id.encode("utf-8")
        return hmac.new(self._key, msg, hashlib.sha256).hexdigest()

    def record_decisions(self, rows: list[dict[str, Any]]) -> None:
        """Insert decisions in one transaction (committed when this returns)."""
        if not rows:
            return
        rows = [
            {
                **r,
                "decided_at": utc_naive(r["decided_at"]),
                "as_of": utc_naive(r["as_of"]),
                "scheduled_at": utc_naive(r.get("scheduled_at")),
                "hash_key_id": self.key_id,
            }
            for r in rows
        ]
        with self.engine.begin() as conn:
            conn.execute(sa.insert(decisions), rows)
            self._link(
                conn, "decision", [(r["decision_id"], record_hash(decisions, r)) for r in rows]
            )

    def queue_score_calls(self, rows: list[dict[str, Any]]) -> None:
        """Queue /score summaries for the background writer (see the module docstring)."""
        if rows:
            self._writer().put(rows)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every queued /score summary (and drift sample) is written."""
        for w in (self._score_writer, self._drift_writer):
            if w is not None:
                w.flush(timeout)

    def queue_drift(self, rows) -> None:
        """Queue drift samples (see :mod:`scoring.monitoring`) for a background writer: a
        list of rows, or a function that computes them there (off the request path)."""
        if not rows:
            return
        if self._drift_writer is None:
            with self._writer_lock:
                if self._drift_writer is None:
                    self._drift_writer = _BackgroundWriter(self._write_drift)
        self._drift_writer.put(rows)

    def _write_drift(self, rows: list[dict[str, Any]]) -> None:
        rows = [{**r, "recorded_at": utc_naive(r["recorded_at"])} for r in rows]
        with self.engine.begin() as conn:
            conn.execute(sa.insert(drift_samples), rows)

    def drift_samples(
        self, model: str, profile_id: str, since: dt.datetime
    ) -> list[tuple[dt.datetime, list]]:
        """(time, bins) of the drift samples of a model profile since ``since``."""
        q = (
            sa.select(drift_samples.c.recorded_at, drift_samples.c.bins)
            .where(drift_samples.c.model == model)
            .where(drift_samples.c.profile_id == profile_id)
            .where(drift_samples.c.recorded_at >= utc_naive(since))
        )
        with self.engine.connect() as conn:
            return [(utc_aware(t), b) for t, b in conn.execute(q)]  # type: ignore[misc]

    def _writer(self) -> _BackgroundWriter:
        if self._score_writer is None:
            with self._writer_lock:
                if self._score_writer is None:
                    self._score_writer = _BackgroundWriter(self.record_score_calls)
        return self._score_writer

    def record_score_calls(self, rows: list[dict[str, Any]]) -> None:
        """Insert the summaries of /score calls in one transaction (committed on return)."""
        if not rows:
            return
        rows = [{**r, "called_at": utc_naive(r["called_at"])} for r in rows]
        with self.engine.begin() as conn:
            conn.execute(sa.insert(score_calls), rows)
            self._link(
                conn, "score_call", [(r["call_id"], record_hash(score_calls, r)) for r in rows]
            )

    def decision_time(self, decision_id: str) -> dt.datetime | None:
        """``as_of`` of a decision, or None if it is unknown."""
        with self.engine.connect() as conn:
            v = conn.execute(
                sa.select(decisions.c.as_of).where(decisions.c.decision_id == decision_id)
            ).scalar()
        return utc_aware(v)

    def add_outcome(self, decision_id: str, report: dict[str, Any]) -> tuple[int, dt.datetime]:
        """Store an outcome report; returns its id and the time it was recorded."""
        recorded = now_utc()
        values = {
            **report,
            "decision_id": decision_id,
            "recorded_at": utc_naive(recorded),
            "executed_at": utc_naive(report.get("executed_at")),
        }
        with self.engine.begin() as conn:
            res = conn.execute(sa.insert(outcomes).values(**values))
            oid = int(res.inserted_primary_key[0])  # type: ignore[index]
            row = {**values, "outcome_id": oid}
            self._link(conn, "outcome", [(str(oid), record_hash(outcomes, row))])
            return oid, recorded

    def get_decision(self, decision_id: str) -> dict[str, Any] | None:
        """A decision with its outcomes, or None."""
        with self.engine.connect() as conn:
            row = (
                conn.execute(sa.select(decisions).where(decisions.c.decision_id == decision_id))
                .mappings()
                .first()
            )
            if row is None:
                return None
            outs = (
                conn.execute(
                    sa.select(outcomes)
                    .where(outcomes.c.decision_id == decision_id)
                    .order_by(outcomes.c.outcome_id)
                )
                .mappings()
                .all()
            )
        d = dict(row)
        for c in ("decided_at", "as_of", "scheduled_at"):
            d[c] = utc_aware(d[c])
        d["outcomes"] = [
            {
                **o,
                "recorded_at": utc_aware(o["recorded_at"]),
                "executed_at": utc_aware(o["executed_at"]),
            }
            for o in outs
        ]
        return d

    def iter_decisions(
        self, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> Iterable[dict[str, Any]]:
        """Decisions (id, times, action, propensity, debtor hash) with their last outcome."""
        q = last_outcome_query(
            [
                decisions.c.decision_id,
                decisions.c.debtor_hash,
                decisions.c.as_of,
                decisions.c.decided_at,
                decisions.c.action,
                decisions.c.scheduled_at,
                decisions.c.propensity,
                decisions.c.model_versions,
                decisions.c.output["arm"].as_string().label("arm"),
                outcomes.c.executed_at,
                outcomes.c.outcome,
                outcomes.c.paid_amount,
                outcomes.c.paid_at,
                outcomes.c.dispute,
                outcomes.c.complaint,
            ],
            since,
            until,
        )
        with self.engine.connect() as conn:
            for row in conn.execute(q).mappings():
                d = dict(row)
                for c in ("as_of", "decided_at", "scheduled_at", "executed_at"):
                    d[c] = utc_aware(d[c])
                yield d


def last_outcome_query(
    columns: list, since: dt.datetime | None = None, until: dt.datetime | None = None
):
    """SELECT ``columns`` of every decision joined with its last reported outcome (if any),
    in decision order, ``as_of`` in [since, until)."""
    last = (
        sa.select(outcomes.c.decision_id, sa.func.max(outcomes.c.outcome_id).label("oid"))
        .group_by(outcomes.c.decision_id)
        .subquery()
    )
    q = (
        sa.select(*columns)
        .select_from(
            decisions.outerjoin(last, last.c.decision_id == decisions.c.decision_id).outerjoin(
                outcomes, outcomes.c.outcome_id == last.c.oid
            )
        )
        .order_by(decisions.c.decided_at, decisions.c.decision_id)
    )
    if since is not None:
        q = q.where(decisions.c.as_of >= utc_naive(since))
    if until is not None:
        q = q.where(decisions.c.as_of < utc_naive(until))
    return q


# --------------------------------------------------------------------------------------
# The decisions export: closes the learning loop (audited decisions -> an actions table)

#: Columns of the exported actions table: the contract's, then optional extras.
EXPORT_COLUMNS = [
    "action_id", "debtor_id", "decided_at", "action", "scheduled_at", "propensity", "outcome",
    "paid_amount", "paid_at", "dispute_reported", "complaint_reported", "model_versions",
    "policy_version", "arm",
]  # fmt: skip


def debtor_ids_of(path: Path) -> list[str]:
    """``debtor_id`` column of a debtors table (file, or data-set folder holding one)."""
    import pandas as pd

    if path.is_dir():
        found = [p for p in (path / "debtors.parquet", path / "debtors.csv") if p.exists()]
        if not found:
            raise FileNotFoundError(f"{path}: no debtors.parquet or debtors.csv")
        path = found[0]
    if path.suffix.lower() == ".parquet":
        df = pd.read_parquet(path, columns=["debtor_id"])
    else:
        df = pd.read_csv(path, usecols=["debtor_id"], dtype={"debtor_id": str})
    return df["debtor_id"].dropna().astype(str).unique().tolist()


def export_decisions(
    output: str | Path,
    debtors: str | Path | None = None,
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    settings=None,
) -> tuple[pd.DataFrame, dict[str, int]]:
    """Audited decisions and their latest reported outcome as a CONTRACT §1 actions table.

    ``action_id`` is the decision id, ``decided_at`` the case's ``as_of`` (what the policy
    knew), ``scheduled_at`` the reported execution time when there is one, else the planned
    one, ``propensity`` the probability of the action under the policy that decided, whose
    version is ``policy_version`` and whose ``arm`` (champion, or challenger for the debtors
    of a champion/challenger split) is given, so that both arms can be compared on the same
    period. The audit trail holds only
    keyed hashes of debtor ids: given the caller's debtors table (``debtors``), each hash is
    matched back to its id by hashing the table's ids with the same key, and decisions of
    debtors not in it are left out; without it, ``debtor_id`` is the hash. Returns the table
    and counts (``decisions``, ``exported``, ``unmatched``).
    """
    import pandas as pd

    from scoring.contract import write_atomic

    if settings is None:
        from scoring.settings import get_settings

        settings = get_settings()
    audit = AuditStore.from_settings(settings)
    try:
        rows = list(audit.iter_decisions(since, until))
        mapping = None
        if debtors is not None:
            mapping = {audit.hash_debtor(i): i for i in debtor_ids_of(Path(debtors))}
    finally:
        audit.close()

    records: list[dict[str, Any]] = []
    unmatched = 0
    for r in rows:
        debtor = r["debtor_hash"]
        if mapping is not None:
            debtor = mapping.get(debtor)
            if debtor is None:
                unmatched += 1
                continue
        when = r["executed_at"] or r["scheduled_at"]
        records.append(
            {
                "action_id": r["decision_id"],
                "debtor_id": debtor,
                "decided_at": r["as_of"],
                "action": r["action"],
                "scheduled_at": None if r["action"] == "wait" else when,
                "propensity": r["propensity"],
                "outcome": r["outcome"],
                "paid_amount": r["paid_amount"],
                "paid_at": r["paid_at"].isoformat() if r["paid_at"] else None,
                "dispute_reported": r["dispute"],
                "complaint_reported": r["complaint"],
                "model_versions": ";".join(
                    f"{k}={v}" for k, v in sorted((r["model_versions"] or {}).items())
                ),
                "policy_version": (r["model_versions"] or {}).get("policy"),
                "arm": r["arm"] or "champion",
            }
        )
    df = pd.DataFrame.from_records(records, columns=EXPORT_COLUMNS)
    for c in ("decided_at", "scheduled_at"):
        df[c] = pd.to_datetime(df[c], utc=True)
    df["propensity"] = df["propensity"].astype("float64")
    df["paid_amount"] = df["paid_amount"].astype("float64")
    for c in ("dispute_reported", "complaint_reported"):
        df[c] = df[c].astype("boolean")
    for c in ("action_id", "debtor_id", "action", "outcome", "paid_at", "model_versions",
              "policy_version", "arm"):  # fmt: skip
        df[c] = df[c].astype("string")
    write_atomic(df, output)
    return df, {"decisions": len(rows), "exported": len(df), "unmatched": unmatched}


# --------------------------------------------------------------------------------------
# Verifying the chain


def verify_chain(engine: Engine) -> dict[str, Any]:
    """Recompute every link of the audit chain; the first broken one, if any.

    Returns ``{"ok", "links", "first_break", "not_linked", "before_chain"}``: ``first_break``
    names the link (sequence number, kind, record id) and the problem: a record changed (its
    hash differs) or deleted, a link changed or removed (a gap, a wrong previous hash), the
    head moved. ``not_linked`` counts records written after the chain started but without a
    link (written around the service); ``before_chain`` those older than the chain (stores
    created before it existed).
    """
    tables = {
        "decisions": decisions,
        "outcomes": outcomes,
        "score_calls": score_calls,
        "reviews": reviews,
    }
    first: dict[str, Any] | None = None
    n = 0
    linked: dict[str, set[str]] = {k: set() for k in CHAINED}
    with engine.connect() as conn:
        head = conn.execute(sa.select(meta.c.value).where(meta.c.key == "chain_head")).scalar()
        started = conn.execute(
            sa.select(meta.c.value).where(meta.c.key == "chain_started_at")
        ).scalar()
        records: dict[str, dict[str, dict]] = {}
        for kind, (tname, key) in CHAINED.items():
            t = tables[tname]
            records[kind] = {str(r[key]): dict(r) for r in conn.execute(sa.select(t)).mappings()}
        prev, expect = GENESIS, 1
        for link in conn.execute(sa.select(chain).order_by(chain.c.seq)).mappings():
            n += 1
            kind, ref = link["kind"], link["ref"]
            problem = None
            if link["seq"] != expect:
                problem = f"link {expect} is missing (next link is {link['seq']})"
            elif link["prev_hash"] != prev:
                problem = "its previous-link hash does not match the previous link"
            elif link["link_hash"] != link_hash(
                link["seq"], kind, ref, link["record_hash"], link["prev_hash"]
            ):
                problem = "the link itself was changed"
            elif kind not in records or ref not in records[kind]:
                problem = f"the {kind} {ref} it covers was deleted"
            else:
                table = tables[CHAINED[kind][0]]
                if record_hash(table, records[kind][ref]) != link["record_hash"]:
                    problem = f"the {kind} {ref} was changed after it was written"
            if kind in linked:
                linked[kind].add(ref)
            if problem and first is None:
                gap = link["seq"] != expect
                first = {
                    "seq": expect if gap else int(link["seq"]),
                    "kind": None if gap else kind,
                    "ref": None if gap else ref,
                    "problem": problem,
                }
            prev, expect = link["link_hash"], int(link["seq"]) + 1
        if first is None and head is not None and head != f"{expect - 1}|{prev}":
            first = {
                "seq": expect, "kind": None, "ref": None,
                "problem": f"the chain ends at link {expect - 1} but its head says {head.split('|')[0]}: links were removed",
            }  # fmt: skip
    start = dt.datetime.fromisoformat(started).replace(tzinfo=None) if started else None
    times = CHAIN_TIMES
    not_linked: dict[str, int] = {}
    before: dict[str, int] = {}
    for kind, recs in records.items():
        loose = [r for ref, r in recs.items() if ref not in linked[kind]]
        old = [r for r in loose if start is not None and r[times[kind]] < start]
        if len(loose) - len(old):
            not_linked[kind] = len(loose) - len(old)
        if old:
            before[kind] = len(old)
    return {
        "ok": first is None and not not_linked,
        "links": n,
        "first_break": first,
        "not_linked": not_linked,
        "before_chain": before,
    }
