"""Prometheus metrics in the text exposition format (version 0.0.4), without dependencies.

Request counts and latency histograms per endpoint (route template, not raw path), decisions
per action, model versions in use and reloads. Each worker process keeps its own counters,
like ``prometheus_client`` without its multiprocess mode: scrape each worker, or run one
worker per container.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import defaultdict

#: Latency histogram buckets, seconds.
BUCKETS = (0.0025, 0.005, 0.01, 0.015, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    if not pairs:
        return ""
    esc = ((k, v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')) for k, v in pairs)
    return "{" + ",".join(f'{k}="{v}"' for k, v in esc) + "}"


def _num(v: float) -> str:
    if v == float("inf"):
        return "+Inf"
    return repr(float(v)) if not float(v).is_integer() else str(int(v))


class Metrics:
    """Thread-safe counters, gauges and histograms of one process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.time()
        self._requests: dict[tuple, float] = defaultdict(float)
        self._hist: dict[tuple, list[float]] = {}
        self._hist_sum: dict[tuple, float] = defaultdict(float)
        self._hist_count: dict[tuple, int] = defaultdict(int)
        self._decisions: dict[str, float] = defaultdict(float)
        self._reviews = 0.0
        self._unknown: dict[str, float] = defaultdict(float)
        self._reloads: dict[str, float] = defaultdict(float)
        self._batches: dict[str, float] = defaultdict(float)
        self._batched: dict[str, float] = defaultdict(float)
        self._versions: dict[str, str] = {}
        self._ready = 0
        self._review_events: dict[str, float] = defaultdict(float)
        self._webhook: dict[str, float] = defaultdict(float)
        #: gauges set from outside (drift, alerts): name -> (help, {labels: value})
        self._gauges: dict[str, tuple[str, dict[tuple[tuple[str, str], ...], float]]] = {}

    # -- recording -----------------------------------------------------------------
    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        key = (endpoint, method)
        i = bisect.bisect_left(BUCKETS, seconds)
        with self._lock:
            self._requests[(endpoint, method, str(status))] += 1
            h = self._hist.get(key)
            if h is None:
                h = self._hist[key] = [0.0] * (len(BUCKETS) + 1)
            h[i] += 1
            self._hist_sum[key] += seconds
            self._hist_count[key] += 1

    def count_decisions(self, actions: list[str], reviews: int = 0) -> None:
        with self._lock:
            for a in actions:
                self._decisions[a] += 1
            self._reviews += reviews

    def count_unknown(self, fields: list[str]) -> None:
        with self._lock:
            for f in fields:
                self._unknown[f] += 1

    def count_batch(self, endpoint: str, requests: int) -> None:
        """One micro-batch of ``requests`` requests run together."""
        with self._lock:
            self._batches[endpoint] += 1
            self._batched[endpoint] += requests

    def count_review(self, event: str) -> None:
        """A review verdict (approve, reject, replace) or a contest."""
        with self._lock:
            self._review_events[event] += 1

    def count_webhook(self, result: str) -> None:
        with self._lock:
            self._webhook[result] += 1

    def set_gauge(
        self, name: str, help_: str, values: dict[tuple[tuple[str, str], ...], float]
    ) -> None:
        """Replace every value of the gauge ``name`` (labels -> value)."""
        with self._lock:
            self._gauges[name] = (help_, dict(values))

    def count_reload(self, result: str) -> None:
        with self._lock:
            self._reloads[result] += 1

    def set_models(self, versions: dict[str, str], ready: bool) -> None:
        with self._lock:
            self._versions = dict(versions)
            self._ready = int(ready)

    # -- exposition ----------------------------------------------------------------
    def render(self) -> str:
        """All metrics in the Prometheus text format."""
        out: list[str] = []

        def family(name: str, kind: str, help_: str) -> None:
            out.append(f"# HELP {name} {help_}")
            out.append(f"# TYPE {name} {kind}")

        with self._lock:
            family("scoring_requests_total", "counter", "HTTP requests by endpoint and status.")
            for (ep, m, st), v in sorted(self._requests.items()):
                lab = _labels((("endpoint", ep), ("method", m), ("status", st)))
                out.append(f"scoring_requests_total{lab} {_num(v)}")
            family(
                "scoring_request_duration_seconds",
                "histogram",
                "Time from request to response, by endpoint.",
            )
            for (ep, m), h in sorted(self._hist.items()):
                acc = 0.0
                for b, c in zip((*BUCKETS, float("inf")), h, strict=True):
                    acc += c
                    lab = _labels((("endpoint", ep), ("method", m), ("le", _num(b))))
                    out.append(f"scoring_request_duration_seconds_bucket{lab} {_num(acc)}")
                lab = _labels((("endpoint", ep), ("method", m)))
                out.append(
                    f"scoring_request_duration_seconds_sum{lab} {_num(self._hist_sum[(ep, m)])}"
                )
                out.append(
                    f"scoring_request_duration_seconds_count{lab} {self._hist_count[(ep, m)]}"
                )
            family("scoring_decisions_total", "counter", "Decisions taken, by action.")
            for a, v in sorted(self._decisions.items()):
                out.append(f"scoring_decisions_total{_labels((('action', a),))} {_num(v)}")
            family(
                "scoring_decisions_requiring_review_total",
                "counter",
                "Decisions returned with requires_review (GDPR art. 22).",
            )
            out.append(f"scoring_decisions_requiring_review_total {_num(self._reviews)}")
            family(
                "scoring_unknown_values_total",
                "counter",
                "Cases with a value never seen in training, by field.",
            )
            for f, v in sorted(self._unknown.items()):
                out.append(f"scoring_unknown_values_total{_labels((('field', f),))} {_num(v)}")
            family("scoring_batches_total", "counter", "Micro-batches run, by endpoint.")
            for ep, v in sorted(self._batches.items()):
                out.append(f"scoring_batches_total{_labels((('endpoint', ep),))} {_num(v)}")
            family(
                "scoring_batched_requests_total",
                "counter",
                "Requests served by micro-batches, by endpoint (divided by scoring_batches_total:"
                " the mean batch size).",
            )
            for ep, v in sorted(self._batched.items()):
                out.append(
                    f"scoring_batched_requests_total{_labels((('endpoint', ep),))} {_num(v)}"
                )
            family("scoring_model_reloads_total", "counter", "Model reloads by result.")
            for r, v in sorted(self._reloads.items()):
                out.append(f"scoring_model_reloads_total{_labels((('result', r),))} {_num(v)}")
            family("scoring_model_version", "gauge", "Registry version of each model in use.")
            for k, v in sorted(self._versions.items()):  # type: ignore[assignment]
                try:
                    num = _num(float(v))
                except ValueError:
                    continue
                out.append(f"scoring_model_version{_labels((('model', k),))} {num}")
            family(
                "scoring_review_events_total",
                "counter",
                "Review verdicts (approve, reject, replace) and contests recorded.",
            )
            for e, v in sorted(self._review_events.items()):
                out.append(f"scoring_review_events_total{_labels((('event', e),))} {_num(v)}")
            family(
                "scoring_webhook_deliveries_total",
                "counter",
                "Webhook delivery attempts by result (delivered, retried, failed).",
            )
            for r, v in sorted(self._webhook.items()):
                out.append(f"scoring_webhook_deliveries_total{_labels((('result', r),))} {_num(v)}")
            for name, (help_, values) in sorted(self._gauges.items()):
                family(name, "gauge", help_)
                for glab, gv in sorted(values.items()):
                    out.append(f"{name}{_labels(glab)} {_num(gv)}")
            family("scoring_ready", "gauge", "1 when models are loaded and requests are served.")
            out.append(f"scoring_ready {self._ready}")
            family("scoring_start_time_seconds", "gauge", "Start time of the process (epoch).")
            out.append(f"scoring_start_time_seconds {_num(self.started)}")
        return "\n".join(out) + "\n"


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
