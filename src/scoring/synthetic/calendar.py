"""Calendars: public holidays per département and local-time offsets per time zone."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
import numpy as np

from .params import DEPARTMENT_TZ, DEPARTMENTS, HOLIDAY_SUBDIV, TIMEZONES


def _subdiv_supported(subdiv: str) -> bool:
    return subdiv in getattr(holidays.France, "subdivisions", ())


@lru_cache(maxsize=64)
def _holiday_set(subdiv: str | None, years: tuple[int, ...]) -> frozenset[dt.date]:
    if subdiv is not None and not _subdiv_supported(subdiv):
        subdiv = None
    return frozenset(holidays.France(subdiv=subdiv, years=list(years)).keys())


class Calendar:
    """Day-indexed calendar tables from ``origin`` for ``n_days`` days.

    Attributes:
        dow: weekday (0 = Monday) per day.
        off: bool ``[n_departments, n_days]``: Sunday or public holiday in that département.
        offset_min: int ``[n_timezones, n_days]``: UTC offset in minutes at 12:00 local time.
        dept_tz: time-zone index per département.
    """

    def __init__(self, origin: dt.date, n_days: int) -> None:
        self.origin = origin
        self.n_days = n_days
        days = [origin + dt.timedelta(days=i) for i in range(n_days)]
        self.dow = np.array([d.weekday() for d in days], dtype=np.int8)
        years = tuple(range(days[0].year, days[-1].year + 1))
        sets = {s: _holiday_set(s, years) for s in {None, *HOLIDAY_SUBDIV.values()}}
        off = np.zeros((len(DEPARTMENTS), n_days), dtype=bool)
        for i, dep in enumerate(DEPARTMENTS):
            hs = sets[HOLIDAY_SUBDIV.get(dep)]
            off[i] = [(d.weekday() == 6) or (d in hs) for d in days]
        self.off = off
        offs = np.zeros((len(TIMEZONES), n_days), dtype=np.int32)
        for j, tz in enumerate(TIMEZONES):
            z = ZoneInfo(tz)
            offs[j] = [
                int(
                    dt.datetime(d.year, d.month, d.day, 12, tzinfo=z).utcoffset().total_seconds()  # type: ignore[union-attr]
                    // 60
                )
                for d in days
            ]
        self.offset_min = offs
        self.dept_tz = np.array(
            [TIMEZONES.index(DEPARTMENT_TZ.get(d, "Europe/Paris")) for d in DEPARTMENTS],
            dtype=np.int8,
        )
