"""Notifications to the collection software: a review or contest resolved, an alert raised.

Optional: set ``SCORING_WEBHOOK_URL`` (and ``SCORING_WEBHOOK_SECRET``, 16+ characters). Each
event is POSTed as JSON by a background thread, so the request that caused it never waits::

    {"event": "review.resolved", "delivery_id": "...", "sent_at": "...", "data": {...}}

with headers ``X-Scoring-Event``, ``X-Scoring-Delivery`` (the same id on every retry: the
receiver can deduplicate), ``X-Scoring-Timestamp`` (Unix seconds) and ``X-Scoring-Signature:
sha256=<hex>``, the HMAC-SHA256 with the secret of ``"<timestamp>.<raw body>"``. The receiver
recomputes it and rejects old timestamps (replays). A delivery that fails (connection error,
timeout, non-2xx answer) is retried ``SCORING_WEBHOOK_RETRIES`` times with exponential backoff
(1, 2, 4 ... seconds, capped at 60); the outcome of each is counted in
``scoring_webhook_deliveries_total{result}``. Deliveries still queued when the service stops
are logged (the state itself is always in ``GET /reviews`` and ``GET /decisions/{id}``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import queue
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger("scoring.webhook")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Scoring-Signature`` value of a body."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    """What a receiver does: compare signatures in constant time."""
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


class Webhook:
    """A queue of events and the thread that delivers them with retries."""

    def __init__(
        self,
        url: str,
        secret: str,
        retries: int = 5,
        timeout: float = 5.0,
        backoff: float = 1.0,
        on_result: Callable[[str], None] | None = None,
    ) -> None:
        if not url.startswith(("http://", "https://")):
            raise ValueError("SCORING_WEBHOOK_URL must start with http:// or https://")
        if len(secret) < 16:
            raise ValueError("SCORING_WEBHOOK_SECRET must hold 16 characters or more")
        self.url, self._secret = url, secret
        self.retries, self.timeout, self.backoff = retries, timeout, backoff
        self._on_result = on_result or (lambda _r: None)
        self._queue: queue.Queue = queue.Queue()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="webhook", daemon=True)
        self._thread.start()

    def send(self, event: str, data: dict[str, Any]) -> str:
        """Queue an event; returns its delivery id."""
        did = uuid.uuid4().hex
        payload = {
            "event": event,
            "delivery_id": did,
            "sent_at": datetime.now(UTC).isoformat(),
            "data": data,
        }
        self._queue.put(payload)
        return did

    def _post(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload, default=str, separators=(",", ":")).encode("utf-8")
        ts = str(int(time.time()))
        req = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "User-Agent": "scoring-webhook/1",
                "X-Scoring-Event": payload["event"],
                "X-Scoring-Delivery": payload["delivery_id"],
                "X-Scoring-Timestamp": ts,
                "X-Scoring-Signature": sign(self._secret, ts, body),
            },
        )
        with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
            if not 200 <= resp.status < 300:
                raise urllib.error.HTTPError(self.url, resp.status, "not 2xx", resp.headers, None)

    def _deliver(self, payload: dict[str, Any]) -> None:
        for attempt in range(self.retries + 1):
            try:
                self._post(payload)
                self._on_result("delivered")
                return
            except Exception as exc:  # network errors, HTTP errors: retried
                if attempt == self.retries:
                    log.error(
                        "webhook %s (%s) not delivered after %d attempts: %s",
                        payload["event"],
                        payload["delivery_id"],
                        attempt + 1,
                        exc,
                    )
                    self._on_result("failed")
                    return
                self._on_result("retried")
                if self._stop.wait(min(60.0, self.backoff * 2**attempt)):
                    return

    def _run(self) -> None:
        while True:
            payload = self._queue.get()
            try:
                if payload is None:
                    return
                self._deliver(payload)
            finally:
                self._queue.task_done()

    def join(self, timeout: float = 10.0) -> bool:
        """Wait until the queue is empty (tests); True if it emptied in time."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        left = self._queue.qsize()
        if left:
            log.warning("%d webhook deliveries still queued at shutdown are dropped", left)
        self._stop.set()
        self._queue.put(None)
        self._thread.join(5)
