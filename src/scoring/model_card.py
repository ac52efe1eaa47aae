"""The model card of a registered model version, as the version's description in the MLflow
registry (Markdown; the MLflow UI shows it on the version's page).

:func:`version_description` is a pure function of what the training run computed: the
periods of the time split, the test-period metrics by segment (the risk models' table) or the
run's overall figures (the invoice models, the policy), the version's tags. It fits in
:data:`MAX_DESCRIPTION_CHARS` (MLflow stores the description in a ``VARCHAR(5000)``). The
full card (features, plots) stays a run artifact; the description names it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

#: MLflow's ``model_versions.description`` column is ``VARCHAR(5000)`` (enforced by
#: PostgreSQL and MySQL tracking servers, not by SQLite)
MAX_DESCRIPTION_CHARS = 5000

PERIOD_NAMES = {
    "train": "training",
    "valid": "validation (model choice)",
    "calib": "calibration",
    "test": "test",
}

INTENDED_USE: dict[str, str] = {
    "default_risk": (
        "Probability of payment default (an open invoice still unpaid 90 days after its due "
        "date) for a debtor with open invoices (CONTRACT §3), to prioritise and explain "
        "collection actions."
    ),
    "dispute_risk": (
        "Probability of a dispute (raised on an open invoice within 90 days) for a debtor with "
        "open invoices (CONTRACT §3), to prioritise and explain collection actions."
    ),
    "invoice_risk": (
        "Per open invoice: the distribution of its payment date and the probability of a "
        "dispute; they give the weekly cash-in forecast and, where the validation period chose "
        "them, the served case probabilities (case model, invoice models or a blend)."
    ),
    "policy": (
        "Recommends, for a debtor with open invoices, the collection action, its channel and "
        "time among those the compliance rules allow (CONTRACT §4), with the expected 14-day "
        "value of every allowed action."
    ),
}

#: what every card says about the use of a score (before the model's own intended use)
DECISION_SUPPORT = (
    "Decision support for debt collection only: not for credit granting, pricing, or any use "
    "on people outside a collection relationship."
)

LIMITS: dict[str, tuple[str, ...]] = {
    "risk": (
        "Learned from one creditor's history: retrain on your own data before use; scores "
        "drift when terms, products or the economy change (watch calibration by month).",
        "Cases sampled every few weeks overlap (the same debtor at several instants): metrics "
        "are optimistic about the number of independent observations.",
        "Labels look 90 days ahead: the most recent three months of data cannot be used for "
        "training.",
        "No personal data is used; the département enters only through the overseas flag. "
        "Check disparities between groups in the compliance report (`scoring report`) before "
        "promotion.",
    ),
    "invoice_risk": (
        "Learned from one creditor's history: payment habits drift with terms and the economy; "
        "retrain before use.",
        "The cash forecast's intervals rest on the estimated correlation between a debtor's "
        "invoices; weekly cash-in was backtested once, at the start of the test period.",
    ),
    "policy": (
        "Off-policy estimates are per action (a logged slot is never exactly the one chosen); "
        "actions the logging policy rarely explored have wide intervals.",
        "The value of a time slot rests on the reach model and is not validated off-policy.",
        "The compliance rules (CONTRACT §4) are applied before any ranking; the policy never "
        "sees a removed action.",
    ),
}

HUMAN_OVERSIGHT: tuple[str, ...] = (
    "Decisions returned with `requires_review` (B2C formal notices and legal escalations) are "
    "held as `pending_review`: nothing is sent until a person with the reviewer role approves, "
    "rejects or replaces them (GDPR art. 22); the verdict and the reviewer are recorded in the "
    "audit trail.",
    "A debtor can contest a decision: collection actions on that debtor are paused (compliance "
    "rule R9_contest_pause) until a reviewer resolves the contest.",
    "Every decision, with the model versions behind it, is kept in the append-only audit "
    "trail; the compliance report reads it.",
)

#: run metrics quoted in the card of models whose run logs no metrics by segment (regexes)
OVERALL_METRICS: dict[str, tuple[str, ...]] = {
    "invoice_risk": (
        r"invoices_(default|dispute)_(case|invoices|blend)_test_roc_auc",
        r"invoices_dispute_invoice_test_(n|roc_auc|brier|ece)",
        r"invoices_payment_calibration_max_gap",
        r"forecast_backtest_(weekly_wape|coverage_80)",
    ),
    "policy": (
        r"ope_(n|ess)",
        r"ope_(dr|logging)_(value|ci_low|ci_high)",
        r"ope_dr_gain",
    ),
}

#: columns of the by-segment table of a risk model, when present
SEGMENT_COLUMNS = ("grouping", "group", "n", "prevalence", "roc_auc", "pr_auc", "brier", "ece")

#: full model cards logged as run artifacts
CARD_ARTIFACTS = {
    "default_risk": "default_risk/default_risk_model_card.md",
    "dispute_risk": "dispute_risk/dispute_risk_model_card.md",
    "policy": "policy/policy_model_card.md",
}


@dataclass(frozen=True)
class CardFacts:
    """What the card of one model version says, all computed by the training run."""

    key: str
    data_dir: str
    fingerprint: str
    #: the time split: index ``train``/``valid``/``calib``/``test``; ``from``, ``to``, ``cases``
    periods: pd.DataFrame
    #: test-period metrics by segment (``grouping``, ``group``, ``n``, metrics), or None
    segment_metrics: pd.DataFrame | None = None
    #: the run's flat metrics (only those of :data:`OVERALL_METRICS` are quoted)
    metrics: Mapping[str, float] = field(default_factory=dict)
    #: the version's tags
    tags: Mapping[str, str] = field(default_factory=dict)


def _cell(v: object, column: str = "") -> str:
    if v is None or (isinstance(v, float) and v != v):
        return "–"
    if column == "n" or isinstance(v, int):
        return f"{int(v):,}"  # type: ignore[call-overload]
    if isinstance(v, float):
        return f"{v:.4f}"
    return str(v).replace("|", "\\|").replace("\n", " ")


def _table(df: pd.DataFrame) -> list[str]:
    cols = list(df.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        out.append("| " + " | ".join(_cell(v, c) for v, c in zip(row, cols, strict=True)) + " |")
    return out


def _date(v: object) -> str:
    if v is None or v is pd.NaT or (isinstance(v, float) and v != v):
        return "–"
    return f"{pd.Timestamp(v):%Y-%m-%d}"


def _periods(periods: pd.DataFrame) -> list[str]:
    if periods is None or periods.empty:
        return ["The run recorded no time split."]
    rows = [
        {
            "period": PERIOD_NAMES.get(str(p), str(p)),
            "from": _date(r.get("from")),
            "to": _date(r.get("to")),
            "cases": int(r["cases"]) if "cases" in r and r["cases"] == r["cases"] else None,
        }
        for p, r in periods.iterrows()
    ]
    return [
        "Instants sampled in time order, each period after the previous one (dates of the "
        "first and last instant, UTC):",
        "",
        *_table(pd.DataFrame(rows).rename(columns={"cases": "n"})),
    ]


def _segment_table(t: pd.DataFrame, groupings: tuple[str, ...] | None) -> pd.DataFrame:
    if groupings is not None:
        t = t[t["grouping"].isin(groupings)]
    return t[[c for c in SEGMENT_COLUMNS if c in t.columns]]


def _overall(key: str, metrics: Mapping[str, float]) -> pd.DataFrame:
    patterns = [re.compile(p) for p in OVERALL_METRICS.get(key, ())]
    rows = [
        # counts as integers (a float "30610.0000" reads as a measurement)
        {"metric": k, "value": f"{int(v):,}" if k.endswith("_n") else f"{float(v):.4f}"}
        for k, v in sorted(metrics.items())
        if any(p.fullmatch(k) for p in patterns) and v == v
    ]
    return pd.DataFrame(rows, columns=["metric", "value"])


def _metrics(facts: CardFacts, groupings: tuple[str, ...] | None) -> list[str]:
    t = facts.segment_metrics
    if t is not None and len(t):
        return [
            "Test period (after every period above; never used to fit or choose the model). "
            "n: cases; ECE: expected calibration error.",
            "",
            *_table(_segment_table(t, groupings)),
        ]
    lines = ["The training run logged no metrics by segment for this model."]
    overall = _overall(facts.key, facts.metrics)
    if len(overall):
        lines += ["Overall figures of the run:", "", *_table(overall)]
    return lines


def _facts_lines(facts: CardFacts) -> list[str]:
    tags = facts.tags
    out = [f"- data set: `{facts.data_dir}` (fingerprint `{facts.fingerprint}`)"]
    if "trees" in tags:
        out.append(f"- LightGBM, {tags['trees']} trees, {tags.get('leaves', '?')} leaves")
    if "learner" in tags:
        out.append(f"- learner: {tags['learner']}")
    if "ope_period_from" in tags:
        out.append(
            f"- held-out decisions (off-policy evaluation) from {_date(tags['ope_period_from'])}"
        )
    sel = {k[len("selection_") :]: v for k, v in tags.items() if k.startswith("selection_")}
    if sel:
        out.append(
            "- served case probabilities: " + ", ".join(f"{k}: {v}" for k, v in sorted(sel.items()))
        )
    return out


def _render(facts: CardFacts, groupings: tuple[str, ...] | None) -> str:
    key = facts.key
    limits = LIMITS["risk"] if key in ("default_risk", "dispute_risk") else LIMITS.get(key, ())
    lines = [
        f"# Model card: {key}",
        "",
        "## Intended use",
        "",
        INTENDED_USE.get(key, f"The {key} model of the debt-collection service.")
        + " "
        + DECISION_SUPPORT,
        "",
        "## Data period",
        "",
        *_facts_lines(facts),
        "",
        *_periods(facts.periods),
        "",
        "## Metrics by segment",
        "",
        *_metrics(facts, groupings),
        "",
        "## Limits",
        "",
        *(f"- {x}" for x in limits),
        "",
        "## Human oversight",
        "",
        *(f"- {x}" for x in HUMAN_OVERSIGHT),
    ]
    if key in CARD_ARTIFACTS:
        lines += ["", f"Full card (features, plots): run artifact `{CARD_ARTIFACTS[key]}`."]
    return "\n".join(lines) + "\n"


def version_description(facts: CardFacts, max_chars: int = MAX_DESCRIPTION_CHARS) -> str:
    """The model card of a version as Markdown, at most ``max_chars`` characters: the
    by-segment table is cut to the overall and segment rows, then the text is truncated
    (saying so) if it is still too long."""
    text = _render(facts, None)
    if len(text) > max_chars:
        text = _render(facts, ("overall", "segment"))
    if len(text) > max_chars:
        note = "\n\n… (truncated to fit the registry; see the run's artifacts)\n"
        text = text[: max_chars - len(note)].rstrip() + note
    return text


def version_descriptions(
    keys,
    periods: pd.DataFrame,
    segment_tables: Mapping[str, pd.DataFrame],
    metrics: Mapping[str, float],
    version_tags: Mapping[str, Mapping[str, str]],
    data_dir: str,
    fingerprint: str,
) -> dict[str, str]:
    """:func:`version_description` of each model ``key`` a training run registers."""
    return {
        key: version_description(
            CardFacts(
                key=key,
                data_dir=data_dir,
                fingerprint=fingerprint,
                periods=periods,
                segment_metrics=segment_tables.get(key),
                metrics=metrics,
                tags=version_tags.get(key, {}),
            )
        )
        for key in keys
    }
