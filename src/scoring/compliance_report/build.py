"""Gathering the inputs, building the sections, writing the page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from scoring import kpis as kpi_mod
from scoring.compliance_report.evaluation import (
    ReportError,
    default_thresholds,
    evaluate_alias,
    metrics_tables,
)
from scoring.compliance_report.fairness import DISPARITY_LIMITS, disparity_verdict
from scoring.compliance_report.html import Section, render_html
from scoring.compliance_report.kpi_tables import MIN_N
from scoring.compliance_report.oversight import drift_figures, review_figures
from scoring.compliance_report.registry_reads import training_data_dir
from scoring.compliance_report.scope import (
    DEFAULT_EXCLUDED_KEYS,
    TimeLike,
    filter_decisions,
    utc_timestamp,
    with_key_names,
)
from scoring.compliance_report.sections import (
    ReportInputs,
    section_actions,
    section_disparities,
    section_drift,
    section_kpis,
    section_metrics,
    section_models,
    section_promotions,
    section_reasons,
    section_review,
    section_rules,
)


def gather_inputs(
    alias: str,
    data_dir: str | Path | None = None,
    threshold: float | None = None,
    training_set=None,
    tables: dict[str, pd.DataFrame] | None = None,
    audit: pd.DataFrame | None = None,
    kpi_config_path: str | Path | None = None,
    *,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    include_keys: Sequence[str] | None = None,
    exclude_keys: Sequence[str] = DEFAULT_EXCLUDED_KEYS,
    min_n: int = MIN_N,
    disparity_limits: dict[str, tuple[str, float]] | None = None,
    audit_engine=None,
    monitoring_config_path: str | Path | None = None,
) -> ReportInputs:
    """Load the models under ``alias``, the evaluation data and the audit trail.

    The data set is ``data_dir``, else the one the default-risk model was trained on (the run's
    ``data_dir`` tag) if it still exists; ``training_set``/``tables``/``audit`` may be passed
    in to reuse what the caller already holds.

    The audited decisions are kept when ``since <= decided_at < until`` (naive times are
    UTC) and, by the name of the API key that asked for them, when it matches one of
    ``include_keys`` (if given) and none of ``exclude_keys`` (``fnmatch`` patterns,
    case-insensitive; default: names containing "test"); see
    :func:`~scoring.compliance_report.scope.filter_decisions`. A passed-in ``audit`` without
    an ``api_key`` column gets it from the audit trail. ``min_n``: below this many
    observations a KPI or rate is reported as too few. ``disparity_limits``: metric ->
    ``("ratio", r)`` or ``("difference", d)`` (default
    :data:`~scoring.compliance_report.fairness.DISPARITY_LIMITS`).

    The review figures (:func:`~scoring.compliance_report.oversight.review_figures`) cover
    the decisions the period and key filters keep; the drift figures
    (:func:`~scoring.compliance_report.oversight.drift_figures`) the windows ending now, with
    the thresholds of ``monitoring_config_path`` (default: the settings' monitoring
    configuration). ``audit_engine``: an engine on the audit trail to read (default: the
    settings' audit trail; the caller disposes of a passed one).
    """
    if min_n < 1:
        raise ReportError(f"min_n must be at least 1, not {min_n}")
    for m, lim in (disparity_limits or {}).items():
        try:
            disparity_verdict(float("nan"), float("nan"), tuple(lim))  # type: ignore[arg-type]
        except (TypeError, ValueError) as exc:
            raise ReportError(f"disparity limit of {m}: {exc}") from exc
    from scoring import registry
    from scoring.contract import load_tables
    from scoring.models.dataset import build_training_set, load_training_config
    from scoring.monitoring import load_monitoring_config
    from scoring.service import Bundle
    from scoring.settings import get_settings

    # checked before the (slow) loading
    try:
        lo, hi = utc_timestamp(since), utc_timestamp(until)
    except ValueError as exc:
        raise ReportError(f"the period's bounds must be dates or times: {exc}") from exc
    if lo is not None and hi is not None and lo >= hi:
        raise ReportError(f"the period is empty: since {lo} is not before until {hi}")
    try:
        monitoring = load_monitoring_config(
            monitoring_config_path or get_settings().monitoring_config
        )
    except (OSError, ValueError) as exc:
        raise ReportError(str(exc)) from exc
    registry.setup_mlflow()
    try:
        bundle = Bundle.from_registry(alias, require_policy=False, require_risk=False)
    except Exception as exc:  # noqa: BLE001 - the registry says why
        raise ReportError(f"no models under the alias {alias!r}: {exc}") from exc
    if training_set is None or tables is None:
        if data_dir is None:
            key, v = next(((k, v) for k, v in bundle.versions.items() if v is not None))
            d = training_data_dir(key, v)
            data_dir = d if d and Path(d).exists() else None
        if data_dir is not None:
            tables = tables if tables is not None else load_tables(data_dir)
            if training_set is None:
                training_set = build_training_set(tables, load_training_config(), progress=False)
    ev = evaluate_alias(bundle, training_set, str(data_dir or "")) if training_set else None
    thresholds = default_thresholds(ev, threshold) if ev is not None else {}
    engine = audit_engine if audit_engine is not None else kpi_mod.audit_engine()
    try:
        if audit is None:
            audit = kpi_mod.read_audit_decisions(engine)
        audit = with_key_names(audit, engine)
        try:
            audit, scope = filter_decisions(audit, since, until, include_keys, exclude_keys)
        except ValueError as exc:
            raise ReportError(str(exc)) from exc
        kept = set(audit["decision_id"].astype(str)) if "decision_id" in audit else None
        review = review_figures(engine, scope.since, scope.until, kept)
        drift = drift_figures(engine, bundle, monitoring)
    finally:
        if engine is not None and audit_engine is None:
            engine.dispose()
    return ReportInputs(
        alias=alias,
        bundle=bundle,
        evaluation=ev,
        thresholds=thresholds,
        audit=audit,
        tables=tables,
        kpi_config=kpi_mod.load_kpi_config(kpi_config_path),
        generated_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        scope=scope,
        min_n=min_n,
        disparity_limits=dict(disparity_limits) if disparity_limits is not None else None,
        review=review,
        drift=drift,
        monitoring_config=monitoring,
    )


def build_sections(inp: ReportInputs, progress: bool = False) -> list[Section]:
    """Every section, in order."""
    from scoring.progress import bar

    limits = inp.disparity_limits if inp.disparity_limits is not None else DISPARITY_LIMITS
    tables = metrics_tables(inp.evaluation, inp.thresholds, limits=limits) if inp.evaluation else {}
    builders: list[Callable[[], Section]] = [
        lambda: section_models(inp),
        lambda: section_metrics(inp, tables),
        lambda: section_disparities(inp, tables),
        lambda: section_reasons(inp),
        lambda: section_actions(inp),
        lambda: section_rules(inp),
        lambda: section_review(inp),
        lambda: section_drift(inp),
        lambda: section_kpis(inp),
        lambda: section_promotions(inp),
    ]
    return [b() for b in bar(builders, "report sections", progress, unit="section")]


def build_report(
    alias: str,
    out: str | Path,
    data_dir: str | Path | None = None,
    threshold: float | None = None,
    inputs: ReportInputs | None = None,
    progress: bool = False,
    *,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    include_keys: Sequence[str] | None = None,
    exclude_keys: Sequence[str] = DEFAULT_EXCLUDED_KEYS,
    min_n: int = MIN_N,
    disparity_limits: dict[str, tuple[str, float]] | None = None,
    **kwargs: Any,
) -> Path:
    """Write the compliance report of the models under ``alias`` to ``out`` (HTML).

    ``inputs`` (from :func:`gather_inputs`) skips loading (and the keyword arguments with
    it); ``since``, ``until``, ``include_keys``, ``exclude_keys``, ``min_n``,
    ``disparity_limits`` and ``kwargs`` go to :func:`gather_inputs`.
    """
    inp = inputs or gather_inputs(
        alias,
        data_dir,
        threshold,
        since=since,
        until=until,
        include_keys=include_keys,
        exclude_keys=exclude_keys,
        min_n=min_n,
        disparity_limits=disparity_limits,
        **kwargs,
    )
    sections = build_sections(inp, progress)
    meta = {
        "generated at (UTC)": inp.generated_at,
        "alias": alias,
        "model versions": ", ".join(f"{k} v{v}" for k, v in inp.bundle.versions.items()),
        "evaluation data": inp.evaluation.data_dir if inp.evaluation else "none",
        "audited decisions": (
            inp.scope.describe() if inp.scope is not None else str(len(inp.audit))
        ),
        "KPI configuration": str(inp.kpi_config.version),
    }
    if inp.monitoring_config is not None:
        meta["monitoring configuration"] = str(inp.monitoring_config.version)
    page = render_html(sections, f"Compliance report: models '{alias}'", meta)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
