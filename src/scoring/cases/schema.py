"""The case as the HTTP API receives it (CONTRACT §3): typed, strict pydantic models."""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from scoring.cases.history import summarize_invoices
from scoring.contract import (
    ACTIONS,
    DUE_HORIZON_DAYS,
    MAX_AMOUNT,
    RECENT_ACTION_DAYS,
    REFERENCE_TZ,
)

Department = Literal[
    "01", "02", "03", "04", "05", "06", "07", "08", "09", "10", "11", "12", "13", "14",
    "15", "16", "17", "18", "19", "2A", "2B", "21", "22", "23", "24", "25", "26", "27",
    "28", "29", "30", "31", "32", "33", "34", "35", "36", "37", "38", "39", "40", "41",
    "42", "43", "44", "45", "46", "47", "48", "49", "50", "51", "52", "53", "54", "55",
    "56", "57", "58", "59", "60", "61", "62", "63", "64", "65", "66", "67", "68", "69",
    "70", "71", "72", "73", "74", "75", "76", "77", "78", "79", "80", "81", "82", "83",
    "84", "85", "86", "87", "88", "89", "90", "91", "92", "93", "94", "95",
    "971", "972", "973", "974", "975", "976",
]  # fmt: skip


def as_of_day(as_of: pd.Timestamp | pd.Series) -> pd.Timestamp | pd.Series:
    """Calendar day (naive midnight, Europe/Paris) of an instant: facts dated before it are known."""
    if isinstance(as_of, pd.Series):
        return (
            as_of.dt.tz_convert(REFERENCE_TZ)
            .dt.tz_localize(None)
            .dt.normalize()
            .astype("datetime64[ns]")
        )
    ts = pd.Timestamp(as_of)
    if ts.tzinfo is None:
        raise ValueError("as_of must be timezone-aware")
    return ts.tz_convert(REFERENCE_TZ).tz_localize(None).normalize()


def _aware(v: dt.datetime) -> dt.datetime:
    if v.tzinfo is None or v.utcoffset() is None:
        raise ValueError(
            "timestamp must carry a UTC offset (ISO 8601, e.g. 2026-03-02T10:00:00+01:00)"
        )
    return v


def _not_a_number(v: Any) -> Any:
    """Dates and timestamps come as ISO 8601 text (or typed values), never as numbers: an
    integer would otherwise be read as seconds since 1970."""
    if isinstance(v, int | float) and not isinstance(v, bool):
        raise ValueError("must be an ISO 8601 date or timestamp string, not a number")
    return v


def _real_bool(v: Any) -> Any:
    """Booleans are JSON ``true`` / ``false`` (or typed booleans), never "true", "yes" or 1."""
    if isinstance(v, bool | np.bool_):
        return bool(v)
    raise ValueError("must be true or false (a JSON boolean)")


AwareDatetime = Annotated[dt.datetime, BeforeValidator(_not_a_number), AfterValidator(_aware)]
#: a date given as ISO 8601 text or a typed date
Date = Annotated[dt.date, BeforeValidator(_not_a_number)]
#: a boolean given as a JSON boolean
Bool = Annotated[bool, BeforeValidator(_real_bool)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, allow_inf_nan=False)


class Debtor(_Strict):
    """The debtor (client débiteur), CONTRACT §1 ``debtors``. No personal data."""

    # the B2B rule in the published schema too (JSON Schema if/then, OpenAPI 3.1)
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"segment": {"const": "B2B"}}, "required": ["segment"]},
            "then": {
                "required": ["sector"],
                "properties": {"sector": {"type": "string", "minLength": 1}},
            },
        }
    )

    debtor_id: str = Field(
        min_length=1,
        max_length=128,
        description="Pseudonymous key chosen by the collection software.",
    )
    segment: Literal["B2B", "B2C"] = Field(description="Business or consumer debtor.")
    sector: str | None = Field(
        None,
        max_length=8,
        description="NAF rev.2 section letter A..U (B2B); null for B2C. Unknown values are scored as 'unknown'.",
    )
    company_size: Literal["micro", "small", "medium", "large"] | None = Field(
        None, description="B2B company size."
    )
    department: Department = Field(
        description="French département code (drives holidays and time zone)."
    )
    customer_since: Date = Field(description="Start of the commercial relationship.")
    credit_limit: float | None = Field(
        None, ge=0, le=MAX_AMOUNT, description="Credit limit granted, EUR."
    )
    external_score: float | None = Field(
        None, ge=0, le=1000, description="Third-party credit score, higher is safer."
    )
    consent_email: Bool = Field(description="May be contacted by e-mail.")
    consent_sms: Bool = Field(description="May be contacted by SMS.")
    consent_whatsapp: Bool = Field(description="May be contacted on WhatsApp.")
    consent_phone: Bool = Field(description="May be called.")
    language: Literal["fr", "en"] = Field(
        "fr", description="Language of communications and reason texts."
    )

    @model_validator(mode="after")
    def _b2b_sector(self) -> Debtor:
        if self.segment == "B2B" and not self.sector:
            raise ValueError("sector is required for a B2B debtor")
        return self


class OpenInvoice(_Strict):
    """An invoice open at ``as_of``: unpaid, not in litigation, due within 15 days or overdue."""

    invoice_id: str = Field(min_length=1, max_length=128, description="Invoice key.")
    issue_date: Date = Field(description="Issue date.")
    due_date: Date = Field(description="Due date (>= issue_date).")
    amount: float = Field(gt=0, le=MAX_AMOUNT, description="Amount still due, EUR.")
    purchase_order_ref: Bool | None = Field(
        None, description="The invoice quotes the customer's order reference."
    )
    delivery_channel: Literal["e_invoice", "email", "paper"] | None = Field(
        None, description="How the invoice was sent."
    )
    dispute_date: Date | None = Field(
        None, description="Date the debtor contested it, if before as_of."
    )
    dispute_reason: Literal["billing_error", "contract_terms", "quality", "other"] | None = Field(
        None, description="Reason of the dispute."
    )
    dispute_resolved_date: Date | None = Field(
        None, description="Date the dispute was resolved, if before as_of."
    )

    @model_validator(mode="after")
    def _dates(self) -> OpenInvoice:
        if self.due_date < self.issue_date:
            raise ValueError("due_date is before issue_date")
        if self.dispute_resolved_date is not None and self.dispute_date is None:
            raise ValueError("dispute_resolved_date given without dispute_date")
        if (
            self.dispute_resolved_date
            and self.dispute_date
            and self.dispute_resolved_date < self.dispute_date
        ):
            raise ValueError("dispute_resolved_date is before dispute_date")
        return self


class PaymentHistory(_Strict):
    """Summary of the debtor's past invoices as known before ``as_of``.

    "Paid" invoices are those fully paid before ``as_of``; days late = paid date - due date
    (0 when paid on time). :func:`build_cases` computes it from the invoices table. A caller of
    the API either computes the same figures from its ledger and sends them here, or sends the
    ledger's rows in ``Case.past_invoices`` and lets the service compute them with the training
    code.
    """

    n_invoices: int = Field(0, ge=0, description="Invoices issued before as_of (open or not).")
    n_paid: int = Field(0, ge=0, description="Invoices paid before as_of.")
    n_paid_late: int = Field(0, ge=0, description="Of those, paid after their due date.")
    n_paid_12m: int = Field(0, ge=0, description="Invoices paid in the 365 days before as_of.")
    n_paid_late_12m: int = Field(0, ge=0, description="Of those, paid after their due date.")
    mean_days_late: float | None = Field(
        None, ge=0, description="Mean days late over paid invoices (0 for on time)."
    )
    max_days_late: float | None = Field(
        None, ge=0, description="Maximum days late over paid invoices."
    )
    n_paid_90d: int = Field(0, ge=0, description="Invoices paid in the 90 days before as_of.")
    n_paid_late_90d: int = Field(0, ge=0, description="Of those, paid after their due date.")
    mean_days_late_90d: float | None = Field(
        None, ge=0, description="Mean days late of the invoices paid in the 90 days before as_of."
    )
    last5_n: int = Field(
        0, ge=0, le=5, description="Number of most recently paid invoices considered (<= 5)."
    )
    last5_n_late: int = Field(
        0, ge=0, le=5, description="Of the last (up to) 5 paid invoices, how many were late."
    )
    amount_paid_12m: float = Field(
        0.0, ge=0, le=MAX_AMOUNT, description="Total paid in the 365 days before as_of, EUR."
    )
    mean_invoice_amount: float | None = Field(
        None, ge=0, le=MAX_AMOUNT, description="Mean amount of invoices issued before as_of, EUR."
    )
    n_disputes: int = Field(0, ge=0, description="Disputes raised before as_of (all invoices).")
    n_disputes_12m: int = Field(
        0, ge=0, description="Disputes raised in the 365 days before as_of."
    )
    n_disputes_billing: int = Field(
        0,
        ge=0,
        description="Of the disputes raised before as_of, those whose reason is billing_error.",
    )
    n_legal: int = Field(0, ge=0, description="Invoices handed to litigation before as_of.")
    n_open_disputes_other: int = Field(
        0,
        ge=0,
        description=(
            "Unresolved disputes (raised before as_of) on invoices that are not in open_invoices "
            "(not yet due within 15 days, or in litigation): dunning pauses for them too."
        ),
    )
    last_payment_date: Date | None = Field(
        None, description="Date of the most recent payment before as_of."
    )

    @model_validator(mode="after")
    def _consistent(self) -> PaymentHistory:
        if (
            self.n_paid_late > self.n_paid
            or self.n_paid_late_12m > self.n_paid_12m
            or self.n_paid_late_90d > self.n_paid_90d
        ):
            raise ValueError("late counts exceed paid counts")
        if self.last5_n_late > self.last5_n:
            raise ValueError("last5_n_late exceeds last5_n")
        if self.n_disputes_billing > self.n_disputes:
            raise ValueError("n_disputes_billing exceeds n_disputes")
        return self


#: dates a past invoice may carry (the range the API accepts for every date)
PAST_DATE_RANGE = (dt.date(1900, 1, 1), dt.date(2199, 12, 31))


def _supported_date(v: dt.date) -> dt.date:
    lo, hi = PAST_DATE_RANGE
    if not lo <= v <= hi:
        raise ValueError(
            f"{v.isoformat()} is outside the supported range {lo.isoformat()}..{hi.isoformat()}"
        )
    return v


#: a date of a past invoice: ISO 8601 text (or a typed date) within :data:`PAST_DATE_RANGE`
PastDate = Annotated[dt.date, BeforeValidator(_not_a_number), AfterValidator(_supported_date)]


class PastInvoice(_Strict):
    """One of the debtor's invoices as the collection software's ledger holds it, a row of
    CONTRACT §1 ``invoices``: open, paid, disputed or in litigation, whatever its dates.

    Dates on or after the calendar day of ``as_of`` (Europe/Paris) are allowed and ignored: an
    invoice issued that day or later does not count at all, and a payment, dispute, resolution
    or hand-over to litigation dated that day or later is treated as not having happened yet,
    as in training.
    """

    invoice_id: str = Field(
        min_length=1,
        max_length=128,
        description="Invoice key, unique within past_invoices; an open invoice has the same "
        "key here and in open_invoices.",
    )
    issue_date: PastDate = Field(description="Issue date.")
    due_date: PastDate = Field(description="Due date (>= issue_date).")
    amount: float = Field(
        gt=0,
        le=MAX_AMOUNT,
        description="Amount of the invoice, EUR (as invoiced, not the balance).",
    )
    purchase_order_ref: Bool | None = Field(
        None, description="The invoice quotes the customer's order reference."
    )
    delivery_channel: Literal["e_invoice", "email", "paper"] | None = Field(
        None, description="How the invoice was sent."
    )
    paid_date: PastDate | None = Field(
        None, description="Date it was fully paid (>= issue_date); null while unpaid."
    )
    dispute_date: PastDate | None = Field(
        None, description="Date the debtor contested it (>= issue_date); null if never."
    )
    dispute_reason: Literal["billing_error", "contract_terms", "quality", "other"] | None = Field(
        None, description="Reason of the dispute (only with dispute_date)."
    )
    dispute_resolved_date: PastDate | None = Field(
        None,
        description="Date the dispute was resolved (>= dispute_date); null while it is open.",
    )
    legal_date: PastDate | None = Field(
        None, description="Date it was handed to litigation (>= issue_date); null if never."
    )

    @model_validator(mode="after")
    def _dates(self) -> PastInvoice:
        if self.due_date < self.issue_date:
            raise ValueError("due_date is before issue_date")
        for name in ("paid_date", "dispute_date", "legal_date"):
            v = getattr(self, name)
            if v is not None and v < self.issue_date:
                raise ValueError(f"{name} is before issue_date")
        if self.dispute_date is None:
            if self.dispute_resolved_date is not None:
                raise ValueError("dispute_resolved_date given without dispute_date")
            if self.dispute_reason is not None:
                raise ValueError("dispute_reason given without dispute_date")
        elif self.dispute_resolved_date and self.dispute_resolved_date < self.dispute_date:
            raise ValueError("dispute_resolved_date is before dispute_date")
        return self


class PastAction(_Strict):
    """A collection decision taken before ``as_of`` (CONTRACT §1 ``actions``)."""

    decided_at: AwareDatetime = Field(description="When the decision was taken.")
    action: Literal[ACTIONS] = Field(description="Action of the catalogue (CONTRACT §2).")  # type: ignore[valid-type]
    scheduled_at: AwareDatetime | None = Field(
        None, description="When the contact was (to be) made; null for wait."
    )
    outcome: (
        Literal["not_reached", "reached", "promise_to_pay", "dispute_raised", "complaint"] | None
    ) = Field(None, description="Immediate result of the contact, when known.")


MAX_INVOICES = 500
MAX_ACTIONS = 500
#: most invoices in ``Case.past_invoices``
MAX_PAST_INVOICES = 5000
#: how far a float of a sent ``history`` may be from the one computed from ``past_invoices``
HISTORY_TOLERANCE = 1e-9


class Case(_Strict):
    """One debtor with at least one open invoice, as of an instant (CONTRACT §3)."""

    as_of: AwareDatetime = Field(description="The instant of the decision (ISO 8601 with offset).")
    debtor: Debtor
    open_invoices: list[OpenInvoice] = Field(
        min_length=1, max_length=MAX_INVOICES, description="Invoices open at as_of."
    )
    history: PaymentHistory = Field(
        default_factory=PaymentHistory,
        description="Payment history summary before as_of, computed by the caller. With "
        "past_invoices it is computed by the service instead: a history sent as well must "
        "agree with it (each field it gives: counts and dates exactly, amounts and means within "
        f"{HISTORY_TOLERANCE:g}), or the case is rejected (422) with every field that differs.",
    )
    past_invoices: list[PastInvoice] | None = Field(
        None,
        max_length=MAX_PAST_INVOICES,
        description="All the debtor's invoices the collection software knows (CONTRACT §1 "
        "invoices: paid, open, disputed, in litigation; the open ones too, with the same "
        "invoice_id as in open_invoices), instead of the history summary: the service computes "
        "history from them with the code that computes it in training. Facts dated on or after "
        "the calendar day of as_of (Europe/Paris) are ignored, so the whole ledger may be sent. "
        "The invoices open at as_of according to them must be exactly open_invoices. "
        f"At most {MAX_PAST_INVOICES} invoices; null (the default) to use history as sent.",
    )
    recent_actions: list[PastAction] = Field(
        default_factory=list,
        max_length=MAX_ACTIONS,
        description="The debtor's actions log before as_of: the actions decided in the "
        f"{RECENT_ACTION_DAYS} days before as_of are used, older ones are ignored (as in "
        "training), so the whole log (up to the limit) may be sent. Any order.",
    )

    @model_validator(mode="after")
    def _chronology(self) -> Case:
        try:
            day = as_of_day(pd.Timestamp(self.as_of)).date()
        except (NotImplementedError, OverflowError, ValueError, pd.errors.OutOfBoundsDatetime):
            raise ValueError(
                f"as_of: {self.as_of.isoformat()} is outside the supported range"
            ) from None
        for i, inv in enumerate(self.open_invoices):
            if inv.issue_date >= day:
                raise ValueError(f"open_invoices[{i}].issue_date must be before as_of")
            if (inv.due_date - day).days > DUE_HORIZON_DAYS:
                raise ValueError(
                    f"open_invoices[{i}] is due more than {DUE_HORIZON_DAYS} days after as_of: not open yet"
                )
        for i, a in enumerate(self.recent_actions):
            if a.decided_at >= self.as_of:
                raise ValueError(f"recent_actions[{i}].decided_at must be before as_of")
        if self.past_invoices is not None:
            self._history_from_past_invoices(day)
        return self

    def _history_from_past_invoices(self, day: dt.date) -> None:
        """Check ``past_invoices`` against ``open_invoices`` and the sent ``history``, then
        replace ``history`` by the one computed from them."""
        past = self.past_invoices or []
        where: dict[str, int] = {}
        for j, inv in enumerate(past):
            if inv.invoice_id in where:
                raise ValueError(
                    f"past_invoices[{j}].invoice_id: duplicate of "
                    f"past_invoices[{where[inv.invoice_id]}].invoice_id ({inv.invoice_id!r})"
                )
            where[inv.invoice_id] = j
        horizon = day + dt.timedelta(days=DUE_HORIZON_DAYS)
        open_ids = set()
        for i, o in enumerate(self.open_invoices):
            j_or_none = where.get(o.invoice_id)
            if j_or_none is None:
                raise ValueError(
                    f"open_invoices[{i}].invoice_id: {o.invoice_id!r} is not in past_invoices, "
                    "which must hold all the debtor's invoices, the open ones included"
                )
            if not _open_on(past[j_or_none], day, horizon):
                raise ValueError(
                    f"open_invoices[{i}].invoice_id: {o.invoice_id!r} is not open at as_of "
                    f"according to past_invoices[{j_or_none}] ({_why_closed(past[j_or_none], day)})"
                )
            open_ids.add(o.invoice_id)
        for j, inv in enumerate(past):
            if inv.invoice_id not in open_ids and _open_on(inv, day, horizon):
                raise ValueError(
                    f"past_invoices[{j}].invoice_id: {inv.invoice_id!r} is open at as_of "
                    "(issued before it, unpaid, not in litigation, due within "
                    f"{DUE_HORIZON_DAYS} days) but missing from open_invoices"
                )
        computed = summarize_invoices(past, day)
        if "history" in self.model_fields_set:
            _check_agreement(self.history, computed)
        try:
            self.history = PaymentHistory.model_validate(computed)
        except ValidationError as e:
            raise ValueError(
                "past_invoices: the payment history computed from them is out of range "
                f"({e.errors()[0]['loc'][0]}: {e.errors()[0]['msg']})"
            ) from None


def _open_on(inv: PastInvoice, day: dt.date, horizon: dt.date) -> bool:
    """The invoice is open on ``day`` (CONTRACT §3, as ``open_invoice_mask`` in training)."""
    return (
        inv.issue_date < day
        and not (inv.paid_date is not None and inv.paid_date < day)
        and not (inv.legal_date is not None and inv.legal_date < day)
        and inv.due_date <= horizon
    )


def _why_closed(inv: PastInvoice, day: dt.date) -> str:
    if inv.paid_date is not None and inv.paid_date < day:
        return f"paid on {inv.paid_date.isoformat()}"
    if inv.legal_date is not None and inv.legal_date < day:
        return f"handed to litigation on {inv.legal_date.isoformat()}"
    if inv.issue_date >= day:
        return f"issued on {inv.issue_date.isoformat()}, not before as_of"
    return f"due on {inv.due_date.isoformat()}, more than {DUE_HORIZON_DAYS} days after as_of"


def _same(sent: Any, computed: Any) -> bool:
    if sent is None or computed is None:
        return sent is None and computed is None
    if isinstance(sent, float) or isinstance(computed, float):
        return math.isclose(sent, computed, rel_tol=HISTORY_TOLERANCE, abs_tol=HISTORY_TOLERANCE)
    return bool(sent == computed)


def _shown(v: Any) -> str:
    if v is None:
        return "null"
    return v.isoformat() if isinstance(v, dt.date) else repr(v)


def _check_agreement(sent: PaymentHistory, computed: dict[str, Any]) -> None:
    """Every field the sent history gives must agree with the computed one; otherwise one
    ``history_mismatch`` error per differing field, at ``history.<field>``."""
    errors = []
    for name in PaymentHistory.model_fields:
        if name not in sent.model_fields_set:
            continue
        a, b = getattr(sent, name), computed[name]
        if not _same(a, b):
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "history_mismatch",
                        "history.{field}: sent {sent}, computed from past_invoices {computed}",
                        {"field": name, "sent": _shown(a), "computed": _shown(b)},
                    ),
                    loc=("history", name),
                    input=a,
                )
            )
    if errors:
        raise ValidationError.from_exception_data("Case", errors)
