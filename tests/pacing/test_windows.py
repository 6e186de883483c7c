"""Send windows and not-before times."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaylane.policy.pacing.windows import (
    SendWindow,
    WindowError,
    earliest_start,
    open_until,
    parse_window,
)

PARIS = "Europe/Paris"


def at(text: str, tz: str = PARIS) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(tz)).timestamp()


def test_parse_forms() -> None:
    plain = parse_window("08:00-18:00")
    assert (plain.start, plain.end, plain.days, plain.timezone) == (
        480,
        1080,
        frozenset(range(7)),
        "UTC",
    )
    weekdays = parse_window("mon-fri 08:00–18:00", PARIS)  # an en dash is fine
    assert weekdays.days == frozenset(range(5)) and weekdays.timezone == PARIS
    weekend = parse_window("Sat,Sun 10:00 - 14:00 America/New_York", PARIS)
    assert weekend.days == frozenset({5, 6}) and weekend.timezone == "America/New_York"
    assert parse_window("fri-mon 09:00-10:00").days == frozenset({4, 5, 6, 0})
    assert parse_window("00:00-24:00").end == 1440


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("8 to 6", "is not a send window"),
        ("25:00-26:00", "'25:00', which is not a time of day"),
        ("08:00-08:00", "opens and closes at the same time"),
        ("00:00-24:00 Mars/Base", "unknown time zone"),
        ("mon-wed-fri 08:00-09:00", 'write a range of days as "mon-fri"'),
        ("mon,xyz 08:00-09:00", "'xyz', which is not a day"),
        ("24:00-08:00", "not a time of day"),
        ("", "is not a send window"),
    ],
)
def test_parse_errors_say_why(text: str, needle: str) -> None:
    with pytest.raises(WindowError) as caught:
        parse_window(text)
    assert needle in caught.value.reason
    with pytest.raises(WindowError):
        parse_window(42)  # type: ignore[arg-type]


def test_next_open_and_closes_at() -> None:
    window = parse_window("mon-fri 08:00-18:00", PARIS)
    friday_noon = at("2026-06-05T12:00")
    assert window.next_open(friday_noon) == friday_noon and window.is_open(friday_noon)
    assert window.closes_at(friday_noon) == at("2026-06-05T18:00")
    friday_night = at("2026-06-05T19:00")
    assert not window.is_open(friday_night) and window.closes_at(friday_night) is None
    assert window.next_open(friday_night) == at("2026-06-08T08:00")  # Monday


def test_overnight_and_all_day_windows() -> None:
    night = parse_window("fri 22:00-06:00", PARIS)
    assert night.is_open(at("2026-06-06T05:59"))  # Saturday morning, opened Friday
    assert not night.is_open(at("2026-06-06T22:30"))  # Saturday night: not a Friday
    assert night.next_open(at("2026-06-06T07:00")) == at("2026-06-12T22:00")
    always = parse_window("00:00-24:00", PARIS)
    moment = at("2026-06-06T12:00")
    assert always.is_open(moment)
    assert always.closes_at(moment) is not None and always.closes_at(moment) > moment + 6 * 86400  # type: ignore[operator]


def test_windows_across_dst() -> None:
    window = parse_window("02:30-03:30", PARIS)  # 02:30 does not exist on 2026-03-29
    moment = at("2026-03-29T01:00")
    opens = window.next_open(moment)
    assert opens > moment and window.is_open(opens)


def test_earliest_start_combines_windows_and_not_before() -> None:
    lane = parse_window("mon-fri 08:00-18:00", PARIS)
    campaign = parse_window("10:00-12:00", PARIS)
    monday_7 = at("2026-06-08T07:00")
    assert earliest_start(monday_7, [], [lane, campaign]) == at("2026-06-08T10:00")
    assert earliest_start(monday_7, [None, at("2026-06-08T11:00")], [lane]) == at(
        "2026-06-08T11:00"
    )
    assert earliest_start(monday_7, [at("2026-06-12T13:00")], [lane, campaign]) == at(
        "2026-06-15T10:00"
    )
    assert earliest_start(monday_7) == monday_7
    never = [parse_window("08:00-09:00", PARIS), parse_window("10:00-11:00", PARIS)]
    assert earliest_start(monday_7, [], never) is None
    assert open_until(at("2026-06-08T10:30"), [lane, campaign]) == at("2026-06-08T12:00")
    assert open_until(monday_7, [lane]) == monday_7
    assert open_until(monday_7, []) == math.inf


@settings(max_examples=200, deadline=None)
@given(
    start=st.integers(0, 1439),
    end=st.integers(1, 1440),
    days=st.frozensets(st.integers(0, 6), min_size=1),
    moment=st.floats(min_value=at("2026-01-01T00:00"), max_value=at("2027-01-01T00:00")),
    zone=st.sampled_from(["UTC", PARIS, "America/Santiago", "Asia/Kolkata"]),
)
def test_next_open_is_open_and_nothing_earlier_is(
    start: int, end: int, days: frozenset[int], moment: float, zone: str
) -> None:
    if start == end % 1440:
        return
    window = SendWindow(start, end, days, zone)
    opens = window.next_open(moment)
    assert opens >= moment and math.isfinite(opens)
    assert window.is_open(opens)
    closes = window.closes_at(opens)
    assert closes is not None and closes > opens
    if opens > moment:
        for fraction in (0.0, 0.5, 0.999):
            probe = moment + (opens - moment) * fraction
            assert probe >= opens or not window.is_open(probe)


def test_odd_input() -> None:
    window = parse_window("08:00-18:00")
    for bad in (math.nan, math.inf, "now"):
        with pytest.raises(ValueError, match="finite number of seconds"):
            window.next_open(bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite number of seconds"):
        earliest_start(0.0, [math.nan])
