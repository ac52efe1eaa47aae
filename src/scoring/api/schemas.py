"""Request and response models of the HTTP API (the OpenAPI document is generated from them).

Requests reuse :class:`scoring.cases.Case` unchanged: the body of ``POST /score`` and
``POST /next-action`` is one case or a list of at most :data:`MAX_CASES` cases; the response
mirrors it (one object or a list in the same order). Per-request options (``lang``, ``top_k``,
``explore``, ``full_contributions``) are query parameters.
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Annotated, Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator

from scoring.cases import AwareDatetime, Case
from scoring.contract import ACTIONS, OUTCOMES
from scoring.review import REJECT_REASONS

#: Most cases in one request (larger portfolios go through ``scoring batch``).
MAX_CASES = 100
#: Most contributions per model in a response.
MAX_TOP_K = 20

Lang = Literal["fr", "en"]
Action = Literal[ACTIONS]  # type: ignore[valid-type]
Outcome = Literal[OUTCOMES]  # type: ignore[valid-type]


#: Dates the scoring code can represent (pandas nanosecond timestamps end in 2262).
MIN_DATE, MAX_DATE = dt.date(1900, 1, 1), dt.date(2199, 12, 31)


#: Largest integer accepted in a count (int64-safe with room for sums).
MAX_COUNT = 10**12


def _finite_numbers(obj: BaseModel, path: str = "") -> None:
    """Reject infinite floats and counts beyond :data:`MAX_COUNT`, naming the field."""
    for name in type(obj).model_fields:
        if name == "past_invoices":
            # bounded by their own validators (finite amounts <= MAX_AMOUNT, no counts); the
            # walk would cost ~10 ms for a thousand of them
            continue
        v = getattr(obj, name)
        here = f"{path}{name}"
        items = enumerate(v) if isinstance(v, list) else [(None, v)]
        for i, x in items:
            where = here if i is None else f"{here}.{i}"
            if isinstance(x, BaseModel):
                _finite_numbers(x, where + ".")
            elif isinstance(x, float) and not math.isfinite(x):
                raise ValueError(f"{where}: must be a finite number, not {x}")
            elif isinstance(x, int) and not isinstance(x, bool) and abs(x) > MAX_COUNT:
                raise ValueError(f"{where}: {x} is too large (at most {MAX_COUNT})")


class CaseIn(Case):
    """A case as the API receives it: :class:`~scoring.cases.Case` with finite numbers and
    dates bounded to 1900-01-01..2199-12-31 (outside that range pandas cannot hold them)."""

    model_config = ConfigDict(title="Case")

    @model_validator(mode="after")
    def _ranges(self) -> CaseIn:
        _finite_numbers(self)

        def check(path: str, v: dt.date | dt.datetime | None) -> None:
            if v is None:
                return
            d = v.date() if isinstance(v, dt.datetime) else v
            if not MIN_DATE <= d <= MAX_DATE:
                raise ValueError(
                    f"{path}: {d.isoformat()} is outside the supported range "
                    f"{MIN_DATE.isoformat()}..{MAX_DATE.isoformat()}"
                )

        check("as_of", self.as_of)
        check("debtor.customer_since", self.debtor.customer_since)
        check("history.last_payment_date", self.history.last_payment_date)
        for i, inv in enumerate(self.open_invoices):
            for f in ("issue_date", "due_date", "dispute_date", "dispute_resolved_date"):
                check(f"open_invoices.{i}.{f}", getattr(inv, f))
        for i, a in enumerate(self.recent_actions):
            check(f"recent_actions.{i}.decided_at", a.decided_at)
            check(f"recent_actions.{i}.scheduled_at", a.scheduled_at)
        day = pd.Timestamp(self.as_of).tz_convert("Europe/Paris").date()

        def before_as_of(path: str, v: dt.date | None, same_day: bool = False) -> None:
            if v is not None and (v > day if same_day else v >= day):
                raise ValueError(f"{path}: {v.isoformat()} must be before as_of ({day})")

        before_as_of("debtor.customer_since", self.debtor.customer_since, same_day=True)
        before_as_of("history.last_payment_date", self.history.last_payment_date)
        seen: dict[str, int] = {}
        for i, inv in enumerate(self.open_invoices):
            before_as_of(f"open_invoices.{i}.dispute_date", inv.dispute_date)
            before_as_of(f"open_invoices.{i}.dispute_resolved_date", inv.dispute_resolved_date)
            if inv.due_date < inv.issue_date:
                raise ValueError(f"open_invoices.{i}.due_date: before its issue_date")
            if inv.invoice_id in seen:
                raise ValueError(
                    f"open_invoices.{i}.invoice_id: duplicate of open_invoices."
                    f"{seen[inv.invoice_id]}.invoice_id ({inv.invoice_id!r})"
                )
            seen[inv.invoice_id] = i
        for i, a in enumerate(self.recent_actions):
            if a.scheduled_at is not None and a.scheduled_at < a.decided_at:
                raise ValueError(f"recent_actions.{i}.scheduled_at: before its decided_at")
        return self


def _one_or_many(v: Any) -> str:
    return "many" if isinstance(v, list) else "one"


#: Body of /score and /next-action: one case, or a list of 1..MAX_CASES cases.
CasesBody = Annotated[
    Annotated[CaseIn, Tag("one")]
    | Annotated[list[CaseIn], Tag("many"), Field(min_length=1, max_length=MAX_CASES)],
    Discriminator(_one_or_many),
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --------------------------------------------------------------------------------------
# Errors


class ErrorItem(_Out):
    """One problem with a request."""

    field: str | None = Field(
        description="Where the problem is: 'body.0.debtor.segment', 'query.lang', "
        "'header.X-API-Key', 'path.decision_id'; null when it concerns no field."
    )
    problem: str = Field(description="What is wrong, in plain English.")
    type: str | None = Field(None, description="Machine-readable kind of problem.")


class ErrorResponse(_Out):
    """Body of every 4xx and 5xx response."""

    detail: list[ErrorItem]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "detail": [
                        {
                            "field": "body.0.debtor.segment",
                            "problem": "Input should be 'B2B' or 'B2C'",
                            "type": "literal_error",
                        }
                    ]
                }
            ]
        }
    )


# --------------------------------------------------------------------------------------
# Scores


class Contribution(_Out):
    """One feature's TreeSHAP contribution to a model's raw score (log-odds)."""

    feature: str = Field(description="Feature name.")
    label: str = Field(description="Feature label in the requested language.")
    value: str | float | bool | None = Field(description="The case's value of the feature.")
    contribution: float = Field(description="Contribution to the log-odds (positive raises risk).")
    code: str = Field(description="Reason code, e.g. DEFAULT.MAX_DAYS_PAST_DUE.UP.")
    text: str = Field(description="The reason as a sentence in the requested language.")


class RiskExplanation(_Out):
    """A risk model's score for one case with its explanation."""

    probability: float = Field(ge=0, le=1, description="Calibrated probability.")
    model_version: str | None = Field(description="Registry version of the model.")
    base_value: float = Field(description="Expected raw score (log-odds) over the training data.")
    raw_score: float = Field(
        description="Uncalibrated log-odds = base_value + the sum of all contributions."
    )
    contributions: list[Contribution] = Field(
        description="The top_k contributions of largest magnitude, largest first."
    )
    all_contributions: dict[str, float] | None = Field(
        None, description="Every feature's contribution (only with full_contributions=true)."
    )
    reasons: list[str] = Field(description="Reason texts of the top contributions.")


class InvoiceScore(_Out):
    """One open invoice: when it will be paid and whether it will be contested (invoice models)."""

    invoice_id: str
    amount: float = Field(description="Amount still due, EUR.")
    due_date: dt.date
    dispute_probability: float = Field(
        ge=0, le=1, description="Probability that it is contested within 90 days (0 if already)."
    )
    dispute_reasons: list[str] = Field(
        description="What raises its dispute probability most (TreeSHAP of the invoice "
        "dispute model), for the two invoices of the case most likely to be contested; empty "
        "for the others."
    )
    expected_payment_date: dt.date | None = Field(
        description="The date by which payment is more likely than not (median of the "
        "payment-date distribution); null when that is beyond the model's horizon."
    )
    p_paid_by_due_date: float = Field(
        ge=0, le=1, description="Probability of payment by the due date (0 if already overdue)."
    )
    p_paid_by_due_date_30: float = Field(
        ge=0, le=1, description="Probability of payment by the due date + 30 days."
    )
    p_paid_within_horizon: float = Field(
        ge=0, le=1, description="Probability of payment within the model's horizon (105 days)."
    )
    default_probability: float = Field(
        ge=0, le=1, description="Probability that it is still unpaid 90 days after its due date."
    )
    payment_weeks: list[float] = Field(
        description="Probability of payment in week 1, 2, ... after as_of; the last number is "
        "'not paid within the horizon'. They sum to one."
    )


class UnknownValue(_Out):
    """A field whose value was never seen in training: scored as 'unknown'."""

    field: str = Field(description="Field of the case, e.g. debtor.sector.")
    value: str | None = Field(description="The value received.")


class ScoreResult(_Out):
    """Scores and explanations for one case (the batch output's score columns and more)."""

    debtor_id: str
    as_of: dt.datetime
    default_probability: float | None = Field(
        ge=0,
        le=1,
        description="Probability of payment default (90 days past due); null only when the "
        "default model is not served (see `unavailable`).",
    )
    dispute_probability: float | None = Field(
        ge=0,
        le=1,
        description="Probability that a dispute is raised within 90 days; null only when the "
        "dispute model is not served (see `unavailable`).",
    )
    risk_grade: Literal["A", "B", "C", "D", "E"] | None = Field(
        description="Grade by default probability: A < 2%, B < 5%, C < 15%, D < 35%, E "
        "(null when the default model is not served)."
    )
    reasons: str = Field(description="Top explanations as one line of text (as in the batch).")
    explanations: dict[str, RiskExplanation] = Field(
        description="Per model (default_risk, dispute_risk): probability and explanation."
    )
    unknown_values: list[UnknownValue] = Field(
        description="Values never seen in training, scored as unknown."
    )
    unavailable: dict[str, str] = Field(
        default_factory=dict,
        description="Risk models not served, with the reason (e.g. a portfolio with no "
        "default in its history trains no default model). Empty in normal operation.",
    )
    model_versions: dict[str, str] = Field(description="Registry versions of the models used.")
    lang: Lang = Field(description="Language of labels and texts.")
    probability_sources: dict[str, Literal["case", "invoices", "blend"]] = Field(
        default_factory=dict,
        description="Where default_probability and dispute_probability come from, chosen by "
        "`scoring train` on the validation period: the case model ('case', whose contributions "
        "are in `explanations`), the roll-up of the invoice models ('invoices') or a logistic "
        "blend of both ('blend').",
    )
    invoices: list[InvoiceScore] = Field(
        default_factory=list,
        description="Per open invoice: payment-date distribution and dispute probability "
        "(empty when the registry has no invoice models).",
    )
    invoice_to_check: str | None = Field(
        None,
        description="The open invoice most likely to be contested and why, e.g. 'facture F12 : "
        "sans référence de commande, envoyée sur papier'.",
    )


# --------------------------------------------------------------------------------------
# Decisions


class ActionOption(_Out):
    """An action the compliance rules allow, at its best slot, with its expected value."""

    action: Action
    scheduled_at: dt.datetime | None = Field(description="Best slot, debtor's local time.")
    expected_value: float = Field(description="Expected amount paid within 14 days minus costs.")
    uplift_vs_wait: float = Field(description="expected_value minus that of waiting, EUR.")
    p_reach: float = Field(ge=0, le=1, description="Probability of reaching the debtor.")
    probability: float = Field(ge=0, le=1, description="Probability the policy picks it.")
    requires_review: bool


class RemovedAction(_Out):
    """An action no slot of which passed the compliance rules."""

    action: Action
    rules: list[str] = Field(description="Rule ids that removed it, most slots first.")


class NextActionResult(ScoreResult):
    """Scores, explanations and the recommended action for one case."""

    decision_id: uuid.UUID = Field(description="Key of the audited decision.")
    debtor_explanation: str = Field(
        "",
        description="Why this action, in plain words for the debtor (French or English, no "
        "internal code or score): the invoice concerned, how late it is, what the debtor can "
        "do. For the letter or message, and for a debtor who asks (GDPR art. 22).",
    )
    action: Action = Field(description="Recommended action (CONTRACT §2).")
    channel: (
        Literal[
            "email", "sms", "whatsapp", "phone", "letter", "registered_letter", "agent", "legal"
        ]
        | None
    ) = Field(description="Channel of the contact; null for wait.")
    scheduled_at: dt.datetime | None = Field(
        description="When to act, debtor's local time with offset; null for wait."
    )
    timing_reason: str | None = Field(
        None,
        description="Why that time, in the response language (the debtor's own answers on "
        "that channel at that time when known, else comparable debtors'); null for wait.",
    )
    p_reach: float | None = Field(
        None, ge=0, le=1, description="Estimated probability that the contact reaches the debtor."
    )
    tone: Literal["preventive", "amicable", "firm"] | None = Field(
        description="Tone of the message; null for wait."
    )
    template: str | None = Field(description="Template key: action.tone.language.")
    installments: int | None = Field(
        description="Suggested monthly instalments (payment_plan_offer only)."
    )
    expected_value: float = Field(description="Expected value of the action, EUR.")
    uplift_vs_wait: float = Field(description="Expected value minus that of waiting, EUR.")
    propensity: float = Field(
        gt=0, le=1, description="Probability with which the policy chose this action."
    )
    arm: Literal["champion", "challenger"] = Field(
        "champion",
        description="Which release decided: the champion, or the challenger for the share of "
        "debtors a champion/challenger split sends it (model_versions names its versions; "
        "propensity is under its policy).",
    )
    requires_review: bool = Field(description="A person must confirm it (GDPR art. 22).")
    review_status: Literal["pending_review", "not_required"] = Field(
        "not_required",
        description="pending_review: do NOT execute the action until a reviewer approves or "
        "replaces it (GET /decisions/{id} gives its status; /outcomes answers 409 meanwhile).",
    )
    options: list[ActionOption] = Field(description="Every allowed action, best value first.")
    removed: list[RemovedAction] = Field(
        description="Actions the compliance rules removed and the rules that removed them."
    )


# --------------------------------------------------------------------------------------
# Outcomes and audit


class OutcomeReport(BaseModel):
    """What became of a decision, reported by the collection software."""

    decision_id: uuid.UUID = Field(description="decision_id returned by /next-action.")
    executed_at: AwareDatetime | None = Field(
        None, description="When the action was carried out (ISO 8601 with offset)."
    )
    outcome: Outcome | None = Field(None, description="Immediate result of the contact.")
    paid_amount: float | None = Field(None, ge=0, le=1e12, description="Amount paid, EUR.")
    paid_at: dt.date | None = Field(None, description="Date of the payment.")
    dispute: bool = Field(False, description="The debtor raised a dispute.")
    complaint: bool = Field(False, description="The debtor complained.")

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "decision_id": "6f1c2d9e-3f55-4a5e-9f43-1b7e2a4c8d10",
                    "executed_at": "2026-03-03T10:00:00+01:00",
                    "outcome": "promise_to_pay",
                    "paid_amount": 250.0,
                    "paid_at": "2026-03-10",
                    "dispute": False,
                    "complaint": False,
                }
            ]
        },
    )


class OutcomeRecorded(_Out):
    outcome_id: int
    decision_id: uuid.UUID
    recorded_at: dt.datetime


class StoredOutcome(_Out):
    outcome_id: int
    recorded_at: dt.datetime
    executed_at: dt.datetime | None
    outcome: Outcome | None
    paid_amount: float | None
    paid_at: dt.date | None
    dispute: bool
    complaint: bool


class DecisionRecord(_Out):
    """An audited decision: inputs, outputs, explanations, rules, versions and outcomes."""

    decision_id: uuid.UUID
    decided_at: dt.datetime = Field(description="When the service took the decision (UTC).")
    as_of: dt.datetime = Field(description="The case's instant.")
    debtor_hash: str = Field(description="HMAC-SHA256 of the debtor id (keyed).")
    action: Action
    scheduled_at: dt.datetime | None
    propensity: float
    expected_value: float | None
    requires_review: bool
    model_versions: dict[str, str]
    input: dict[str, Any] = Field(description="The case as received, debtor_id replaced by hash.")
    output: dict[str, Any] = Field(description="The response item, debtor_id replaced by hash.")
    request_id: str | None
    api_key: str | None = Field(description="Name of the API key that asked (never the key).")
    outcomes: list[StoredOutcome]
    review_status: ReviewStatus = Field(
        description="not_required, pending_review (do not execute), contested (back in review, "
        "collection paused), approved, rejected (never execute) or replaced (execute the "
        "replacement in `reviews`)."
    )
    reviews: list[ReviewEvent] = Field(description="Review and contest events, oldest first.")


# --------------------------------------------------------------------------------------
# Human review and contests

ReviewStatus = Literal[
    "not_required", "pending_review", "contested", "approved", "rejected", "replaced"
]
RejectReason = Literal[tuple(REJECT_REASONS)]  # type: ignore[valid-type]


class ReplacementAction(_Out):
    action: Action
    scheduled_at: dt.datetime | None


class ReviewEvent(_Out):
    """One step of a decision's review: a verdict, or the debtor's contest."""

    review_id: int
    event: Literal["approve", "reject", "replace", "contest"]
    recorded_at: dt.datetime
    actor: str | None = Field(description="Name of the API key (or console user) that acted.")
    status_before: ReviewStatus
    status_after: ReviewStatus
    reason: str | None = Field(description="Rejection reason code.")
    comment: str | None = Field(description="Reviewer's comment, or the debtor's words.")
    replacement: ReplacementAction | None


class ReviewVerdict(BaseModel):
    """A reviewer's verdict on a decision waiting for review."""

    verdict: Literal["approve", "reject", "replace"]
    reason: RejectReason | None = Field(  # type: ignore[valid-type]
        None,
        description="Required for reject: "
        + "; ".join(f"{k}: {v}" for k, v in REJECT_REASONS.items()),
    )
    comment: str | None = Field(
        None, max_length=4000, description="Free text (required with reason other)."
    )
    action: Action | None = Field(None, description="replace: the action put in its place.")
    scheduled_at: AwareDatetime | None = Field(
        None, description="replace: when (ISO 8601 with offset); omit for wait."
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"verdict": "approve", "comment": "Checked the invoices: notice justified."},
                {
                    "verdict": "reject",
                    "reason": "payment_or_arrangement",
                    "comment": "Plan agreed by phone.",
                },
                {
                    "verdict": "replace",
                    "action": "letter",
                    "scheduled_at": "2026-03-04T10:00:00+01:00",
                },
            ]
        },
    )


class ContestRequest(BaseModel):
    """The debtor contests a decision (sent by the collection software on their behalf)."""

    debtor_words: str = Field(
        min_length=1,
        max_length=4000,
        description="What the debtor says, as received (do not add identifying details).",
    )

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"debtor_words": "J'ai déjà réglé cette facture le 3 mars par virement."}]
        },
    )


class ReviewResult(_Out):
    decision_id: uuid.UUID
    review_status: ReviewStatus
    event: ReviewEvent


class CaseSummary(_Out):
    segment: str | None
    department: str | None
    open_invoices: int
    amount_due: float
    max_days_past_due: int | None


class QueueItem(_Out):
    """A decision in the review queue."""

    decision_id: uuid.UUID
    review_status: ReviewStatus
    waiting_since: dt.datetime
    decided_at: dt.datetime
    as_of: dt.datetime
    debtor_hash: str
    case: CaseSummary
    default_probability: float | None
    dispute_probability: float | None
    risk_grade: str | None
    reasons: list[str] = Field(description="Reason texts of both scores.")
    proposed_action: Action
    scheduled_at: dt.datetime | None
    expected_value: float | None
    contest: str | None = Field(description="The debtor's words when contested.")
    model_versions: dict[str, str]


class Alert(_Out):
    """An automatic alert (see GET /alerts)."""

    alert_id: str = Field(description="Stable id of the alert (kind and subject).")
    kind: Literal["default_jump", "promise_broken", "invoice_dispute", "review_waiting"]
    severity: Literal["medium", "high"]
    debtor_hash: str
    decision_id: uuid.UUID | None
    since: dt.datetime
    message: str
    details: dict[str, Any]


class Alerts(_Out):
    count: int
    by_kind: dict[str, int]
    items: list[Alert]


class ReviewQueue(_Out):
    status: str
    count: int
    items: list[QueueItem]


# --------------------------------------------------------------------------------------
# Service state


class Health(_Out):
    status: Literal["alive"]


class Ready(_Out):
    status: Literal["ready"]
    alias: str
    model_versions: dict[str, str]
    unavailable: dict[str, str] = Field(
        default_factory=dict,
        description="Models not served (and why): their endpoints or fields answer without "
        "them (/next-action 503 without a policy; null probabilities in /score).",
    )


class ModelInfo(_Out):
    name: str | None = Field(description="Registered model name.")
    version: str | None
    metrics: dict[str, float] = Field(description="Numeric version tags (test metrics, size).")
    tags: dict[str, str] = Field(description="Every version tag.")
    unavailable: str | None = Field(
        None, description="Why this model is not served (null when it is)."
    )


class SplitInfo(_Out):
    """A champion/challenger split in force (``scoring experiment start``)."""

    share: float = Field(description="Share of debtors decided by the challenger release.")
    challenger_versions: dict[str, str] = Field(description="The challenger release's versions.")
    started_at: str | None = None
    started_by: str | None = None
    reason: str = ""
    policy_ready: bool = Field(
        description="The challenger release has a policy (else the champion decides for all)."
    )


class ModelsResponse(_Out):
    alias: str
    ready: bool
    loaded_at: dt.datetime | None
    reason: str | None = Field(description="Why the service is not ready, if it is not.")
    models: dict[str, ModelInfo]
    drift_alert: bool = Field(
        False,
        description="A feature or score of the cases scored recently drifted beyond the alert "
        "threshold (PSI vs the training period; see the console's monitoring page).",
    )
    drift_max_psi: dict[str, float | None] = Field(
        default_factory=dict,
        description="Largest PSI of each risk model per window ('default_risk/7d'); null "
        "when too few cases were scored.",
    )
    split: SplitInfo | None = Field(
        None,
        description="The champion/challenger split in force: null when the champion decides "
        "for every debtor.",
    )


class ReloadResponse(_Out):
    reloaded: bool = Field(description="The versions changed.")
    model_versions: dict[str, str]
    previous_versions: dict[str, str]


# --------------------------------------------------------------------------------------
# OpenAPI examples

EXAMPLE_CASE: dict[str, Any] = {
    "as_of": "2026-03-02T09:00:00+01:00",
    "debtor": {
        "debtor_id": "D000123",
        "segment": "B2B",
        "sector": "C",
        "company_size": "small",
        "department": "69",
        "customer_since": "2019-11-14",
        "credit_limit": 15000.0,
        "external_score": 640.0,
        "consent_email": True,
        "consent_sms": True,
        "consent_whatsapp": False,
        "consent_phone": True,
        "language": "fr",
    },
    "open_invoices": [
        {
            "invoice_id": "F2026-0042",
            "issue_date": "2026-01-15",
            "due_date": "2026-02-14",
            "amount": 4200.0,
            "purchase_order_ref": True,
            "delivery_channel": "e_invoice",
        }
    ],
    "history": {
        "n_invoices": 14,
        "n_paid": 13,
        "n_paid_late": 4,
        "n_paid_12m": 9,
        "n_paid_late_12m": 3,
        "mean_days_late": 6.5,
        "max_days_late": 31.0,
        "last5_n": 5,
        "last5_n_late": 2,
        "amount_paid_12m": 38000.0,
        "mean_invoice_amount": 3900.0,
        "last_payment_date": "2026-01-28",
    },
    "recent_actions": [
        {
            "decided_at": "2026-02-16T08:30:00+01:00",
            "action": "email_reminder",
            "scheduled_at": "2026-02-16T10:00:00+01:00",
            "outcome": "reached",
        }
    ],
}

CASES_EXAMPLES: dict[str, dict[str, Any]] = {
    "one": {"summary": "One case", "value": EXAMPLE_CASE},
    "many": {
        "summary": "A list of cases (at most 100)",
        "value": [
            EXAMPLE_CASE,
            {
                **EXAMPLE_CASE,
                "debtor": {**EXAMPLE_CASE["debtor"], "debtor_id": "D000124", "sector": "Z"},
            },
        ],
    },
}


DecisionRecord.model_rebuild()
