"""Micro-batching: concurrent calls share one batch, results go back to their callers, one
failing request does not fail the others, keys never mix."""

from __future__ import annotations

import threading
import time

import pytest

from scoring.api.batching import MicroBatcher


def test_a_lone_call_runs_alone_and_returns_its_result():
    b = MicroBatcher()
    calls = []

    def fn(payloads):
        calls.append(list(payloads))
        return [p * 2 for p in payloads]

    assert b.run("k", fn, 21) == 42
    assert calls == [[21]]


def _concurrent(b: MicroBatcher, fn, items, key=lambda i: "k"):
    results, errors = {}, {}
    start = threading.Barrier(len(items))

    def worker(i):
        start.wait()
        try:
            results[i] = b.run(key(i), fn, i)
        except Exception as exc:  # noqa: BLE001 - collected for the assertions
            errors[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    return results, errors


def test_concurrent_calls_are_batched_and_each_gets_its_own_result():
    b = MicroBatcher()
    sizes = []

    def slow(payloads):
        sizes.append(len(payloads))
        time.sleep(0.05)  # long enough for the other threads to queue up
        return [p + 1000 for p in payloads]

    results, errors = _concurrent(b, slow, list(range(12)))
    assert not errors
    assert results == {i: i + 1000 for i in range(12)}
    assert sum(sizes) == 12
    assert max(sizes) > 1  # some calls shared a batch
    assert b.batches < 12


def test_a_failing_payload_fails_only_its_own_call():
    b = MicroBatcher()

    def fn(payloads):
        time.sleep(0.02)
        if 3 in payloads:
            raise ValueError("bad payload 3")
        return [p for p in payloads]

    results, errors = _concurrent(b, fn, list(range(8)))
    assert set(errors) == {3}
    assert "bad payload 3" in str(errors[3])
    assert results == {i: i for i in range(8) if i != 3}


def test_keys_never_share_a_batch():
    b = MicroBatcher()
    seen = []

    def fn(payloads):
        seen.append({p % 2 for p in payloads})
        time.sleep(0.02)
        return payloads

    results, errors = _concurrent(b, fn, list(range(10)), key=lambda i: i % 2)
    assert not errors and results == {i: i for i in range(10)}
    assert all(len(s) == 1 for s in seen)


def test_batches_are_bounded_in_size():
    b = MicroBatcher(max_size=3)
    sizes = []

    def fn(payloads):
        sizes.append(len(payloads))
        time.sleep(0.02)
        return payloads

    results, errors = _concurrent(b, fn, list(range(10)))
    assert not errors and len(results) == 10
    assert max(sizes) <= 3


def test_a_wrong_number_of_results_is_an_error():
    b = MicroBatcher()
    with pytest.raises(RuntimeError, match="returned 0 results"):
        b.run("k", lambda payloads: [], 1)
