"""Human review of decisions and the debtor's right to contest (GDPR art. 22, AI Act art. 14).

A decision that the rules flag (``requires_review``: B2C formal notices and legal escalations
by default) starts ``pending_review``: the collection software must not execute it until a
person with the ``reviewer`` role approves it, or replaces it with another action the rules
allow; a rejected one is never executed. A debtor may contest a decision that was (or could
be) executed: it goes back to the queue as ``contested`` and, while it stays there, rule R9
pauses collection actions on that debtor. The reviewer's verdict resolves the contest.

Every step is a row of the ``reviews`` table, linked in the audit chain in the same
transaction as the state it was checked against (the chain head is locked first, so two
reviewers never act on the same state). A decision's status is a function of its
``requires_review`` flag and its events (:func:`status_of`)::

    not_required --contest--> contested --approve/reject/replace--> approved/rejected/replaced
    pending_review --approve/reject/replace--> approved / rejected / replaced
    approved, replaced --contest--> contested
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from scoring.audit import (
    AuditStore,
    decisions,
    outcomes,
    record_hash,
    reviews,
    utc_aware,
    utc_naive,
)

NOT_REQUIRED = "not_required"
PENDING = "pending_review"
CONTESTED = "contested"
APPROVED = "approved"
REJECTED = "rejected"
REPLACED = "replaced"
STATUSES = (NOT_REQUIRED, PENDING, CONTESTED, APPROVED, REJECTED, REPLACED)
#: statuses that wait for a reviewer
OPEN = frozenset({PENDING, CONTESTED})
VERDICTS = {"approve": APPROVED, "reject": REJECTED, "replace": REPLACED}

#: reasons a reviewer may give for a rejection (plus free text)
REJECT_REASONS: dict[str, str] = {
    "disproportionate": "The action is disproportionate to the debt or the situation.",
    "data_incorrect": "The case data is wrong or out of date.",
    "payment_or_arrangement": "A payment or an arrangement makes it unnecessary.",
    "dispute_pending": "A dispute on the debt must be settled first.",
    "vulnerable_debtor": "The debtor is in a vulnerable situation.",
    "contest_upheld": "The debtor's contest is founded.",
    "other": "Another reason (explained in the comment).",
}


class ReviewError(Exception):
    """A review step that cannot be taken: HTTP status, field at fault, problem, type."""

    def __init__(self, status: int, field: str | None, problem: str, type_: str) -> None:
        super().__init__(problem)
        self.status, self.field, self.problem, self.type = status, field, problem, type_


def status_of(requires_review: bool, events: Iterable[str]) -> str:
    """A decision's status from its flag and its events (oldest first)."""
    status = PENDING if requires_review else NOT_REQUIRED
    for e in events:
        status = CONTESTED if e == "contest" else VERDICTS.get(e, status)
    return status


def executable(status: str) -> bool:
    """May the collection software carry the decision out (or report on it)?

    Contested decisions were executable before the contest (their outcome may be reported)."""
    return status in (NOT_REQUIRED, APPROVED, REPLACED, CONTESTED)


@dataclass(frozen=True)
class Replacement:
    """The action a reviewer puts in place of the proposed one (checked by the rules)."""

    action: str
    scheduled_at: dt.datetime | None

    def as_json(self) -> dict[str, Any]:
        t = self.scheduled_at
        return {"action": self.action, "scheduled_at": t.isoformat() if t else None}


def _event_row(r: Any) -> dict[str, Any]:
    d = dict(r)
    d["recorded_at"] = utc_aware(d["recorded_at"])
    return d


class ReviewBook:
    """The review loop over an :class:`~scoring.audit.AuditStore`."""

    def __init__(self, store: AuditStore) -> None:
        self.store = store
        self.engine = store.engine

    # -- reading ------------------------------------------------------------------
    def events(self, decision_id: str, conn=None) -> list[dict[str, Any]]:
        """The review events of a decision, oldest first."""
        q = sa.select(reviews).where(reviews.c.decision_id == decision_id)
        q = q.order_by(reviews.c.review_id)
        if conn is not None:
            return [_event_row(r) for r in conn.execute(q).mappings()]
        with self.engine.connect() as c:
            return [_event_row(r) for r in c.execute(q).mappings()]

    def status(self, decision_id: str, conn=None) -> str | None:
        """The decision's status, or None when there is no such decision."""

        def read(c) -> str | None:
            flag = c.execute(
                sa.select(decisions.c.requires_review).where(decisions.c.decision_id == decision_id)
            ).first()
            if flag is None:
                return None
            evs = c.execute(
                sa.select(reviews.c.event)
                .where(reviews.c.decision_id == decision_id)
                .order_by(reviews.c.review_id)
            ).scalars()
            return status_of(bool(flag[0]), evs)

        if conn is not None:
            return read(conn)
        with self.engine.connect() as c:
            return read(c)

    def statuses(self, decision_ids: list[str]) -> dict[str, str]:
        """Status of each of ``decision_ids`` (unknown ids are left out)."""
        if not decision_ids:
            return {}
        with self.engine.connect() as c:
            flags = dict(
                c.execute(
                    sa.select(decisions.c.decision_id, decisions.c.requires_review).where(
                        decisions.c.decision_id.in_(decision_ids)
                    )
                ).all()
            )
            evs: dict[str, list[str]] = {}
            for did, e in c.execute(
                sa.select(reviews.c.decision_id, reviews.c.event)
                .where(reviews.c.decision_id.in_(decision_ids))
                .order_by(reviews.c.review_id)
            ):
                evs.setdefault(did, []).append(e)
        return {d: status_of(bool(f), evs.get(d, [])) for d, f in flags.items()}

    def paused(self, debtor_hashes: Iterable[str]) -> set[str]:
        """The debtors among ``debtor_hashes`` with an unresolved contest (rule R9)."""
        hashes = sorted(set(debtor_hashes))
        if not hashes:
            return set()
        last = (
            sa.select(reviews.c.decision_id, sa.func.max(reviews.c.review_id).label("rid"))
            .where(reviews.c.debtor_hash.in_(hashes))
            .group_by(reviews.c.decision_id)
            .subquery()
        )
        q = (
            sa.select(reviews.c.debtor_hash)
            .select_from(reviews.join(last, last.c.rid == reviews.c.review_id))
            .where(reviews.c.event == "contest")
        )
        with self.engine.connect() as c:
            return {r[0] for r in c.execute(q)}

    def queue(self, status: str = "pending", limit: int = 100) -> list[dict[str, Any]]:
        """Decisions in a status (``pending`` = waiting for a reviewer: pending_review or
        contested; ``all`` = every reviewed, flagged or contested one), oldest wait first,
        each with its decision row, status, events and the time it entered that status."""
        wanted = OPEN if status == "pending" else None if status == "all" else {status}
        reviewed = sa.select(reviews.c.decision_id).distinct()
        q = (
            sa.select(decisions)
            .where(sa.or_(decisions.c.requires_review, decisions.c.decision_id.in_(reviewed)))
            .order_by(decisions.c.decided_at)
        )
        out = []
        with self.engine.connect() as c:
            rows = [dict(r) for r in c.execute(q).mappings()]
            evs: dict[str, list[dict]] = {}
            ids = [r["decision_id"] for r in rows]
            for i in range(0, len(ids), 500):
                for m in c.execute(
                    sa.select(reviews)
                    .where(reviews.c.decision_id.in_(ids[i : i + 500]))
                    .order_by(reviews.c.review_id)
                ).mappings():
                    evs.setdefault(m["decision_id"], []).append(_event_row(m))
        for r in rows:
            e = evs.get(r["decision_id"], [])
            st = status_of(bool(r["requires_review"]), [x["event"] for x in e])
            if wanted is not None and st not in wanted:
                continue
            since = e[-1]["recorded_at"] if e else utc_aware(r["decided_at"])
            for k in ("decided_at", "as_of", "scheduled_at"):
                r[k] = utc_aware(r[k])
            out.append({"decision": r, "status": st, "events": e, "waiting_since": since})
        out.sort(key=lambda x: x["waiting_since"])  # type: ignore[arg-type,return-value]
        return out[:limit]

    # -- writing ------------------------------------------------------------------
    def _append(
        self,
        decision_id: str,
        event: str,
        actor: str | None,
        allowed: frozenset[str],
        refuse: dict[str, str],
        **values: Any,
    ) -> dict[str, Any]:
        """Check the status and append the event in one transaction (chain head locked)."""
        with self.engine.begin() as conn:
            self.store.lock_chain(conn)
            row = conn.execute(
                sa.select(decisions.c.requires_review, decisions.c.debtor_hash).where(
                    decisions.c.decision_id == decision_id
                )
            ).first()
            if row is None:
                raise ReviewError(404, "path.decision_id", "no decision with this id", "not_found")
            evs = self.events(decision_id, conn)
            before = status_of(bool(row[0]), [e["event"] for e in evs])
            if before not in allowed:
                raise ReviewError(
                    409,
                    "path.decision_id",
                    refuse.get(before, f"the decision is {before}"),
                    "conflict",
                )
            after = CONTESTED if event == "contest" else VERDICTS[event]
            rec = {
                "decision_id": decision_id,
                "event": event,
                "recorded_at": utc_naive(dt.datetime.now(dt.UTC)),
                "actor": actor,
                "status_before": before,
                "status_after": after,
                "reason": values.get("reason"),
                "comment": values.get("comment"),
                "replacement": values.get("replacement"),
                "debtor_hash": row[1],
            }
            res = conn.execute(sa.insert(reviews).values(**rec))
            rid = int(res.inserted_primary_key[0])  # type: ignore[index]
            rec["review_id"] = rid
            self.store.link(conn, "review", [(str(rid), record_hash(reviews, rec))])
        rec["recorded_at"] = utc_aware(rec["recorded_at"])
        return rec

    def review(
        self,
        decision_id: str,
        verdict: str,
        actor: str | None,
        reason: str | None = None,
        comment: str | None = None,
        replacement: Replacement | None = None,
    ) -> dict[str, Any]:
        """A reviewer's verdict (``approve``, ``reject``, ``replace``) on a waiting decision.
        The replacement must have been checked against the rules by the caller."""
        if verdict not in VERDICTS:
            raise ReviewError(
                422, "body.verdict", f"must be one of {sorted(VERDICTS)}", "value_error"
            )
        if verdict == "reject" and reason not in REJECT_REASONS:
            raise ReviewError(
                422,
                "body.reason",
                f"a rejection needs a reason among {sorted(REJECT_REASONS)}",
                "value_error",
            )
        if verdict == "reject" and reason == "other" and not (comment or "").strip():
            raise ReviewError(
                422, "body.comment", "explain the rejection when the reason is 'other'", "missing"
            )
        if verdict == "replace" and replacement is None:
            raise ReviewError(422, "body.action", "a replacement needs an action", "missing")
        return self._append(
            decision_id,
            verdict,
            actor,
            OPEN,
            {
                NOT_REQUIRED: "the decision does not require review and is not contested",
                APPROVED: "the decision was already approved: nothing to review",
                REJECTED: "the decision was already rejected: nothing to review",
                REPLACED: "the decision was already replaced: nothing to review",
            },
            reason=reason if verdict == "reject" else None,
            comment=comment,
            replacement=replacement.as_json() if replacement is not None else None,
        )

    def contest(self, decision_id: str, actor: str | None, words: str) -> dict[str, Any]:
        """The debtor contests a decision: it goes back to review (see the module doc)."""
        return self._append(
            decision_id,
            "contest",
            actor,
            frozenset({NOT_REQUIRED, APPROVED, REPLACED}),
            {
                PENDING: "the decision awaits review and was not executed: nothing to contest",
                CONTESTED: "the decision is already contested and awaits a reviewer",
                REJECTED: "the decision was rejected and never executed: nothing to contest",
            },
            comment=words,
        )

    # -- figures -----------------------------------------------------------------
    def summary(
        self,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        decision_ids: set[str] | None = None,
    ) -> dict[str, Any]:
        """Review and contest figures of decisions taken in [since, until) (and among
        ``decision_ids`` when given: e.g. the report's key filter): how many were
        flagged, approved, rejected (by reason), replaced, still waiting, how long verdicts
        took (median and 90th percentile, hours), contests and how they ended, outcomes."""
        q = sa.select(decisions.c.decision_id, decisions.c.decided_at, decisions.c.requires_review)
        if since is not None:
            q = q.where(decisions.c.decided_at >= utc_naive(since))
        if until is not None:
            q = q.where(decisions.c.decided_at < utc_naive(until))
        with self.engine.connect() as c:
            decs = {
                r[0]: (r[1], bool(r[2]))
                for r in c.execute(q)
                if decision_ids is None or r[0] in decision_ids
            }
            evs: dict[str, list[dict]] = {}
            for m in c.execute(sa.select(reviews).order_by(reviews.c.review_id)).mappings():
                if m["decision_id"] in decs:
                    evs.setdefault(m["decision_id"], []).append(dict(m))
            reported = set(c.execute(sa.select(outcomes.c.decision_id).distinct()).scalars())
        flagged = [d for d, (_, f) in decs.items() if f]
        counts = dict.fromkeys(STATUSES, 0)
        reasons: dict[str, int] = {}
        waits: list[float] = []
        contests = dict.fromkeys(
            ("contests", "decision_upheld", "decision_withdrawn", "decision_replaced", "open"), 0
        )
        for d, (decided, flag) in decs.items():
            e = evs.get(d, [])
            counts[status_of(flag, [x["event"] for x in e])] += 1
            start = decided
            for x in e:
                if x["event"] == "contest":
                    contests["contests"] += 1
                    start = x["recorded_at"]
                    continue
                waits.append((x["recorded_at"] - start).total_seconds() / 3600)
                if x["event"] == "reject" and x["reason"]:
                    reasons[x["reason"]] = reasons.get(x["reason"], 0) + 1
                if x["status_before"] == CONTESTED:
                    key = {
                        "approve": "decision_upheld",
                        "reject": "decision_withdrawn",
                        "replace": "decision_replaced",
                    }
                    contests[key[x["event"]]] += 1
            contests["open"] += counts_open(e)
        verdicts = {v: sum(1 for e in evs.values() for x in e if x["event"] == v) for v in VERDICTS}
        waits.sort()

        def pct(p: float) -> float | None:
            return round(waits[min(len(waits) - 1, int(p * len(waits)))], 2) if waits else None

        return {
            "decisions": len(decs),
            "flagged": len(flagged),
            "statuses": counts,
            "verdicts": verdicts,
            "reject_reasons": reasons,
            "waiting": counts[PENDING] + counts[CONTESTED],
            "wait_hours_median": pct(0.5),
            "wait_hours_p90": pct(0.9),
            "contests": contests,
            "decisions_with_outcomes": len(reported & decs.keys()),
        }


def counts_open(events: list[dict[str, Any]]) -> int:
    """1 when the last event is an unresolved contest."""
    return int(bool(events) and events[-1]["event"] == "contest")
