"""Local calendars: time zones, public holidays per département, candidate slots."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import pytest

from scoring.calendar import (
    NAT,
    TIME_ZONES,
    candidate_slots,
    holiday_dates,
    is_holiday,
    local_times,
    parse_hhmm,
    time_zone,
    tz_codes,
    utc_to_local_ns,
    weekdays,
)
from scoring.contract import DEPARTMENTS


def test_time_zones_of_departments() -> None:
    assert time_zone("75") == "Europe/Paris"
    assert time_zone("2A") == "Europe/Paris"
    assert time_zone("971") == "America/Guadeloupe"
    assert time_zone("972") == "America/Martinique"
    assert time_zone("973") == "America/Cayenne"
    assert time_zone("974") == "Indian/Reunion"
    assert time_zone("975") == "America/Miquelon"
    assert time_zone("976") == "Indian/Mayotte"
    codes = tz_codes(["75", "972", "57", "976"])
    assert [TIME_ZONES[c] for c in codes] == [
        "Europe/Paris",
        "America/Martinique",
        "Europe/Paris",
        "Indian/Mayotte",
    ]


@pytest.mark.parametrize("department", DEPARTMENTS)
def test_every_department_has_a_calendar(department: str) -> None:
    days = holiday_dates(department, 2026)
    assert dt.date(2026, 7, 14) in days  # national day everywhere
    assert dt.date(2026, 12, 25) in days
    ZoneInfo(time_zone(department))


def test_alsace_moselle_has_good_friday_and_st_stephen() -> None:
    good_friday = dt.date(2026, 4, 3)
    for dep in ("57", "67", "68"):
        assert good_friday in holiday_dates(dep, 2026)
        assert dt.date(2026, 12, 26) in holiday_dates(dep, 2026)
    for dep in ("75", "54", "13"):
        assert good_friday not in holiday_dates(dep, 2026)
        assert dt.date(2026, 12, 26) not in holiday_dates(dep, 2026)


def test_overseas_abolition_days() -> None:
    assert dt.date(2026, 5, 27) in holiday_dates("971", 2026)  # Guadeloupe
    assert dt.date(2026, 5, 22) in holiday_dates("972", 2026)  # Martinique
    assert dt.date(2026, 6, 10) in holiday_dates("973", 2026)  # Guyane
    assert dt.date(2026, 12, 20) in holiday_dates("974", 2026)  # La Réunion
    assert dt.date(2026, 4, 27) in holiday_dates("976", 2026)  # Mayotte
    assert dt.date(2026, 5, 22) not in holiday_dates("75", 2026)


def test_is_holiday_is_vectorised_and_matches_holiday_dates() -> None:
    deps = ["57", "75", "67", "971", "972", "975", "2B"]
    days = pd.date_range("2025-12-20", "2027-01-10", freq="D")
    dep_col = np.repeat(deps, len(days))
    day_col = np.tile(days.to_numpy(), len(deps))
    got = is_holiday(dep_col, day_col)
    want = [
        d.date() in holiday_dates(p, d.year)
        for p, d in zip(dep_col, pd.to_datetime(day_col), strict=True)
    ]
    assert got.tolist() == want
    assert is_holiday(["57", "75"], [dt.date(2026, 4, 3)] * 2).tolist() == [True, False]
    assert is_holiday([], []).tolist() == []


def test_utc_to_local_matches_pandas_across_dst() -> None:
    rng = np.random.default_rng(0)
    instants = pd.Timestamp("2026-03-28", tz="UTC").value + rng.integers(
        0, 40 * 86_400 * 10**9, 2000
    )
    instants[:3] = [
        pd.Timestamp("2026-03-29T00:59:59", tz="UTC").value,  # last second of CET
        pd.Timestamp("2026-03-29T01:00:00", tz="UTC").value,  # first of CEST
        pd.Timestamp("2026-10-25T00:30:00", tz="UTC").value,
    ]
    instants[3] = NAT
    codes = rng.integers(0, len(TIME_ZONES), len(instants))
    got = utc_to_local_ns(instants, codes)
    for ns, code, local in zip(instants, codes, got, strict=True):
        if ns == NAT:
            assert local == NAT
            continue
        want = pd.Timestamp(ns, tz="UTC").tz_convert(TIME_ZONES[code]).tz_localize(None)
        assert local == want.value


def test_local_times_and_weekdays() -> None:
    utc = pd.Series(pd.to_datetime(["2026-07-14T12:00:00Z", "2026-07-14T12:00:00Z"]))
    local = local_times(utc, ["75", "972"])
    assert list(local) == [pd.Timestamp("2026-07-14T14:00"), pd.Timestamp("2026-07-14T08:00")]
    day = np.array([np.datetime64("2026-07-13", "D").astype(np.int64)])  # a Monday
    assert weekdays(day).tolist() == [0]


def test_parse_hhmm() -> None:
    assert parse_hhmm("08:00") == 480
    assert parse_hhmm("24:00") == 1440
    for bad in ("25:00", "8h", "12:60", "24:30"):
        with pytest.raises(ValueError):
            parse_hhmm(bad)


def test_candidate_slots_are_local_hours_within_the_horizon() -> None:
    as_of = pd.to_datetime(
        ["2026-03-27T10:30:00+01:00", "2026-03-27T10:30:00+01:00", "2026-07-10T06:00:00Z"],
        utc=True,
    )
    deps = ["75", "972", "974"]
    hours = ("09:00", "11:00", "14:00", "17:00", "19:00")
    slots = candidate_slots(as_of, deps, hours, days_ahead=7)
    assert slots["scheduled_at"].dt.tz is not None
    assert slots["case"].is_monotonic_increasing
    for case, g in slots.groupby("case"):
        start = as_of[case]
        assert (g["scheduled_at"] > start).all()
        assert (g["scheduled_at"] <= start + pd.Timedelta(days=7)).all()
        assert g["scheduled_at"].is_monotonic_increasing
        local = g["scheduled_at"].dt.tz_convert(time_zone(deps[case]))
        assert set(local.dt.strftime("%H:%M")) == set(hours)
    # 5 hours x 7 days; in Paris the clocks go forward on 2026-03-29, so as_of + 7 days is
    # 11:30 local and the 11:00 slot of the last day fits in as well
    assert slots.groupby("case").size().tolist() == [36, 35, 35]
    # Paris changes to summer time on 2026-03-29: 09:00 local is 08:00 UTC before, 07:00 after
    paris = slots[slots["case"] == 0]["scheduled_at"]
    assert pd.Timestamp("2026-03-28T08:00:00Z") in set(paris)
    assert pd.Timestamp("2026-03-30T07:00:00Z") in set(paris)
    # Martinique (UTC-4, no DST): 09:00 local is 13:00 UTC
    assert pd.Timestamp("2026-03-28T13:00:00Z") in set(slots[slots["case"] == 1]["scheduled_at"])


def test_candidate_slots_edge_cases() -> None:
    empty = candidate_slots(pd.DatetimeIndex([], tz="UTC"), [], ("09:00",))
    assert list(empty.columns) == ["case", "scheduled_at"] and len(empty) == 0
    with pytest.raises(ValueError):
        candidate_slots(pd.to_datetime(["2026-01-05T08:00Z"]), ["75", "13"], ("09:00",))
