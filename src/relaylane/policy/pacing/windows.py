"""Send windows and not-before times: deliveries outside them wait.

A window is written "08:00-18:00", optionally with days and a time zone:
"mon-fri 08:00-18:00", "sat,sun 10:00-14:00 Europe/Paris", "fri 22:00-06:00" (overnight:
opens Friday 22:00, closes Saturday 06:00), "00:00-24:00" (all day). Times are local wall
clock; days are the days the window opens on. Without a zone the caller's default applies
(`[pacing] timezone`). A lane, a send and a campaign may each carry a window and a
not-before time; a delivery may go when all of them allow it (`earliest_start`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from relaylane.policy.pacing.zones import UTC_NAME, ZoneError, check_time, local_time, wall_time
from relaylane.policy.pacing.zones import zone as _zone

__all__ = [
    "DAY_NAMES",
    "SendWindow",
    "WindowError",
    "earliest_start",
    "open_until",
    "parse_window",
]

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FORMS = '"08:00-18:00", "mon-fri 08:00-18:00" or "sat,sun 10:00-14:00 Europe/Paris"'
_DAY_MINUTES = 1440
_SEARCH_DAYS = 9  # a weekly window opens within 8 days; one more for overnight windows
_WINDOW = re.compile(
    r"\s*(?:(?P<days>[a-z]{3}(?:\s*[-,]\s*[a-z]{3})*)\s+)?"
    r"(?P<start>\d{1,2}:\d{2})\s*[-–—]\s*(?P<end>\d{1,2}:\d{2})"
    r"(?:\s+(?P<tz>\S+))?\s*",
    re.IGNORECASE,
)


class WindowError(ValueError):
    """A send window that cannot be read; the message says why and shows the forms."""

    def __init__(self, text: object, reason: str) -> None:
        self.text = text
        self.reason = reason
        super().__init__(f"{text!r} {reason}")


@dataclass(frozen=True, slots=True)
class SendWindow:
    """Open from `start` to `end` (minutes after local midnight; an end at or before the
    start closes the next day) on `days` (0 = Monday), in `timezone`."""

    start: int
    end: int
    days: frozenset[int]
    timezone: str = UTC_NAME
    text: str = ""

    def is_open(self, now: float) -> bool:
        return self.next_open(now) == now

    def next_open(self, now: float) -> float:
        """`now` if open, else when it next opens."""
        now = check_time(now)
        later = math.inf
        for opens, closes in self._intervals(now):
            if opens <= now < closes:
                return now
            if opens > now:
                later = min(later, opens)
        return later

    def closes_at(self, now: float) -> float | None:
        """When the open period containing `now` ends; None when closed at `now`."""
        now = check_time(now)
        intervals = sorted(self._intervals(now))
        ends = [closes for opens, closes in intervals if opens <= now < closes]
        if not ends:
            return None
        until = max(ends)
        for opens, closes in intervals:  # an interval that opens as another closes continues it
            if opens <= until < closes:
                until = closes
        return until

    def _intervals(self, now: float) -> Iterable[tuple[float, float]]:
        today = local_time(now, self.timezone).date()
        for offset in range(-1, _SEARCH_DAYS):
            day = today + timedelta(days=offset)
            if day.weekday() not in self.days:
                continue
            close_day = day if self.end > self.start else day + timedelta(days=1)
            yield self._at(day, self.start), self._at(close_day, self.end)

    def _at(self, day: date, minutes: int) -> float:
        day += timedelta(days=minutes // _DAY_MINUTES)
        hour, minute = divmod(minutes % _DAY_MINUTES, 60)
        return wall_time(datetime(day.year, day.month, day.day, hour, minute), self.timezone)


def parse_window(text: str, timezone: str = UTC_NAME) -> SendWindow:
    """A window from text; WindowError naming the problem and the accepted forms."""
    if not isinstance(text, str):
        raise WindowError(text, f"is not a send window; write e.g. {FORMS}")
    found = _WINDOW.fullmatch(text)
    if found is None:
        raise WindowError(text, f"is not a send window; write e.g. {FORMS}")
    start = _minutes(text, found["start"], allow_24=False)
    end = _minutes(text, found["end"], allow_24=True)
    if start == end:
        raise WindowError(
            text, 'opens and closes at the same time; for all day write "00:00-24:00"'
        )
    days = _days(text, found["days"]) if found["days"] else frozenset(range(7))
    name = found["tz"] or timezone
    try:
        _zone(name)
    except ZoneError as exc:
        raise WindowError(text, f"names an unknown time zone: {exc}") from None
    return SendWindow(start, end, days, name, text.strip())


def _minutes(text: str, clock: str, allow_24: bool) -> int:
    hours, minutes = (int(part) for part in clock.split(":"))
    if allow_24 and hours == 24 and minutes == 0:
        return _DAY_MINUTES
    if hours > 23 or minutes > 59:
        raise WindowError(text, f"has {clock!r}, which is not a time of day; use 00:00 to 23:59")
    return hours * 60 + minutes


def _days(text: str, spec: str) -> frozenset[int]:
    days: set[int] = set()
    for part in re.split(r"\s*,\s*", spec.lower()):
        ends = [piece.strip() for piece in part.split("-")]
        if len(ends) > 2:
            raise WindowError(text, f'has {part!r}; write a range of days as "mon-fri"')
        unknown = [name for name in ends if name not in DAY_NAMES]
        if unknown:
            raise WindowError(
                text, f"has {unknown[0]!r}, which is not a day; use {', '.join(DAY_NAMES)}"
            )
        first, last = DAY_NAMES.index(ends[0]), DAY_NAMES.index(ends[-1])
        days.update((first + i) % 7 for i in range((last - first) % 7 + 1))
    return frozenset(days)


def earliest_start(
    now: float,
    not_before: Iterable[float | None] = (),
    windows: Sequence[SendWindow] = (),
) -> float | None:
    """The first moment >= now, >= every not-before, at which every window is open;
    None if the windows never open together."""
    moment = max([check_time(now), *(check_time(t) for t in not_before if t is not None)])
    limit = moment + _SEARCH_DAYS * 86_400.0
    while moment <= limit:
        opens = [window.next_open(moment) for window in windows]
        latest = max(opens, default=moment)
        if latest == moment:
            return moment
        if math.isinf(latest):
            return None
        moment = latest
    return None


def open_until(now: float, windows: Sequence[SendWindow]) -> float:
    """How long all `windows` stay open from `now` (inf without windows; `now` if closed)."""
    until = math.inf
    for window in windows:
        closes = window.closes_at(now)
        if closes is None:
            return float(now)
        until = min(until, closes)
    return until
