"""The columnar form of many cases (:class:`CaseSet`): one frame per table, typed columns."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd

from scoring.cases.schema import (
    Case,
    Debtor,
    OpenInvoice,
    PastAction,
    PaymentHistory,
)
from scoring.contract import RECENT_ACTION_DAYS

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
        #: per case: the debtor has an unresolved contest (rule R9); set by the service
        self.paused: np.ndarray | None = None
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
        """Columnar form of validated :class:`Case` objects (the API path).

        As :func:`~scoring.cases.build_cases` does, it keeps the actions decided in the
        :data:`RECENT_ACTION_DAYS` days before ``as_of`` (a caller may send the whole log), in
        the order of ``decided_at``. The history is ``Case.history``, which validation computed
        from ``past_invoices`` when they were given.
        """
        rows, inv_rows, act_rows = [], [], []
        window = RECENT_ACTION_DAYS * 86_400 * 10**9
        for i, c in enumerate(cases):
            row = c.debtor.model_dump()
            row.update(c.history.model_dump())
            row["as_of"] = pd.Timestamp(c.as_of).tz_convert("UTC")
            rows.append(row)
            for inv in c.open_invoices:
                r = inv.model_dump()
                r["case"] = i
                inv_rows.append(r)
            since = _utc_ns_of(c.as_of) - window
            recent = [(t, a) for a in c.recent_actions if (t := _utc_ns_of(a.decided_at)) >= since]
            for _, a in sorted(recent, key=lambda ta: ta[0]):
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


def typed_cases(df: pd.DataFrame) -> pd.DataFrame:
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


def typed_invoices(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["case"] = df["case"].astype("int64")
    for c in ("issue_date", "due_date", "dispute_date", "dispute_resolved_date"):
        df[c] = pd.to_datetime(df[c]).astype("datetime64[ns]")
    for c in ("invoice_id", "delivery_channel", "dispute_reason"):
        df[c] = df[c].astype("string")
    df["amount"] = df["amount"].astype("float64")
    df["purchase_order_ref"] = df["purchase_order_ref"].astype("boolean")
    return df.reset_index(drop=True)


def typed_actions(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    df["case"] = df["case"].astype("int64")
    for c in ("decided_at", "scheduled_at"):
        df[c] = pd.to_datetime(df[c], utc=True).astype("datetime64[ns, UTC]")
    for c in ("action", "outcome"):
        df[c] = df[c].astype("string")
    return df.reset_index(drop=True)
