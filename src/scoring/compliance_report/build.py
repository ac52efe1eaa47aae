"""Gathering the inputs, building the sections, writing the page."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
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
from scoring.compliance_report.html import Section, render_html
from scoring.compliance_report.registry_reads import training_data_dir
from scoring.compliance_report.sections import (
    ReportInputs,
    section_actions,
    section_disparities,
    section_kpis,
    section_metrics,
    section_models,
    section_promotions,
    section_reasons,
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
) -> ReportInputs:
    """Load the models under ``alias``, the evaluation data and the audit trail.

    The data set is ``data_dir``, else the one the default-risk model was trained on (the run's
    ``data_dir`` tag) if it still exists; ``training_set``/``tables``/``audit`` may be passed
    in to reuse what the caller already holds.
    """
    from scoring import registry
    from scoring.contract import load_tables
    from scoring.models.dataset import build_training_set, load_training_config
    from scoring.service import Bundle

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
    if audit is None:
        engine = kpi_mod.audit_engine()
        audit = kpi_mod.read_audit_decisions(engine)
        if engine is not None:
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
    )


def build_sections(inp: ReportInputs, progress: bool = False) -> list[Section]:
    """Every section, in order."""
    from scoring.progress import bar

    tables = metrics_tables(inp.evaluation, inp.thresholds) if inp.evaluation else {}
    builders: list[Callable[[], Section]] = [
        lambda: section_models(inp),
        lambda: section_metrics(inp, tables),
        lambda: section_disparities(inp, tables),
        lambda: section_reasons(inp),
        lambda: section_actions(inp),
        lambda: section_rules(inp),
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
    **kwargs: Any,
) -> Path:
    """Write the compliance report of the models under ``alias`` to ``out`` (HTML).

    ``inputs`` (from :func:`gather_inputs`) skips loading; ``kwargs`` go to :func:`gather_inputs`.
    """
    inp = inputs or gather_inputs(alias, data_dir, threshold, **kwargs)
    sections = build_sections(inp, progress)
    meta = {
        "generated at (UTC)": inp.generated_at,
        "alias": alias,
        "model versions": ", ".join(f"{k} v{v}" for k, v in inp.bundle.versions.items()),
        "evaluation data": inp.evaluation.data_dir if inp.evaluation else "none",
        "audited decisions": str(len(inp.audit)),
        "KPI configuration": str(inp.kpi_config.version),
    }
    page = render_html(sections, f"Compliance report: models '{alias}'", meta)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(page, encoding="utf-8")
    return out
