"""Durations in the configuration: "500ms", "30s", "5m", "1h", "3d", "1h30m" or seconds.

Every duration is stored as float seconds. `format_duration` writes the shortest
human form back, and `parse_duration(format_duration(x)) == x` for any duration
`parse_duration` can return.
"""

from __future__ import annotations

import math
import re
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from relaylane.errors import InputError

# Seconds per unit, largest first: the order units must appear in a combined duration.
UNITS: dict[str, int] = {"d": 86_400, "h": 3_600, "m": 60, "s": 1}
_UNIT_ORDER = ("d", "h", "m", "s", "ms")

ACCEPTED_FORMS = (
    'a number of seconds (30, 1.5) or a string like "500ms", "30s", "5m", "1h", "3d" '
    'or "1h30m" (units d, h, m, s, ms, largest first)'
)

_PART = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*(ms|d|h|m|s)")
_BARE = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*")


class DurationError(ValueError):
    """A value is not a duration; the message says which forms are accepted."""

    def __init__(self, value: object, reason: str = "") -> None:
        self.value = value
        self.reason = reason or f"is not a duration; use {ACCEPTED_FORMS}"
        super().__init__(f"{value!r} {self.reason}")


def parse_duration(value: str | int | float) -> float:
    """Return `value` as float seconds; raise DurationError naming the accepted forms."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise DurationError(value)
    if isinstance(value, (int, float)):
        seconds = float(value)
        if not math.isfinite(seconds) or seconds < 0:
            raise DurationError(
                value, f"is not a duration: it must be finite and >= 0; use {ACCEPTED_FORMS}"
            )
        return seconds
    return _parse_text(value)


def _parse_text(text: str) -> float:
    bad = DurationError(text)
    bare = _BARE.fullmatch(text)
    if bare:
        return float(bare.group(1))
    pos = 0
    whole = 0  # whole seconds from d/h/m/s parts with integral numbers, kept exact
    fraction = 0.0
    last_rank = -1
    matched = False
    while pos < len(text):
        part = _PART.match(text, pos)
        if part is None:
            if text[pos:].strip() == "":
                break
            raise bad
        number, unit = part.group(1), part.group(2)
        rank = _UNIT_ORDER.index(unit)
        if rank <= last_rank:
            raise DurationError(
                text,
                "is not a duration: units must appear once each, largest first "
                f'(write "1h30m", not "30m1h"); use {ACCEPTED_FORMS}',
            )
        last_rank = rank
        matched = True
        if unit == "ms":
            fraction += float(number) / 1000
        elif "." in number:
            fraction += float(number) * UNITS[unit]
        else:
            whole += int(number) * UNITS[unit]
        pos = part.end()
    if not matched:
        raise bad
    seconds = whole + fraction
    if not math.isfinite(seconds):
        raise bad
    return float(seconds)


def format_duration(seconds: float) -> str:
    """Write float seconds in the shortest form `parse_duration` reads back exactly."""
    if not math.isfinite(seconds) or seconds < 0:
        raise DurationError(seconds, "is not a duration: it must be finite and >= 0")
    if seconds == 0:
        return "0s"
    whole, millis = divmod(round(seconds * 1000), 1000)
    if whole + millis / 1000 == seconds:  # exactly how parse_duration adds the parts up
        parts: list[str] = []
        for unit, size in UNITS.items():
            count, whole = divmod(whole, size)
            if count:
                parts.append(f"{count}{unit}")
        if millis:
            parts.append(f"{millis}ms")
        return "".join(parts)
    # repr is the shortest text that reads back as the same float; avoid exponents.
    return format(Decimal(repr(seconds)), "f") + "s"


def _validate_duration(value: Any) -> Any:
    """Pydantic hook: turn a duration in any accepted form into float seconds."""
    try:
        return parse_duration(value)
    except DurationError as exc:
        raise PydanticCustomError("relaylane_value", "{msg}", {"msg": exc.reason}) from None


# A configuration duration: accepts every form above, stored as float seconds.
Duration = Annotated[float, BeforeValidator(_validate_duration)]


def parse_instant(text: str) -> float:
    """--not-before: an ISO 8601 date and time with a zone, as Unix seconds."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InputError(
            "--not-before",
            f"{text!r} is not a date and time with a zone",
            'write it like "2026-12-01T08:00:00+01:00" or "2026-12-01 07:00Z"',
        )
    return moment.timestamp()
