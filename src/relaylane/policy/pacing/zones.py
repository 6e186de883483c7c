"""Time zones by name, and local calendar arithmetic that never raises on odd input."""

from __future__ import annotations

import math
from datetime import datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = ["UTC_NAME", "ZoneError", "check_time", "local_time", "timestamp", "wall_time", "zone"]

UTC_NAME = "UTC"


class ZoneError(ValueError):
    """An unknown time zone name."""

    def __init__(self, name: object) -> None:
        self.name = name
        super().__init__(
            f"{name!r} is not a time zone; use an IANA name such as "
            '"UTC", "Europe/Berlin" or "America/New_York"'
        )


@lru_cache(maxsize=128)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ZoneError(name) from None


def zone(name: str | tzinfo) -> tzinfo:
    """The time zone called `name` (a tzinfo is returned as is); ZoneError if unknown."""
    if isinstance(name, tzinfo):
        return name
    if not isinstance(name, str) or not name:
        raise ZoneError(name)
    return _zone(name)


def check_time(now: float) -> float:
    """`now` as a float, or ValueError when it is not a finite number of seconds."""
    if isinstance(now, bool) or not isinstance(now, (int, float)) or not math.isfinite(now):
        raise ValueError(f"time must be a finite number of seconds since the epoch, got {now!r}")
    return float(now)


def local_time(now: float, tz: str | tzinfo) -> datetime:
    """`now` as an aware local datetime; ValueError when it is outside the calendar."""
    try:
        return datetime.fromtimestamp(check_time(now), zone(tz))
    except (OverflowError, OSError) as exc:
        raise ValueError(f"time {now!r} is outside the calendar: {exc}") from None


def timestamp(moment: datetime) -> float:
    """Seconds since the epoch for an aware datetime; ValueError outside the calendar."""
    try:
        return moment.timestamp()
    except (OverflowError, OSError) as exc:
        raise ValueError(f"{moment!r} is outside the calendar: {exc}") from None


def wall_time(wall: datetime, tz: str | tzinfo) -> float:
    """The first instant whose local wall clock in `tz` reads `wall` (naive) or later.

    A time that occurs twice (autumn) gives its first occurrence; a time skipped by a DST
    change (spring) gives the moment of the change, when the clock jumps past it.
    """
    naive = wall.replace(tzinfo=None, fold=0)
    later = timestamp(naive.replace(tzinfo=zone(tz)))
    if local_time(later, tz).replace(tzinfo=None) == naive:
        return later
    earlier = timestamp(naive.replace(tzinfo=zone(tz), fold=1))
    low, high = math.floor(min(earlier, later)), math.ceil(max(earlier, later))
    while high - low > 1:  # offsets change on whole seconds
        middle = (low + high) // 2
        if local_time(middle, tz).replace(tzinfo=None) >= naive:
            high = middle
        else:
            low = middle
    return float(high)
