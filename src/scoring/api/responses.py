"""From validated cases to response models: plain functions, no HTTP.

They call :func:`scoring.service.score_cases` and :meth:`Policy.recommend` (the same code as
``scoring batch``) with ``num_threads=1``: the API's parallelism comes from serving several
requests at once, and one-row LightGBM calls are 30-40x slower with a busy thread pool.
"""

from __future__ import annotations

import math
import uuid
from typing import Any

import numpy as np
import pandas as pd

from scoring.api.schemas import (
    ActionOption,
    Contribution,
    InvoiceScore,
    NextActionResult,
    RemovedAction,
    RiskExplanation,
    ScoreResult,
    UnknownValue,
)
from scoring.calendar import utc_datetimes, utc_ns
from scoring.cases import Case, CaseSet
from scoring.explain import Reason
from scoring.presentation import (
    channel,
    debtor_explanation,
    debtor_zone,
    reason_line,
    risk_grade,
    template,
)
from scoring.service import (
    Bundle,
    Scores,
    decide_cases,
    invoice_details,
    invoices_to_check,
    score_cases,
)

RISK_KEYS = ("default_risk", "dispute_risk")

NUM_THREADS = 1


def _py(v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and math.isnan(v):
        return None
    return v


def _contributions(reasons: list[Reason]) -> list[Contribution]:
    return [
        Contribution(
            feature=r.feature,
            label=r.label,
            value=_py(r.value),
            contribution=float(r.contribution),
            code=r.code,
            text=r.text,
        )
        for r in reasons
    ]


def _unknown(case: Case, fields: list[str]) -> list[UnknownValue]:
    out = []
    for f in fields:
        owner = case.debtor if hasattr(case.debtor, f) else case
        out.append(UnknownValue(field=f"debtor.{f}", value=getattr(owner, f, None)))
    return out


def score(
    bundle: Bundle,
    cases: list[Case],
    lang: str | None = None,
    top_k: int = 5,
    full_contributions: bool = False,
) -> tuple[CaseSet, Scores, list[ScoreResult]]:
    """Scores and explanations of each case (language: ``lang`` or the debtor's own)."""
    cs = CaseSet.from_cases(cases)
    s = score_cases(bundle, cs, num_threads=NUM_THREADS)
    s.caseset = cs
    return cs, s, score_results(bundle, cases, s, lang, top_k, full_contributions)


def score_results(
    bundle: Bundle,
    cases: list[Case],
    s: Scores,
    lang: str | None = None,
    top_k: int = 5,
    full_contributions: bool = False,
) -> list[ScoreResult]:
    """The ``/score`` answer of each case from its :class:`~scoring.service.Scores`."""
    langs = [lang or c.debtor.language for c in cases]
    reasons: dict[str, dict[str, list[list[Reason]]]] = {
        la: {key: s.reasons(bundle, key, top_k, la) for key in bundle.risk_models}
        for la in sorted(set(langs))
    }
    versions = bundle.model_versions()
    p_default = s.probability.get("default_risk")
    p_dispute = s.probability.get("dispute_risk")
    grades = risk_grade(p_default) if p_default is not None else None
    unavailable = {
        k: bundle.missing.get(k, "not loaded") for k in RISK_KEYS if k not in s.probability
    }
    names = {key: m.feature_names for key, m in bundle.risk_models.items()}
    details: dict[str, list] = {}
    checks: dict[str, dict[str, list]] = {}
    if s.invoices is not None:
        cs = s_caseset(s, cases)
        for la in sorted(set(langs)):
            details[la] = invoice_details(s, cs, la)
            checks[la] = invoices_to_check(s, cs, la)
    results = []
    for i, case in enumerate(cases):
        la = langs[i]
        expl = {}
        for key in bundle.risk_models:
            rs = reasons[la][key][i]
            contrib = s.contributions[key][i]
            base = float(s.base[key][i])
            expl[key] = RiskExplanation(
                probability=float(s.case_probability[key][i]),
                model_version=versions.get(key),
                base_value=base,
                raw_score=base + float(contrib.sum()),
                contributions=_contributions(rs),
                all_contributions=(
                    {n: float(c) for n, c in zip(names[key], contrib, strict=True)}
                    if full_contributions
                    else None
                ),
                reasons=[r.text for r in rs],
            )
        summary = reason_line({key: r[i] for key, r in reasons[la].items()}, la)
        results.append(
            ScoreResult(
                debtor_id=case.debtor.debtor_id,
                as_of=case.as_of,
                default_probability=None if p_default is None else float(p_default[i]),
                dispute_probability=None if p_dispute is None else float(p_dispute[i]),
                risk_grade=None if grades is None else str(grades[i]),
                unavailable=unavailable,
                reasons=summary,
                explanations=expl,
                unknown_values=_unknown(case, s.unknown[i]),
                model_versions=versions,
                lang=la,
                probability_sources=s.sources if s.invoices is not None else {},
                invoices=[InvoiceScore(**vars(d)) for d in details[la][i]] if details else [],
                invoice_to_check=checks[la]["invoice_check_reason"][i] if checks else None,
            )
        )
    return results


def s_caseset(s: Scores, cases: list[Case]) -> CaseSet:
    """The case set the scores were computed on (kept by :func:`score`), else rebuilt."""
    cs = getattr(s, "caseset", None)
    return cs if cs is not None else CaseSet.from_cases(cases)


def decide(
    bundle: Bundle,
    cases: list[Case],
    lang: str | None = None,
    top_k: int = 5,
    full_contributions: bool = False,
    explore: bool = True,
    paused: list[bool] | None = None,
    on_scores=None,
) -> list[NextActionResult]:
    """Scores, explanations and the recommended action of each case, with fresh decision ids.
    ``paused``: per case, the debtor has an unresolved contest (rule R9)."""
    cs = CaseSet.from_cases(cases)
    if paused is not None and any(paused):
        cs.paused = np.asarray(paused, dtype=bool)
    decided = decide_cases(bundle, cs, explore=explore, num_threads=NUM_THREADS)
    decided.scores.caseset = cs
    if on_scores is not None:
        on_scores(decided.scores)
    scored = score_results(bundle, cases, decided.scores, lang, top_k, full_contributions)
    rec = decided.recommendations
    dec = rec.decisions
    values: pd.DataFrame = rec.options
    removed: list[dict[str, list[str]]] = rec.removed
    departments = [str(d) for d in cs.column("cases", "department").tolist()]
    # options of each case, best first (plain arrays: a few rows per case)
    v_case = values["case"].to_numpy(dtype=np.int64)
    order = np.lexsort((-values["expected_value"].to_numpy(dtype=float), v_case))
    cols = {
        k: values[k].to_numpy()[order].tolist()
        for k in ("expected_value", "uplift", "p_reach", "probability", "requires_review")
    }
    cols["action"] = values["action"].astype(str).to_numpy()[order].tolist()
    cols["scheduled_at"] = utc_datetimes(utc_ns(values["scheduled_at"])[order])
    bounds = np.searchsorted(v_case[order], np.arange(len(cases) + 1))
    rows = {k: dec[k].tolist() for k in dec.columns if k != "scheduled_at"}
    rows["scheduled_at"] = utc_datetimes(utc_ns(dec["scheduled_at"]))
    out = []
    for i, base in enumerate(scored):
        dep = departments[i]
        zone = debtor_zone(dep)
        options = [
            ActionOption(
                action=cols["action"][j],
                scheduled_at=None if cols["scheduled_at"][j] is None
                else cols["scheduled_at"][j].astimezone(zone),
                expected_value=float(cols["expected_value"][j]),
                uplift_vs_wait=_py(float(cols["uplift"][j])) or 0.0,
                p_reach=float(cols["p_reach"][j]),
                probability=float(cols["probability"][j]),
                requires_review=bool(cols["requires_review"][j]),
            )
            for j in range(bounds[i], bounds[i + 1])
        ]  # fmt: skip
        row = {k: v[i] for k, v in rows.items()}
        action = str(row["action"])
        tone = _py(row["tone"])
        inst = _py(row["installments"])
        out.append(
            NextActionResult(
                **dict(base),
                decision_id=uuid.uuid4(),
                debtor_explanation=debtor_explanation(action, cases[i], base.lang),
                action=action,
                channel=channel(action),
                scheduled_at=None
                if row["scheduled_at"] is None
                else row["scheduled_at"].astimezone(zone),
                timing_reason=_py(row.get(f"timing_reason_{base.lang}")),
                p_reach=None if action == "wait" else float(row["p_reach"]),
                tone=tone,
                template=template(action, tone, base.lang),
                installments=int(inst) if inst is not None else None,
                expected_value=float(row["expected_value"]),
                uplift_vs_wait=_py(float(row["uplift"])) or 0.0,
                propensity=float(row["propensity"]),
                requires_review=bool(row["requires_review"]),
                review_status="pending_review" if row["requires_review"] else "not_required",
                options=options,
                removed=[RemovedAction(action=a, rules=r) for a, r in removed[i].items()],
            )
        )
    return out
