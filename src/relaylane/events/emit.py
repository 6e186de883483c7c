"""Writing events to the outbox, inside the caller's transaction.

Each function adds one `event_outbox` row per endpoint that wants the event, in the
transaction that makes the change it reports, so an event exists exactly when its change
was committed. With no endpoint configured (or none taking these kinds) nothing is read
or written. The delivery and message facts an event carries are read with one query per
call.

Kinds in `ONCE_PER_DELIVERY` get an id derived from the endpoint, the kind and the
delivery (and the message's random ref, so ids never repeat across stores); the insert
skips an id already in the outbox, which makes "once per delivery" exact, even across
workers. Every other event gets a random (uuid4) id.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from relaylane.events.hooks import Hook, Hooks
from relaylane.events.kinds import ONCE_PER_DELIVERY, EventKind
from relaylane.policy.vocabulary import DeliveryState
from relaylane.records import DeliveryResult
from relaylane.store.schema import deliveries, event_outbox, messages
from relaylane.store.upsert import insert_for

__all__ = [
    "About",
    "Reported",
    "Stopped",
    "emit_event",
    "emit_feedback",
    "emit_for_results",
    "emit_suppressed",
    "result_kind",
]

D = deliveries.c
M = messages.c
# Fixed forever: the namespace of the derived ids of once-per-delivery events.
ONCE_NAMESPACE = uuid.UUID("5d0f8a4e-3b7c-4f51-9a8e-2c6b1e7d9f30")
_KIND_OF_STATE = {
    DeliveryState.SENT: EventKind.SENT,
    DeliveryState.DEFERRED: EventKind.DEFERRED,
    DeliveryState.BLOCKED: EventKind.BLOCKED,
    DeliveryState.BOUNCED: EventKind.BOUNCED,
    DeliveryState.FAILED: EventKind.FAILED,
}
_RETRYING = frozenset({EventKind.DEFERRED, EventKind.BLOCKED})

JsonObject = dict[str, object]


@dataclass(frozen=True, slots=True)
class About:
    """What every delivery event says about its delivery and message."""

    delivery_id: int
    message_id: int
    message_ref: str
    lane: str
    recipient: str
    header_message_id: str
    submitter: str | None
    tags: tuple[str, ...]
    metadata: Mapping[str, object]

    def data(self) -> JsonObject:
        return {
            "delivery_id": self.delivery_id,
            "message_id": self.message_id,
            "header_message_id": self.header_message_id,
            "recipient": self.recipient,
            "lane": self.lane,
            "submitter": self.submitter,
            "tags": list(self.tags),
            "metadata": dict(self.metadata),
        }


@dataclass(frozen=True, slots=True)
class Stopped:
    """A claimed delivery the suppression ledger stopped."""

    delivery_id: int
    suppression_id: int
    reason: str  # policy.suppression.Reason value
    scope: str  # "global", "lane:NAME", ...


@dataclass(frozen=True, slots=True)
class Reported:
    """A finding from a DSN, an ARF report or a provider webhook, about one delivery."""

    delivery_id: int
    kind: EventKind  # delivered, bounced, failed, blocked, complained or unsubscribed
    source: str  # where it came from: receiver, import, webhook:ses, ...
    report: str  # bounces.report.ReportKind value: dsn, arf, webhook, ...
    bounce_class: str
    code: int | None
    status: str | None  # the enhanced status code, "5.1.1"
    diagnostic: str


# -- what the worker recorded ---------------------------------------------------------


def result_kind(result: DeliveryResult) -> EventKind | None:
    """The event a delivery result reports, or None. A deferral or block without an
    attempt (waiting for the pacer, a send window) is not an event."""
    kind = _KIND_OF_STATE.get(result.state)
    if kind in _RETRYING and not result.attempts:
        return None
    return kind


def emit_for_results(
    conn: sa.Connection, results: Sequence[DeliveryResult], hooks: Hooks | None, now: float
) -> int:
    """Events for delivery results just applied (not stale ones); returns rows written."""
    if not hooks:
        return 0
    kinds = [(r, result_kind(r)) for r in results]
    wanted = [(r, k) for r, k in kinds if k is not None and hooks.want_any((k,))]
    if not wanted:
        return 0
    about = _about(conn, (r.id for r, _ in wanted))
    rows = [
        row
        for r, kind in wanted
        if r.id in about
        for row in _rows(hooks, kind, about[r.id], _result_data(r), now)
    ]
    return _insert(conn, rows)


def _result_data(r: DeliveryResult) -> JsonObject:
    last = r.last
    return {
        "relay": r.relay,
        "smtp_code": last.code if last else None,
        "smtp_reply": last.reply if last else None,
        "bounce_class": last.bounce_class.value if last else None,
        "retries": r.retries,
        "next_retry_at": r.due_at,
        "relay_queue_id": r.relay_queue_id,
    }


# -- suppression at claim time, and findings reported later ----------------------------


def emit_suppressed(
    conn: sa.Connection, stopped: Sequence[Stopped], hooks: Hooks | None, now: float
) -> int:
    """`suppressed` events for claimed deliveries the suppression ledger stopped."""
    if not hooks or not stopped or not hooks.want_any((EventKind.SUPPRESSED,)):
        return 0
    about = _about(conn, (s.delivery_id for s in stopped))
    rows = [
        row
        for s in stopped
        if s.delivery_id in about
        for row in _rows(hooks, EventKind.SUPPRESSED, about[s.delivery_id], _stop_data(s), now)
    ]
    return _insert(conn, rows)


def _stop_data(s: Stopped) -> JsonObject:
    return {"suppression_id": s.suppression_id, "reason": s.reason, "scope": s.scope}


def emit_feedback(
    conn: sa.Connection, reported: Sequence[Reported], hooks: Hooks | None, now: float
) -> int:
    """Events for findings recorded from DSNs, ARF reports and provider webhooks."""
    if not hooks or not reported or not hooks.want_any(r.kind for r in reported):
        return 0
    about = _about(conn, (r.delivery_id for r in reported))
    rows = [
        row
        for r in reported
        if r.delivery_id in about
        for row in _rows(hooks, r.kind, about[r.delivery_id], _report_data(r), now)
    ]
    return _insert(conn, rows)


def _report_data(r: Reported) -> JsonObject:
    return {
        "source": r.source,
        "report": r.report,
        "bounce_class": r.bounce_class,
        "smtp_code": r.code,
        "status": r.status,
        "diagnostic": r.diagnostic,
    }


# -- anything else (relay_state_changed) ----------------------------------------------


def emit_event(
    conn: sa.Connection,
    hooks: Hooks | None,
    kind: EventKind,
    data: Mapping[str, object],
    now: float,
    *,
    lane: str | None = None,
    submitter: str | None = None,
) -> int:
    """An event that is not about one delivery (e.g. relay_state_changed with data
    {relay, provider, from, to, cause, reason, evidence}); `data` must be JSON-ready."""
    if not hooks:
        return 0
    rows = [
        _row(hook, str(uuid.uuid4()), kind, dict(data), now)
        for hook in hooks.wanting(kind, lane, submitter)
    ]
    return _insert(conn, rows)


# -- shared -------------------------------------------------------------------------


def envelope(event_id: str, kind: EventKind, created_at: float, data: JsonObject) -> str:
    """The JSON body of an event, exactly as it is sent and signed."""
    body = {"id": event_id, "type": kind.value, "created_at": created_at, "data": data}
    return json.dumps(body, ensure_ascii=False, separators=(",", ":"))


def once_id(endpoint: str, kind: EventKind, message_ref: str, delivery_id: int) -> str:
    """The id of a once-per-delivery event: the same every time it would be emitted."""
    return str(uuid.uuid5(ONCE_NAMESPACE, f"{endpoint}/{kind.value}/{message_ref}/{delivery_id}"))


def _rows(
    hooks: Hooks, kind: EventKind, about: About, details: JsonObject, now: float
) -> list[dict[str, object]]:
    data = about.data() | details
    rows = []
    for hook in hooks.wanting(kind, about.lane, about.submitter):
        if kind in ONCE_PER_DELIVERY:
            event_id = once_id(hook.name, kind, about.message_ref, about.delivery_id)
        else:
            event_id = str(uuid.uuid4())
        rows.append(_row(hook, event_id, kind, data, now))
    return rows


def _row(
    hook: Hook, event_id: str, kind: EventKind, data: JsonObject, now: float
) -> dict[str, object]:
    return {
        "event_id": event_id,
        "endpoint": hook.name,
        "kind": kind.value,
        "payload": envelope(event_id, kind, now, data),
        "created_at": now,
        "due_at": now,
        "attempts": 0,
    }


def _insert(conn: sa.Connection, rows: list[dict[str, object]]) -> int:
    """Insert the rows, skipping ids already in the outbox (once-per-delivery events)."""
    if not rows:
        return 0
    stmt = insert_for(conn, event_outbox).on_conflict_do_nothing(index_elements=["event_id"])
    conn.execute(stmt, rows)
    return len(rows)


def _about(conn: sa.Connection, ids: Iterable[int]) -> dict[int, About]:
    """The facts of these deliveries and their messages, in one query."""
    wanted = sorted(set(ids))
    stmt = (
        sa.select(
            D.id,
            D.message_id,
            M.ref,
            D.lane,
            D.recipient,
            D.header_message_id,
            M.submitter,
            M.tags,
            M.meta,
        )
        .select_from(deliveries.join(messages, D.message_id == M.id))
        .where(D.id.in_(wanted))
    )
    return {row[0]: _about_row(row) for row in conn.execute(stmt)}


def _about_row(row: sa.Row[tuple[object, ...]]) -> About:
    did, mid, ref, lane, recipient, header_id, submitter, tags, meta = row
    return About(
        delivery_id=int(str(did)),
        message_id=int(str(mid)),
        message_ref=str(ref),
        lane=str(lane),
        recipient=str(recipient),
        header_message_id=str(header_id),
        submitter=submitter if isinstance(submitter, str) else None,
        tags=_tags(tags),
        metadata=_metadata(meta),
    )


def _loads(text: object) -> object:
    """A JSON column's value, or None when it is empty or not JSON."""
    if not isinstance(text, str) or not text:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _tags(text: object) -> tuple[str, ...]:
    value = _loads(text)
    return tuple(str(t) for t in value) if isinstance(value, list) else ()


def _metadata(text: object) -> dict[str, object]:
    value = _loads(text)
    return dict(value) if isinstance(value, dict) else {}
