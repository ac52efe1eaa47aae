"""Champion and challenger side by side in production (test and learn).

A split (started with ``scoring experiment start --share S``, stored in the registry so every
replica follows it) sends a share ``S`` of debtors, chosen by a stable hash of the debtor id
and the split's salt, to the challenger release: their ``/next-action`` decisions are made
by the challenger's models (its policy with the risk models of its training run); everyone
else, and every ``/score``, by the champion. Each decision records its ``arm``, the model
versions that made it and its propensity under that arm's policy, so the export and the
off-policy estimates can compare the arms on the same period. Stopping the split
(``scoring experiment stop``) takes effect at the next poll, without a restart.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from scoring.service import Bundle

log = logging.getLogger("scoring.api")

CHAMPION_ARM, CHALLENGER_ARM = "champion", "challenger"


def arm_of(debtor_id: str, share: float, salt: str) -> str:
    """The arm of a debtor: ``challenger`` when the hash of ``salt|debtor_id`` mapped to
    [0, 1) is below ``share``. Stable for a split (same salt), independent of everything
    the models see, so the arms are comparable."""
    digest = hashlib.sha256(f"{salt}|{debtor_id}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return CHALLENGER_ARM if u < share else CHAMPION_ARM


@dataclass(frozen=True)
class Split:
    """A split in force: the challenger release's versions and the debtors' share."""

    share: float
    salt: str
    versions: dict[str, int]
    started_at: str | None = None
    started_by: str | None = None
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @classmethod
    def of(cls, record: dict) -> Split:
        return cls(
            float(record["share"]),
            str(record["salt"]),
            dict(record["versions"]),
            record.get("at"),
            record.get("by"),
            record.get("reason", ""),
        )

    def arm(self, debtor_id: str) -> str:
        return arm_of(debtor_id, self.share, self.salt)


SplitReader = Callable[[], dict | None]
SplitLoader = Callable[[dict[str, int]], Bundle]


class Experiment:
    """The split in force and the challenger bundle, swapped together (one assignment)."""

    def __init__(self, reader: SplitReader | None, loader: SplitLoader | None) -> None:
        self.reader = reader
        self.loader = loader
        self.current: tuple[Split, Bundle] | None = None
        self.error: str | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def set(self, split: Split | None, bundle: Bundle | None = None) -> None:
        """Force a split (tests, or a service started with fixed bundles)."""
        self.current = None if split is None or bundle is None else (split, bundle)

    def poll_once(self) -> bool:
        """Follow the registry's split; True when it changed. A failure keeps what is in use."""
        if self.reader is None or self.loader is None:
            return False
        with self._lock:
            try:
                record = self.reader()
            except Exception as exc:  # registry unreachable: keep the split in use
                self.error = f"cannot read the split: {exc}"
                return False
            split = Split.of(record) if record else None
            cur = self.current
            if split is None:
                if cur is not None:
                    log.info("champion/challenger split stopped: every decision by the champion")
                self.current, self.error = None, None
                return cur is not None
            if cur is not None and cur[0] == split:
                return False
            try:
                bundle = self.loader(split.versions)
            except Exception as exc:  # noqa: BLE001 - the champion keeps deciding for all
                self.error = f"loading the challenger release failed: {exc}"
                log.error("split not applied: %s", self.error)
                return False
            self.current, self.error = (split, bundle), None
            log.info(
                "champion/challenger split: %.0f%% of debtors to %s",
                100 * split.share,
                ", ".join(f"{k} v{v}" for k, v in sorted(split.versions.items())),
            )
            return True

    def start_polling(self, interval: float) -> None:
        if self.reader is None or interval <= 0 or self._thread is not None:
            return

        def run() -> None:
            self.poll_once()
            while not self._stop.wait(interval):
                self.poll_once()

        self._thread = threading.Thread(target=run, name="scoring-split-poll", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def describe(self, decisions_by_arm: dict[str, int] | None = None) -> dict[str, Any] | None:
        """What ``/models`` shows of the split (``None`` without one)."""
        cur = self.current
        if cur is None:
            return None
        split, bundle = cur
        return {
            "share": split.share,
            "challenger_versions": {k: str(v) for k, v in sorted(split.versions.items())},
            "started_at": split.started_at,
            "started_by": split.started_by,
            "reason": split.reason,
            "policy_ready": bundle.policy is not None,
        }
