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
    "reviewer": "test-reviewer-key-0123456789",
    "compliance": "test-compliance-key-0123456789",
    "admin": "test-admin-key-0123456789",
}


#: the audit stores the store-agnostic tests run on
STORES = ["sqlite", "postgresql"]


def headers(role: str) -> dict[str, str]:
    return {"X-API-Key": KEYS[role]}


def review_everything(bundle):
    """The bundle with a policy configuration under which every contact action of both
    segments requires review (the review loop's tests need flagged decisions)."""
    import dataclasses

    from scoring.contract import CONTACT_ACTIONS

    cfg = bundle.policy.config
    review = cfg.compliance.review.model_copy(
        update={"actions": {"B2B": tuple(CONTACT_ACTIONS), "B2C": tuple(CONTACT_ACTIONS)}}
    )
    compliance = cfg.compliance.model_copy(update={"review": review})
    policy = bundle.policy.with_config(cfg.model_copy(update={"compliance": compliance}))
    return dataclasses.replace(bundle, policy=policy)


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


def tiny_bundle():
    """A bundle built in about 3 s without MLflow: both risk models fitted with 5 LightGBM
    rounds on the few hundred cases of three instants of the sample, a Platt calibration, and
    an S-learner policy. For the tests of auth, error shapes and the OpenAPI document, which
    need real models but not good ones."""
    import lightgbm as lgb
    import pandas as pd

    from scoring.cases import CaseSet, build_cases
    from scoring.contract import load_tables
    from scoring.features import CATEGORICAL, FEATURE_BY_NAME, FEATURE_NAMES, features, model_matrix
    from scoring.labels import case_labels
    from scoring.models.calibration import fit_calibrator
    from scoring.models.risk import RiskModel
    from scoring.policy.config import load_policy_config
    from scoring.policy.history import logged_decisions
    from scoring.policy.recommend import Policy
    from scoring.service import Bundle

    tables = load_tables(SAMPLE_DIR)
    instants = (
        "2025-10-01T09:00:00+02:00",
        "2025-12-01T09:00:00+01:00",
        "2026-02-02T09:00:00+01:00",
    )
    cs = CaseSet.concat([build_cases(tables, pd.Timestamp(t)) for t in instants])
    labels = case_labels(cs, tables)
    names = list(FEATURE_NAMES)
    vocab = {c: list(FEATURE_BY_NAME[c].categories) for c in CATEGORICAL}
    M = model_matrix(features(cs), names, vocab)
    params = {"objective": "binary", "num_leaves": 4, "min_data_in_leaf": 10, "verbosity": -1,
              "num_threads": 1}  # fmt: skip
    models = {}
    for key, label in (("default_risk", "default"), ("dispute_risk", "dispute")):
        y = labels[label].to_numpy().astype(int)
        data = lgb.Dataset(M, y, feature_name=names,
                           categorical_feature=[names.index(c) for c in CATEGORICAL])  # fmt: skip
        booster = lgb.train(params, data, num_boost_round=5)
        calibrator = fit_calibrator(booster.predict(M), y, "platt")
        models[key] = RiskModel(key, label, booster, names, vocab, calibrator, params, {"trees": 5})
    decisions = logged_decisions(tables, load_policy_config(), progress=False)
    policy = Policy(learner="s", candidates=("s",), refit=False).fit(decisions)
    versions = {"default_risk": 1, "dispute_risk": 1, "policy": 1}
    return Bundle(models["default_risk"], models["dispute_risk"], policy, versions, "tiny")
