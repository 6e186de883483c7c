"""The audit log as `relaylane audit --json` prints it and the dashboard shows it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from relaylane.config.durations import DurationError, parse_duration
from relaylane.errors import InputError
from relaylane.store import Store

__all__ = ["audit_report", "fields_text", "parse_since"]

SINCE_FORMS = 'a duration such as "1h" or "7d", or a UTC date "2026-11-28" or "2026-11-28T09:30"'


def parse_since(text: str, now: float, option: str) -> float:
    """--since: a duration back from `now`, or a UTC date (and time)."""
    value = text.strip()
    try:
        return now - parse_duration(value)
    except DurationError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            option, f"{text!r} is neither a duration nor a date", f"use {SINCE_FORMS}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def fields_text(values: dict[str, Any]) -> str:
    """ "reason=disk full provider=google" (None and empty values left out)."""
    parts = []
    for key, value in sorted(values.items()):
        if value is None or value == "" or value == [] or value == {}:
            continue
        shown = ", ".join(map(str, value)) if isinstance(value, list) else value
        parts.append(f"{key}={shown}")
    return " ".join(parts)


def audit_report(
    store: Store,
    *,
    since: float | None = None,
    action: str | None = None,
    actor: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> dict[str, Any]:
    """`{"entries": [...]}`, newest first, each with readable `args_text`/`effect_text`."""
    found = store.audit.entries(
        since=since, action=action, actor=actor, before_id=before_id, limit=limit
    )
    return {
        "entries": [
            {**e.as_dict(), "args_text": fields_text(e.args), "effect_text": fields_text(e.effect)}
            for e in found
        ]
    }
