"""Human oversight and drift figures for the report, read from the audit trail: the review
loop's summary (:meth:`scoring.review.ReviewBook.summary`) and the PSI of each risk model per
window (:meth:`scoring.monitoring.Monitor.drift`). Read-only: the report opens the audit trail
on a bare engine (opening an :class:`~scoring.audit.AuditStore` would create the database and
its HMAC key) and never writes to it."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

import numpy as np
import pandas as pd

from scoring.audit import AuditStore
from scoring.compliance_report.kpi_tables import MIN_N, rate_text, too_few
from scoring.monitoring import Monitor, MonitoringConfig
from scoring.review import APPROVED, CONTESTED, PENDING, REJECT_REASONS, REJECTED, REPLACED

#: how many of the most drifted features the report lists per model and window
TOP_FEATURES = 5


class AuditReader:
    """What :class:`~scoring.review.ReviewBook` and :class:`~scoring.monitoring.Monitor` read
    of an audit store, on an engine (None: no audit trail yet). It has no writing method."""

    def __init__(self, engine) -> None:
        self.engine = engine

    def has_table(self, name: str) -> bool:
        import sqlalchemy as sa

        return self.engine is not None and sa.inspect(self.engine).has_table(name)

    def drift_samples(
        self, model: str, profile_id: str, since: dt.datetime
    ) -> list[tuple[dt.datetime, list]]:
        """As :meth:`scoring.audit.AuditStore.drift_samples` (which only reads ``engine``);
        none without an audit trail or a drift table."""
        if not self.has_table("drift_samples"):
            return []
        return AuditStore.drift_samples(cast(AuditStore, self), model, profile_id, since)


def _pydatetime(t: Any) -> dt.datetime | None:
    if t is None:
        return None
    ts = pd.Timestamp(t)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.to_pydatetime()


def review_figures(
    engine, since: Any = None, until: Any = None, decision_ids: set[str] | None = None
) -> dict[str, Any] | None:
    """:meth:`scoring.review.ReviewBook.summary` of the decisions taken in ``[since, until)``
    (naive times are UTC), or None without an audit trail or with one written before the
    review loop (no ``reviews`` table)."""
    from scoring.review import ReviewBook

    reader = AuditReader(engine)
    if not (reader.has_table("decisions") and reader.has_table("reviews")):
        return None
    book = ReviewBook(cast(AuditStore, reader))
    return book.summary(_pydatetime(since), _pydatetime(until), decision_ids)


def review_tables(summary: dict[str, Any], min_n: int = MIN_N) -> dict[str, pd.DataFrame]:
    """The review summary as tables, each rate with its sample size (below ``min_n``: too few).

    ``statuses``: where the decisions that entered review (flagged, or contested) stand now;
    ``verdicts``: the reviewers' verdicts; ``reject_reasons``: the reasons of the rejections,
    with their text (:data:`scoring.review.REJECT_REASONS`); ``contests``: how the debtors'
    contests ended."""
    st = summary["statuses"]
    entered = sum(st[s] for s in (PENDING, CONTESTED, APPROVED, REJECTED, REPLACED))
    status_rows = [
        (APPROVED, "approved by a reviewer (may be executed)"),
        (REJECTED, "rejected by a reviewer (never executed)"),
        (REPLACED, "replaced by another action the rules allow"),
        (PENDING, "flagged, waiting for a reviewer"),
        (CONTESTED, "contested by the debtor, waiting for a reviewer"),
    ]
    statuses = pd.DataFrame(
        [
            {
                "status": s,
                "meaning": m,
                "decisions": st[s],
                "rate": rate_text(st[s], entered, min_n),
            }
            for s, m in status_rows
        ],
        columns=["status", "meaning", "decisions", "rate"],
    )
    v = summary["verdicts"]
    n_verdicts = sum(v.values())
    verdicts = pd.DataFrame(
        [
            {"verdict": k, "count": int(n), "rate": rate_text(int(n), n_verdicts, min_n)}
            for k, n in v.items()
        ],
        columns=["verdict", "count", "rate"],
    )
    reasons = summary["reject_reasons"]
    n_reasons = sum(reasons.values())
    reject_reasons = pd.DataFrame(
        [
            {
                "code": code,
                "reason": REJECT_REASONS.get(code, "(code unknown to this version)"),
                "rejections": int(n),
                "rate": rate_text(int(n), n_reasons, min_n),
            }
            for code, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        columns=["code", "reason", "rejections", "rate"],
    )
    c = summary["contests"]
    contest_rows = [
        ("decision_upheld", "the reviewer approved the contested decision"),
        ("decision_withdrawn", "the reviewer rejected it (contest founded)"),
        ("decision_replaced", "the reviewer replaced it with another action"),
        ("open", "still waiting for a reviewer"),
    ]
    contests = pd.DataFrame(
        [
            {
                "ending": k,
                "meaning": m,
                "contests": c[k],
                "rate": rate_text(c[k], c["contests"], min_n),
            }
            for k, m in contest_rows
        ],
        columns=["ending", "meaning", "contests", "rate"],
    )
    return {
        "statuses": statuses,
        "verdicts": verdicts,
        "reject_reasons": reject_reasons,
        "contests": contests,
    }


def wait_text(summary: dict[str, Any], min_n: int = MIN_N) -> str:
    """The median and 90th percentile of the hours a verdict took, with the number of
    verdicts behind them (below ``min_n``: too few)."""
    n = sum(summary["verdicts"].values())
    if n == 0:
        return "no verdict yet"
    if n < min_n:
        return too_few(n, min_n)
    return (
        f"median {summary['wait_hours_median']:.1f} h, 90th percentile "
        f"{summary['wait_hours_p90']:.1f} h (n = {n} verdicts)"
    )


def drift_figures(engine, bundle, config: MonitoringConfig) -> dict[str, Any]:
    """:meth:`scoring.monitoring.Monitor.drift` of the risk models of ``bundle`` on the drift
    samples of the audit trail (windows ending now), computed afresh."""
    return Monitor(AuditReader(engine), config).drift(bundle, force=True)


def _is_feature(name: str) -> bool:
    return not name.startswith("score:")


def _psi(v: float) -> float | None:
    return float(v) if np.isfinite(v) else None


def drift_tables(model: dict[str, Any], top: int = TOP_FEATURES) -> dict[str, pd.DataFrame]:
    """One model's entry of :func:`drift_figures` as tables: ``windows`` (cases, largest PSI
    over features and score, PSI of the score, verdict) and ``features`` (the ``top`` most
    drifted features of each window that has cases)."""
    wins, feats = [], []
    for days, w in model["windows"].items():
        rows = w["rows"]
        score = next((r for r in rows if not _is_feature(r["name"])), None)
        wins.append(
            {
                "window (days)": int(days),
                "cases": int(w["n"]),
                "largest PSI": _psi(w["max_psi"]),
                "score PSI": _psi(score["psi"]) if score is not None else None,
                "verdict": w["verdict"],
            }
        )
        ranked = [r for r in rows if _is_feature(r["name"]) and np.isfinite(r["psi"])]
        for rank, r in enumerate(ranked[:top], 1):
            feats.append(
                {
                    "window (days)": int(days),
                    "rank": rank,
                    "feature": r["name"],
                    "PSI": float(r["psi"]),
                    "cases": int(r["n"]),
                    "verdict": r["verdict"],
                }
            )
    return {
        "windows": pd.DataFrame(
            wins, columns=["window (days)", "cases", "largest PSI", "score PSI", "verdict"]
        ),
        "features": pd.DataFrame(
            feats, columns=["window (days)", "rank", "feature", "PSI", "cases", "verdict"]
        ),
    }
