"""Byte sizes in the configuration: 25MB, "512KB", "1.5MB", "10MiB" or a number of bytes.

Units are decimal (KB = 1,000 bytes, MB = 1,000,000) as SMTP's SIZE and mail providers
count them; KiB/MiB/GiB are binary. Every size is stored as an int of bytes.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

UNITS: dict[str, int] = {
    "": 1,
    "b": 1,
    "kb": 1_000,
    "mb": 1_000_000,
    "gb": 1_000_000_000,
    "kib": 1_024,
    "mib": 1_048_576,
    "gib": 1_073_741_824,
}
ACCEPTED_FORMS = 'a number of bytes or a string like "512KB", "25MB", "1GB" or "10MiB"'
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def parse_size(value: str | int) -> int:
    """Bytes in `value`; raises ValueError naming the accepted forms."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size; use {ACCEPTED_FORMS}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value} is negative; use {ACCEPTED_FORMS}")
        return value
    match = _SIZE.fullmatch(value)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in UNITS:
        raise ValueError(f"{value!r} is not a size; use {ACCEPTED_FORMS}")
    try:
        return int(Decimal(match.group(1)) * UNITS[unit])
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only numbers
        raise ValueError(f"{value!r} is not a size; use {ACCEPTED_FORMS}") from exc


def format_size(size: int) -> str:
    """The shortest exact decimal form: 25000000 -> "25MB", 1500 -> "1500B"."""
    for unit in ("gb", "mb", "kb"):
        if size and size % UNITS[unit] == 0:
            return f"{size // UNITS[unit]}{unit.upper()}"
    return f"{size}B"


def _validate(value: Any) -> int:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise PydanticCustomError("relaylane_value", "{msg}", {"msg": f"use {ACCEPTED_FORMS}"})
    try:
        return parse_size(value)
    except ValueError as exc:
        raise PydanticCustomError(
            "relaylane_value", "{msg}", {"msg": f"is not a size; use {ACCEPTED_FORMS}"}
        ) from exc


Size = Annotated[int, BeforeValidator(_validate)]
