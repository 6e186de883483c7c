"""The suppression list as `relaylane suppress` and the dashboard take and show it: the
parsing of what people type (address, scope, reason, expiry, each error naming its field
and the fix), the entries an `add` makes and the summary it reports, and the JSON-ready
records and CSV of `suppress export`. The store does the work; this decides nothing."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from relaylane.config import Config
from relaylane.config.durations import DurationError, parse_duration
from relaylane.delivery.addresses import parse_address
from relaylane.errors import InputError
from relaylane.policy.suppression import Reason, Scope, ScopeKind, Source
from relaylane.store.suppressions import Added, NewSuppression, SuppressionRow

__all__ = [
    "EXPORT_COLUMNS",
    "SCOPE_EXAMPLE",
    "add_summary",
    "address",
    "expires_in",
    "from_iso",
    "iso",
    "lane_names",
    "new_entries",
    "reason",
    "record",
    "scope",
    "write_csv",
]

EXPORT_COLUMNS = ("email", "scope", "reason", "source", "created_at", "expires_at", "note")
SCOPE_EXAMPLE = "e.g. global, lane:transactional or list:spring-news"


# --- what people type -----------------------------------------------------------------


def address(text: str, field_name: str = "ADDRESS") -> str:
    """A bare address (no display name), as suppression stores it."""
    return parse_address(text, field=field_name, allow_display_name=False).addr


def lane_names(cfg: Config) -> tuple[str, ...]:
    return tuple(lane.name for lane in cfg.lane)


def scope(text: str, field_name: str, lanes: Sequence[str] | None = None) -> Scope:
    """Parse a scope; with `lanes`, a lane scope must name one of them."""
    try:
        where = Scope.parse(text)
    except ValueError as exc:
        raise InputError(field_name, str(exc), SCOPE_EXAMPLE) from None
    if lanes is not None and where.kind is ScopeKind.LANE and where.name not in lanes:
        raise InputError(
            field_name,
            f"unknown lane {where.name!r} in scope {text.strip()!r}",
            f"use a lane from: {', '.join(lanes)}",
        )
    return where


def reason(text: str, field_name: str) -> Reason:
    try:
        return Reason(text.strip().lower())
    except ValueError:
        raise InputError(
            field_name,
            f"unknown reason {text!r}",
            "use one of: " + ", ".join(r.value for r in Reason),
        ) from None


def expires_in(
    text: str | None, now: float, field_name: str = "--expires", example: str = "--expires 30d"
) -> float | None:
    """When an entry given "lift it after `text`" (e.g. 30d) expires; None for never."""
    if text is None:
        return None
    fix = f"e.g. {example}"
    try:
        seconds = parse_duration(text)
    except DurationError as exc:
        raise InputError(field_name, exc.reason, fix) from None
    if seconds <= 0:
        raise InputError(field_name, "the duration must be more than 0", fix)
    return now + seconds


def iso(t: float | None) -> str:
    if t is None:
        return ""
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def from_iso(text: str, field_name: str) -> float | None:
    if not text.strip():
        return None
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            field_name, f"{text!r} is not an ISO 8601 time", "e.g. 2030-01-31T12:00:00Z"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


# --- add ------------------------------------------------------------------------------------


def new_entries(
    addresses: Iterable[str],
    where: Scope,
    why: Reason,
    source: Source,
    note: str | None,
    expires_at: float | None,
) -> list[NewSuppression]:
    """One entry per distinct address (already parsed), in the order given."""
    unique = dict.fromkeys(addresses)
    return [NewSuppression(a, where, why, source, note, expires_at, None) for a in unique]


def add_summary(
    done: Added, entries: int, where: Scope, why: Reason, expires_at: float | None
) -> dict[str, Any]:
    """What `suppress add --json` prints."""
    return {
        "added": done.added,
        "already_present": entries - done.added,
        "stopped": done.stopped,
        "scope": str(where),
        "reason": why.value,
        "expires_at": iso(expires_at) or None,
    }


# --- export -----------------------------------------------------------------------------------


def record(r: SuppressionRow) -> dict[str, str]:
    """One entry as `suppress export` gives it (the format `suppress import` reads)."""
    return {
        "email": r.address,
        "scope": r.scope,
        "reason": r.reason,
        "source": r.source,
        "created_at": iso(r.created_at),
        "expires_at": iso(r.expires_at),
        "note": r.note or "",
    }


def write_csv(records: Iterable[dict[str, str]], out: TextIO) -> None:
    writer = csv.DictWriter(out, fieldnames=EXPORT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
