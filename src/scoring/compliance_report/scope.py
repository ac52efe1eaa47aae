"""Which audited decisions the report covers: a period on the decision time and an
environment filter on the name of the API key that asked for each decision (test traffic
goes through keys of its own and stays out of the report)."""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import pandas as pd

#: key-name patterns left out by default (``fnmatch``, case-insensitive): test traffic
DEFAULT_EXCLUDED_KEYS: tuple[str, ...] = ("*test*",)

TimeLike: TypeAlias = str | dt.date | dt.datetime | pd.Timestamp


@dataclass
class AuditScope:
    """The filter applied to the audit trail and what it left out (shown in the report)."""

    since: pd.Timestamp | None = None
    until: pd.Timestamp | None = None
    include_keys: tuple[str, ...] | None = None
    exclude_keys: tuple[str, ...] = DEFAULT_EXCLUDED_KEYS
    read: int = 0  # decisions read from the audit trail
    kept: int = 0
    out_of_period: int = 0
    excluded_keys: dict[str, int] = field(default_factory=dict)  # key name -> decisions left out
    key_names_known: bool = True
    no_key_name: int = 0  # decisions in scope whose key name is unknown

    def describe(self) -> str:
        """One line for the report's header."""
        period = (
            f"{self.since.isoformat() if self.since is not None else 'start'} to "
            f"{self.until.isoformat() if self.until is not None else 'now'} (decision time, UTC)"
        )
        parts = [f"{self.kept} of {self.read} decisions; period {period}"]
        if self.out_of_period:
            parts.append(f"{self.out_of_period} outside the period")
        if not self.key_names_known:
            parts.append("API key names unknown: no key filter applied")
        else:
            if self.include_keys is not None:
                parts.append("only keys " + ", ".join(self.include_keys))
            if self.exclude_keys:
                parts.append("keys excluded: " + ", ".join(self.exclude_keys))
            if self.excluded_keys:
                parts.append(
                    "left out: "
                    + ", ".join(f"{k} ({n})" for k, n in sorted(self.excluded_keys.items()))
                )
            if self.no_key_name:
                parts.append(f"{self.no_key_name} without a key name (kept)")
        return "; ".join(parts)


def utc_timestamp(v: TimeLike | None) -> pd.Timestamp | None:
    """``v`` as a UTC timestamp; a naive date or time is read as UTC."""
    if v is None:
        return None
    t = pd.Timestamp(v)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def key_matches(name: object, patterns: Sequence[str]) -> bool:
    """Does the key name match one of the ``fnmatch`` patterns (case-insensitive)? A
    decision without a key name matches none."""
    if name is None or (isinstance(name, float) and name != name) or name is pd.NA:
        return False
    low = str(name).lower()
    return any(fnmatch.fnmatchcase(low, p.lower()) for p in patterns)


def filter_decisions(
    audit: pd.DataFrame,
    since: TimeLike | None = None,
    until: TimeLike | None = None,
    include_keys: Sequence[str] | None = None,
    exclude_keys: Sequence[str] = DEFAULT_EXCLUDED_KEYS,
) -> tuple[pd.DataFrame, AuditScope]:
    """The audited decisions in scope, and the scope.

    Period: ``since <= decided_at < until`` (either bound optional; naive values are UTC).
    Environment, on the ``api_key`` column (the key's name, never the key): with
    ``include_keys``, only decisions whose key name matches one of these patterns are kept;
    then decisions whose key name matches one of ``exclude_keys`` are left out. Patterns are
    ``fnmatch`` patterns (``*``, ``?``), case-insensitive. A decision without a key name is
    kept unless ``include_keys`` is given. Without an ``api_key`` column, ``include_keys``
    is an error (:class:`ValueError`) and ``exclude_keys`` is not applied (the scope says so).
    """
    lo, hi = utc_timestamp(since), utc_timestamp(until)
    if lo is not None and hi is not None and lo >= hi:
        raise ValueError(f"the period is empty: since {lo} is not before until {hi}")
    scope = AuditScope(
        since=lo,
        until=hi,
        include_keys=tuple(include_keys) if include_keys is not None else None,
        exclude_keys=tuple(exclude_keys),
        read=len(audit),
    )
    keep = pd.Series(True, index=audit.index)
    if (lo is not None or hi is not None) and len(audit):
        t = pd.to_datetime(audit["decided_at"], utc=True)
        in_period = pd.Series(True, index=audit.index)
        if lo is not None:
            in_period &= t >= lo
        if hi is not None:
            in_period &= t < hi
        scope.out_of_period = int((~in_period).sum())
        keep &= in_period
    if "api_key" not in audit.columns:
        if include_keys is not None:
            raise ValueError("the audited decisions carry no API key name to filter on")
        scope.key_names_known = not len(audit) or not exclude_keys
    elif len(audit):
        names = audit["api_key"]
        left_out = pd.Series(False, index=audit.index)
        if include_keys is not None:
            left_out |= ~names.map(lambda k: key_matches(k, include_keys)).astype(bool)
        if exclude_keys:
            left_out |= names.map(lambda k: key_matches(k, exclude_keys)).astype(bool)
        left_out &= keep
        counts = names[left_out].astype(object).where(names[left_out].notna(), "(none)")
        scope.excluded_keys = {str(k): int(n) for k, n in counts.value_counts().items()}
        keep &= ~left_out
        scope.no_key_name = int((keep & names.isna()).sum())
    out = audit[keep.to_numpy()].reset_index(drop=True)
    scope.kept = len(out)
    return out, scope


def decision_key_names(engine) -> pd.DataFrame:
    """``decision_id`` and ``api_key`` (the name of the key that asked) of every audited
    decision; empty without an audit trail."""
    import sqlalchemy as sa

    from scoring.audit import decisions

    empty = pd.DataFrame({"decision_id": pd.Series(dtype=str), "api_key": pd.Series(dtype=object)})
    if engine is None or not sa.inspect(engine).has_table("decisions"):
        return empty
    with engine.connect() as conn:
        rows = conn.execute(sa.select(decisions.c.decision_id, decisions.c.api_key)).all()
    if not rows:
        return empty
    return pd.DataFrame({"decision_id": [str(r[0]) for r in rows], "api_key": [r[1] for r in rows]})


def with_key_names(audit: pd.DataFrame, engine) -> pd.DataFrame:
    """``audit`` with an ``api_key`` column read from the audit trail (when it lacks one)."""
    if "api_key" in audit.columns:
        return audit
    names = decision_key_names(engine)
    if audit.empty:
        return audit.assign(api_key=pd.Series(dtype=object))
    m = audit[["decision_id"]].astype(str).merge(names, on="decision_id", how="left")
    return audit.assign(api_key=m["api_key"].to_numpy())
