"""Shared fixtures: tiny hand-made tables that follow the contract, an isolated MLflow store,
models trained once on the committed sample. Plain helpers are in ``support.py``."""

from __future__ import annotations

import os

import pandas as pd
import pytest
from support import SAMPLE_DIR, tiny_tables


@pytest.fixture
def raw_tables() -> dict[str, pd.DataFrame]:
    return tiny_tables()


@pytest.fixture
def tables() -> dict[str, pd.DataFrame]:
    from scoring.contract import validate_tables

    typed, problems = validate_tables(tiny_tables())
    assert not problems, problems
    return typed


@pytest.fixture(scope="session")
def mlflow_home(tmp_path_factory):
    """An isolated embedded MLflow store for the whole test session."""
    from scoring import registry
    from scoring.settings import get_settings

    home = tmp_path_factory.mktemp("mlflow-home")
    old = {k: os.environ.get(k) for k in ("SCORING_HOME", "MLFLOW_TRACKING_URI")}
    os.environ["SCORING_HOME"] = str(home)
    os.environ.pop("MLFLOW_TRACKING_URI", None)
    get_settings.cache_clear()
    registry.setup_mlflow()
    yield home
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
    get_settings.cache_clear()


class Trained:
    def __init__(self, result, ts):
        self.result = result
        self.ts = ts


@pytest.fixture(scope="session")
def trained(mlflow_home):
    """Models trained once on the committed sample (a few trials, small budget)."""
    from scoring.contract import load_tables
    from scoring.models.dataset import build_training_set, load_training_config
    from scoring.pipeline import train

    if not SAMPLE_DIR.exists():
        pytest.skip("no synthetic sample")
    result = train(SAMPLE_DIR, trials=4, timeout=60, progress=False)
    ts = build_training_set(load_tables(SAMPLE_DIR), load_training_config(), progress=False)
    return Trained(result, ts)


@pytest.fixture(scope="session")
def postgres_server():
    """A throwaway PostgreSQL cluster for the session (:mod:`pg_support`)."""
    from pg_support import postgres_cluster

    with postgres_cluster() as server:
        yield server


@pytest.fixture
def store_kind(request) -> str:
    """The audit store of a test: ``sqlite`` unless a module parametrises it
    (``pytestmark = pytest.mark.parametrize("store_kind", STORES, indirect=True)``)."""
    return getattr(request, "param", "sqlite")
