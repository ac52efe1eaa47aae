"""Champion and challenger side by side in production: a stable hash of the debtor id sends a
share of debtors to the challenger release; each decision records its arm, the versions that
made it and its propensity; /models shows the split; the export keeps the version; stopping
the split needs no restart."""

from __future__ import annotations

import dataclasses

import pytest
from api_support import case_json, headers
from fastapi.testclient import TestClient

from scoring.api.experiment import Experiment, Split, arm_of


def test_the_arm_is_a_stable_hash_with_the_configured_share():
    ids = [f"D{i:05d}" for i in range(20_000)]
    arms = [arm_of(i, 0.2, "salt-a") for i in ids]
    share = arms.count("challenger") / len(ids)
    assert share == pytest.approx(0.2, abs=0.01)
    assert arms == [arm_of(i, 0.2, "salt-a") for i in ids]  # stable
    other = [arm_of(i, 0.2, "salt-b") for i in ids]  # a new split draws anew
    assert sum(a != b for a, b in zip(arms, other, strict=True)) > 4000
    assert all(arm_of(i, 0.0, "s") == "champion" for i in ids[:500])


def _challenger(bundle):
    """The same models under other versions: decisions show which release made them."""
    versions = {k: (None if v is None else v + 100) for k, v in bundle.versions.items()}
    return dataclasses.replace(bundle, versions=versions, alias="challenger")


@pytest.fixture
def split_client(bundle, settings):
    from scoring.api.app import create_app

    app = create_app(bundle=bundle, settings=settings)
    with TestClient(app) as c:
        yield c, app.state.services


def test_a_split_decides_its_share_of_debtors_by_the_challenger(
    split_client, bundle, sample_cases, settings, tmp_path
):
    c, services = split_client
    split = Split(0.5, "test-salt", {k: v + 100 for k, v in bundle.versions.items() if v})
    services.experiment.set(split, _challenger(bundle))
    cases = sample_cases[:40]
    r = c.post("/next-action", json=[case_json(x) for x in cases], headers=headers("scoring"))
    assert r.status_code == 200, r.text
    out = r.json()
    arms = [x["arm"] for x in out]
    assert arms == [split.arm(x.debtor.debtor_id) for x in cases]
    assert 5 < arms.count("challenger") < 35
    for x in out:
        policy = x["model_versions"]["policy"]
        want = str(bundle.versions["policy"] + (100 if x["arm"] == "challenger" else 0))
        assert policy == want and 0 < x["propensity"] <= 1
    # the audit trail keeps the arm and the versions of each decision
    one = next(x for x in out if x["arm"] == "challenger")
    got = c.get(f"/decisions/{one['decision_id']}", headers=headers("compliance")).json()
    assert got["output"]["arm"] == "challenger"
    assert got["model_versions"]["policy"] == one["model_versions"]["policy"]
    # /models shows the split
    m = c.get("/models", headers=headers("scoring")).json()
    assert m["split"]["share"] == 0.5
    assert m["split"]["challenger_versions"]["policy"] == str(bundle.versions["policy"] + 100)
    # the export keeps version and arm, so both arms can be compared on the same period
    from scoring.audit import export_decisions

    services.store.flush()
    df, _ = export_decisions(tmp_path / "actions.csv", settings=settings)
    by_id = df.set_index("action_id")
    for x in out:
        row = by_id.loc[x["decision_id"]]
        assert row["arm"] == x["arm"] and row["policy_version"] == x["model_versions"]["policy"]
    # stopped: every debtor by the champion again, same app, no restart
    services.experiment.set(None)
    r = c.post("/next-action", json=[case_json(x) for x in cases], headers=headers("scoring"))
    assert {x["arm"] for x in r.json()} == {"champion"}
    assert c.get("/models", headers=headers("scoring")).json()["split"] is None


def test_the_service_follows_the_registry_split_and_its_stop(bundle):
    record: dict | None = {"share": 0.3, "salt": "s1", "versions": {"policy": 7}, "by": "ana"}
    loads: list[dict] = []

    def load(versions):
        loads.append(versions)
        return _challenger(bundle)

    exp = Experiment(lambda: record, load)
    assert exp.poll_once() and exp.current is not None
    assert exp.current[0].share == 0.3 and loads == [{"policy": 7}]
    assert not exp.poll_once() and len(loads) == 1  # unchanged: nothing reloaded
    record = None  # scoring experiment stop
    assert exp.poll_once() and exp.current is None

    def broken(_versions):
        raise RuntimeError("registry down")

    exp = Experiment(lambda: {"share": 0.3, "salt": "s", "versions": {"policy": 8}}, broken)
    assert not exp.poll_once() and exp.current is None and "registry down" in (exp.error or "")
