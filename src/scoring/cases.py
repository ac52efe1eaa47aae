"""Cases (CONTRACT §3): a debtor with open invoices as of an instant, and their labels.

A *case* is what every model and the HTTP API work on. It exists in two equivalent forms:

* :class:`Case`, a typed pydantic model: the body of ``POST /score`` and ``/next-action``;
* :class:`CaseSet`, the same facts for many cases in three columnar frames (one row per case,
  one per open invoice, one per recent action), which is what :func:`scoring.features.features`
  consumes. ``CaseSet.from_cases`` and ``CaseSet.to_cases`` convert between the two, so the API
  and training go through exactly the same feature code.

:func:`build_cases` builds a :class:`CaseSet` from raw tables using only facts known before
``as_of``: an event dated ``d`` is known at ``as_of`` when ``d`` is strictly before the calendar
day of ``as_of`` (Europe/Paris), an action when ``decided_at < as_of``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from scoring.contract import ACTIONS, MAX_AMOUNT

#: Time zone whose calendar day defines "known before as_of" for dated facts.
REFERENCE_TZ = "Europe/Paris"
#: An invoice is open when due within this many days or already due (CONTRACT §3).
DUE_HORIZON_DAYS = 15
#: Labels look this far ahead (CONTRACT §3).
LABEL_HORIZON_DAYS = 90
REWARD_HORIZON_DAYS = 14
#: Recent actions kept in a case.
RECENT_ACTION_DAYS = 180

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
    (0 when paid on time). :func:`build_cases` computes it from the invoices table; collection
    software calling the API computes the same figures from its ledger.
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


class Case(_Strict):
    """One debtor with at least one open invoice, as of an instant (CONTRACT §3)."""

    as_of: AwareDatetime = Field(description="The instant of the decision (ISO 8601 with offset).")
    debtor: Debtor
    open_invoices: list[OpenInvoice] = Field(
        min_length=1, max_length=MAX_INVOICES, description="Invoices open at as_of."
    )
    history: PaymentHistory = Field(
        default_factory=PaymentHistory, description="Payment history summary before as_of."
    )
    recent_actions: list[PastAction] = Field(
        default_factory=list,
        max_length=MAX_ACTIONS,
        description=f"Actions decided in the {RECENT_ACTION_DAYS} days before as_of.",
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
        return self


# --------------------------------------------------------------------------------------
# Columnar form

DEBTOR_COLS = [n for n in Debtor.model_fields]
HISTORY_COLS = [n for n in PaymentHistory.model_fields]
INVOICE_COLS = [n for n in OpenInvoice.model_fields]
ACTION_COLS = [n for n in PastAction.model_fields]
_DATE_COLS = {
    "customer_since",
    "last_payment_date",
    "issue_date",
    "due_date",
    "dispute_date",
    "dispute_resolved_date",
}


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


class CaseSet:
    """Many cases in columnar form.

    ``cases``: one row per case (``as_of`` UTC, debtor columns, history columns);
    ``invoices``: open invoices, column ``case`` = row position in ``cases``;
    ``actions``: recent actions, column ``case`` likewise.

    :meth:`column` gives any column as a plain numpy array (the form of :data:`_KINDS`), which
    is what the features, the rules and the policy read. A set built by :meth:`from_cases` (the
    API path) holds those arrays and builds its data frames only if something asks for them.
    """

    _TABLES = ("cases", "invoices", "actions")

    def __init__(
        self,
        cases: pd.DataFrame | None,
        invoices: pd.DataFrame | None,
        actions: pd.DataFrame | None,
        *,
        columns: dict[str, dict[str, np.ndarray]] | None = None,
    ) -> None:
        self._frames: dict[str, pd.DataFrame | None] = {
            "cases": cases,
            "invoices": invoices,
            "actions": actions,
        }
        self._columns: dict[str, dict[str, np.ndarray]] = columns or {t: {} for t in self._TABLES}
        if any(f is None for f in self._frames.values()) and columns is None:
            raise ValueError("a CaseSet needs its three tables, or their columns")

    def _frame_of(self, table: str) -> pd.DataFrame:
        f = self._frames[table]
        if f is None:
            f = self._frames[table] = _frame_from_columns(self._columns[table], _TABLE_COLS[table])
        return f

    @property
    def cases(self) -> pd.DataFrame:
        return self._frame_of("cases")

    @property
    def invoices(self) -> pd.DataFrame:
        return self._frame_of("invoices")

    @property
    def actions(self) -> pd.DataFrame:
        return self._frame_of("actions")

    def column(self, table: str, name: str) -> np.ndarray:
        """A column as a numpy array: strings as objects (None when missing), numbers as
        float64 / int64, booleans as bool (``purchase_order_ref``: float, NaN when unknown),
        dates as naive ``datetime64[ns]``, instants as int64 UTC nanoseconds (``NAT`` when
        missing). Read-only: it may be shared."""
        cols = self._columns[table]
        v = cols.get(name)
        if v is None:
            v = cols[name] = _canonical(self._frames[table][name], _KINDS[name])  # type: ignore[index]
            v.flags.writeable = False
        return v

    def __len__(self) -> int:
        f = self._frames["cases"]
        return len(f) if f is not None else len(self._columns["cases"]["as_of"])

    @property
    def debtor_ids(self) -> pd.Series:
        return self.cases["debtor_id"]

    def take(self, positions: Sequence[int] | np.ndarray) -> CaseSet:
        """The cases at the given positions, renumbered 0..k-1."""
        positions = np.asarray(positions, dtype=np.int64)
        remap = pd.Series(np.arange(len(positions)), index=positions)
        inv = self.invoices[self.invoices["case"].isin(positions)].copy()
        inv["case"] = remap.loc[inv["case"].to_numpy()].to_numpy()
        act = self.actions[self.actions["case"].isin(positions)].copy()
        act["case"] = remap.loc[act["case"].to_numpy()].to_numpy()
        return CaseSet(
            self.cases.iloc[positions].reset_index(drop=True),
            inv.sort_values("case", kind="stable").reset_index(drop=True),
            act.sort_values("case", kind="stable").reset_index(drop=True),
        )

    @staticmethod
    def concat(sets: Iterable[CaseSet]) -> CaseSet:
        sets = list(sets)
        cs, invs, acts, offset = [], [], [], 0
        for s in sets:
            cs.append(s.cases)
            invs.append(s.invoices.assign(case=s.invoices["case"] + offset))
            acts.append(s.actions.assign(case=s.actions["case"] + offset))
            offset += len(s.cases)
        return CaseSet(
            pd.concat(cs, ignore_index=True),
            pd.concat(invs, ignore_index=True),
            pd.concat(acts, ignore_index=True),
        )

    # -- conversions ---------------------------------------------------------------
    @classmethod
    def from_cases(cls, cases: Sequence[Case]) -> CaseSet:
        """Columnar form of validated :class:`Case` objects (the API path)."""
        rows, inv_rows, act_rows = [], [], []
        for i, c in enumerate(cases):
            row = c.debtor.model_dump()
            row.update(c.history.model_dump())
            row["as_of"] = pd.Timestamp(c.as_of).tz_convert("UTC")
            rows.append(row)
            for inv in c.open_invoices:
                r = inv.model_dump()
                r["case"] = i
                inv_rows.append(r)
            for a in c.recent_actions:
                r = a.model_dump()
                r["case"] = i
                act_rows.append(r)
        columns = {
            "cases": _arrays(rows, _TABLE_COLS["cases"]),
            "invoices": _arrays(inv_rows, _TABLE_COLS["invoices"]),
            "actions": _arrays(act_rows, _TABLE_COLS["actions"]),
        }
        for table in columns.values():
            for v in table.values():
                v.flags.writeable = False
        return cls(None, None, None, columns=columns)

    def to_cases(self) -> list[Case]:
        """Pydantic :class:`Case` objects (for the API, examples and tests)."""

        def clean(d: dict) -> dict:
            out = {}
            for k, v in d.items():
                if v is pd.NA or v is pd.NaT or (isinstance(v, float) and np.isnan(v)):
                    v = None
                elif isinstance(v, pd.Timestamp):
                    v = v.date() if k in _DATE_COLS else v.to_pydatetime()
                elif isinstance(v, np.generic):
                    v = v.item()
                out[k] = v
            return out

        inv_by = {k: g for k, g in self.invoices.groupby("case")}
        act_by = {k: g for k, g in self.actions.groupby("case")}
        out = []
        for i, row in enumerate(self.cases.to_dict("records")):
            row = clean(row)
            invs = inv_by.get(i, self.invoices.iloc[:0])
            acts = act_by.get(i, self.actions.iloc[:0])
            out.append(
                Case(
                    as_of=row["as_of"],
                    debtor={k: row[k] for k in DEBTOR_COLS},
                    history={k: row[k] for k in HISTORY_COLS if row[k] is not None},
                    open_invoices=[clean(r) for r in invs[INVOICE_COLS].to_dict("records")],
                    recent_actions=[clean(r) for r in acts[ACTION_COLS].to_dict("records")],
                )
            )
        return out


#: dtype of every column of the columnar form
_KINDS: dict[str, str] = {
    "as_of": "ts", "decided_at": "ts", "scheduled_at": "ts",
    "customer_since": "date", "last_payment_date": "date", "issue_date": "date",
    "due_date": "date", "dispute_date": "date", "dispute_resolved_date": "date",
    "debtor_id": "str", "segment": "str", "sector": "str", "company_size": "str",
    "department": "str", "language": "str", "invoice_id": "str", "delivery_channel": "str",
    "dispute_reason": "str", "action": "str", "outcome": "str",
    "credit_limit": "float", "external_score": "float", "mean_days_late": "float",
    "max_days_late": "float", "amount_paid_12m": "float", "mean_invoice_amount": "float",
    "amount": "float",
    "consent_email": "bool", "consent_sms": "bool", "consent_whatsapp": "bool",
    "consent_phone": "bool", "purchase_order_ref": "boolean",
    "case": "int", "n_invoices": "int", "n_paid": "int", "n_paid_late": "int",
    "n_paid_12m": "int", "n_paid_late_12m": "int", "last5_n": "int", "last5_n_late": "int",
    "n_disputes": "int", "n_disputes_12m": "int", "n_legal": "int", "n_paid_90d": "int",
    "n_paid_late_90d": "int", "mean_days_late_90d": "float", "n_open_disputes_other": "int",
    "n_disputes_billing": "int",
}  # fmt: skip
_NAT = np.datetime64("NaT", "ns")
_TABLE_COLS = {
    "cases": ["as_of", *DEBTOR_COLS, *HISTORY_COLS],
    "invoices": ["case", *INVOICE_COLS],
    "actions": ["case", *ACTION_COLS],
}


def _arrays(records: list[dict], columns: list[str]) -> dict[str, np.ndarray]:
    """Columns (the form of :meth:`CaseSet.column`) straight from model dumps (the API path)."""
    cols = {}
    for c in columns:
        vals = [r.get(c) for r in records]
        kind = _KINDS[c]
        if kind == "str":
            cols[c] = np.array(vals, dtype=object)
        elif kind == "float":
            cols[c] = np.array([np.nan if v is None else v for v in vals], dtype="float64")
        elif kind == "int":
            cols[c] = np.array([0 if v is None else v for v in vals], dtype="int64")
        elif kind == "bool":
            cols[c] = np.array([bool(v) for v in vals], dtype=bool)
        elif kind == "boolean":
            cols[c] = np.array([np.nan if v is None else float(v) for v in vals], dtype="float64")
        elif kind == "date":
            cols[c] = np.array(
                [_NAT if v is None else np.datetime64(v, "ns") for v in vals],
                dtype="datetime64[ns]",
            )
        else:  # tz-aware instants, as int64 UTC nanoseconds
            cols[c] = np.array(
                [_NAT_NS if v is None else _utc_ns_of(v) for v in vals], dtype=np.int64
            )
    return cols


def _utc_ns_of(v) -> int:
    if isinstance(v, dt.datetime):
        if v.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        delta = v - _EPOCH
        return (delta.days * 86_400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    return pd.Timestamp(v).tz_convert("UTC").as_unit("ns").value


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_NAT_NS = np.iinfo(np.int64).min


def _frame_from_columns(cols: dict[str, np.ndarray], columns: list[str]) -> pd.DataFrame:
    """The typed data frame of :meth:`CaseSet.column` arrays."""
    out = {}
    for c in columns:
        v, kind = cols[c], _KINDS[c]
        if kind == "str":
            out[c] = pd.array(v, dtype="string")
        elif kind == "boolean":
            out[c] = pd.array([pd.NA if np.isnan(x) else bool(x) for x in v], dtype="boolean")
        elif kind == "ts":
            out[c] = pd.DatetimeIndex(v.view("datetime64[ns]")).tz_localize("UTC")
        else:
            out[c] = v.copy()
    return pd.DataFrame(out, columns=columns)


def _canonical(col: pd.Series, kind: str) -> np.ndarray:
    """A data frame column in the form of :meth:`CaseSet.column`."""
    if kind == "str":
        return col.to_numpy(dtype=object, na_value=None)
    if kind in ("float", "boolean"):
        return col.to_numpy(dtype=np.float64, na_value=np.nan)
    if kind == "int":
        return col.to_numpy(dtype=np.int64)
    if kind == "bool":
        return col.to_numpy(dtype=bool, na_value=False)
    if kind == "date":
        return col.to_numpy(dtype="datetime64[ns]")
    if not len(col):
        return np.zeros(0, dtype=np.int64)
    return col.array.as_unit("ns").asi8  # int64 instants are UTC whatever the zone


def _typed_cases(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["as_of"] = pd.to_datetime(df["as_of"], utc=True).astype("datetime64[ns, UTC]")
    for c in ("customer_since", "last_payment_date"):
        df[c] = pd.to_datetime(df[c]).astype("datetime64[ns]")
    for c in ("debtor_id", "segment", "sector", "company_size", "department", "language"):
        df[c] = df[c].astype("string")
    for c in (
        "credit_limit",
        "external_score",
        "mean_days_late",
        "max_days_late",
        "amount_paid_12m",
        "mean_invoice_amount",
        "mean_days_late_90d",
    ):
        df[c] = pd.to_numeric(df[c]).astype("float64")
    for c in ("consent_email", "consent_sms", "consent_whatsapp", "consent_phone"):
        df[c] = df[c].astype("boolean").fillna(False).astype(bool)
    for c in (
        "n_invoices",
        "n_paid",
        "n_paid_late",
        "n_paid_12m",
        "n_paid_late_12m",
        "last5_n",
        "last5_n_late",
        "n_disputes",
        "n_disputes_12m",
        "n_legal",
        "n_paid_90d",
        "n_paid_late_90d",
        "n_open_disputes_other",
        "n_disputes_billing",
    ):
        df[c] = pd.to_numeric(df[c]).fillna(0).astype("int64")
    return df.reset_index(drop=True)


def _typed_invoices(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["case"] = df["case"].astype("int64")
    for c in ("issue_date", "due_date", "dispute_date", "dispute_resolved_date"):
        df[c] = pd.to_datetime(df[c]).astype("datetime64[ns]")
    for c in ("invoice_id", "delivery_channel", "dispute_reason"):
        df[c] = df[c].astype("string")
    df["amount"] = df["amount"].astype("float64")
    df["purchase_order_ref"] = df["purchase_order_ref"].astype("boolean")
    return df.reset_index(drop=True)


def _typed_actions(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["case"] = df["case"].astype("int64")
    for c in ("decided_at", "scheduled_at"):
        df[c] = pd.to_datetime(df[c], utc=True).astype("datetime64[ns, UTC]")
    for c in ("action", "outcome"):
        df[c] = df[c].astype("string")
    return df.reset_index(drop=True)


# --------------------------------------------------------------------------------------
# Building cases from raw tables


def _to_utc(as_of) -> pd.Timestamp:
    ts = pd.Timestamp(as_of)
    if ts.tzinfo is None:
        raise ValueError(
            f"as_of {as_of!r} must carry a UTC offset (e.g. 2026-03-02T09:00:00+01:00)"
        )
    return ts.tz_convert("UTC")


def open_invoice_mask(inv: pd.DataFrame, day: pd.Timestamp | pd.Series) -> pd.Series:
    """Invoices open on ``day`` (CONTRACT §3), using only facts dated before ``day``."""
    return (
        (inv["issue_date"] < day)
        & ~(inv["paid_date"] < day).fillna(False)
        & ~(inv["legal_date"] < day).fillna(False)
        & (inv["due_date"] <= day + pd.Timedelta(days=DUE_HORIZON_DAYS))
    ).astype(bool)


def _history(m: pd.DataFrame, n: int) -> pd.DataFrame:
    """Payment-history summary per request ``rid`` from (request x invoice) rows ``m``.

    ``m`` holds each request's invoices with the request's calendar ``day``; only facts dated
    before that day are used.
    """
    day = m["day"]
    year_ago = day - pd.Timedelta(days=365)
    issued_mask = m["issue_date"] < day
    paid_mask = issued_mask & (m["paid_date"] < day).fillna(False)
    paid = m[paid_mask]
    late_days = (paid["paid_date"] - paid["due_date"]).dt.days.clip(lower=0).astype("float64")
    paid = paid.assign(
        late_days=late_days, late=late_days > 0, recent=paid["paid_date"] >= year_ago[paid_mask]
    )
    h = pd.DataFrame(index=pd.RangeIndex(n))
    issued = m[issued_mask]
    gi = issued.groupby("rid")
    h["n_invoices"] = gi.size()
    h["mean_invoice_amount"] = gi["amount"].mean()
    g = paid.groupby("rid")
    h["n_paid"] = g.size()
    h["n_paid_late"] = g["late"].sum()
    rec = paid[paid["recent"]].groupby("rid")
    h["n_paid_12m"] = rec.size()
    h["n_paid_late_12m"] = rec["late"].sum()
    h["amount_paid_12m"] = rec["amount"].sum()
    h["mean_days_late"] = g["late_days"].mean()
    quarter = paid[paid["paid_date"] >= (paid["day"] - pd.Timedelta(days=90))].groupby("rid")
    h["n_paid_90d"] = quarter.size()
    h["n_paid_late_90d"] = quarter["late"].sum()
    h["mean_days_late_90d"] = quarter["late_days"].mean()
    h["max_days_late"] = g["late_days"].max()
    h["last_payment_date"] = g["paid_date"].max()
    last5 = paid.sort_values(["rid", "paid_date", "due_date", "invoice_id"]).groupby("rid").tail(5)
    g5 = last5.groupby("rid")
    h["last5_n"] = g5.size()
    h["last5_n_late"] = g5["late"].sum()
    disp_mask = issued_mask & (m["dispute_date"] < day).fillna(False)
    disp = m[disp_mask]
    h["n_disputes"] = disp.groupby("rid").size()
    h["n_disputes_12m"] = disp[disp["dispute_date"] >= year_ago[disp_mask]].groupby("rid").size()
    billing = (disp["dispute_reason"] == "billing_error").fillna(False).to_numpy(dtype=bool)
    h["n_disputes_billing"] = disp[billing].groupby("rid").size()
    h["n_legal"] = m[issued_mask & (m["legal_date"] < day).fillna(False)].groupby("rid").size()
    unresolved = disp_mask & ~(m["dispute_resolved_date"] < day).fillna(False)
    unpaid = ~(m["paid_date"] < day).fillna(False)
    # disputes on invoices outside the case's open invoices (open ones are counted there)
    h["n_open_disputes_other"] = (
        m[unresolved & unpaid & ~open_invoice_mask(m, day)].groupby("rid").size()
    )
    ints = [
        "n_invoices", "n_paid", "n_paid_late", "n_paid_12m", "n_paid_late_12m", "last5_n",
        "last5_n_late", "n_disputes", "n_disputes_12m", "n_legal", "n_paid_90d", "n_paid_late_90d",
        "n_open_disputes_other", "n_disputes_billing",
    ]  # fmt: skip
    h[ints] = h[ints].fillna(0).astype("int64")
    h["amount_paid_12m"] = h["amount_paid_12m"].fillna(0.0)
    return h


def build_cases_at(
    tables: dict[str, pd.DataFrame], requests: pd.DataFrame
) -> tuple[CaseSet, np.ndarray]:
    """Cases for (``debtor_id``, ``as_of``) requests, each at its own instant.

    Returns the cases of the requests whose debtor had open invoices at that instant (in request
    order) and the positions of those requests. Only facts known before each request's
    ``as_of`` are used.
    """
    as_of = pd.Series(requests["as_of"]).reset_index(drop=True)
    req = pd.DataFrame(
        {
            "debtor_id": pd.Series(requests["debtor_id"]).astype("string").reset_index(drop=True),
            "as_of": pd.to_datetime(as_of, utc=True).astype("datetime64[ns, UTC]"),
        }
    )
    req["day"] = as_of_day(req["as_of"])
    req["rid"] = np.arange(len(req))
    inv = tables["invoices"]
    m = req[["rid", "debtor_id", "day"]].merge(inv, on="debtor_id", how="inner")
    open_mask = open_invoice_mask(m, m["day"])
    has_open = np.bincount(m["rid"].to_numpy()[open_mask.to_numpy()], minlength=len(req)) > 0
    kept = np.flatnonzero(has_open)
    pos = np.full(len(req), -1, dtype=np.int64)
    pos[kept] = np.arange(len(kept))

    hist = _history(m[m["rid"].isin(kept)], len(req)).iloc[kept]
    debtors = tables["debtors"].set_index("debtor_id")
    d = debtors.loc[req["debtor_id"].to_numpy()[kept], [c for c in DEBTOR_COLS if c != "debtor_id"]]
    cases = pd.concat(
        [
            req.iloc[kept][["as_of", "debtor_id"]].reset_index(drop=True),
            d.reset_index(drop=True),
            hist.reset_index(drop=True)[HISTORY_COLS],
        ],
        axis=1,
    )
    cases = _typed_cases(cases[["as_of", *DEBTOR_COLS, *HISTORY_COLS]])

    oi = m[open_mask].copy()
    day = oi["day"]
    known_dispute = (oi["dispute_date"] < day).fillna(False)
    oi["dispute_date"] = oi["dispute_date"].where(known_dispute)
    oi["dispute_reason"] = oi["dispute_reason"].where(known_dispute)
    oi["dispute_resolved_date"] = oi["dispute_resolved_date"].where(
        (oi["dispute_resolved_date"] < day).fillna(False)
    )
    oi["case"] = pos[oi["rid"].to_numpy()]
    oi = oi.sort_values(["case", "due_date", "invoice_id"], kind="stable")
    invoices = _typed_invoices(oi[["case", *INVOICE_COLS]])

    act = req.iloc[kept][["rid", "debtor_id", "as_of"]].merge(
        tables["actions"].drop(columns=["as_of"], errors="ignore"), on="debtor_id", how="inner"
    )
    lo = act["as_of"] - pd.Timedelta(days=RECENT_ACTION_DAYS)
    act = act[(act["decided_at"] < act["as_of"]) & (act["decided_at"] >= lo)].copy()
    # what happened after as_of is not known yet: a contact scheduled later has no outcome yet
    pending = ~(act["scheduled_at"] < act["as_of"]).fillna(False)
    act["outcome"] = act["outcome"].where(~pending)
    act["case"] = pos[act["rid"].to_numpy()]
    act = act.sort_values(["case", "decided_at", "action_id"], kind="stable")
    actions = _typed_actions(act[["case", *ACTION_COLS]])
    return CaseSet(cases, invoices, actions), kept


def build_cases(
    tables: dict[str, pd.DataFrame], as_of, debtor_ids: Iterable[str] | None = None
) -> CaseSet:
    """All cases at ``as_of`` from validated tables (see :func:`scoring.contract.load_tables`).

    Only facts known before ``as_of`` enter a case: later payments, disputes, resolutions and
    actions are masked, so the result is the same whether or not the tables hold later rows.
    Cases are ordered by debtor id.
    """
    ts = _to_utc(as_of)
    day = as_of_day(ts)
    inv = tables["invoices"]
    if debtor_ids is not None:
        inv = inv[inv["debtor_id"].isin(pd.Index(list(debtor_ids)))]
    ids = inv.loc[open_invoice_mask(inv, day), "debtor_id"].unique()
    ids = np.sort(np.asarray(ids, dtype=object))
    cs, _ = build_cases_at(tables, pd.DataFrame({"debtor_id": ids, "as_of": ts}))
    return cs


# --------------------------------------------------------------------------------------
# Labels


def data_end(tables: dict[str, pd.DataFrame]) -> pd.Timestamp:
    """Last calendar day the data set describes (labels need this much future)."""
    inv = tables["invoices"]
    cols = ["issue_date", "paid_date", "dispute_date", "dispute_resolved_date", "legal_date"]
    last = max(inv[c].max() for c in cols if inv[c].notna().any())
    acts = tables["actions"]["decided_at"]
    if len(acts):
        last = max(last, as_of_day(acts.max()))
    return pd.Timestamp(last)


def case_labels(cs: CaseSet, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Labels of CONTRACT §3 for each case, from the full tables (the future included).

    Columns: ``default`` (some open invoice unpaid 90 days after its due date), ``dispute``
    (a dispute raised on an open invoice within 90 days after as_of), and ``observable``
    (the data set extends far enough for both labels to be known).
    """
    inv = tables["invoices"][["invoice_id", "due_date", "paid_date", "dispute_date"]]
    oi = cs.invoices[["case", "invoice_id"]].merge(inv, on="invoice_id", how="left")
    day = as_of_day(cs.cases["as_of"]).to_numpy()
    oi_day = day[oi["case"].to_numpy()]
    horizon = pd.Timedelta(days=LABEL_HORIZON_DAYS)
    unpaid = oi["paid_date"].isna() | (oi["paid_date"] > oi["due_date"] + horizon)
    disputed = (oi["dispute_date"] >= oi_day) & (oi["dispute_date"] < oi_day + horizon)
    n = len(cs)
    default = np.bincount(oi["case"], weights=unpaid.to_numpy(dtype=float), minlength=n) > 0
    dispute = (
        np.bincount(oi["case"], weights=disputed.fillna(False).to_numpy(dtype=float), minlength=n)
        > 0
    )
    end = data_end(tables)
    last_due = oi.groupby("case")["due_date"].max().reindex(range(n)).to_numpy()
    observable = (last_due + horizon <= end) & (day + horizon <= end)
    return pd.DataFrame(
        {"default": default.astype(int), "dispute": dispute.astype(int), "observable": observable}
    )


def action_rewards(
    tables: dict[str, pd.DataFrame],
    costs: dict[str, float],
    penalty: float = 50.0,
    horizon_days: int = REWARD_HORIZON_DAYS,
    chunk_debtors: int = 5000,
    start_day: int = 0,
) -> pd.DataFrame:
    """The reward of CONTRACT §3 for every logged action.

    For a decision on day D (``decided_at``, Europe/Paris): the amount of the debtor's invoices
    open at D that are paid in [D + s, D + s + 14 days), minus the action's cost, minus
    ``penalty`` for each dispute raised on those invoices in that window and each complaint
    recorded in the 14 days from the decision (``s`` = ``start_day``, 0 by default).

    Policy learning uses ``start_day=1``: dates carry no time of day, so a payment or dispute
    dated the decision day may have happened before the decision (and driven it: a dispute
    raised that day makes a ladder wait) while the features only know the days before; counting
    it would teach the learners that waiting causes disputes.
    Returns the actions table with ``paid_14d``, ``n_disputes_14d``, ``n_complaints_14d``,
    ``cost``, ``reward`` and ``observable`` columns.
    """
    acts = tables["actions"].copy()
    acts["day"] = as_of_day(acts["decided_at"])
    inv = tables["invoices"]
    shift = pd.Timedelta(days=start_day)
    h = pd.Timedelta(days=horizon_days)
    debtors = acts["debtor_id"].unique()
    paid = np.zeros(len(acts))
    disputes = np.zeros(len(acts))
    acts = acts.reset_index(drop=True)
    acts["_row"] = np.arange(len(acts))
    for start in range(0, len(debtors), chunk_debtors):
        chunk = debtors[start : start + chunk_debtors]
        a = acts.loc[acts["debtor_id"].isin(chunk), ["_row", "debtor_id", "day"]]
        i = inv.loc[inv["debtor_id"].isin(chunk)]
        # only invoices that could matter: paid or disputed at some point
        i = i[i["paid_date"].notna() | i["dispute_date"].notna()]
        m = a.merge(i, on="debtor_id", how="inner")
        if m.empty:
            continue
        is_open = open_invoice_mask(m, m["day"])
        first = m["day"] + shift
        pay = (
            is_open
            & (m["paid_date"] >= first).fillna(False)
            & (m["paid_date"] < first + h).fillna(False)
        )
        disp = (
            is_open
            & (m["dispute_date"] >= first).fillna(False)
            & (m["dispute_date"] < first + h).fillna(False)
        )
        rows = m["_row"].to_numpy()
        paid += np.bincount(rows, weights=np.where(pay, m["amount"], 0.0), minlength=len(acts))
        disputes += np.bincount(rows, weights=disp.to_numpy(dtype=float), minlength=len(acts))
    # complaints: outcomes of this debtor's actions decided within the window (this one included)
    c = acts[["debtor_id", "decided_at", "_row"]].copy()
    c["complaint"] = (acts["outcome"] == "complaint").fillna(False).astype(float).to_numpy()
    c = c.sort_values(["debtor_id", "decided_at"], kind="stable")
    csum = c.groupby("debtor_id", observed=True)["complaint"].cumsum().to_numpy()
    # complaints in [t, t+h): cumulative count at the last action before t+h minus before t
    c["_cum"] = csum
    ends = pd.merge_asof(
        c.assign(key=c["decided_at"] + h - pd.Timedelta(microseconds=1)).sort_values("key")[
            ["key", "debtor_id", "_row"]
        ],
        c[["decided_at", "debtor_id", "_cum"]].sort_values("decided_at"),
        left_on="key",
        right_on="decided_at",
        by="debtor_id",
        direction="backward",
    ).set_index("_row")["_cum"]
    complaints = ends.reindex(c["_row"]).to_numpy() - (csum - c["complaint"].to_numpy())
    comp = np.zeros(len(acts))
    comp[c["_row"].to_numpy()] = complaints
    acts["paid_14d"] = paid
    acts["n_disputes_14d"] = disputes.astype(int)
    acts["n_complaints_14d"] = np.rint(comp).astype(int)
    acts["cost"] = acts["action"].map(costs).astype(float)
    acts["reward"] = (
        acts["paid_14d"]
        - acts["cost"]
        - penalty * (acts["n_disputes_14d"] + acts["n_complaints_14d"])
    )
    acts["observable"] = acts["day"] + shift + h <= data_end(tables)
    return acts.drop(columns=["_row"])
