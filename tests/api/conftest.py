"""Fixtures of the API tests: one small real bundle per session, a fresh app per test."""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest
from api_support import keys_env, tiny_bundle
from fastapi.testclient import TestClient
from support import SAMPLE_DIR


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
def settings(tmp_path, store_kind, request):
    """Settings with a private home (key file, SQLite audit DB) and the test keys; with
    ``store_kind == "postgresql"`` the audit trail is a fresh database of the session's
    PostgreSQL cluster."""
    from scoring.settings import Settings

    extra = {}
    if store_kind == "postgresql":
        server = request.getfixturevalue("postgres_server")
        extra = {"audit_url": server.new_database(), "audit_key": "test-audit-key-0123456789abc"}
    return Settings(home=tmp_path / "home", api_keys=keys_env(), reload_seconds=0, **extra)


@pytest.fixture
def client(bundle, settings) -> Iterator[TestClient]:
    from scoring.api.app import create_app

    with TestClient(create_app(bundle=bundle, settings=settings)) as c:
        yield c


@pytest.fixture(scope="session")
def small_bundle():
    """Real but tiny models, no MLflow (:func:`api_support.tiny_bundle`)."""
    return tiny_bundle()


@pytest.fixture
def tiny_client(small_bundle, settings) -> Iterator[TestClient]:
    """A fresh app over the tiny bundle: for auth, error shapes and the OpenAPI document."""
    from scoring.api.app import create_app

    with TestClient(create_app(bundle=small_bundle, settings=settings)) as c:
        yield c
