"""Deliveries as `relaylane messages list|show` print them (`--json`) and the dashboard's
Messages page shows them: the search (filters checked, each error naming its field and
the fix), one page of deliveries newest first with the cursor of the next, and one
delivery in full with every attempt, the pacing changes that may have held it, its
provider and the feedback (DSNs, complaints) matched to it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from relaylane.config import Config
from relaylane.config.durations import DurationError, parse_duration
from relaylane.delivery.addresses import parse_address
from relaylane.errors import InputError
from relaylane.policy.classify import split_enhanced
from relaylane.policy.vocabulary import DeliveryState
from relaylane.store import Store
from relaylane.store.engine import reading
from relaylane.store.feedback import FeedbackRow
from relaylane.store.pacing import PacingEvent
from relaylane.store.reads import AttemptRow, DeliveryDetail, DeliveryRow
from relaylane.store.schema import deliveries, feedback

if TYPE_CHECKING:  # imported where used: `relaylane.api` imports the dashboard, which imports this
    from relaylane.api.queries import DeliveryFilter

__all__ = [
    "DeliveryReport",
    "SearchPage",
    "list_deliveries",
    "pacing_changes",
    "parse_state",
    "search",
    "search_filter",
    "show_report",
]

TIME_FORMS = '"1h", "24h", "7d" (that long ago) or a UTC date "2026-01-31" / "2026-01-31 14:00"'
MAX_ID = 2**63 - 1  # the largest id the store (and the API) accepts
PACING_SHOWN = 20  # pacing changes shown with a delivery, the latest


def parse_state(field: str, value: str | None) -> DeliveryState | None:
    """A delivery state by name, else an InputError naming `field` and the states."""
    if value is None:
        return None
    try:
        return DeliveryState(value)
    except ValueError:
        raise InputError(
            field,
            f"unknown state {value!r}",
            "use one of: " + ", ".join(s.value for s in DeliveryState),
        ) from None


def list_deliveries(
    store: Store,
    *,
    state: DeliveryState | None = None,
    lane: str | None = None,
    relay: str | None = None,
    limit: int = 50,
) -> list[DeliveryRow]:
    """`messages list`: the newest deliveries, optionally of one state, lane or relay."""
    return store.reads.list_deliveries(state=state, lane=lane, relay=relay, limit=limit)


@dataclass(frozen=True, slots=True)
class DeliveryReport:
    """One delivery in full. `as_dict` is what `messages show --json` prints; `provider`
    and `feedback` are shown by the dashboard as well."""

    detail: DeliveryDetail
    pacing_changes: list[PacingEvent]
    provider: str | None
    feedback: list[FeedbackRow]

    def as_dict(self) -> dict[str, Any]:
        return {**self.detail.as_dict(), "pacing_changes": [asdict(c) for c in self.pacing_changes]}

    @property
    def attempts(self) -> list[dict[str, Any]]:
        """The attempts with each reply split into code, enhanced status and text."""
        return [_attempt(a) for a in self.detail.attempts]


def _attempt(a: AttemptRow) -> dict[str, Any]:
    enhanced, text = split_enhanced(a.reply)
    return {**asdict(a), "enhanced": enhanced, "text": text}


def show_report(store: Store, delivery_id: int) -> DeliveryReport:
    """`messages show ID`; raises NotFoundError for an unknown id."""
    detail = store.reads.delivery(delivery_id)
    return DeliveryReport(
        detail=detail,
        pacing_changes=pacing_changes(store, detail),
        provider=_provider(store, delivery_id),
        feedback=_feedback(store, delivery_id),
    )


def pacing_changes(store: Store, detail: DeliveryDetail) -> list[PacingEvent]:
    """Adaptive-backoff and warm-up changes on the relays this delivery used, while it
    was in relaylane's hands: why it may have waited."""
    relays = {a.relay for a in detail.attempts if a.relay} | (
        {detail.delivery.relay} if detail.delivery.relay else set()
    )
    start = detail.delivery.created_at
    end = detail.delivery.updated_at
    found = [
        e
        for relay in sorted(relays)
        for e in store.pacing.events(relay, limit=500)
        if start <= e.at <= end + 1
    ]
    return sorted(found, key=lambda e: e.at)[-PACING_SHOWN:]


def _provider(store: Store, delivery_id: int) -> str | None:
    stmt = sa.select(deliveries.c.provider).where(deliveries.c.id == delivery_id)
    with reading(store.engine) as conn:
        value = conn.execute(stmt).scalar()
    return None if value is None else str(value)


_FEEDBACK_FIELDS = [f.name for f in dataclasses.fields(FeedbackRow) if f.name != "raw"]


def _feedback(store: Store, delivery_id: int) -> list[FeedbackRow]:
    """The bounces, delays and complaints matched to the delivery, oldest first."""
    columns = [feedback.c[name] for name in _FEEDBACK_FIELDS]
    stmt = (
        sa.select(*columns)
        .where(feedback.c.delivery_id == delivery_id)
        .order_by(feedback.c.received_at, feedback.c.id)
    )
    with reading(store.engine) as conn:
        return [FeedbackRow(**dict(row._mapping)) for row in conn.execute(stmt)]


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of a search, newest first; `next_cursor` continues it (None: the end)."""

    deliveries: list[DeliveryRow]
    next_cursor: int | None


def search_filter(cfg: Config, asked: Mapping[str, str], now: float) -> DeliveryFilter:
    """The search's fields (`recipient`, `id`, `lane`, `state`, `since`, `until`,
    `cursor`; empty ones ignored) as a filter; an InputError names a bad field and the fix."""
    from relaylane.api.queries import DeliveryFilter

    def get(name: str) -> str | None:
        value = asked.get(name, "").strip()
        return value or None

    lane = get("lane")
    lanes = [x.name for x in cfg.lane]
    if lane is not None and lane not in lanes:
        raise InputError("lane", f"unknown lane {lane!r}", "use one of: " + ", ".join(lanes))
    state = parse_state("state", get("state"))
    recipient = get("recipient")
    if recipient is not None:
        recipient = parse_address(recipient, field="recipient", allow_display_name=False).addr
    any_id, header_id = _ids(get("id"))
    since = _moment("since", get("since"), now)
    until = _moment("until", get("until"), now)
    if since is not None and until is not None and until <= since:
        raise InputError("until", "is not after since", "give an until later than since")
    return DeliveryFilter(
        lane=lane,
        state=None if state is None else state.value,
        recipient=recipient,
        since=since,
        until=until,
        before_id=_cursor(get("cursor")),
        any_id=any_id,
        header_message_id=header_id,
    )


def search(store: Store, where: DeliveryFilter, limit: int) -> SearchPage:
    """Up to `limit` deliveries matching `where`, newest first, as `GET /v1/messages`."""
    from relaylane.api.queries import page

    rows = page(store.engine, where, limit + 1)
    shown = rows[:limit]
    return SearchPage(shown, shown[-1].id if len(rows) > limit else None)


def _ids(text: str | None) -> tuple[int | None, str | None]:
    """A delivery or message id (a number), or a Message-ID header ("<a@b>")."""
    if text is None:
        return None, None
    if text.isdecimal():
        number = int(text)
        if 1 <= number <= MAX_ID:
            return number, None
    elif "@" in text and " " not in text:
        return None, "<" + text.strip("<>") + ">"
    fix = "give a delivery or message id (a number) or a Message-ID like <abc@example.com>"
    raise InputError("id", f"{text!r} is not an id", fix)


def _moment(field: str, text: str | None, now: float) -> float | None:
    """A point in time: a duration ago ("24h") or a UTC date or date and time."""
    if text is None:
        return None
    try:
        return now - parse_duration(text)
    except DurationError:
        pass
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(field, f"{text!r} is not a time", f"use {TIME_FORMS}") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.timestamp()


def _cursor(text: str | None) -> int | None:
    if text is None:
        return None
    if not text.isdecimal() or not 1 <= int(text) <= MAX_ID:
        raise InputError("cursor", f"{text!r} is not a cursor", "follow the page's More link")
    return int(text)
