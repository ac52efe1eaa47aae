"""Fixtures and helpers of the API tests: one small real bundle per session, a fresh app per test.

Not a ``conftest.py``: the other test folders import the root conftest as ``conftest``, which a
second conftest module would shadow. Test modules import these fixtures by name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

SAMPLE_DIR = Path(
    os.environ.get(
        "SCORING_TEST_SAMPLE", Path(__file__).resolve().parents[2] / "data" / "synthetic" / "sample"
    )
)


__all__ = ["bundle", "client", "sample_cases", "settings"]

KEYS = {
    "scoring": "test-scoring-key-0123456789",
    "compliance": "test-compliance-key-0123456789",
    "admin": "test-admin-key-0123456789",
}


def headers(role: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[role]}


def keys_env() -> str:
    return ",".join(f"{hashlib.sha256(k.encode()).hexdigest()}:{r}" for r, k in KEYS.items())


@pytest.fixture(scope="session")
def bundle(trained):
    """The champion bundle trained on the committed sample."""
    from scoring.service import Bundle

    return Bundle.from_registry("champion")


@pytest.fixture(scope="session")
def sample_cases(trained) -> list:
    """Real cases built from the sample at one instant (B2B and B2C, several départements)."""
    from scoring.cases import build_cases
    from scoring.contract import load_tables

    tables = load_tables(SAMPLE_DIR)
    cs = build_cases(tables, pd.Timestamp("2026-03-02T09:00:00+01:00"))
    return cs.to_cases()


@pytest.fixture
def settings(tmp_path):
    """Settings with a private home (audit DB, key file) and the test keys."""
    from scoring.settings import Settings

    return Settings(home=tmp_path / "home", api_keys=keys_env(), reload_seconds=0)


@pytest.fixture
def client(bundle, settings) -> Iterator[TestClient]:
    from scoring.api.app import create_app

    with TestClient(create_app(bundle=bundle, settings=settings)) as c:
        yield c


def case_json(case) -> dict:
    return case.model_dump(mode="json")


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_server(app) -> Iterator[str]:
    """The app served by uvicorn in a thread on a free loopback port; yields the base URL."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
