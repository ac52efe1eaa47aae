"""The models in use, swapped atomically when the registry alias moves.

A request reads :attr:`BundleHolder.current` once and keeps that :class:`Bundle` until it
answers, so a reload never changes the models under a request in flight: the new bundle is
loaded aside and then the reference is replaced (a single assignment, atomic in Python).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable

from scoring.service import Bundle

log = logging.getLogger("scoring.api")

BundleLoader = Callable[[], Bundle]
VersionProbe = Callable[[], dict[str, int | None]]


class ReloadError(RuntimeError):
    """Loading models failed; the bundle in use (if any) is kept."""


class BundleHolder:
    """Holds the bundle in use, reloads it on demand or when the alias moves."""

    def __init__(
        self,
        loader: BundleLoader | None,
        alias: str,
        probe: VersionProbe | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.loader = loader
        self.alias = alias
        self.probe = probe
        self.on_change = on_change
        self.current: Bundle | None = None
        self.loaded_at: dt.datetime | None = None
        self.reason: str | None = "models not loaded yet"
        self._reload_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_poll_error: str | None = None

    def set(self, bundle: Bundle) -> None:
        self.current = bundle  # the atomic swap
        self.loaded_at = dt.datetime.now(dt.UTC)
        self.reason = None
        if self.on_change:
            self.on_change()

    def reload(self) -> tuple[Bundle, Bundle | None]:
        """Load the bundle and swap it in; returns (new, previous). Raises :class:`ReloadError`."""
        if self.loader is None:
            raise ReloadError("this service was started with a fixed bundle and no loader")
        with self._reload_lock:
            previous = self.current
            try:
                bundle = self.loader()
            except Exception as exc:
                why = _explain(exc, self.alias)
                if previous is None:
                    self.reason = why
                    if self.on_change:
                        self.on_change()
                raise ReloadError(why) from exc
            self.set(bundle)
        log.info(
            "models loaded from alias %r: %s",
            self.alias,
            ", ".join(f"{k} v{v}" for k, v in bundle.model_versions().items()),
        )
        return bundle, previous

    def load_at_start(self) -> None:
        """First load; on failure the service stays not-ready and says why."""
        try:
            self.reload()
        except ReloadError as exc:
            log.error("service not ready: %s", exc)

    # -- polling ---------------------------------------------------------------------
    def poll_once(self) -> bool:
        """Reload if the alias now points at other versions (or nothing is loaded)."""
        if self.probe is None:
            return False
        try:
            latest = self.probe()
        except Exception as exc:  # registry unreachable: keep serving what we have
            msg = f"cannot read alias {self.alias!r}: {exc}"
            if msg != self._last_poll_error:
                log.warning(msg)
                self._last_poll_error = msg
            return False
        self._last_poll_error = None
        cur = self.current
        have = dict(cur.versions) if cur is not None else {}
        if cur is not None and all(have.get(k) == v for k, v in latest.items()):
            return False
        if cur is None and all(v is None for v in latest.values()):
            missing = [k for k, v in latest.items() if v is None]
            self.reason = f"no version under alias {self.alias!r} for {', '.join(missing)}"
            return False
        log.info("alias %r moved: %s -> %s", self.alias, have, latest)
        try:
            self.reload()
        except ReloadError as exc:
            log.error("reload failed, keeping the models in use: %s", exc)
            return False
        return True

    def start_polling(self, interval: float) -> None:
        if self.probe is None or interval <= 0 or self._thread is not None:
            return

        def run() -> None:
            while not self._stop.wait(interval):
                self.poll_once()

        self._thread = threading.Thread(target=run, name="scoring-alias-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None


def _explain(exc: Exception, alias: str) -> str:
    from scoring.registry import ModelNotFound

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if isinstance(exc, ModelNotFound):
        return f"no models under alias {alias!r} in the registry (run `scoring train`): {text}"
    return f"loading models from alias {alias!r} failed: {type(exc).__name__}: {text}"
