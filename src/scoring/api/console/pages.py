"""The console's pages (see :mod:`scoring.api.console`)."""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from typing import Any

import anyio
import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from scoring.api.console import (
    can_review,
    check_csrf,
    error_page,
    render,
    router,
    session_of,
)
from scoring.api.console.charts import bars, waterfall
from scoring.api.deps import ApiError
from scoring.api.routes.reviews import apply_verdict, case_summary, queue_item
from scoring.api.schemas import ReviewVerdict
from scoring.audit import chain, decisions, reviews, utc_aware, verify_chain
from scoring.review import REJECT_REASONS, STATUSES, status_of

log = logging.getLogger("scoring.console")
QUEUE_FILTERS = ("pending", *STATUSES[1:], "all")


def _login() -> RedirectResponse:
    return RedirectResponse("/console/login", status_code=303)


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    return RedirectResponse("/console/reviews", status_code=303)


# -- the review queue --------------------------------------------------------------------
@router.get("/reviews", response_class=HTMLResponse)
def queue_page(request: Request, status: str = "pending") -> Response:
    user = session_of(request)
    if user is None:
        return _login()
    if status not in QUEUE_FILTERS:
        return error_page(request, 422, "status", f"must be one of {', '.join(QUEUE_FILTERS)}")
    services = request.app.state.services
    items = [queue_item(e) for e in services.reviews.queue(status, 200)]
    return render(request, "reviews.html", items=items, filter_status=status, filters=QUEUE_FILTERS,
                  user=user)  # fmt: skip


# -- a decision ----------------------------------------------------------------------------
def _decision_context(services, did: str) -> dict[str, Any] | None:
    d = services.store.get_decision(did)
    if d is None:
        return None
    events = services.reviews.events(did)
    status = status_of(d["requires_review"], [e["event"] for e in events])
    out = d["output"] or {}
    history = [{"at": e["recorded_at"], "what": e["event"], "who": e["actor"],
                "detail": _event_detail(e), "status": e["status_after"]} for e in events]  # fmt: skip
    history += [{"at": o["recorded_at"], "what": "outcome", "who": o.get("api_key"),
                 "detail": _outcome_detail(o), "status": None} for o in d["outcomes"]]  # fmt: skip
    history.sort(key=lambda h: h["at"])
    explanations = out.get("explanations") or {}
    return {
        "d": d,
        "out": out,
        "status": status,
        "case": case_summary(d["input"] or {}),
        "waterfalls": {k: waterfall(e) for k, e in explanations.items()},
        "explanations": explanations,
        "options": out.get("options") or [],
        "removed": out.get("removed") or [],
        "history": history,
        "reasons": REJECT_REASONS,
        "open": status in ("pending_review", "contested"),
        "invoices": out.get("invoices") or [],
    }


def _event_detail(e: dict[str, Any]) -> str:
    parts = []
    if e.get("reason"):
        parts.append(f"reason: {e['reason']}")
    if e.get("replacement"):
        r = e["replacement"]
        parts.append(
            f"replaced by {r['action']}"
            + (f" at {r['scheduled_at']}" if r.get("scheduled_at") else "")
        )
    if e.get("comment"):
        parts.append(("debtor: " if e["event"] == "contest" else "") + f"“{e['comment']}”")
    return "; ".join(parts)


def _outcome_detail(o: dict[str, Any]) -> str:
    parts = [o.get("outcome") or "executed"]
    if o.get("paid_amount"):
        parts.append(f"paid {o['paid_amount']:.2f} EUR")
    if o.get("dispute"):
        parts.append("dispute")
    if o.get("complaint"):
        parts.append("complaint")
    return ", ".join(parts)


def _parse_uuid(v: str) -> str | None:
    try:
        return str(uuid.UUID(v))
    except ValueError:
        return None


@router.get("/decisions/{decision_id}", response_class=HTMLResponse)
def decision_page(request: Request, decision_id: str) -> Response:
    user = session_of(request)
    if user is None:
        return _login()
    did = _parse_uuid(decision_id)
    if did is None:
        return error_page(request, 422, "decision_id", "not a decision id (UUID)")
    ctx = _decision_context(request.app.state.services, did)
    if ctx is None:
        return error_page(request, 404, "decision_id", "no decision with this id")
    return render(request, "decision.html", user=user, **ctx)


@router.post("/decisions/{decision_id}/review", response_class=HTMLResponse)
async def review_form(request: Request, decision_id: str) -> Response:
    user = session_of(request)
    if user is None:
        return _login()
    form = await request.form()
    if not check_csrf(user, form.get("csrf_token")):
        return error_page(
            request, 403, "csrf_token", "invalid or missing form token: reload the page"
        )
    if not can_review(user):
        return error_page(
            request, 403, None, "your key has no reviewer role: you can read, not act"
        )
    did = _parse_uuid(decision_id)
    if did is None:
        return error_page(request, 422, "decision_id", "not a decision id (UUID)")
    services = request.app.state.services
    verdict = str(form.get("verdict") or "")
    body: dict[str, Any] = {"verdict": verdict}
    comment = str(form.get("comment") or "").strip()
    if comment:
        body["comment"] = comment
    if verdict == "reject":
        body["reason"] = form.get("reason") or None
    if verdict == "replace":
        choice = str(form.get("option") or "")
        custom = str(form.get("scheduled_at") or "").strip()
        action, _, when = choice.partition("|")
        body["action"] = action or None
        if custom:
            body["scheduled_at"] = custom
        elif when:
            body["scheduled_at"] = when
    problem: tuple[int, str | None, str] | None = None
    try:
        v = ReviewVerdict.model_validate(body)
        await anyio.to_thread.run_sync(apply_verdict, services, did, v, user["n"])
    except ValidationError as exc:
        err = exc.errors()[0]
        field = (
            {"action": "option"}.get(str(err["loc"][0]), str(err["loc"][0])) if err["loc"] else None
        )
        problem = (422, field, str(err["msg"]))
    except ApiError as exc:
        field = (exc.field or "").removeprefix("body.").removeprefix("path.") or None
        problem = (exc.status_code, {"action": "option"}.get(field or "", field), exc.problem)
    if problem is not None:
        ctx = _decision_context(services, did)
        if ctx is None:
            return error_page(request, 404, "decision_id", "no decision with this id")
        return render(request, "decision.html", problem[0], user=user, error={"field": problem[1], "problem": problem[2]},
                      form=body, **ctx)  # fmt: skip
    return RedirectResponse(f"/console/decisions/{did}?done={verdict}", status_code=303)


# -- the audit trail -----------------------------------------------------------------------
@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, verify: bool = False, limit: int = 50) -> Response:
    user = session_of(request)
    if user is None:
        return _login()
    limit = max(1, min(limit, 500))
    services = request.app.state.services
    engine = services.store.engine
    with engine.connect() as c:
        links = [
            dict(r)
            for r in c.execute(
                sa.select(chain).order_by(chain.c.seq.desc()).limit(limit)
            ).mappings()
        ]
        review_ids = [int(x["ref"]) for x in links if x["kind"] == "review"]
        revs = {str(r["review_id"]): dict(r) for r in c.execute(
            sa.select(reviews).where(reviews.c.review_id.in_(review_ids))).mappings()} if review_ids else {}  # fmt: skip
        dec_ids = [x["ref"] for x in links if x["kind"] == "decision"]
        decs = {r[0]: r for r in c.execute(
            sa.select(decisions.c.decision_id, decisions.c.action, decisions.c.requires_review)
            .where(decisions.c.decision_id.in_(dec_ids))).all()} if dec_ids else {}  # fmt: skip
    rows = []
    for x in links:
        what, link = x["kind"], None
        if x["kind"] == "review" and x["ref"] in revs:
            r = revs[x["ref"]]
            what = (
                f"review: {r['event']} by {r['actor']} ({r['status_before']} → {r['status_after']})"
            )
            link = r["decision_id"]
        elif x["kind"] == "decision" and x["ref"] in decs:
            what = f"decision: {decs[x['ref']][1]}" + (" (flagged)" if decs[x["ref"]][2] else "")
            link = x["ref"]
        rows.append({**x, "linked_at": utc_aware(x["linked_at"]), "what": what, "decision": link})
    result = verify_chain(engine) if verify else None
    return render(request, "audit.html", user=user, rows=rows, result=result, limit=limit)


# -- monitoring ----------------------------------------------------------------------------
def _activity(engine, days: int) -> dict[str, Any]:
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).replace(tzinfo=None)
    day = sa.func.date(decisions.c.decided_at)
    with engine.connect() as c:
        rows = c.execute(
            sa.select(day, decisions.c.action, sa.func.count())
            .where(decisions.c.decided_at >= since)
            .group_by(day, decisions.c.action)
        ).all()
    per_day: dict[str, dict[str, int]] = {}
    actions: set[str] = set()
    for d, a, n in rows:
        per_day.setdefault(str(d), {})[a] = int(n)
        actions.add(a)
    days_sorted = sorted(per_day)
    totals = [(d[5:], float(sum(per_day[d].values()))) for d in days_sorted]
    by_action: dict[str, int] = {}
    for v in per_day.values():
        for a, n in v.items():
            by_action[a] = by_action.get(a, 0) + n
    return {"days": days_sorted, "per_day": per_day, "actions": sorted(actions),
            "chart": bars(totals), "by_action": sorted(by_action.items(), key=lambda x: -x[1])}  # fmt: skip


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring_page(request: Request, days: int = 30) -> Response:
    user = session_of(request)
    if user is None:
        return _login()
    if not 1 <= days <= 366:
        return error_page(request, 422, "days", "between 1 and 366")
    services = request.app.state.services
    since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
    summary = services.reviews.summary(since=since)
    bundle = services.holder.current
    drift = (
        services.monitor.drift(bundle)
        if services.monitor is not None and bundle is not None
        else None
    )
    alerts = services.monitor.alerts(notify=services.notify) if services.monitor is not None else []
    return render(request, "monitoring.html", user=user, days=days, summary=summary,
                  activity=_activity(services.store.engine, days), drift=drift, alerts=alerts[:20],
                  n_alerts=len(alerts))  # fmt: skip


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(request: Request) -> Response:
    user = session_of(request)
    if user is None:
        return _login()
    services = request.app.state.services
    alerts = services.monitor.alerts(notify=services.notify) if services.monitor is not None else []
    return render(request, "alerts.html", user=user, alerts=alerts)


# -- models ----------------------------------------------------------------------------------
_registry_cache: dict[str, Any] = {}
_registry_lock = threading.Lock()


def _registry_view(settings) -> dict[str, Any]:
    with _registry_lock:
        hit = _registry_cache.get("v")
        if hit is not None and time.monotonic() - hit[0] < 30:
            return hit[1]
    from scoring import registry

    try:  # the registry the service loads from (configured when the models were loaded)
        overview = registry.models_overview().to_dict("records")
        history = {k: registry.promotion_history(k) for k in registry.ALL_MODELS}
        view = {"overview": overview, "history": history, "error": None}
    except Exception as exc:  # noqa: BLE001 - an unreachable registry is reported on the page
        log.warning("console: registry unavailable: %s", exc)
        view = {"overview": [], "history": {}, "error": f"{type(exc).__name__}: {exc}"}
    with _registry_lock:
        _registry_cache["v"] = (time.monotonic(), view)
    return view


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request) -> Response:
    user = session_of(request)
    if user is None:
        return _login()
    services = request.app.state.services
    b = services.holder.current
    view = _registry_view(services.settings)
    metric_cols = ["test_roc_auc", "test_brier", "test_ece", "ope_dr_value", "ope_dr_lower"]
    return render(request, "models.html", user=user, view=view, in_use=b.versions if b else {},
                  alias=services.holder.alias, metric_cols=metric_cols)  # fmt: skip


# -- the collection manager's dashboard ------------------------------------------------------
_kpi_cache: dict[str, Any] = {}


def _kpis(services, months: int = 12) -> dict[str, Any]:
    from scoring.kpis import (
        KPI_LABELS,
        KPI_NAMES,
        audit_kpis,
        compute_kpis,
        format_kpi,
        load_kpi_config,
        read_audit_decisions,
    )

    cfg = load_kpi_config()
    out: dict[str, Any] = {"labels": KPI_LABELS, "names": KPI_NAMES, "targets":
                           {k: cfg.targets[k].describe() for k in KPI_NAMES}}  # type: ignore[index]  # fmt: skip

    def table(df, n_col: str | None) -> list[dict[str, Any]]:
        rows = []
        for r in df.to_dict("records"):
            cells = {}
            for k in KPI_NAMES:
                v = r.get(k)
                v = None if v is None or v != v else float(v)
                complete = bool(r.get("complete", True))
                met = cfg.targets[k].met(v) if complete else None  # type: ignore[index]
                cells[k] = {"shown": format_kpi(k, v), "met": met}
            rows.append({"month": r["month"], "segment": r["segment"], "cells": cells,
                         "n": r.get(n_col) if n_col else None,
                         "complete": bool(r.get("complete", True))})  # fmt: skip
        return sorted(rows, key=lambda x: (str(x["month"]), str(x["segment"])), reverse=True)

    audit = read_audit_decisions(services.store.engine)
    out["service"] = table(audit_kpis(audit), "n_outcomes") if len(audit) else []
    out["service_decisions"] = len(audit)
    data = services.settings.kpi_data
    out["data_dir"] = str(data) if data else None
    out["data"] = []
    if data:
        hit = _kpi_cache.get(str(data))
        if hit is None or time.monotonic() - hit[0] > 600:
            from scoring.contract import load_tables

            try:
                tables = load_tables(data)
                rows = table(compute_kpis(tables, cfg), "n_invoices_due")
                overall = table(compute_kpis(tables, cfg, by_month=False, complete_only=True),
                                "n_invoices_due")  # fmt: skip
                err = None
            except Exception as exc:  # noqa: BLE001 - shown on the page
                rows, overall, err = [], [], f"{type(exc).__name__}: {exc}"
            hit = (time.monotonic(), rows, overall, err)
            _kpi_cache[str(data)] = hit
        out["data"], out["data_overall"], out["data_error"] = hit[1], hit[2], hit[3]
        keep = sorted({r["month"] for r in out["data"]}, reverse=True)[:months]
        out["data"] = [r for r in out["data"] if r["month"] in keep]
    return out


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard_page(request: Request, months: int = 12) -> Response:
    user = session_of(request)
    if user is None:
        return _login()
    if not 1 <= months <= 120:
        return error_page(request, 422, "months", "between 1 and 120")
    k = _kpis(request.app.state.services, months)
    return render(request, "dashboard.html", user=user, k=k, months=months)
