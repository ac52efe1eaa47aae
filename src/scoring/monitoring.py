"""Drift and alert monitoring of the running service (configuration:
``scoring/config/monitoring.yaml``).

Every scored case (``/score`` and ``/next-action``) is put in the bins of the training-period
profile of each risk model (:mod:`scoring.models.drift`); the bins, not the values, are
written in the background to the audit store's ``drift_samples`` table, which several
replicas share. :meth:`Monitor.drift` computes the PSI of every feature and of both scores for
each window (7 and 30 days by default), at most once per ``refresh_seconds``, and exports the
figures as Prometheus gauges.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field

from scoring.configuration import FrozenConfig, load_yaml_config
from scoring.models.drift import case_bins, psi_table


class DriftConfig(FrozenConfig):
    windows_days: tuple[int, ...] = Field((7, 30), min_length=1)
    warn_psi: float = Field(0.1, gt=0)
    alert_psi: float = Field(0.25, gt=0)
    min_cases: int = Field(200, ge=1)
    refresh_seconds: float = Field(60.0, ge=0)
    #: features shown but never judged: the calendar of the scoring instant differs from the
    #: training period's by construction in any short window
    ignore: tuple[str, ...] = ("month", "weekday")


class AlertConfig(FrozenConfig):
    default_jump: float = Field(0.15, gt=0, le=1)
    default_jump_days: int = Field(60, ge=1)
    promise_grace_days: int = Field(2, ge=0)
    promise_days: int = Field(14, ge=1)
    invoice_dispute: float = Field(0.5, gt=0, le=1)
    review_wait_hours: float = Field(48.0, gt=0)
    lookback_days: int = Field(30, ge=1)


class MonitoringConfig(FrozenConfig):
    version: str = "default"
    drift: DriftConfig = DriftConfig()
    alerts: AlertConfig = AlertConfig()


def load_monitoring_config(path: str | Path | None = None) -> MonitoringConfig:
    p = path or resources.files("scoring") / "config" / "monitoring.yaml"
    return load_yaml_config(MonitoringConfig, str(p), "monitoring configuration")


def verdict(value: float, n: int, cfg: DriftConfig, name: str = "") -> str:
    """stable / watch / alert / too_few (/ ignored) for one PSI figure."""
    if name in cfg.ignore:
        return "ignored"
    if n < cfg.min_cases or not np.isfinite(value):
        return "too_few"
    return "alert" if value >= cfg.alert_psi else "watch" if value >= cfg.warn_psi else "stable"


class Monitor:
    """Drift samples in, PSI tables out (cached)."""

    def __init__(self, store, config: MonitoringConfig, metrics=None) -> None:
        self.store = store
        self.config = config
        self.metrics = metrics
        self._lock = threading.Lock()
        self._cache: tuple[float, Any, dict[str, Any]] | None = None
        self._alerts_cache: tuple[float, list[dict[str, Any]]] | None = None
        self._pushed: set[str] = set()

    def alerts(self, force: bool = False, notify=None) -> list[dict[str, Any]]:
        """The alerts in force (:mod:`scoring.alerts`), cached like the drift figures;
        exported as ``scoring_alerts{kind}``; each new one is passed to ``notify`` once."""
        from scoring.alerts import KINDS, compute_alerts

        with self._lock:
            c = self._alerts_cache
            fresh = c is not None and time.monotonic() - c[0] < self.config.drift.refresh_seconds
            if fresh and not force:
                return c[1]  # type: ignore[index]
        found = compute_alerts(self.store, self.config.alerts)
        if self.metrics is not None:
            counts = {(("kind", k),): float(sum(a["kind"] == k for a in found)) for k in KINDS}
            self.metrics.set_gauge("scoring_alerts", "Alerts in force, by kind.", counts)
        with self._lock:
            self._alerts_cache = (time.monotonic(), found)
            new = [a for a in found if a["alert_id"] not in self._pushed]
            self._pushed.update(a["alert_id"] for a in new)
        if notify is not None:
            for a in new:
                notify("alert.raised", a)
        return found

    def observe(self, bundle, scores) -> None:
        """Queue the bins of a batch of scored cases (nothing when the models carry no
        reference profile: trained before the monitor existed). The bins are computed by the
        background writer, not on the request's path."""
        now = dt.datetime.now(dt.UTC)
        todo = []
        for key, model in bundle.risk_models.items():
            ref = model.info.get("reference")
            M = scores.matrices.get(key)
            if not ref or M is None or key not in scores.case_probability:
                continue
            todo.append((key, ref, M, scores.case_probability[key]))
        if not todo:
            return

        def rows() -> list[dict[str, Any]]:
            out = []
            for key, ref, M, p in todo:
                bins = case_bins(ref, M, p)
                out.append({"recorded_at": now, "model": key, "profile_id": ref["id"],
                            "n": len(bins), "bins": bins.tolist()})  # fmt: skip
            return out

        self.store.queue_drift(rows)

    def drift(self, bundle, force: bool = False) -> dict[str, Any]:
        """``{"models": {key: {"windows": {days: {"n", "rows": [{name, psi, n, verdict}],
        "max_psi", "verdict"}}}}, "alert": bool, "computed_at"}``."""
        cfg = self.config.drift
        with self._lock:
            c = self._cache
            if (
                not force
                and c is not None
                and c[1] is bundle
                and time.monotonic() - c[0] < cfg.refresh_seconds
            ):
                return c[2]
        out: dict[str, Any] = {"models": {}, "alert": False, "computed_at": dt.datetime.now(dt.UTC),
                               "thresholds": cfg.model_dump()}  # fmt: skip
        gauges: dict[tuple, float] = {}
        flags: dict[tuple, float] = {}
        for key, model in bundle.risk_models.items() if bundle is not None else []:
            ref = model.info.get("reference")
            if not ref:
                out["models"][key] = {"unavailable": "this model version was trained without a "
                                      "reference profile: retrain to monitor drift"}  # fmt: skip
                continue
            windows = {}
            longest = max(cfg.windows_days)
            since = dt.datetime.now(dt.UTC) - dt.timedelta(days=longest)
            samples = self.store.drift_samples(key, ref["id"], since)
            for days in cfg.windows_days:
                start = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
                parts = [np.asarray(b, dtype=np.int16) for t, b in samples if t >= start]
                bins = (
                    np.concatenate(parts)
                    if parts
                    else np.zeros((0, len(ref["features"]) + 1), np.int16)
                )
                rows = psi_table(ref, bins)
                for r in rows:
                    r["verdict"] = verdict(r["psi"], r["n"], cfg, r["name"])
                    if np.isfinite(r["psi"]):
                        gauges[(("model", key), ("feature", r["name"]), ("window", f"{days}d"))] = (
                            r["psi"]
                        )
                judged = [
                    r["psi"] for r in rows if np.isfinite(r["psi"]) and r["verdict"] != "ignored"
                ]
                worst = max(judged, default=float("nan"))
                v = verdict(worst, len(bins), cfg)
                windows[days] = {"n": len(bins), "rows": rows, "max_psi": worst, "verdict": v}
                flags[(("model", key), ("window", f"{days}d"))] = float(v == "alert")
                out["alert"] |= v == "alert"
            out["models"][key] = {"windows": windows, "reference_cases": ref.get("n")}
        if self.metrics is not None:
            self.metrics.set_gauge("scoring_drift_psi", "Population stability index of each "
                                   "feature and score vs the training period, by window.", gauges)  # fmt: skip
            self.metrics.set_gauge("scoring_drift_alert", "1 when a PSI of the window is above "
                                   "the alert threshold (with enough cases).", flags)  # fmt: skip
        with self._lock:
            self._cache = (time.monotonic(), bundle, out)
        return out
