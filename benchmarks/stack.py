"""The multi-replica deployment, started for real on this machine.

PostgreSQL (one database for MLflow's backend store, one for the audit trail), an
``mlflow server`` on it (artifacts served by the server from a local folder), ``scoring train``
into that shared registry, and two (or more) ``scoring serve`` replicas, each a separate process
with the same registry, audit trail, HMAC key and key file: the layout of ``deploy/``.

    python benchmarks/stack.py                       # `make stack`: replicas on 8001 and 8002
    python benchmarks/stack.py --data data/synthetic/sample --trials 2     # a quick one
    STACK_PG_URL=postgresql+psycopg://me@db:5432/postgres python benchmarks/stack.py

Without ``STACK_PG_URL`` (``--pg-url``) a throwaway PostgreSQL cluster is started in a temporary
folder with Debian's ``initdb`` (``tests/pg_support.py``, the cluster of the test suite) and
everything is removed on Ctrl-C. With it, the databases ``scoring_stack_mlflow`` and
``scoring_stack_audit`` are created on that server when missing and kept, with the artifacts,
the HMAC key and the logs under ``models/stack/``; training runs only when the registry has no
champion. Ctrl-C stops every process the script started.

The process management and the load clients are here so that the test
(``tests/integration/test_stack.py``) and the benchmark (``benchmarks/bench_stack.py``) run
exactly this stack.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
#: the instant of the cases sent by the load clients (inside the synthetic history)
AS_OF = "2026-03-02T09:00:00+01:00"


class StackError(RuntimeError):
    """A piece of the stack did not start or a command failed (with the end of its log)."""


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_free(port: int) -> bool:
    """Whether a server could listen on ``port`` (with SO_REUSEADDR, like uvicorn: connections
    left in TIME_WAIT by a killed server do not count)."""
    with contextlib.closing(socket.socket()) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any SCORING_*, MLFLOW_* or Prometheus setting (a
    test session or a user's shell must not leak into the stack), plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SCORING_", "MLFLOW_", "PROMETHEUS_"))
    }
    env.update(MLFLOW_DISABLE_TELEMETRY="true", PYTHONUNBUFFERED="1", **extra)
    return env


class Process:
    """A child process in its own session (stopping it stops its children), its output in a
    log file."""

    def __init__(self, name: str, cmd: list[str], env: dict[str, str], log: Path, cwd: Path):
        self.name, self.cmd, self.log = name, cmd, log
        with open(log, "ab") as fh:
            self.popen = subprocess.Popen(
                cmd,
                env=env,
                cwd=cwd,
                stdout=fh,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def tail(self, n: int = 30) -> str:
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError:
            return ""
        return "\n".join(lines[-n:])

    def kill9(self) -> None:
        """SIGKILL to the process (no shutdown of any kind), then reap it."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.popen.pid, signal.SIGKILL)
        self.popen.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):  # and anything it started
            os.killpg(self.popen.pid, signal.SIGKILL)

    def terminate(self) -> None:
        """SIGTERM to its process group (without waiting)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGTERM)

    def stop(self, timeout: float = 20) -> None:
        """SIGTERM to its process group, SIGKILL after ``timeout``."""
        if self.alive():
            self.terminate()
            try:
                self.popen.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)


def wait_http(url: str, proc: Process, timeout: float) -> dict:
    """Poll ``url`` until it answers 200 (its JSON body, or {}); :class:`StackError` with the
    end of the process's log if the process dies or time runs out."""
    import httpx

    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not proc.alive():
            raise StackError(
                f"{proc.name} exited ({proc.popen.returncode}) before {url} answered:\n"
                + proc.tail()
            )
        try:
            r = httpx.get(url, timeout=5)
            if r.status_code == 200:
                try:
                    return r.json()
                except ValueError:
                    return {}
            last = f"{r.status_code} {r.text[:200]}"
        except httpx.HTTPError as exc:
            last = repr(exc)
        time.sleep(0.2)
    raise StackError(f"{url} not 200 after {timeout:.0f} s (last: {last}):\n{proc.tail()}")


# --------------------------------------------------------------------------------------
# PostgreSQL


def database_url(server_url: str, name: str) -> str:
    """The URL of database ``name`` on the server of ``server_url`` (any database of it)."""
    import sqlalchemy as sa

    return sa.make_url(server_url).set(database=name).render_as_string(hide_password=False)


def create_database(server_url: str, name: str) -> str:
    """Database ``name`` on the server of ``server_url``, created when missing; its URL."""
    import sqlalchemy as sa

    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            exists = conn.execute(
                sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
            ).first()
            if exists is None:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    finally:
        engine.dispose()
    return database_url(server_url, name)


@contextlib.contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A temporary PostgreSQL cluster (the test suite's, ``tests/pg_support.py``); yields the
    URL of its maintenance database. :class:`StackError` when it cannot start."""
    import pytest

    sys.path.insert(0, str(ROOT / "tests"))
    from pg_support import postgres_cluster

    try:
        with postgres_cluster() as server:
            yield server.url
    except (pytest.skip.Exception, pytest.fail.Exception) as exc:
        raise StackError(f"{exc} (or name a server with STACK_PG_URL)") from None


def stored_decisions(audit_url: str, ids: Iterable[str]) -> set[str]:
    """The ``ids`` present in the audit trail's ``decisions`` table (read directly)."""
    import sqlalchemy as sa

    ids = list(ids)
    found: set[str] = set()
    engine = sa.create_engine(audit_url)
    query = sa.text("SELECT decision_id FROM decisions WHERE decision_id IN :ids").bindparams(
        sa.bindparam("ids", expanding=True)
    )
    try:
        with engine.connect() as conn:
            for i in range(0, len(ids), 1000):
                found.update(r[0] for r in conn.execute(query, {"ids": ids[i : i + 1000]}))
    finally:
        engine.dispose()
    return found


# --------------------------------------------------------------------------------------
# Keys and cases


@dataclass(frozen=True)
class Keys:
    """Plaintext keys of the stack's key file (shown to the user, used by the clients)."""

    file: Path
    scoring: str
    compliance: str
    admin: str


def write_keys(path: Path) -> Keys:
    """A fresh key file (hashes only, :func:`scoring.api.auth.add_key`) with one key per role
    the clients use."""
    from scoring.api.auth import add_key

    path.unlink(missing_ok=True)
    plain = {r: add_key(path, f"stack-{r}", [r]) for r in ("scoring", "compliance", "admin")}
    return Keys(path, **plain)


def case_payloads(data: Path, n: int = 60, as_of: str = AS_OF) -> list[dict]:
    """``n`` cases of the data set at ``as_of`` as request bodies (debtors with open invoices,
    B2B and B2C, with and without recent actions)."""
    import pandas as pd

    from scoring.cases import build_cases
    from scoring.contract import load_tables

    cases = build_cases(load_tables(data), pd.Timestamp(as_of)).to_cases()
    if not cases:
        raise StackError(f"no case in {data} at {as_of}")
    step = max(1, len(cases) // n)
    return [c.model_dump(mode="json") for c in cases[::step][:n]]


# --------------------------------------------------------------------------------------
# The stack


@dataclass
class Replica:
    name: str
    port: int
    process: Process

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def versions(self) -> dict[str, str] | None:
        """The model versions in use (``/ready``), None when not ready or not answering."""
        import httpx

        try:
            r = httpx.get(self.url + "/ready", timeout=5)
        except httpx.HTTPError:
            return None
        return r.json()["model_versions"] if r.status_code == 200 else None


_REGISTERED = re.compile(r"registered (\w+) version (\d+)")


class Stack:
    """The processes of one stack: an ``mlflow server``, replicas, and the CLI commands run
    against them. Everything it starts is stopped by :meth:`close` (or leaving ``with``)."""

    def __init__(
        self,
        workdir: Path,
        mlflow_backend: str,
        audit_url: str,
        audit_key: str,
        reload_seconds: float = 1.0,
        log: Callable[[str], None] = print,
    ) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.mlflow_backend, self.audit_url, self.audit_key = mlflow_backend, audit_url, audit_key
        self.reload_seconds = reload_seconds
        self.log = log
        self.keys = write_keys(self.workdir / "api_keys.yaml")
        self.mlflow: Process | None = None
        self.mlflow_url = ""
        self.replicas: dict[str, Replica] = {}
        self.timings: dict[str, float] = {}
        self.keys_seen: tuple[str, ...] = ()  # the models registered by train()

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop every process (SIGTERM to all at once, then wait for each)."""
        t0 = time.monotonic()
        procs = [r.process for r in self.replicas.values()]
        procs += [self.mlflow] if self.mlflow is not None else []
        for p in procs:
            p.terminate()
        for p in procs:
            p.stop()
        self._timed("stopped", t0)

    def _timed(self, what: str, t0: float) -> None:
        self.timings[what] = round(time.monotonic() - t0, 2)
        self.log(f"stack: {what} in {self.timings[what]:.1f} s")

    # -- the registry -------------------------------------------------------------------
    def start_mlflow(self, port: int | None = None, timeout: float = 180) -> str:
        """``mlflow server`` on the PostgreSQL backend store, artifacts served by the server
        from ``workdir/artifacts``; returns its URL once ``/health`` answers."""
        t0 = time.monotonic()
        port = port or free_port()
        cmd = [
            str(BIN / "mlflow"),
            "server",
            "--backend-store-uri",
            self.mlflow_backend,
            "--artifacts-destination",
            str(self.workdir / "artifacts"),
            "--serve-artifacts",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ]
        self.mlflow = Process(
            "mlflow server", cmd, clean_env(), self.workdir / "mlflow.log", self.workdir
        )
        self.mlflow_url = f"http://127.0.0.1:{port}"
        wait_http(self.mlflow_url + "/health", self.mlflow, timeout)
        self._timed("mlflow server up", t0)
        return self.mlflow_url

    def env(self, home: str, **extra: str) -> dict[str, str]:
        """The environment of a replica or of a command: the shared registry, audit trail,
        HMAC key and key file; its own home."""
        return clean_env(
            MLFLOW_TRACKING_URI=self.mlflow_url,
            SCORING_HOME=str(self.workdir / home),
            SCORING_AUDIT_URL=self.audit_url,
            SCORING_AUDIT_KEY=self.audit_key,
            SCORING_API_KEYS_FILE=str(self.keys.file),
            SCORING_RELOAD_SECONDS=str(self.reload_seconds),
            **extra,
        )

    def scoring(self, *args: str, timeout: float = 900) -> str:
        """Run ``scoring ARGS`` against the stack; its standard output. :class:`StackError`
        (with its output) on a non-zero exit."""
        cmd = [str(BIN / "scoring"), *args]
        res = subprocess.run(
            cmd,
            env=self.env("cli"),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if res.returncode != 0:
            raise StackError(
                f"`scoring {' '.join(args)}` exited {res.returncode}:\n"
                f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
            )
        return res.stdout

    def train(self, data: Path, trials: int, timeout: float | None = None) -> dict[str, int]:
        """``scoring train`` into the shared registry; the versions it registered."""
        t0 = time.monotonic()
        args = ["train", "--data", str(data), "--trials", str(trials), "--no-progress"]
        if timeout:
            args += ["--timeout", str(timeout)]
        out = self.scoring(*args)
        self._timed(f"train ({trials} trials)", t0)
        versions = {k: int(v) for k, v in _REGISTERED.findall(out)}
        self.keys_seen = tuple(sorted(set(self.keys_seen) | set(versions)))
        return versions

    def has_champion(self) -> bool:
        """Whether the registry has a champion of any model (then there is no need to train)."""
        code = (
            "from scoring import registry\nregistry.setup_mlflow()\n"
            "v = registry.alias_versions(registry.ALL_MODELS, 'champion')\n"
            "raise SystemExit(0 if any(x is not None for x in v.values()) else 1)"
        )
        res = subprocess.run(
            [sys.executable, "-c", code],
            env=self.env("cli"),
            cwd=self.workdir,
            capture_output=True,
            text=True,
            check=False,
        )
        return res.returncode == 0

    def promote(self, force: bool = True, note: str = "stack") -> str:
        return self.scoring(
            "promote", *(["--force"] if force else []), "--note", note, "--who", "stack"
        )

    def audit_verify(self) -> str:
        return self.scoring("audit", "verify")

    # -- replicas ------------------------------------------------------------------------
    def start_replica(self, name: str, port: int | None = None) -> Replica:
        """``scoring serve`` (one worker) as a separate process; does not wait for it."""
        port = port or free_port()
        if not port_free(port):
            raise StackError(f"port {port} of replica {name} is in use")
        (self.workdir / f"replica-{name}").mkdir(exist_ok=True)
        cmd = [
            str(BIN / "scoring"),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-format",
            "json",
            "--log-level",
            "warning",
        ]
        proc = Process(
            f"replica {name}",
            cmd,
            self.env(f"replica-{name}"),
            self.workdir / f"replica-{name}.log",
            self.workdir,
        )
        self.replicas[name] = Replica(name, port, proc)
        return self.replicas[name]

    def wait_ready(self, names: Iterable[str] | None = None, timeout: float = 180) -> None:
        t0 = time.monotonic()
        names = list(names or self.replicas)
        for n in names:
            r = self.replicas[n]
            wait_http(r.url + "/ready", r.process, max(1.0, timeout - (time.monotonic() - t0)))
        self._timed(f"replicas {', '.join(names)} ready", t0)

    def restart(self, name: str, timeout: float = 180) -> float:
        """Start a stopped or killed replica again on its port; seconds until ready."""
        t0 = time.monotonic()
        old = self.replicas[name]
        old.process.stop()
        self.start_replica(name, old.port)
        self.wait_ready([name], timeout)
        return time.monotonic() - t0

    def watch(self, expected: dict[str, int]) -> Watch:
        """A started :class:`Watch` of the registry and the replicas until they all serve
        ``expected``."""
        self.champion_versions()  # imports MLflow before the clock starts
        w = Watch(self, dict(expected))
        w.start()
        return w

    def champion_versions(self) -> dict[str, int | None]:
        """The versions the replicas load for ``champion``, read as a replica reads them
        (:func:`scoring.registry.release_versions`: the champion release record, or each
        model's alias in a registry without releases)."""
        from mlflow import MlflowClient

        from scoring import registry

        client = MlflowClient(tracking_uri=self.mlflow_url, registry_uri=self.mlflow_url)
        keys = self.keys_seen or ("default_risk", "dispute_risk", "policy")
        return registry.release_versions(keys, registry.CHAMPION, client)


class Watch(threading.Thread):
    """Polls, every 50 ms, the registry (:meth:`Stack.champion_versions`) and each replica's
    ``/ready``; records the monotonic time at which the registry first names the expected
    versions (``promoted``, the end of that read; the promotion was written after
    ``promoted_after``, the start of the last read that did not see it) and at which each
    replica first serves them (``served``)."""

    def __init__(self, stack: Stack, expected: dict[str, int]) -> None:
        super().__init__(name="watch", daemon=True)
        self.stack, self.expected = stack, expected
        self.promoted: float | None = None
        self.promoted_after: float | None = None
        self.served: dict[str, float] = {}
        self._halt = threading.Event()

    def done(self) -> bool:
        return self.promoted is not None and set(self.served) >= set(self.stack.replicas)

    def run(self) -> None:
        while not self._halt.is_set() and not self.done():
            if self.promoted is None:
                t = time.monotonic()
                with contextlib.suppress(Exception):
                    if self.stack.champion_versions() == self.expected:
                        self.promoted = time.monotonic()
                if self.promoted is None:
                    self.promoted_after = t
            for n, r in list(self.stack.replicas.items()):
                if n not in self.served:
                    v = r.versions()
                    if v is not None and all(v.get(k) == str(x) for k, x in self.expected.items()):
                        self.served[n] = time.monotonic()
            time.sleep(0.05)

    def wait(self, timeout: float = 60) -> None:
        """Until every replica serves the expected versions; :class:`StackError` on timeout."""
        self.join(timeout)
        self._halt.set()
        if not self.done():
            got = {n: r.versions() for n, r in self.stack.replicas.items()}
            raise StackError(
                f"not every replica serves {self.expected} after {timeout:.0f} s: {got} "
                f"(registry: {self.stack.champion_versions()})"
            )

    def delays(self) -> dict[str, float]:
        """Seconds from the promotion seen in the registry to each replica serving it (at most
        :meth:`resolution` less than the delay since it was written)."""
        assert self.promoted is not None
        return {n: round(t - self.promoted, 2) for n, t in sorted(self.served.items())}

    def resolution(self) -> float | None:
        """How precisely the moment of the promotion is known (seconds)."""
        if self.promoted is None or self.promoted_after is None:
            return None
        return round(self.promoted - self.promoted_after, 2)


# --------------------------------------------------------------------------------------
# Load


@dataclass
class Call:
    """One request of a load client."""

    replica: str
    endpoint: str
    start: float  # monotonic
    ms: float
    status: int | None  # None: no HTTP answer (connection refused or reset, timeout)
    error: str | None = None
    decision_id: str | None = None
    versions: dict | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass
class Load:
    """Client threads sending requests to the replicas until stopped: client ``i`` sends its
    ``n``-th request to replica ``(i + n) % len(replicas)`` (every client alternates between
    the replicas), endpoint ``endpoints[n % len(endpoints)]``, one keep-alive connection per
    client and replica. A request without an HTTP answer is recorded (``status`` None) and
    followed by a 50 ms pause."""

    replicas: list[Replica]
    key: str
    cases: list[dict]
    endpoints: tuple[str, ...] = ("/score", "/next-action")
    clients: int = 2
    calls: list[Call] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> Load:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        for i in range(self.clients):
            t = threading.Thread(target=self._client, args=(i,), name=f"load-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def stop(self) -> list[Call]:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)
        return self.calls

    def _client(self, i: int) -> None:
        import httpx

        headers = {"X-API-Key": self.key, "Content-Type": "application/json"}
        clients = {
            r.name: httpx.Client(base_url=r.url, headers=headers, timeout=30) for r in self.replicas
        }
        n = 0
        try:
            while not self._stop.is_set():
                rep = self.replicas[(i + n) % len(self.replicas)]
                endpoint = self.endpoints[n % len(self.endpoints)]
                case = self.cases[(i * 7 + n) % len(self.cases)]
                n += 1
                t0 = time.monotonic()
                try:
                    r = clients[rep.name].post(endpoint, json=case)
                except httpx.HTTPError as exc:
                    ms = (time.monotonic() - t0) * 1e3
                    self.calls.append(Call(rep.name, endpoint, t0, ms, None, repr(exc)))
                    time.sleep(0.05)
                    continue
                ms = (time.monotonic() - t0) * 1e3
                call = Call(rep.name, endpoint, t0, ms, r.status_code)
                if call.ok:
                    body = r.json()
                    call.decision_id = body.get("decision_id")
                    call.versions = body.get("model_versions")
                else:
                    call.error = r.text[:300]
                self.calls.append(call)
        finally:
            for c in clients.values():
                c.close()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    import numpy as np

    return round(float(np.percentile(values, q)), 2)


def summarize(calls: list[Call]) -> dict:
    """Per replica and endpoint: requests, failures (non-2xx or no answer), p50/p99 of the
    answered ones (2xx)."""
    out: dict = {}
    for c in sorted(calls, key=lambda c: (c.replica, c.endpoint)):
        d = out.setdefault(c.replica, {}).setdefault(c.endpoint, {"n": 0, "f": 0, "ms": []})
        d["n"] += 1
        if c.ok:
            d["ms"].append(c.ms)
        else:
            d["f"] += 1
    for per in out.values():
        for endpoint, d in per.items():
            per[endpoint] = {
                "requests": d["n"],
                "failures": d["f"],
                "p50_ms": percentile(d["ms"], 50),
                "p99_ms": percentile(d["ms"], 99),
            }
    return out


def acknowledged(calls: list[Call]) -> list[Call]:
    """Requests answered 2xx with a decision id: decisions the caller may act on."""
    return [c for c in calls if c.ok and c.decision_id]


# --------------------------------------------------------------------------------------
# make stack


def _print_usage(stack: Stack, pg_url: str) -> None:
    urls = "  ".join(r.url for r in stack.replicas.values())
    k = stack.keys
    print(
        f"""
The stack is up (Ctrl-C stops it):
  replicas        {urls}
  mlflow server   {stack.mlflow_url}   (the UI too)
  audit trail     {stack.audit_url}
  PostgreSQL      {pg_url}
  logs            {stack.workdir}/*.log
Keys (in {k.file}, hashes only; shown this once):
  scoring     {k.scoring}
  compliance  {k.compliance}
  admin       {k.admin}
Try:
  curl -s {next(iter(stack.replicas.values())).url}/ready
  curl -s -X POST {next(iter(stack.replicas.values())).url}/next-action -H "X-API-Key: {k.scoring}" \\
       -H "Content-Type: application/json" -d @docs/examples/case.json
Retrain and promote against the shared registry (the replicas reload within {stack.reload_seconds:g} s):
  MLFLOW_TRACKING_URI={stack.mlflow_url} .venv/bin/scoring train --data DIR --trials 2
  MLFLOW_TRACKING_URI={stack.mlflow_url} .venv/bin/scoring promote
""",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--data",
        type=Path,
        default=ROOT / "data" / "synthetic" / "default",
        help="data set to train on when the registry is empty (generated if missing)",
    )
    p.add_argument("--debtors", type=int, default=20000, help="size of a generated data set")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--trials", type=int, default=20)
    p.add_argument(
        "--ports", type=int, nargs="+", default=[8001, 8002], help="one replica per port"
    )
    p.add_argument("--mlflow-port", type=int, default=5000)
    p.add_argument(
        "--reload-seconds",
        type=float,
        default=5.0,
        help="how often the replicas poll the champion alias",
    )
    p.add_argument(
        "--pg-url",
        default=os.environ.get("STACK_PG_URL"),
        help="an existing PostgreSQL server (any database of it; env STACK_PG_URL); "
        "default: a throwaway cluster",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="artifacts, HMAC key, logs (default: models/stack with --pg-url, "
        "else a temporary folder)",
    )
    args = p.parse_args(argv)
    busy = [x for x in (*args.ports, args.mlflow_port) if not port_free(x)]
    if busy:
        print(f"stack: port(s) {busy} in use (--ports, --mlflow-port)", file=sys.stderr)
        return 2

    # Ctrl-C and SIGTERM stop the stack (SIGINT explicitly: a background job inherits it ignored)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with contextlib.ExitStack() as es:
        try:
            if args.pg_url:
                pg_url = args.pg_url
                workdir = (args.workdir or ROOT / "models" / "stack").resolve()
            else:
                print("stack: starting a throwaway PostgreSQL cluster ...", flush=True)
                pg_url = es.enter_context(throwaway_postgres())
                tmp = es.enter_context(tempfile.TemporaryDirectory(prefix="scoring-stack-"))
                workdir = (args.workdir or Path(tmp)).resolve()
            workdir.mkdir(parents=True, exist_ok=True)
            key_file = workdir / "audit.key"
            if not key_file.exists():  # the same HMAC key for the life of the audit database
                key_file.write_text(secrets.token_urlsafe(32))
                key_file.chmod(0o600)
            stack = es.enter_context(
                Stack(
                    workdir,
                    mlflow_backend=create_database(pg_url, "scoring_stack_mlflow"),
                    audit_url=create_database(pg_url, "scoring_stack_audit"),
                    audit_key=key_file.read_text().strip(),
                    reload_seconds=args.reload_seconds,
                )
            )
            print(f"stack: starting mlflow server on port {args.mlflow_port} ...", flush=True)
            stack.start_mlflow(args.mlflow_port)
            if stack.has_champion():
                print("stack: the registry has champion models: serving them", flush=True)
            else:
                data = args.data.resolve()
                if not (data / "debtors.parquet").exists():
                    print(f"stack: generating {args.debtors:,} debtors into {data} ...", flush=True)
                    stack.scoring(
                        "generate",
                        "--out",
                        str(data),
                        "--debtors",
                        str(args.debtors),
                        "--seed",
                        str(args.seed),
                        "--no-progress",
                    )
                print(
                    f"stack: the registry is empty: training on {data} ({args.trials} trials "
                    "per model; minutes) ...",
                    flush=True,
                )
                stack.train(data, args.trials)
            for i, port in enumerate(args.ports):
                stack.start_replica(chr(ord("a") + i), port)
            print(f"stack: starting {len(args.ports)} replicas ...", flush=True)
            stack.wait_ready()
            _print_usage(stack, pg_url)
            while True:
                time.sleep(1.0)
                dead = [r.name for r in stack.replicas.values() if not r.process.alive()]
                if dead or not stack.mlflow or not stack.mlflow.alive():
                    print(f"stack: a process exited (replicas {dead}); stopping", file=sys.stderr)
                    return 1
        except KeyboardInterrupt:
            print("\nstack: stopping ...", flush=True)
        except StackError as exc:
            print(f"stack: {exc}", file=sys.stderr)
            return 1
    print("stack: stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
