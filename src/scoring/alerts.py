"""Automatic alerts (alertes automatiques) computed from the audit trail.

Four kinds, thresholds in ``scoring/config/monitoring.yaml`` (``alerts:``), over the decisions,
scores and outcomes of the last ``lookback_days``:

* ``default_jump``: a debtor's default probability rose by ``default_jump`` or more since its
  previous scoring (``/score`` or ``/next-action``) within ``default_jump_days``;
* ``promise_broken``: an outcome ``promise_to_pay`` (a promise, or an accepted payment plan)
  with no payment reported since (an outcome with a paid amount, or a later case whose
  ``last_payment_date`` is on or after the promise) ``promise_days + promise_grace_days``
  after it was made (``paid_at`` of the report, when given, is the promised date);
* ``invoice_dispute``: in the debtor's latest decision, an open invoice whose dispute
  probability is ``invoice_dispute`` or more (check it before the next reminder);
* ``review_waiting``: a flagged or contested decision waiting for a reviewer longer than
  ``review_wait_hours``.

Each alert has a stable ``alert_id`` (a hash of its kind and subject), so a receiver of the
webhook, which is sent each alert once per process, can deduplicate across replicas.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import sqlalchemy as sa

from scoring.audit import decisions, outcomes, score_calls, utc_aware, utc_naive
from scoring.review import ReviewBook

KINDS = ("default_jump", "promise_broken", "invoice_dispute", "review_waiting")


def _id(*parts: Any) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def _date(v: Any) -> dt.date | None:
    if not v:
        return None
    try:
        return dt.date.fromisoformat(str(v)[:10])
    except ValueError:
        return None


def compute_alerts(store, config, now: dt.datetime | None = None) -> list[dict[str, Any]]:
    """Every alert in force (see the module doc), most recent first."""
    now = now or dt.datetime.now(dt.UTC)
    since = utc_naive(now - dt.timedelta(days=config.lookback_days + config.default_jump_days))
    out: list[dict[str, Any]] = []
    with store.engine.connect() as c:
        decs = [
            dict(r)
            for r in c.execute(
                sa.select(
                    decisions.c.decision_id, decisions.c.decided_at, decisions.c.debtor_hash,
                    decisions.c.output, decisions.c.input,
                ).where(decisions.c.decided_at >= since).order_by(decisions.c.decided_at)
            ).mappings()
        ]  # fmt: skip
        calls = c.execute(
            sa.select(score_calls.c.called_at, score_calls.c["items"]).where(
                score_calls.c.called_at >= since
            )
        ).all()
        outs = [
            dict(r)
            for r in c.execute(
                sa.select(outcomes, decisions.c.debtor_hash)
                .join(decisions, decisions.c.decision_id == outcomes.c.decision_id)
                .where(outcomes.c.recorded_at >= since)
                .order_by(outcomes.c.outcome_id)
            ).mappings()
        ]

    # 1. default probability jumps
    series: dict[str, list[tuple[dt.datetime, float, str | None]]] = {}
    for d in decs:
        p = (d["output"] or {}).get("default_probability")
        if p is not None:
            series.setdefault(d["debtor_hash"], []).append((d["decided_at"], p, d["decision_id"]))
    for t, items in calls:
        for it in items or []:
            p = it.get("default_probability")
            if p is not None and it.get("debtor_hash"):
                series.setdefault(it["debtor_hash"], []).append((t, p, None))
    recent = (now - dt.timedelta(days=config.lookback_days)).astimezone(dt.UTC).replace(tzinfo=None)
    for h, pts in series.items():
        pts.sort(key=lambda x: x[0])
        if len(pts) < 2:
            continue
        (t0, p0, _), (t1, p1, did) = pts[-2], pts[-1]
        if (
            t1 >= recent
            and p1 - p0 >= config.default_jump
            and (t1 - t0).days <= config.default_jump_days
        ):
            out.append({
                "alert_id": _id("default_jump", h, t1.isoformat()), "kind": "default_jump",
                "severity": "high" if p1 - p0 >= 2 * config.default_jump else "medium",
                "debtor_hash": h, "decision_id": did, "since": utc_aware(t1),
                "message": f"default probability {p0:.0%} -> {p1:.0%} since {t0:%Y-%m-%d}",
                "details": {"previous": p0, "current": p1, "previous_at": t0.isoformat() + "Z"},
            })  # fmt: skip

    # 2. promises not kept
    paid_after: dict[str, list[dt.date]] = {}
    for o in outs:
        if (o["paid_amount"] or 0) > 0:
            day = o["paid_at"] or (o["executed_at"] or o["recorded_at"]).date()
            paid_after.setdefault(o["debtor_hash"], []).append(day)
    for d in decs:
        last = _date(((d["input"] or {}).get("history") or {}).get("last_payment_date"))
        if last:
            paid_after.setdefault(d["debtor_hash"], []).append(last)
    grace = config.promise_days + config.promise_grace_days
    for o in outs:
        if o["outcome"] != "promise_to_pay":
            continue
        made = (o["executed_at"] or o["recorded_at"]).date()
        due = o["paid_at"] or made + dt.timedelta(days=config.promise_days)
        deadline = (
            (o["paid_at"] + dt.timedelta(days=config.promise_grace_days))
            if o["paid_at"]
            else made + dt.timedelta(days=grace)
        )
        if now.date() <= deadline:
            continue
        if any(day >= made for day in paid_after.get(o["debtor_hash"], [])):
            continue
        out.append({
            "alert_id": _id("promise_broken", o["outcome_id"]), "kind": "promise_broken",
            "severity": "high", "debtor_hash": o["debtor_hash"], "decision_id": o["decision_id"],
            "since": dt.datetime.combine(deadline, dt.time(), dt.UTC),
            "message": f"promise to pay of {made:%Y-%m-%d} (due {due:%Y-%m-%d}) not kept: "
            "no payment reported",
            "details": {"promised_on": made.isoformat(), "due": due.isoformat()},
        })  # fmt: skip

    # 3. invoices likely to be contested (the latest decision of each debtor)
    latest: dict[str, dict] = {}
    for d in decs:
        if d["decided_at"] >= recent:
            latest[d["debtor_hash"]] = d
    for h, d in latest.items():
        for inv in (d["output"] or {}).get("invoices") or []:
            p = inv.get("dispute_probability")
            if p is not None and p >= config.invoice_dispute:
                out.append({
                    "alert_id": _id("invoice_dispute", inv.get("invoice_id")), "kind": "invoice_dispute",
                    "severity": "medium", "debtor_hash": h, "decision_id": d["decision_id"],
                    "since": utc_aware(d["decided_at"]),
                    "message": f"invoice likely to be contested ({p:.0%}): check it before the next reminder",
                    "details": {"invoice_hash": inv.get("invoice_id"), "dispute_probability": p,
                                "reasons": list(inv.get("dispute_reasons") or [])[:3]},
                })  # fmt: skip

    # 4. reviews waiting too long
    limit = now - dt.timedelta(hours=config.review_wait_hours)
    for e in ReviewBook(store).queue("pending", limit=1000):
        if e["waiting_since"] <= limit:
            hours = (now - e["waiting_since"]).total_seconds() / 3600
            d = e["decision"]
            out.append({
                "alert_id": _id("review_waiting", d["decision_id"], e["waiting_since"].isoformat()),
                "kind": "review_waiting", "severity": "high" if hours > 2 * config.review_wait_hours else "medium",
                "debtor_hash": d["debtor_hash"], "decision_id": d["decision_id"], "since": e["waiting_since"],
                "message": f"{e['status']} for {hours:.0f} h ({d['action']})",
                "details": {"status": e["status"], "hours": round(hours, 1)},
            })  # fmt: skip
    out.sort(key=lambda a: a["since"], reverse=True)
    return out
