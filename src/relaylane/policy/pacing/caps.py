"""Hourly and daily caps, with hours and days counted in a time zone (UTC by default).

A period is a local clock hour or a local calendar day. `period_start(now)` is the instant
the period containing `now` began and `period_end(now)` the first instant after `now` that
belongs to the next one; across a DST change a day lasts 23 or 25 hours and the repeated
hour is two separate hours (each gets the full hourly cap). The store keeps counts keyed by
`period_start`, so a restart resumes the same periods.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, tzinfo
from enum import StrEnum

from relaylane.policy.pacing.zones import (
    UTC_NAME,
    check_time,
    local_time,
    timestamp,
    wall_time,
    zone,
)

__all__ = ["CapState", "Period", "period_end", "period_start"]

_PROBE = 0.001  # seconds: no period is this short, and every boundary is a whole second
_WIDEN = 4  # how many more period lengths to look ahead for an odd boundary


class Period(StrEnum):
    """The length of a cap's period."""

    HOUR = "hour"
    DAY = "day"


def period_start(now: float, tz: str | tzinfo, period: Period | str) -> float:
    """When the local hour or day containing `now` began (never after `now`)."""
    # Every boundary is a whole second, so the whole second holds the answer; it also keeps
    # datetime's rounding to microseconds from carrying 59.9999999 into the next hour.
    local = local_time(math.floor(check_time(now)), tz)
    if Period(period) is Period.HOUR:
        start = local.replace(minute=0, second=0, microsecond=0)
    else:
        start = local.replace(hour=0, minute=0, second=0, microsecond=0, fold=0)
    return min(timestamp(start), float(now))


def period_end(now: float, tz: str | tzinfo, period: Period | str) -> float:
    """The first instant after `now` in the next local hour or day."""
    kind = Period(period)
    start = period_start(now, tz, kind)
    guess = _next_boundary_guess(start, tz, kind)
    if guess > now and _key(guess - _PROBE, tz, kind) == start and _key(guess, tz, kind) == guess:
        return guess
    return _search_boundary(now, start, tz, kind)


def _next_boundary_guess(start: float, tz: str | tzinfo, kind: Period) -> float:
    if kind is Period.HOUR:
        return start + 3600.0
    day = local_time(start, tz).date() + timedelta(days=1)
    return wall_time(datetime(day.year, day.month, day.day), tz)


def _key(moment: float, tz: str | tzinfo, kind: Period) -> float:
    return period_start(moment, tz, kind)


def _search_boundary(now: float, start: float, tz: str | tzinfo, kind: Period) -> float:
    """Bisect for the boundary where the normal guess fails (odd zones, 30-minute shifts)."""
    length = 3600.0 if kind is Period.HOUR else 86400.0
    low, high = now, now + length
    for _ in range(_WIDEN):
        if _key(high, tz, kind) != start:
            break
        low, high = high, high + length
    while high - low > _PROBE:
        middle = (low + high) / 2
        if _key(middle, tz, kind) == start:
            low = middle
        else:
            high = middle
    whole = math.ceil(low)
    return float(whole) if now < whole <= high and _key(whole, tz, kind) != start else high


class _Window:
    """The count of one period; `start`/`end` bound the period it counts."""

    __slots__ = ("count", "end", "start")

    def __init__(self, start: float, end: float, count: int) -> None:
        self.start, self.end, self.count = start, end, count


class CapState:
    """Counts sent in the current hour and day against `hourly_cap` and `daily_cap`
    (None: no cap). Mutable, like `TokenBucket`; `restore` seeds it from the store."""

    __slots__ = ("_day", "_hour", "_tz", "daily_cap", "hourly_cap")

    def __init__(
        self, hourly_cap: int | None = None, daily_cap: int | None = None, tz: str = UTC_NAME
    ) -> None:
        for name, cap in (("hourly_cap", hourly_cap), ("daily_cap", daily_cap)):
            if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 0):
                raise ValueError(f"{name} must be a whole number >= 0 or None, got {cap!r}")
        self.hourly_cap = hourly_cap
        self.daily_cap = daily_cap
        self._tz = zone(tz)
        self._hour: _Window | None = None
        self._day: _Window | None = None

    def restore(self, now: float, sent_this_hour: int, sent_today: int) -> None:
        """Set the counts of the periods containing `now` (after a restart)."""
        self._window(now, Period.HOUR).count = max(0, int(sent_this_hour))
        self._window(now, Period.DAY).count = max(0, int(sent_today))

    def sent(self, now: float) -> tuple[int, int]:
        """(sent this hour, sent today) at `now`."""
        return self._window(now, Period.HOUR).count, self._window(now, Period.DAY).count

    def room(self, now: float) -> float:
        """How many more may be sent at `now`: a whole number, or inf without caps."""
        hour, day = self.sent(now)
        return min(_left(self.hourly_cap, hour), _left(self.daily_cap, day))

    def record(self, now: float, n: int = 1) -> None:
        """Count `n` messages sent at `now` (n <= 0 counts nothing)."""
        if n > 0:
            self._window(now, Period.HOUR).count += n
            self._window(now, Period.DAY).count += n

    def next_open(self, now: float) -> float:
        """`now` if there is room, else when the binding cap's period ends (inf: a cap of 0)."""
        hour, day = self.sent(now)
        if min(_left(self.hourly_cap, hour), _left(self.daily_cap, day)) > 0:
            return float(now)
        if self.daily_cap == 0 or self.hourly_cap == 0:
            return math.inf
        if _left(self.daily_cap, day) <= 0:
            return self._window(now, Period.DAY).end
        return self._window(now, Period.HOUR).end

    def _window(self, now: float, kind: Period) -> _Window:
        now = check_time(now)
        current = self._hour if kind is Period.HOUR else self._day
        # A clock that steps back stays in the current period: counts are never dropped.
        if current is None or now >= current.end:
            current = _Window(period_start(now, self._tz, kind), period_end(now, self._tz, kind), 0)
            if kind is Period.HOUR:
                self._hour = current
            else:
                self._day = current
        return current


def _left(cap: int | None, sent: int) -> float:
    return math.inf if cap is None else float(max(0, cap - sent))
