"""Micro-batching: concurrent requests of the same kind are scored as one batch.

Scoring one case costs mostly fixed overhead (building the columnar case set, the feature
arrays, the rules grid, one LightGBM call per model); scoring eight cases at once costs little
more than one. When requests arrive together, the first thread to get the scorer runs every
request waiting at that moment as one batch; the others find their results ready. A request
that arrives alone runs alone, at once: batching adds no waiting time.

Requests are grouped by a key (the endpoint, the models in use and the query options), so a
batch never mixes models during a hot swap or answers in another language than asked. If a
batch fails, each of its requests is retried alone so that one bad request cannot fail others.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any


@dataclass(eq=False)
class _Item:
    key: Hashable
    fn: Callable[[list[Any]], list[Any]]
    payload: Any
    size: int
    done: bool = False
    result: Any = None
    error: BaseException | None = None


class MicroBatcher:
    """Runs calls of ``fn`` from concurrent threads as batches (see the module docstring).

    ``max_size`` bounds the total size (cases) of one batch; larger bursts run as several.
    """

    def __init__(self, max_size: int = 256) -> None:
        self.max_size = max_size
        self._queue: list[_Item] = []
        self._queue_lock = threading.Lock()
        self._run_lock = threading.Lock()
        self.batches = 0
        self.items = 0

    def run(
        self, key: Hashable, fn: Callable[[list[Any]], list[Any]], payload: Any, size: int = 1
    ) -> Any:
        """``fn([payload])[0]``, possibly computed together with other threads' payloads of the
        same ``key`` as ``fn([p1, p2, ...])`` (``fn`` returns one result per payload, in order).
        """
        item = _Item(key, fn, payload, size)
        with self._queue_lock:
            self._queue.append(item)
        while not item.done:
            with self._run_lock:
                if item.done:
                    break
                with self._queue_lock:
                    pending, self._queue = self._queue, []
                self._run_all(pending)
        if item.error is not None:
            raise item.error
        return item.result

    # ------------------------------------------------------------------------------
    def _run_all(self, pending: list[_Item]) -> None:
        groups: dict[Hashable, list[list[_Item]]] = {}
        for it in pending:
            chunks = groups.setdefault(it.key, [[]])
            if chunks[-1] and sum(x.size for x in chunks[-1]) + it.size > self.max_size:
                chunks.append([])
            chunks[-1].append(it)
        for chunks in groups.values():
            for chunk in chunks:
                self._run_batch(chunk)

    def _run_batch(self, batch: list[_Item]) -> None:
        self.batches += 1
        self.items += len(batch)
        try:
            results = batch[0].fn([it.payload for it in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"batch function returned {len(results)} results for "
                                   f"{len(batch)} payloads")  # fmt: skip
        except BaseException as exc:
            if len(batch) == 1:
                self._finish(batch[0], error=exc)
                return
            for it in batch:  # alone, so that only the faulty request fails
                self._run_batch([it])
            return
        for it, r in zip(batch, results, strict=True):
            self._finish(it, result=r)

    @staticmethod
    def _finish(item: _Item, result: Any = None, error: BaseException | None = None) -> None:
        item.result, item.error, item.done = result, error, True
