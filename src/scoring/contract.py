"""The data contract (../shared/CONTRACT.md): table schemas, the action catalogue, validation.

A data set is a folder holding ``debtors``, ``invoices`` and ``actions`` as Parquet or CSV.
:func:`load_tables` reads one, :func:`validate_tables` checks every rule of CONTRACT §1-2 and
returns *all* problems at once; :func:`load_validated` does both and raises
:class:`ContractError` (listing every problem) when the data set breaks the contract.
Optional columns may be absent (they are added as nulls); extra columns are kept.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

#: Time zone whose calendar day defines "known before as_of" for dated facts.
REFERENCE_TZ = "Europe/Paris"
#: An invoice is open when due within this many days or already due (CONTRACT §3).
DUE_HORIZON_DAYS = 15
#: Labels look this far ahead (CONTRACT §3).
LABEL_HORIZON_DAYS = 90
REWARD_HORIZON_DAYS = 14
#: Recent actions kept in a case.
RECENT_ACTION_DAYS = 180
#: Actions with a significant effect on the debtor (mise en demeure, contentieux): human
#: review for consumers, legal prerequisites, "harm" in the evaluations.
HARSH_ACTIONS: tuple[str, ...] = ("formal_notice", "legal_escalation")
#: Days-past-due buckets (of the oldest open invoice) used by the evaluations and the policy.
DPD_BUCKETS: tuple[str, ...] = ("not_yet_due", "0-29", "30-59", "60+")


def dpd_bucket_labels(max_days_past_due) -> np.ndarray:
    """The :data:`DPD_BUCKETS` label of each days-past-due value (NaN: ``60+`` never; a
    missing value counts as not yet due)."""
    d = np.asarray(max_days_past_due, dtype=float)
    return np.select([d <= 0, d < 30, d < 60], list(DPD_BUCKETS[:3]), DPD_BUCKETS[3])


#: plausibility bound on any amount in EUR (an invoice, a credit limit, a year's payments):
#: above it an input is a mistake, and sums of such values would overflow
MAX_AMOUNT = 1e11

TABLES = ("debtors", "invoices", "actions")

#: Action catalogue (CONTRACT §2). Costs here are only the defaults of
#: ``config/policy.yaml``; code reads costs from configuration.
ACTIONS: tuple[str, ...] = (
    "wait",
    "email_reminder",
    "sms_reminder",
    "whatsapp_reminder",
    "phone_call",
    "letter",
    "formal_notice",
    "payment_plan_offer",
    "dispute_review",
    "legal_escalation",
)
CONTACT_ACTIONS: tuple[str, ...] = tuple(a for a in ACTIONS if a != "wait")
OUTCOMES = ("not_reached", "reached", "promise_to_pay", "dispute_raised", "complaint")
SEGMENTS = ("B2B", "B2C")
SECTORS = tuple("ABCDEFGHIJKLMNOPQRSTU")
COMPANY_SIZES = ("micro", "small", "medium", "large")
DELIVERY_CHANNELS = ("e_invoice", "email", "paper")
DISPUTE_REASONS = ("billing_error", "contract_terms", "quality", "other")
LANGUAGES = ("fr", "en")
CONSENTS = ("consent_email", "consent_sms", "consent_whatsapp", "consent_phone")
DEPARTMENTS: tuple[str, ...] = tuple(
    [f"{i:02d}" for i in range(1, 96) if i != 20] + ["2A", "2B"] + [str(i) for i in range(971, 977)]
)


@dataclass(frozen=True)
class Column:
    name: str
    kind: str  # "str", "date", "timestamp", "float", "bool"
    required: bool
    allowed: tuple[str, ...] | None = None
    description: str = ""


SCHEMAS: dict[str, tuple[Column, ...]] = {
    "debtors": (
        Column("debtor_id", "str", True, description="pseudonymous unique key"),
        Column("segment", "str", True, SEGMENTS),
        Column("sector", "str", False, SECTORS, "NAF rev.2 section, required for B2B"),
        Column("company_size", "str", False, COMPANY_SIZES),
        Column("department", "str", True, DEPARTMENTS),
        Column("customer_since", "date", True),
        Column("credit_limit", "float", False),
        Column("external_score", "float", False),
        Column("consent_email", "bool", True),
        Column("consent_sms", "bool", True),
        Column("consent_whatsapp", "bool", True),
        Column("consent_phone", "bool", True),
        Column("language", "str", False, LANGUAGES),
    ),
    "invoices": (
        Column("invoice_id", "str", True),
        Column("debtor_id", "str", True),
        Column("issue_date", "date", True),
        Column("due_date", "date", True),
        Column("amount", "float", True),
        Column("purchase_order_ref", "bool", False),
        Column("delivery_channel", "str", False, DELIVERY_CHANNELS),
        Column("paid_date", "date", False),
        Column("dispute_date", "date", False),
        Column("dispute_reason", "str", False, DISPUTE_REASONS),
        Column("dispute_resolved_date", "date", False),
        Column("legal_date", "date", False),
    ),
    "actions": (
        Column("action_id", "str", True),
        Column("debtor_id", "str", True),
        Column("decided_at", "timestamp", True),
        Column("action", "str", True, ACTIONS),
        Column("scheduled_at", "timestamp", False),
        Column("propensity", "float", False),
        Column("outcome", "str", False, OUTCOMES),
    ),
}
ID_COLUMNS = {"debtors": "debtor_id", "invoices": "invoice_id", "actions": "action_id"}


@dataclass
class Problem:
    """One broken rule: where, what, how many rows, a few example ids."""

    table: str
    column: str
    rule: str
    n_rows: int = 0
    examples: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        ex = f" (e.g. {', '.join(map(str, self.examples))})" if self.examples else ""
        rows = f": {self.n_rows} row(s)" if self.n_rows else ""
        where = self.table if self.column == "-" else f"{self.table}.{self.column}"
        where = "data set" if where == "-" else where
        return f"{where}: {self.rule}{rows}{ex}"


class ContractError(ValueError):
    """A data set breaks the contract; ``problems`` lists every broken rule."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"the data set breaks the contract ({len(problems)} problem(s)):\n{lines}")


# --------------------------------------------------------------------------------------
# Reading


def find_table(data_dir: Path, name: str) -> Path | None:
    for ext in (".parquet", ".csv"):
        p = data_dir / f"{name}{ext}"
        if p.exists():
            return p
    return None


def read_raw_tables(data_dir: str | Path) -> tuple[dict[str, pd.DataFrame], list[Problem]]:
    """Read the three tables as they are on disk (no coercion)."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ContractError([Problem("-", "-", f"data folder {str(data_dir)!r} does not exist")])
    tables: dict[str, pd.DataFrame] = {}
    problems: list[Problem] = []
    for name in TABLES:
        path = find_table(data_dir, name)
        if path is None:
            problems.append(
                Problem(name, "-", f"missing table: expected {name}.parquet or {name}.csv")
            )
            continue
        try:
            if path.suffix == ".parquet":
                tables[name] = pd.read_parquet(path)
            else:
                sep = _sniff_separator(path)
                tables[name] = pd.read_csv(
                    path, dtype=str, keep_default_na=False, na_values=[""], sep=sep
                )
                if sep == ";":  # French spreadsheet export: decimal commas
                    tables[name].attrs["decimal"] = ","
        except Exception as exc:  # noqa: BLE001 - any unreadable file is a contract problem
            problems.append(Problem(name, "-", f"cannot read {path.name}: {exc}"))
    return tables, problems


def _sniff_separator(path: Path) -> str:
    """The field separator of a CSV file: ``,`` or, as French spreadsheets export, ``;`` (also
    tab and ``|``), judged on the header line."""
    with open(path, encoding="utf-8", errors="replace", newline="") as fh:
        header = fh.readline()
    counts = {c: header.count(c) for c in (",", ";", "\t", "|")}
    best = max(counts, key=counts.get)  # type: ignore[arg-type]
    return best if counts[best] > 0 else ","


# --------------------------------------------------------------------------------------
# Coercion: every column to its contract type, recording what does not parse

#: dates and timestamps outside this range are refused (pandas cannot hold them, and they are
#: typing mistakes in a collection portfolio)
MIN_DATE, MAX_DATE = pd.Timestamp("1900-01-01"), pd.Timestamp("2199-12-31")
_ISO_DATE = r"\d{4}-\d{2}-\d{2}(?:[T ].*)?"

_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


def _examples(df: pd.DataFrame, mask: pd.Series, table: str, k: int = 3) -> list[str]:
    idc = ID_COLUMNS[table]
    if idc in df.columns:
        return [str(v) for v in df.loc[mask, idc].head(k).tolist()]
    return [str(i) for i in df.index[mask][:k]]


def _to_str(s: pd.Series) -> pd.Series:
    out = s.astype("string")
    return out.str.strip().replace("", pd.NA)


def _to_bool(s: pd.Series) -> tuple[pd.Series, pd.Series]:
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean"), pd.Series(False, index=s.index)
    txt = s.astype("string").str.strip().str.lower()
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[txt.isin(_TRUE).fillna(False)] = True
    out[txt.isin(_FALSE).fillna(False)] = False
    bad = txt.notna() & out.isna()
    return out, bad


def _to_float(s: pd.Series, decimal: str = ".") -> tuple[pd.Series, pd.Series]:
    if decimal == "," and (s.dtype == object or pd.api.types.is_string_dtype(s)):
        txt = s.astype("string").str.strip()
        # "1 234,56" -> "1234.56" (spaces, non-breaking spaces and dots group thousands)
        s = txt.str.replace(r"[\s\u00a0\u202f.]", "", regex=True).str.replace(",", ".")
    out = pd.to_numeric(s, errors="coerce").astype("float64")
    bad = s.notna() & out.isna()
    if s.dtype == object or pd.api.types.is_string_dtype(s):
        bad &= s.astype("string").str.strip().fillna("") != ""
    return out, bad


def _in_range(out: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Values outside MIN_DATE..MAX_DATE set to NaT (pandas' nanoseconds cannot hold them),
    and the mask of those values."""
    naive = out.dt.tz_localize(None) if isinstance(out.dtype, pd.DatetimeTZDtype) else out
    oor = naive.notna() & ((naive < MIN_DATE) | (naive > MAX_DATE))
    return out.mask(oor), oor


def _to_date(s: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Returns (dates, unparseable mask, out-of-range mask)."""
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        out = s.dt.tz_convert("UTC").dt.tz_localize(None).dt.normalize()
    elif pd.api.types.is_datetime64_any_dtype(s):
        out = s.dt.normalize()
    elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        # numbers are not dates (an integer column would otherwise become 1970)
        out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns]")
    else:
        # ISO 8601 only: "05/04/2025" is 5 April in France and 4 May elsewhere
        txt = s.astype("string").str.strip()
        iso = txt.str.fullmatch(_ISO_DATE).fillna(False).astype(bool)
        out = pd.to_datetime(txt.where(iso), errors="coerce", format="ISO8601")
        if isinstance(out.dtype, pd.DatetimeTZDtype):
            out = out.dt.tz_localize(None)
        out = out.dt.normalize()
    out, oor = _in_range(out)
    out = out.astype("datetime64[ns]")
    bad = s.notna() & out.isna() & ~oor
    return out, bad, oor


def _to_timestamp(s: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """Returns (utc timestamps, unparseable mask, missing-offset mask, out-of-range mask)."""
    no_offset = pd.Series(False, index=s.index)
    if isinstance(s.dtype, pd.DatetimeTZDtype):
        out = s.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_any_dtype(s):
        out = s.dt.tz_localize("UTC")
        no_offset = s.notna()
    elif pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
        out = pd.Series(pd.NaT, index=s.index, dtype="datetime64[ns, UTC]")
    else:
        txt = s.astype("string").str.strip()
        has_offset = txt.str.contains(r"(?:[+-]\d{2}:?\d{2}|Z)$", regex=True).fillna(False)
        out = pd.to_datetime(txt, errors="coerce", utc=True, format="ISO8601")
        no_offset = txt.notna() & ~has_offset
    out, oor = _in_range(out)
    out = out.astype("datetime64[ns, UTC]")
    bad = s.notna() & out.isna() & ~oor
    return out, bad, no_offset, oor


def _coerce(name: str, df: pd.DataFrame, problems: list[Problem]) -> pd.DataFrame:
    df = df.copy()
    n = len(df)
    out_of_range = f"outside {MIN_DATE:%Y-%m-%d}..{MAX_DATE:%Y-%m-%d}"
    for col in SCHEMAS[name]:
        if col.name not in df.columns:
            if col.required:
                problems.append(Problem(name, col.name, "required column is missing"))
            df[col.name] = pd.Series([pd.NA] * n, index=df.index)
        s = df[col.name]
        found: list[tuple[pd.Series, str]] = []
        if col.kind == "str":
            df[col.name] = _to_str(s)
        elif col.kind == "bool":
            df[col.name], bad = _to_bool(s)
            found = [(bad, "not a boolean")]
        elif col.kind == "float":
            df[col.name], bad = _to_float(s, df.attrs.get("decimal", "."))
            found = [(bad, "not a number")]
        elif col.kind == "date":
            df[col.name], bad, oor = _to_date(s)
            found = [(bad, "not a date (ISO 8601 YYYY-MM-DD expected)"), (oor, out_of_range)]
        elif col.kind == "timestamp":
            df[col.name], bad, no_off, oor = _to_timestamp(s)
            found = [
                (bad, "not an ISO 8601 timestamp"),
                (oor, out_of_range),
                (no_off, "timestamp without a UTC offset (tz-aware expected)"),
            ]
        for mask, rule in found:
            _check(problems, df, name, col.name, mask, rule)
    return df


# --------------------------------------------------------------------------------------
# Rules


def _check(
    problems: list[Problem], df: pd.DataFrame, table: str, column: str, bad: pd.Series, rule: str
) -> None:
    bad = bad.fillna(False).astype(bool)
    if bad.any():
        problems.append(Problem(table, column, rule, int(bad.sum()), _examples(df, bad, table)))


def _check_rules(t: dict[str, pd.DataFrame], problems: list[Problem]) -> None:
    for name, df in t.items():
        for col in SCHEMAS[name]:
            s = df[col.name]
            if col.required and col.name != "sector":
                _check(problems, df, name, col.name, s.isna(), "required value is missing")
            if col.allowed is not None:
                bad = s.notna() & ~s.isin(col.allowed)
                allowed = ", ".join(col.allowed) if len(col.allowed) <= 12 else "see CONTRACT"
                _check(problems, df, name, col.name, bad, f"value not allowed ({allowed})")
        idc = ID_COLUMNS[name]
        dup = df[idc].notna() & df[idc].duplicated(keep=False)
        _check(problems, df, name, idc, dup, "duplicate id")

    d, inv, act = t["debtors"], t["invoices"], t["actions"]
    _check(
        problems,
        d,
        "debtors",
        "sector",
        (d["segment"] == "B2B") & d["sector"].isna(),
        "required for B2B debtors",
    )
    _check(problems, d, "debtors", "credit_limit", d["credit_limit"] < 0, "must be >= 0")
    cl = d["credit_limit"].astype("float64")
    _check(
        problems,
        d,
        "debtors",
        "credit_limit",
        cl.notna() & (~np.isfinite(cl) | (cl > MAX_AMOUNT)),
        f"must be a finite amount of at most {MAX_AMOUNT:.0e} EUR",
    )
    _check(
        problems,
        d,
        "debtors",
        "external_score",
        (d["external_score"] < 0) | (d["external_score"] > 1000),
        "must be in [0, 1000]",
    )

    known = set(d["debtor_id"].dropna())
    for name, df in (("invoices", inv), ("actions", act)):
        _check(
            problems,
            df,
            name,
            "debtor_id",
            df["debtor_id"].notna() & ~df["debtor_id"].isin(known),
            "unknown debtor_id (not in debtors)",
        )

    _check(problems, inv, "invoices", "amount", inv["amount"] <= 0, "must be > 0")
    _check(
        problems,
        inv,
        "invoices",
        "amount",
        ~np.isfinite(inv["amount"].astype("float64")) | (inv["amount"] > MAX_AMOUNT),
        f"must be a finite amount of at most {MAX_AMOUNT:.0e} EUR",
    )
    _check(
        problems,
        inv,
        "invoices",
        "due_date",
        inv["due_date"] < inv["issue_date"],
        "due_date before issue_date",
    )
    _check(
        problems,
        inv,
        "invoices",
        "paid_date",
        inv["paid_date"] < inv["issue_date"],
        "paid_date before issue_date",
    )
    _check(
        problems,
        inv,
        "invoices",
        "dispute_date",
        inv["dispute_date"] < inv["issue_date"],
        "dispute_date before issue_date",
    )
    _check(
        problems,
        inv,
        "invoices",
        "dispute_resolved_date",
        inv["dispute_resolved_date"] < inv["dispute_date"],
        "resolved before the dispute was raised",
    )
    _check(
        problems,
        inv,
        "invoices",
        "dispute_resolved_date",
        inv["dispute_resolved_date"].notna() & inv["dispute_date"].isna(),
        "resolution without a dispute_date",
    )
    _check(
        problems,
        inv,
        "invoices",
        "dispute_reason",
        inv["dispute_reason"].notna() & inv["dispute_date"].isna(),
        "dispute_reason without a dispute_date",
    )
    _check(
        problems,
        inv,
        "invoices",
        "legal_date",
        inv["legal_date"] < inv["issue_date"],
        "legal_date before issue_date",
    )

    p = act["propensity"]
    _check(problems, act, "actions", "propensity", (p <= 0) | (p > 1), "must be in (0, 1]")
    _check(
        problems,
        act,
        "actions",
        "scheduled_at",
        act["scheduled_at"] < act["decided_at"],
        "scheduled before the decision",
    )


def validate_tables(
    tables: dict[str, pd.DataFrame],
) -> tuple[dict[str, pd.DataFrame], list[Problem]]:
    """Coerce every column to its contract type and check every rule.

    Returns the typed tables (dates as ``datetime64[ns]`` at midnight, timestamps as UTC,
    strings as ``string``, flags as ``boolean``) and the list of problems (empty when valid).
    """
    problems: list[Problem] = []
    missing = [n for n in TABLES if n not in tables]
    for n in missing:
        problems.append(Problem(n, "-", "missing table"))
    if missing:
        return tables, problems
    typed = {name: _coerce(name, tables[name], problems) for name in TABLES}
    structural = {(p.table, p.column) for p in problems if p.rule == "required column is missing"}
    if not structural:
        _check_rules(typed, problems)
    typed["debtors"]["language"] = typed["debtors"]["language"].fillna("fr")
    return typed, problems


def load_tables(data_dir: str | Path) -> dict[str, pd.DataFrame]:
    """Read, type and validate a data set; raise :class:`ContractError` listing every problem."""
    raw, problems = read_raw_tables(data_dir)
    if problems:
        raise ContractError(problems)
    typed, problems = validate_tables(raw)
    if problems:
        raise ContractError(problems)
    return typed


def fingerprint(tables: dict[str, pd.DataFrame]) -> str:
    """A short, stable hash of a data set's content (logged with every training run)."""
    import hashlib

    h = hashlib.sha256()
    for name in TABLES:
        df = tables[name]
        h.update(name.encode())
        h.update(np.asarray(pd.util.hash_pandas_object(df, index=False)).tobytes())
    return h.hexdigest()[:16]


def output_format(output: str | Path) -> str:
    """``.parquet`` or ``.csv``, from the file name; a clear error otherwise."""
    suffix = Path(output).suffix.lower()
    if suffix not in (".parquet", ".csv"):
        raise ValueError(f"--output must end in .parquet or .csv, not {Path(output).name!r}")
    return suffix


def write_atomic(df: pd.DataFrame, output: str | Path) -> Path:
    """Write ``.parquet`` or ``.csv`` through a temporary file renamed into place."""
    output = Path(output)
    suffix = output_format(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    os.close(fd)
    try:
        if suffix == ".parquet":
            df.to_parquet(tmp, index=False)
        else:
            df.to_csv(tmp, index=False)
        os.replace(tmp, output)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return output
