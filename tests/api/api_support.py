"""Helpers of the API tests (keys, headers, a server on a free port); the fixtures are in
``tests/api/conftest.py``."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
from collections.abc import Iterator

from support import SAMPLE_DIR  # noqa: F401 - re-exported for the API tests

KEYS = {
    "scoring": "test-scoring-key-0123456789",
    "compliance": "test-compliance-key-0123456789",
    "admin": "test-admin-key-0123456789",
}


def headers(role: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[role]}


def keys_env() -> str:
    return ",".join(f"{hashlib.sha256(k.encode()).hexdigest()}:{r}" for r, k in KEYS.items())


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
