"""A throwaway PostgreSQL cluster for the tests (Debian's ``postgresql`` package).

:func:`postgres_server` starts one per test session on a free loopback port (``initdb`` into a
temporary folder, run as the ``postgres`` user when the tests run as root, ``fsync`` off) and
removes it afterwards; :meth:`PgServer.new_database` gives each test its own empty database.
``SCORING_TEST_PG_URL`` (a server URL, e.g. ``postgresql+psycopg://u:p@host:5432/postgres``)
uses an existing server instead. Without PostgreSQL the tests that need it are skipped, unless
``SCORING_REQUIRE_POSTGRES=1`` (set by ``.ci/run``), which turns that into a failure."""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest


def _bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


class PgServer:
    def __init__(self, url: str) -> None:
        self.url = url  # of the maintenance database

    def new_database(self) -> str:
        """A fresh empty database; its SQLAlchemy URL."""
        import sqlalchemy as sa

        name = "t_" + uuid.uuid4().hex[:12]
        engine = sa.create_engine(self.url, isolation_level="AUTOCOMMIT")
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        finally:
            engine.dispose()
        return self.url.rsplit("/", 1)[0] + "/" + name


def _missing(why: str):
    if os.environ.get("SCORING_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"PostgreSQL is required here: {why}")
    pytest.skip(f"no PostgreSQL: {why}")


@contextlib.contextmanager
def postgres_cluster(durable: bool = False):
    """A throwaway cluster on a free port (``durable``: with fsync and synchronous commits,
    as in production, for benchmarks; tests run without them)."""
    url = os.environ.get("SCORING_TEST_PG_URL")
    if url:
        yield PgServer(url)
        return
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        _missing("initdb/pg_ctl not found (apt-get install postgresql)")
    pytest.importorskip("psycopg")
    base = Path(tempfile.mkdtemp(prefix="scoring-pg-"))
    data = base / "data"
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(base, "postgres", "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        subprocess.run(
            [*as_user, initdb, "-D", str(data), "-U", "scoring", "--auth=trust", "-E", "UTF8",
             "--no-locale"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        subprocess.run(
            [*as_user, pg_ctl, "-D", str(data), "-w", "-l", str(base / "log"), "-o",
             f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c max_connections=200"
             + ("" if durable else
                " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"),
             "start"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
    except (subprocess.CalledProcessError, OSError) as exc:
        log = (base / "log").read_text() if (base / "log").exists() else ""
        shutil.rmtree(base, ignore_errors=True)
        detail = getattr(exc, "stderr", "") or str(exc)
        _missing(f"could not start a cluster: {detail} {log[-500:]}")
    try:
        yield PgServer(f"postgresql+psycopg://scoring@127.0.0.1:{port}/postgres")
    finally:
        subprocess.run([*as_user, pg_ctl, "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)
