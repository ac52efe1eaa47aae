"""Prometheus metrics, through ``prometheus_client``.

Request counts and latency histograms per endpoint (route template, not raw path), decisions
per action, reviews, webhook deliveries, micro-batches, model versions in use
(``scoring_model_version`` and ``scoring_model_info``), reloads, drift and alerts, and the
process's own metrics (CPU, memory, open files) with one worker.

With several worker processes (``scoring serve --workers N``) every worker writes its values to
``PROMETHEUS_MULTIPROC_DIR`` (``scoring serve`` creates a fresh one when it is not set) and any
worker answering ``/metrics`` aggregates them all: counters and histograms are summed over the
workers, gauges take the most recent value (``scoring_ready``: the lowest over the live workers),
so a scrape that lands on any worker sees the whole service.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
    multiprocess,
)

#: Latency histogram buckets, seconds.
BUCKETS = (0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """The service's metrics of one process (see the module docstring)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.multiprocess = multiprocess_dir() is not None
        if not self.multiprocess:
            ProcessCollector(registry=self.registry)
            PlatformCollector(registry=self.registry)
        r = self.registry
        self._lock = threading.Lock()
        self.started = time.time()
        self.requests = Counter("scoring_requests", "HTTP requests by endpoint and status.",
                                ["endpoint", "method", "status"], registry=r)  # fmt: skip
        self.duration = Histogram("scoring_request_duration_seconds",
                                  "Time from request to response, by endpoint.",
                                  ["endpoint", "method"], buckets=BUCKETS, registry=r)  # fmt: skip
        self.decisions = Counter("scoring_decisions", "Decisions taken, by action.", ["action"],
                                 registry=r)  # fmt: skip
        self.arms = Counter("scoring_decisions_by_arm",
                            "Decisions by arm of the champion/challenger split.", ["arm"],
                            registry=r)  # fmt: skip
        self.flagged = Counter("scoring_decisions_requiring_review",
                               "Decisions returned with requires_review (GDPR art. 22).",
                               registry=r)  # fmt: skip
        self.unknown = Counter("scoring_unknown_values",
                               "Cases with a value never seen in training, by field.", ["field"],
                               registry=r)  # fmt: skip
        self.batches = Counter("scoring_batches", "Micro-batches run, by endpoint.", ["endpoint"],
                               registry=r)  # fmt: skip
        self.batched = Counter("scoring_batched_requests",
                               "Requests served by micro-batches, by endpoint (divided by "
                               "scoring_batches_total: the mean batch size).", ["endpoint"],
                               registry=r)  # fmt: skip
        self.reloads = Counter("scoring_model_reloads", "Model reloads by result.", ["result"],
                               registry=r)  # fmt: skip
        self.reviews = Counter("scoring_review_events",
                               "Review verdicts (approve, reject, replace) and contests recorded.",
                               ["event"], registry=r)  # fmt: skip
        self.webhook = Counter("scoring_webhook_deliveries",
                               "Webhook delivery attempts by result (delivered, retried, failed).",
                               ["result"], registry=r)  # fmt: skip
        self.version = Gauge("scoring_model_version", "Registry version of each model in use.",
                             ["model"], multiprocess_mode="mostrecent", registry=r)  # fmt: skip
        self.info = Gauge("scoring_model_info",
                          "1 for each model version in use (labels: model, version).",
                          ["model", "version"], multiprocess_mode="livemostrecent",
                          registry=r)  # fmt: skip
        self.ready = Gauge("scoring_ready", "1 when models are loaded and requests are served.",
                           multiprocess_mode="livemin", registry=r)  # fmt: skip
        self.start_time = Gauge("scoring_start_time_seconds",
                                "Start time of the process (epoch).", multiprocess_mode="min",
                                registry=r)  # fmt: skip
        self.start_time.set(self.started)
        self.ready.set(0)
        self._gauges: dict[str, Gauge] = {}
        self._versions: dict[str, str] = {}

    # -- recording -----------------------------------------------------------------
    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(endpoint, method, str(status)).inc()
        self.duration.labels(endpoint, method).observe(seconds)

    def count_decisions(self, actions: list[str], reviews: int = 0) -> None:
        for a in actions:
            self.decisions.labels(a).inc()
        if reviews:
            self.flagged.inc(reviews)

    def count_arms(self, champion: int, challenger: int) -> None:
        if champion:
            self.arms.labels("champion").inc(champion)
        if challenger:
            self.arms.labels("challenger").inc(challenger)

    def count_unknown(self, fields: list[str]) -> None:
        for f in fields:
            self.unknown.labels(f).inc()

    def count_batch(self, endpoint: str, requests: int) -> None:
        """One micro-batch of ``requests`` requests run together."""
        self.batches.labels(endpoint).inc()
        self.batched.labels(endpoint).inc(requests)

    def count_review(self, event: str) -> None:
        """A review verdict (approve, reject, replace) or a contest."""
        self.reviews.labels(event).inc()

    def count_webhook(self, result: str) -> None:
        self.webhook.labels(result).inc()

    def count_reload(self, result: str) -> None:
        self.reloads.labels(result).inc()

    def set_gauge(
        self, name: str, help_: str, values: dict[tuple[tuple[str, str], ...], float]
    ) -> None:
        """Set the gauge ``name`` (labels -> value); label sets no longer given are removed."""
        if not values and name not in self._gauges:
            return
        with self._lock:
            g = self._gauges.get(name)
            if g is None:
                labels = [k for k, _ in next(iter(values))] if values else []
                g = self._gauges[name] = Gauge(name, help_, labels, registry=self.registry,
                                               multiprocess_mode="livemostrecent")  # fmt: skip
            if not self.multiprocess:
                g.clear()
            for lab, v in values.items():
                g.labels(*[v_ for _, v_ in lab]).set(v)

    def set_models(self, versions: dict[str, str], ready: bool) -> None:
        with self._lock:
            for k, v in self._versions.items():
                if versions.get(k) != v:
                    with contextlib.suppress(KeyError):
                        self.info.remove(k, str(v))
            self._versions = dict(versions)
            for k, v in versions.items():
                self.info.labels(k, str(v)).set(1)
                try:
                    self.version.labels(k).set(float(v))
                except (TypeError, ValueError):
                    continue
            self.ready.set(int(ready))

    # -- exposition ----------------------------------------------------------------
    def render(self) -> str:
        """All metrics in the Prometheus text format (every worker's, in multiprocess mode)."""
        if self.multiprocess:
            merged = CollectorRegistry()
            multiprocess.MultiProcessCollector(merged)
            return generate_latest(merged).decode("utf-8")
        return generate_latest(self.registry).decode("utf-8")


class MetricsMiddleware:
    """Pure ASGI middleware timing every HTTP request (cheaper than ``BaseHTTPMiddleware``).

    The endpoint label is the matched route's template (``/decisions/{decision_id}``), or
    ``unmatched`` for paths no route serves, so labels stay bounded.
    """

    def __init__(self, app, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = {"code": 500}

        async def send_wrapper(message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route = scope.get("route")
            endpoint = getattr(route, "path", None) or "unmatched"
            self.metrics.observe_request(
                endpoint, scope.get("method", ""), status["code"], time.perf_counter() - start
            )
