"""Local calendars of French départements: time zones, public holidays, candidate time slots.

Everything here is vectorised over numpy arrays so that the compliance engine
(:mod:`scoring.policy.rules`) can evaluate millions of (case, action, time) rows:

* :func:`time_zone` / :func:`tz_codes`: the IANA time zone of a département (overseas
  départements have their own; everything else is ``Europe/Paris``);
* :func:`utc_to_local_ns`: UTC instants -> naive local wall-clock instants, per row;
* :func:`holiday_dates` (cached per département and year) and :func:`is_holiday`: public
  holidays from the ``holidays`` package, with the Alsace-Moselle and overseas subdivisions;
* :func:`candidate_slots`: the grid of candidate contact times (fixed local hours on the next
  days) for many cases at once.

Instants are handled as ``int64`` nanoseconds since the epoch; a *day number* is the number of
days since 1970-01-01 of a local calendar date, and weekdays are numbered Monday = 0.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache

import holidays
import numpy as np
import pandas as pd

from scoring.contract import REFERENCE_TZ

#: Time zone of the départements that are not on Paris time (CONTRACT §1 ``department``).
DEPARTMENT_TIME_ZONES: dict[str, str] = {
    "971": "America/Guadeloupe",
    "972": "America/Martinique",
    "973": "America/Cayenne",
    "974": "Indian/Reunion",
    "975": "America/Miquelon",
    "976": "Indian/Mayotte",
}
DEFAULT_TIME_ZONE = REFERENCE_TZ  # metropolitan France: the contract's reference zone
#: Every time zone a département can have; :func:`tz_codes` indexes into this tuple.
TIME_ZONES: tuple[str, ...] = (DEFAULT_TIME_ZONE, *sorted(set(DEPARTMENT_TIME_ZONES.values())))

#: ``holidays.France`` subdivision of the départements with extra public holidays.
#: Alsace (67, 68) is ``6AE`` (``subdiv="67"`` raises); Saint-Pierre-et-Miquelon (975) is
#: ``PM``. Other départements use the national calendar.
HOLIDAY_SUBDIVISIONS: dict[str, str] = {
    "57": "57",
    "67": "6AE",
    "68": "6AE",
    "971": "971",
    "972": "972",
    "973": "973",
    "974": "974",
    "975": "PM",
    "976": "976",
}
#: Holiday calendars; :func:`holiday_groups` indexes into this tuple (``None`` = national).
HOLIDAY_GROUPS: tuple[str | None, ...] = (None, *sorted(set(HOLIDAY_SUBDIVISIONS.values())))

NS_PER_MINUTE = 60 * 10**9
NS_PER_DAY = 86_400 * 10**9
NAT = np.iinfo(np.int64).min  # numpy's representation of NaT as int64
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

_BUCKET_NS = 15 * NS_PER_MINUTE  # UTC offsets of these zones change on quarter hours
_MAX_BUCKETS = 4_000_000


# --------------------------------------------------------------------------------------
# Time zones


def time_zone(department: str) -> str:
    """IANA time zone of a département code (``Europe/Paris`` unless overseas)."""
    return DEPARTMENT_TIME_ZONES.get(str(department), DEFAULT_TIME_ZONE)


_TZ_CODE = {d: TIME_ZONES.index(tz) for d, tz in DEPARTMENT_TIME_ZONES.items()}
_HOLIDAY_CODE = {d: HOLIDAY_GROUPS.index(s) for d, s in HOLIDAY_SUBDIVISIONS.items()}


def _codes(departments: Sequence[str] | np.ndarray | pd.Series, table: dict, default: int):
    """Map département codes through ``table`` (value -> code), factorising first (fast)."""
    if len(departments) <= 64:  # a few rows (the API): a dictionary lookup beats factorising
        values = (
            departments.to_numpy(dtype=object, na_value=None)
            if isinstance(departments, pd.Series)
            else departments
        )
        return np.array([table.get(str(d), default) for d in values], dtype=np.int16)
    codes, uniques = pd.factorize(pd.Series(np.asarray(departments, dtype=object)))
    mapped = np.array([table.get(str(u), default) for u in uniques], dtype=np.int16)
    out = np.full(len(codes), default, dtype=np.int16)
    ok = codes >= 0
    out[ok] = mapped[codes[ok]]
    return out


def tz_codes(departments: Sequence[str] | np.ndarray | pd.Series) -> np.ndarray:
    """Index into :data:`TIME_ZONES` of each département's time zone."""
    return _codes(departments, _TZ_CODE, 0)


def holiday_groups(departments: Sequence[str] | np.ndarray | pd.Series) -> np.ndarray:
    """Index into :data:`HOLIDAY_GROUPS` of each département's holiday calendar."""
    return _codes(departments, _HOLIDAY_CODE, 0)


def _offset_table(tz: str, first_bucket: int, n_buckets: int) -> np.ndarray:
    """UTC offset (ns) of ``tz`` at the start of each 15-minute UTC bucket."""
    starts = (np.arange(n_buckets, dtype=np.int64) + first_bucket) * _BUCKET_NS
    idx = pd.DatetimeIndex(starts.view("datetime64[ns]")).tz_localize("UTC")
    return idx.tz_convert(tz).tz_localize(None).asi8 - starts


_CHUNK = 1 << 15  # 15-minute buckets per cached offset table (about 341 days)
_MAX_CHUNKS = 8


@lru_cache(maxsize=256)
def _offset_chunk(tz_code: int, chunk: int) -> np.ndarray:
    """Offsets of one zone over one chunk of buckets (cached: read-only)."""
    table = _offset_table(TIME_ZONES[tz_code], chunk * _CHUNK, _CHUNK)
    table.flags.writeable = False
    return table


def utc_to_local_ns(utc_ns: np.ndarray, tz_code: np.ndarray) -> np.ndarray:
    """Naive local wall-clock time (int64 ns) of UTC instants (int64 ns) in zones ``tz_code``.

    ``tz_code`` indexes :data:`TIME_ZONES`, one per element. NaT (``NAT``) stays NaT. Offsets
    are read from a small per-zone table of 15-minute buckets, so the cost is one gather per
    element whatever the number of rows.
    """
    utc_ns = np.asarray(utc_ns, dtype=np.int64)
    tz_code = np.asarray(tz_code, dtype=np.int64)
    if utc_ns.size == 0:
        return utc_ns.copy()
    valid = utc_ns != NAT
    all_valid = bool(valid.all())
    if not all_valid and not valid.any():
        return np.full(utc_ns.shape, NAT, dtype=np.int64)
    sub = utc_ns if all_valid else utc_ns[valid]
    codes = tz_code if all_valid else tz_code[valid]
    bucket = sub // _BUCKET_NS
    lo, hi = int(bucket.min()), int(bucket.max())
    present = np.flatnonzero(np.bincount(codes, minlength=len(TIME_ZONES)))
    c0, c1 = lo // _CHUNK, hi // _CHUNK
    if c1 - c0 < _MAX_CHUNKS:  # cached tables (the usual case, and the single-row one)
        local = np.empty(len(codes), dtype=np.int64)
        for k in present:
            table = np.concatenate([_offset_chunk(int(k), c) for c in range(c0, c1 + 1)])
            if len(present) == 1:
                local = sub + table[bucket - c0 * _CHUNK]
            else:
                m = codes == k
                local[m] = sub[m] + table[bucket[m] - c0 * _CHUNK]
    elif hi - lo + 1 <= _MAX_BUCKETS:
        width = hi - lo + 1
        table = np.zeros((len(TIME_ZONES), width), dtype=np.int64)
        for k in present:
            table[k] = _offset_table(TIME_ZONES[k], lo, width)
        bucket -= lo
        bucket += codes * width
        local = sub + table.ravel()[bucket]
    else:  # a very wide range of instants: let pandas convert, zone by zone
        local = np.empty(len(codes), dtype=np.int64)
        for k in present:
            m = codes == k
            idx = pd.DatetimeIndex(sub[m].view("datetime64[ns]")).tz_localize("UTC")
            local[m] = idx.tz_convert(TIME_ZONES[k]).tz_localize(None).asi8
    if all_valid:
        return local
    out = np.full(utc_ns.shape, NAT, dtype=np.int64)
    out[valid] = local
    return out


def utc_ns(s: pd.Series) -> np.ndarray:
    """int64 UTC nanoseconds of a tz-aware series (NaT -> ``NAT``); an all-missing series of
    any type gives ``NAT``s, naive timestamps are refused."""
    if len(s) and not isinstance(s.dtype, pd.DatetimeTZDtype):
        if s.isna().all():
            return np.full(len(s), NAT, dtype=np.int64)
        raise ValueError(f"{s.name or 'timestamps'} must be timezone-aware")
    if not len(s):
        return np.zeros(0, dtype=np.int64)
    return s.array.as_unit("ns").asi8  # int64 instants are UTC whatever the zone


def utc_index(ns: np.ndarray) -> pd.DatetimeIndex:
    """Tz-aware (UTC) timestamps of int64 UTC nanoseconds (``NAT`` -> NaT)."""
    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("datetime64[ns]")).tz_localize(
        "UTC"
    )


def utc_datetimes(ns: np.ndarray) -> list[dt.datetime | None]:
    """Aware UTC ``datetime`` objects (None for ``NAT``) of int64 UTC nanoseconds, to the
    microsecond, without pandas (for a few values on a request's path)."""
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return [
        None if t == NAT else epoch + dt.timedelta(microseconds=t // 1000)
        for t in np.asarray(ns, dtype=np.int64).tolist()
    ]


def local_days(local_ns: np.ndarray) -> np.ndarray:
    """Day number (days since 1970-01-01) of naive local instants (int64 ns)."""
    return np.floor_divide(local_ns, NS_PER_DAY)


def weekdays(day_numbers: np.ndarray) -> np.ndarray:
    """Weekday (Monday = 0 ... Sunday = 6) of day numbers (1970-01-01 was a Thursday)."""
    return (np.asarray(day_numbers) + 3) % 7


def local_times(
    utc: pd.Series | pd.DatetimeIndex, departments: Sequence[str] | np.ndarray | pd.Series
) -> pd.Series:
    """Naive local wall-clock times of tz-aware instants in each row's département."""
    s = pd.Series(utc)
    utc_ns = s.dt.tz_convert("UTC").dt.as_unit("ns").array.asi8
    local = utc_to_local_ns(utc_ns, tz_codes(departments))
    return pd.Series(local.view("datetime64[ns]"), index=s.index)


# --------------------------------------------------------------------------------------
# Public holidays


@lru_cache(maxsize=1024)
def _subdivision_holidays(subdiv: str | None, year: int) -> frozenset[dt.date]:
    return frozenset(holidays.France(subdiv=subdiv, years=year).keys())


@lru_cache(maxsize=4096)
def holiday_dates(department: str, year: int) -> frozenset[dt.date]:
    """Public holidays of a département in a year (cached per département and year)."""
    return _subdivision_holidays(HOLIDAY_SUBDIVISIONS.get(str(department)), int(year))


def _holiday_day_numbers(group: int, year: int) -> np.ndarray:
    dates = sorted(_subdivision_holidays(HOLIDAY_GROUPS[group], year))
    return np.array(dates, dtype="datetime64[D]").astype(np.int64)


def holiday_table(groups: np.ndarray, first_day: int, last_day: int) -> np.ndarray:
    """Boolean table ``[len(HOLIDAY_GROUPS), last_day - first_day + 1]``: public holiday?

    Only the groups in ``groups`` are filled in (the others stay False).
    """
    n = last_day - first_day + 1
    table = np.zeros((len(HOLIDAY_GROUPS), max(n, 0)), dtype=bool)
    if n <= 0:
        return table
    y0 = int(np.datetime64(first_day, "D").astype("datetime64[Y]").astype(int)) + 1970
    y1 = int(np.datetime64(last_day, "D").astype("datetime64[Y]").astype(int)) + 1970
    for g in np.flatnonzero(np.bincount(np.asarray(groups, dtype=np.int64))):
        for year in range(y0, y1 + 1):
            d = _holiday_day_numbers(int(g), year) - first_day
            table[g, d[(d >= 0) & (d < n)]] = True
    return table


def is_holiday_days(groups: np.ndarray, day_numbers: np.ndarray) -> np.ndarray:
    """Vectorised holiday test on holiday-group codes and local day numbers (int64)."""
    groups = np.asarray(groups, dtype=np.int64)
    days = np.asarray(day_numbers, dtype=np.int64)
    if days.size == 0:
        return np.zeros(days.shape, dtype=bool)
    lo, hi = int(days.min()), int(days.max())
    table = holiday_table(groups, lo, hi)
    return table[groups, days - lo]


def is_holiday(
    departments: Sequence[str] | np.ndarray | pd.Series,
    local_dates: Sequence | np.ndarray | pd.Series | pd.DatetimeIndex,
) -> np.ndarray:
    """Whether each local calendar date is a public holiday in the matching département.

    ``departments`` and ``local_dates`` have the same length; dates may be ``datetime.date``,
    naive timestamps or ``datetime64`` values (their local calendar day is used).
    """
    dates = pd.to_datetime(pd.Series(local_dates))
    if isinstance(dates.dtype, pd.DatetimeTZDtype):
        dates = dates.dt.tz_localize(None)
    days = dates.to_numpy().astype("datetime64[D]").astype(np.int64)
    return is_holiday_days(holiday_groups(departments), days)


# --------------------------------------------------------------------------------------
# Candidate slots


def parse_hhmm(value: str) -> int:
    """Minutes after midnight of ``"HH:MM"`` (``"24:00"`` allowed as an end of day)."""
    hh, mm = str(value).split(":")
    h, m = int(hh), int(mm)
    if not (0 <= h <= 24 and 0 <= m < 60) or (h == 24 and m != 0):
        raise ValueError(f"not a time of day HH:MM: {value!r}")
    return h * 60 + m


def _local_to_utc(local_ns: np.ndarray, tz: str) -> np.ndarray:
    """UTC instants of naive local times; times that do not exist or are ambiguous -> NaT."""
    idx = pd.DatetimeIndex(local_ns.view("datetime64[ns]"))
    return idx.tz_localize(tz, ambiguous="NaT", nonexistent="NaT").tz_convert("UTC").asi8


def candidate_slots(
    as_of: pd.Series | pd.DatetimeIndex | Sequence,
    departments: Sequence[str] | np.ndarray | pd.Series,
    hours: Sequence[str] = ("09:00", "11:00", "14:00", "17:00", "19:00"),
    days_ahead: int = 7,
) -> pd.DataFrame:
    """Candidate contact times for many cases: the given local ``hours`` of each day after
    ``as_of`` in the debtor's time zone, within ``(as_of, as_of + days_ahead days]``.

    Returns a frame ``[case, scheduled_at]`` (``case`` = position in ``as_of``,
    ``scheduled_at`` tz-aware UTC), sorted by case then time. Local times that do not exist
    or are ambiguous (daylight-saving changes) are skipped. The work is done once per
    (time zone, local day of ``as_of``), so it is cheap for many cases.
    """
    asof = pd.to_datetime(pd.Series(as_of), utc=True).dt.as_unit("ns").array.asi8
    tzc = tz_codes(departments)
    if len(tzc) != len(asof):
        raise ValueError("as_of and departments must have the same length")
    case, times = candidate_slot_arrays(asof, tzc, hours, days_ahead)
    return pd.DataFrame(
        {
            "case": case,
            "scheduled_at": pd.DatetimeIndex(times.view("datetime64[ns]")).tz_localize("UTC"),
        }
    )


@lru_cache(maxsize=4096)
def _utc_grid(tz_code: int, day: int, minutes: tuple[int, ...], n_days: int) -> np.ndarray:
    """UTC instants (int64 ns, NaT when the local time does not exist or is ambiguous) of the
    local ``minutes`` of ``n_days`` days from local day number ``day`` in a time zone."""
    offsets = np.arange(n_days, dtype=np.int64)
    local = (
        (day + offsets[:, None]) * NS_PER_DAY + np.asarray(minutes)[None, :] * NS_PER_MINUTE
    ).ravel()
    out = _local_to_utc(local, TIME_ZONES[tz_code])
    out.flags.writeable = False
    return out


def candidate_slot_arrays(
    asof: np.ndarray, tzc: np.ndarray, hours: Sequence[str], days_ahead: int
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`candidate_slots` on arrays: ``as_of`` as int64 UTC ns and time-zone codes in;
    ``(case, scheduled_at as int64 UTC ns)`` out, sorted by case then time."""
    asof = np.asarray(asof, dtype=np.int64)
    if (asof == NAT).any():
        raise ValueError("as_of must not be missing")
    n = len(asof)
    minutes = np.array(sorted(parse_hhmm(h) for h in hours), dtype=np.int64)
    if n == 0 or len(minutes) == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    tzc = np.asarray(tzc)
    day0 = local_days(utc_to_local_ns(asof, tzc))
    # (tz, local day of as_of) pairs; the grid is computed once per pair
    key = tzc.astype(np.int64) * (1 << 40) + (day0 - day0.min())
    uniq, inverse = np.unique(key, return_inverse=True)
    u_tz = (uniq >> 40).astype(np.int64)
    u_day = np.zeros(len(uniq), dtype=np.int64)
    u_day[inverse] = day0
    grid = np.stack(
        [
            _utc_grid(int(k), int(d), tuple(minutes.tolist()), days_ahead + 2)  # +1 day: DST
            for k, d in zip(u_tz, u_day, strict=True)
        ]
    )
    per_case = grid[inverse]
    horizon = days_ahead * NS_PER_DAY
    valid = (per_case != NAT) & (per_case > asof[:, None]) & (per_case <= asof[:, None] + horizon)
    case, _ = np.nonzero(valid)
    times = per_case[valid]
    return case.astype(np.int64), times
