"""The multi-replica deployment, started for real (issue 15 §1).

A throwaway PostgreSQL (the session's cluster) holds two databases: MLflow's backend store and
the audit trail. A real ``mlflow server`` runs on the first; ``scoring train`` registers the
models of the committed sample in it; two ``scoring serve`` replicas (separate processes, same
registry, audit trail, HMAC key and key file, alias polled every 0.5 s) serve them. Then:

- a decision taken on one replica is read on the other;
- a second training and ``scoring promote --force`` under load: both replicas end up serving
  the new versions and no request fails;
- ``kill -9`` of a replica under load: every acknowledged decision is in the audit trail, and
  the hash chain verifies.

The processes are managed by ``benchmarks/stack.py`` (also behind ``make stack`` and
``benchmarks/bench_stack.py``). About 2.5 minutes on 2 quiet cores, mostly the two trainings
(docs/benchmarks.md); ``-m "not stack"`` deselects it.
"""

from __future__ import annotations

import importlib.util
import sys
import time
from pathlib import Path

import httpx
import pytest
from support import SAMPLE_DIR

pytestmark = pytest.mark.stack

_spec = importlib.util.spec_from_file_location(
    "scoring_bench_stack", Path(__file__).resolve().parents[2] / "benchmarks" / "stack.py"
)
assert _spec is not None and _spec.loader is not None
st = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = st  # dataclasses look their module up
_spec.loader.exec_module(st)

TRIALS = 2
#: the models every training of the sample registers (invoice_risk too, when it trains)
REQUIRED = {"default_risk", "dispute_risk", "policy"}


@pytest.fixture(scope="module")
def cases() -> list[dict]:
    return st.case_payloads(SAMPLE_DIR, n=40)


@pytest.fixture(scope="module")
def stack(postgres_server, tmp_path_factory):
    """PostgreSQL, mlflow server, the first training (versions 1, champion), replicas a and b
    ready."""
    if not SAMPLE_DIR.exists():
        pytest.skip("no synthetic sample")
    with st.Stack(
        tmp_path_factory.mktemp("stack"),
        mlflow_backend=postgres_server.new_database(),
        audit_url=postgres_server.new_database(),
        audit_key="stack-test-audit-key-0123456789",
        reload_seconds=0.5,
    ) as s:
        s.start_mlflow()
        first = s.train(SAMPLE_DIR, TRIALS)
        assert set(first) >= REQUIRED and set(first.values()) == {1}, first
        s.start_replica("a")
        s.start_replica("b")
        s.wait_ready()
        for r in s.replicas.values():
            assert r.versions() == {k: "1" for k in first}
        yield s


def _post(replica, path: str, body: dict, key: str) -> httpx.Response:
    return httpx.post(replica.url + path, json=body, headers={"X-API-Key": key}, timeout=30)


def _get(replica, path: str, key: str) -> httpx.Response:
    return httpx.get(replica.url + path, headers={"X-API-Key": key}, timeout=30)


def test_a_decision_taken_on_one_replica_is_read_on_the_other(stack, cases):
    a, b = stack.replicas["a"], stack.replicas["b"]
    for i, (src, dst) in enumerate(((a, b), (b, a))):
        r = _post(src, "/next-action", cases[i], stack.keys.scoring)
        assert r.status_code == 200, r.text
        d = r.json()
        g = _get(dst, f"/decisions/{d['decision_id']}", stack.keys.compliance)
        assert g.status_code == 200, g.text
        rec = g.json()
        assert rec["decision_id"] == d["decision_id"]
        assert (rec["action"], rec["model_versions"]) == (d["action"], d["model_versions"])
        assert rec["api_key"] == "stack-scoring"
        assert rec["input"]["debtor"]["debtor_id"] != cases[i]["debtor"]["debtor_id"]  # hashed


def test_promotion_under_load_is_picked_up_by_both_replicas_and_no_request_fails(stack, cases):
    second = stack.train(SAMPLE_DIR, TRIALS)
    assert set(second) >= REQUIRED and set(second.values()) == {2}, second
    replicas = list(stack.replicas.values())
    for r in replicas:  # the challenger is not served before its promotion
        assert r.versions() == {k: "1" for k in second}
    with st.Load(replicas, stack.keys.scoring, cases, ("/score", "/next-action"), 2) as load:
        time.sleep(1.0)
        t_promote = time.monotonic()
        watch = stack.watch(second)
        out = stack.promote(force=True, note="stack test")  # the policy gate may refuse v2
        watch.wait(timeout=60)
        time.sleep(1.0)
    calls = load.calls
    failed = [(c.replica, c.endpoint, c.status, c.error) for c in calls if not c.ok]
    print(st.summarize(calls))
    print(out)
    print(f"served {watch.delays()} s after the promotion (+0 to {watch.resolution()} s)")
    mixed = [c.versions for c in calls if c.ok and len(set(c.versions.values())) > 1]
    assert len(calls) > 20
    assert not failed, failed[:5]
    assert not mixed, mixed[:3]  # one release goes live whole: never old and new models at once
    new = {k: str(v) for k, v in second.items()}
    for r in replicas:
        assert r.versions() == new
        before = [c for c in calls if c.replica == r.name and c.start < t_promote]
        after = [c for c in calls if c.replica == r.name and c.start > watch.served[r.name]]
        assert before and after
        assert all(set(c.versions.values()) == {"1"} for c in before)
        assert all(c.versions == {k: new[k] for k in c.versions} for c in after)


def test_kill_9_of_a_replica_under_load_loses_no_acknowledged_decision(stack, cases):
    a, b = stack.replicas["a"], stack.replicas["b"]
    with st.Load([a, b], stack.keys.scoring, cases, ("/next-action",), clients=6) as load:
        time.sleep(3.0)
        t_kill = time.monotonic()
        a.process.kill9()
        time.sleep(3.0)
    calls = load.calls
    acked = st.acknowledged(calls)
    on_a = [c for c in acked if c.replica == "a"]
    on_b = [c for c in acked if c.replica == "b"]
    in_flight = [c for c in calls if c.replica == "a" and c.status is None and c.start < t_kill]
    print(st.summarize(calls), f"{len(acked)} acknowledged, {len(in_flight)} cut by the kill")
    assert on_a and on_b
    assert max(c.start for c in on_a) > t_kill - 1.0  # A was deciding until it was killed
    assert all(c.ok for c in calls if c.replica == "b")  # B never failed
    assert all(c.status is None for c in calls if c.replica == "a" and not c.ok)
    ids = {c.decision_id for c in acked}
    assert len(ids) == len(acked)
    lost = ids - st.stored_decisions(stack.audit_url, ids)
    assert not lost, f"{len(lost)} of {len(ids)} acknowledged decisions not in the audit trail"
    for c in on_a[-10:]:  # the last ones A acknowledged, read through B
        g = _get(b, f"/decisions/{c.decision_id}", stack.keys.compliance)
        assert g.status_code == 200, g.text
    assert "audit chain OK" in stack.audit_verify()
