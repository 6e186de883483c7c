"""Hourly and daily caps in a time zone: periods across DST, caps never exceeded."""

from __future__ import annotations

import math
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaylane.policy.pacing.caps import CapState, Period, period_end, period_start

BERLIN = "Europe/Berlin"


def at(text: str, tz: str = BERLIN) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


SPRING = at("2026-03-29T00:00")  # 23-hour day: 02:00 becomes 03:00
AUTUMN = at("2026-10-25T00:00")  # 25-hour day: 02:00-03:00 twice


def test_days_across_dst_last_23_and_25_hours() -> None:
    assert period_start(SPRING + 5 * 3600, BERLIN, Period.DAY) == SPRING
    assert period_end(SPRING + 5 * 3600, BERLIN, Period.DAY) - SPRING == 23 * 3600
    assert period_end(AUTUMN + 5 * 3600, BERLIN, Period.DAY) - AUTUMN == 25 * 3600
    assert period_start(AUTUMN - 1, BERLIN, "day") == at("2026-10-24T00:00")


def test_the_repeated_hour_is_two_hours() -> None:
    first = AUTUMN + 2 * 3600  # 02:00 CEST
    second = first + 3600  # 02:00 CET
    assert period_start(first + 1800, BERLIN, Period.HOUR) == first
    assert period_end(first + 1800, BERLIN, Period.HOUR) == second
    assert period_start(second + 1800, BERLIN, Period.HOUR) == second
    assert period_end(SPRING + 3600 + 10, BERLIN, "hour") == SPRING + 2 * 3600  # 01:00 → 03:00


def test_half_hour_zones() -> None:
    kolkata = "Asia/Kolkata"
    moment = at("2026-05-01T10:20", kolkata)
    assert period_start(moment, kolkata, "hour") == at("2026-05-01T10:00", kolkata)
    assert period_end(moment, kolkata, "day") == at("2026-05-02T00:00", kolkata)


@settings(max_examples=200, deadline=None)
@given(
    zone=st.sampled_from(
        [BERLIN, "Australia/Lord_Howe", "America/Santiago", "UTC", "Asia/Kolkata"]
    ),
    moment=st.floats(min_value=at("2026-01-01T00:00"), max_value=at("2027-01-01T00:00")),
    period=st.sampled_from(list(Period)),
)
def test_periods_are_consistent(zone: str, moment: float, period: Period) -> None:
    start = period_start(moment, zone, period)
    end = period_end(moment, zone, period)
    assert start <= moment < end
    assert period_start(start, zone, period) == start
    assert period_start(end, zone, period) != start
    assert period_start(end - 0.01, zone, period) == start
    assert end - start <= (2 * 3600 if period is Period.HOUR else 26 * 3600)


def test_lord_howe_half_hour_dst_boundaries() -> None:
    zone = "Australia/Lord_Howe"
    moment = at("2026-04-04T12:00", zone)
    end = moment
    for _ in range(48):  # walk through the fall-back night hour by hour
        start = period_start(end, zone, "hour")
        end = period_end(end, zone, "hour")
        assert start < end and period_start(end, zone, "hour") > start


@settings(max_examples=150, deadline=None)
@given(
    start=st.sampled_from([SPRING - 4 * 3600, AUTUMN - 4 * 3600, at("2026-06-10T22:00")]),
    gaps=st.lists(st.floats(min_value=0, max_value=400), min_size=1, max_size=400),
    hourly=st.integers(min_value=1, max_value=30),
    daily=st.integers(min_value=1, max_value=200),
)
def test_caps_never_exceeded_across_boundaries(
    start: float, gaps: list[float], hourly: int, daily: int
) -> None:
    caps = CapState(hourly_cap=hourly, daily_cap=max(hourly, daily), tz=BERLIN)
    per_hour: Counter[float] = Counter()
    per_day: Counter[float] = Counter()
    now = start
    for gap in gaps:
        now += gap * 60
        hour, day = period_start(now, BERLIN, "hour"), period_start(now, BERLIN, "day")
        if caps.room(now) > 0:
            caps.record(now)
            per_hour[hour] += 1
            per_day[day] += 1
        else:
            # refused only when a cap is really used up, and it reopens when its period ends
            assert per_hour[hour] == hourly or per_day[day] == caps.daily_cap
            reopen = caps.next_open(now)
            assert reopen > now
            assert reopen in (period_end(now, BERLIN, "hour"), period_end(now, BERLIN, "day"))
    assert max(per_hour.values(), default=0) <= hourly
    assert max(per_day.values(), default=0) <= max(hourly, daily)


def test_room_next_open_and_restore() -> None:
    caps = CapState(hourly_cap=2, daily_cap=3)
    t = at("2026-06-10T10:15", "UTC")
    assert caps.room(t) == 2 and caps.next_open(t) == t
    caps.record(t, 2)
    assert caps.room(t) == 0
    assert caps.next_open(t) == at("2026-06-10T11:00", "UTC")
    caps.record(t + 3600)
    assert caps.room(t + 3600) == 0  # daily cap
    assert caps.next_open(t + 3600) == at("2026-06-11T00:00", "UTC")
    restored = CapState(hourly_cap=2, daily_cap=3)
    restored.restore(t, sent_this_hour=1, sent_today=3)
    assert restored.sent(t) == (1, 3) and restored.room(t) == 0
    assert CapState().room(t) == math.inf and CapState().next_open(t) == t


def test_odd_input() -> None:
    caps = CapState(hourly_cap=0)
    t = at("2026-06-10T10:15", "UTC")
    assert caps.room(t) == 0 and caps.next_open(t) == math.inf
    caps = CapState(hourly_cap=1)
    caps.record(t, 0)
    caps.record(t, -5)
    assert caps.room(t) == 1
    caps.record(t)
    assert caps.room(t - 7200) == 0  # a clock stepping back stays in the period
    for bad in (math.nan, math.inf, "now"):
        with pytest.raises(ValueError, match="finite number of seconds"):
            caps.room(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="outside the calendar"):
        period_start(1e300, "UTC", "hour")
    with pytest.raises(ValueError, match="'week' is not a valid Period"):
        period_start(t, "UTC", "week")
    with pytest.raises(ValueError, match="not a time zone"):
        CapState(tz="Mars/Base")
    with pytest.raises(ValueError, match="hourly_cap must be a whole number"):
        CapState(hourly_cap=-1)
    with pytest.raises(ValueError, match="daily_cap must be a whole number"):
        CapState(daily_cap=True)
