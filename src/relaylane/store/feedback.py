"""Inbound feedback at rest: one row per finding, and its effects, in one transaction.

A finding that matched a delivery may change that delivery's state (only out of `sent`
or `delivered`, checked in the UPDATE itself, so a late or duplicate report changes
nothing), appends a `report` attempt to its history, and adds ledger entries.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from relaylane.bounces.decide import REPORTABLE_STATES, Decision, DeliveryFacts
from relaylane.events.emit import Reported, emit_feedback
from relaylane.events.hooks import Hooks
from relaylane.events.kinds import EventKind
from relaylane.policy.suppression import Source, SuppressionPolicy
from relaylane.policy.vocabulary import BounceClass, DeliveryState, Outcome, Stage
from relaylane.store.address_outcomes import AddressOutcome, apply_address_outcomes
from relaylane.store.engine import reading
from relaylane.store.metrics import count_feedback
from relaylane.store.schema import attempts, deliveries, feedback, messages
from relaylane.store.suppressions import NewSuppression, insert_entry, stop_waiting

D = deliveries.c
M = messages.c
F = feedback.c
_OUTCOME = {
    DeliveryState.BOUNCED: Outcome.BOUNCED,
    DeliveryState.BLOCKED: Outcome.BLOCKED,
    DeliveryState.FAILED: Outcome.FAILED,
    DeliveryState.DELIVERED: Outcome.SENT,
}
# The event a finding's state change reports, and the events a finding is in itself.
_MOVE_EVENT = {
    DeliveryState.DELIVERED: EventKind.DELIVERED,
    DeliveryState.BOUNCED: EventKind.BOUNCED,
    DeliveryState.FAILED: EventKind.FAILED,
    DeliveryState.BLOCKED: EventKind.BLOCKED,
}
_FINDING_EVENT = {"complained": EventKind.COMPLAINED, "unsubscribed": EventKind.UNSUBSCRIBED}


@dataclass(frozen=True, slots=True)
class FeedbackRow:
    received_at: float
    source: str  # receiver, import, webhook:ses, ...
    kind: str  # ReportKind
    event: str  # Event
    delivery_id: int | None
    relay: str | None
    recipient: str | None
    bounce_class: str
    code: int | None
    status: str | None
    diagnostic: str
    action: str
    raw: bytes | None = None
    id: int | None = None


@dataclass(frozen=True, slots=True)
class Recording:
    """One finding to record: its row, what to do, and how to name the evidence."""

    row: FeedbackRow
    decision: Decision
    facts: DeliveryFacts | None
    evidence: Source  # DSN, ARF or WEBHOOK


class SqlFeedback:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def facts(self, ids: Iterable[int]) -> dict[int, DeliveryFacts]:
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        stmt = (
            sa.select(
                D.id, D.lane, D.relay, D.recipient, D.state, D.created_at, D.expires_at, M.meta
            )
            .select_from(deliveries.join(messages, D.message_id == M.id))
            .where(D.id.in_(wanted))
        )
        with reading(self.engine) as conn:
            return {r[0]: _facts(r) for r in conn.execute(stmt)}

    def by_relay_queue_id(self, queue_id: str, recipient: str | None) -> int | None:
        """The delivery a relay named `queue_id` when it accepted it (ESP message ids)."""
        stmt = sa.select(D.id, D.recipient).where(D.relay_queue_id == queue_id).limit(50)
        with reading(self.engine) as conn:
            rows = list(conn.execute(stmt))
        for did, rcpt in rows:
            if recipient is None or rcpt.lower() == recipient.lower():
                return int(did)
        return None

    def record(
        self,
        items: Sequence[Recording],
        policy: SuppressionPolicy,
        now: float,
        *,
        hooks: Hooks | None = None,
    ) -> list[FeedbackRow]:
        """Apply and store every finding in one transaction; returns the stored rows
        (with the action actually taken). With `hooks`, their events (delivered, bounced,
        failed, blocked, complained, unsubscribed) go to the outbox in that transaction."""
        stored: list[FeedbackRow] = []
        reported: list[Reported] = []
        with self.engine.begin() as conn:
            for item in items:
                row, moved = _record_one(conn, item, policy, now, hooks)
                stored.append(row)
                reported += _reported(item, moved)
            emit_feedback(conn, reported, hooks, now)
            count_feedback(conn, stored, now)  # per relay, provider, lane and campaign
        return stored

    def has_finding(self, delivery_id: int, source: str, event: str) -> bool:
        """Whether a finding from `source` about `event` is already stored for the delivery
        (a repeated one-click unsubscribe records nothing twice)."""
        stmt = (
            sa.select(F.id)
            .where(F.delivery_id == delivery_id, F.source == source, F.event == event)
            .limit(1)
        )
        with reading(self.engine) as conn:
            return conn.execute(stmt).first() is not None

    def pace_signals(self, after_id: int, limit: int = 1000) -> list[FeedbackRow]:
        """Matched deferrals and bounces after `after_id`, oldest first (adaptive backoff
        reads them); without the raw report."""
        columns = [c for c in feedback.columns if c.name != "raw"]
        stmt = (
            sa.select(*columns)
            .where(F.id > after_id, F.relay.is_not(None), F.event.in_(("delayed", "bounced")))
            .order_by(F.id)
            .limit(limit)
        )
        with reading(self.engine) as conn:
            return [FeedbackRow(**{**r._mapping, "raw": None}) for r in conn.execute(stmt)]

    def last_id(self) -> int:
        with reading(self.engine) as conn:
            return int(conn.execute(sa.select(sa.func.max(F.id))).scalar() or 0)

    def list(self, *, unmatched: bool = False, limit: int = 100) -> list[FeedbackRow]:
        stmt = sa.select(feedback).order_by(F.id.desc()).limit(limit)
        if unmatched:
            stmt = stmt.where(F.delivery_id.is_(None))
        with reading(self.engine) as conn:
            return [_row(r._mapping) for r in conn.execute(stmt)]


def _record_one(
    conn: sa.Connection,
    item: Recording,
    policy: SuppressionPolicy,
    now: float,
    hooks: Hooks | None = None,
) -> tuple[FeedbackRow, bool]:
    """The stored row, and whether the finding moved its delivery. With `hooks`, other
    waiting deliveries its suppressions stop make `suppressed` events."""
    row, decision, facts = item.row, item.decision, item.facts
    action = row.action
    moved = False
    if facts is not None and decision.new_state is not None:
        moved = _move(conn, facts, row, decision, now)
        if not moved:
            action = "recorded"  # someone else moved it first, or it was never sent
        elif decision.address_class is not None:
            outcome = AddressOutcome(
                facts.id,
                facts.lane,
                facts.recipient,
                decision.address_class,
                item.evidence,
                row.diagnostic[:200],
            )
            apply_address_outcomes(conn, [outcome], policy, now)
    elif facts is not None and row.event == "delayed":
        _history(conn, facts, row, Outcome.DEFERRED, now)
    if facts is not None:
        for scope, reason in decision.scopes:
            entry = NewSuppression(
                facts.recipient,
                scope,
                reason,
                item.evidence,
                note=row.diagnostic[:200] or None,
                delivery_id=facts.id,
            )
            entry_id = insert_entry(conn, entry, now)
            if entry_id is not None:
                stop_waiting(conn, entry, entry_id, now, hooks)
    row = dataclasses.replace(row, action=action)
    values = {k: v for k, v in _values(row).items() if k != "id"}
    new_id = conn.execute(feedback.insert().values(**values)).inserted_primary_key
    return dataclasses.replace(row, id=int(new_id[0]) if new_id else None), moved


def _reported(item: Recording, moved: bool) -> list[Reported]:
    """The events a recorded finding makes: its delivery's state change, if it made
    one, and a complaint or an unsubscribe in itself."""
    if item.facts is None:
        return []
    state = item.decision.new_state
    kinds = [_MOVE_EVENT[state]] if moved and state is not None else []
    if item.row.event in _FINDING_EVENT:
        kinds.append(_FINDING_EVENT[item.row.event])
    row = item.row
    return [
        Reported(
            item.facts.id,
            kind,
            row.source,
            row.kind,
            row.bounce_class,
            row.code,
            row.status,
            row.diagnostic,
        )
        for kind in kinds
    ]


def _move(
    conn: sa.Connection, facts: DeliveryFacts, row: FeedbackRow, d: Decision, now: float
) -> bool:
    """Change the delivery's state if it is still one a report may change.

    A report can beat the worker's own record: a fast relay accepts, bounces and sends
    the DSN back before the worker has committed `sent` (its results are group-committed).
    The delivery is then still `sending`; the report applies anyway, and the lease token
    moves on, so the worker's late `sent` is fenced off as stale (its attempt is kept in
    the history) instead of overwriting the bounce."""
    assert d.new_state is not None
    allowed = [DeliveryState.SENT.value, DeliveryState.SENDING.value]
    if d.new_state is not DeliveryState.DELIVERED:
        allowed += [s.value for s in REPORTABLE_STATES if s.value not in allowed]
    held = d.new_state is DeliveryState.BLOCKED
    values: dict[str, object] = {
        "state": d.new_state.value,
        "due_at": d.due_at if held else None,
        "updated_at": now,
        "lease_token": D.lease_token + 1,  # fences off a result still on its way
    }
    if d.new_state is not DeliveryState.DELIVERED:
        values |= {
            "last_code": row.code,
            "last_reply": _reply(row),
            "bounce_class": BounceClass.EXPIRED.value if d.expired else row.bounce_class,
        }
    if held:
        values |= {"pinned": True, "retries": D.retries + 1}
    stmt = deliveries.update().where(D.id == facts.id, D.state.in_(allowed)).values(**values)
    if conn.execute(stmt).rowcount != 1:
        return False
    _history(conn, facts, row, _OUTCOME[d.new_state], now, expired=d.expired)
    return True


def _history(
    conn: sa.Connection,
    facts: DeliveryFacts,
    row: FeedbackRow,
    outcome: Outcome,
    now: float,
    *,
    expired: bool = False,
) -> None:
    """A `report` attempt in the delivery's history (what mailbox-full limits count;
    an expired message's report is recorded as `expired` so it never counts)."""
    bounce_class = BounceClass.EXPIRED.value if expired else row.bounce_class
    conn.execute(
        attempts.insert().values(
            delivery_id=facts.id,
            at=now,
            relay=facts.relay,
            stage=Stage.REPORT.value,
            code=row.code,
            reply=_reply(row),
            outcome=outcome.value,
            bounce_class=bounce_class or BounceClass.NONE.value,
            duration_ms=0.0,
        )
    )


def _reply(row: FeedbackRow) -> str:
    what = f"{row.kind} via {row.source}: {row.event}"
    detail = " ".join(x for x in (row.status, row.diagnostic) if x)
    return f"{what} ({detail[:400]})" if detail else what


def _facts(r: sa.Row[tuple[object, ...]]) -> DeliveryFacts:
    did, lane, relay, rcpt, state, created, expires, meta = r
    list_name = None
    if isinstance(meta, str) and meta:
        try:
            value = json.loads(meta).get("list")
        except (ValueError, AttributeError):
            value = None
        list_name = value if isinstance(value, str) and value else None
    return DeliveryFacts(
        id=int(str(did)),
        lane=str(lane),
        relay=relay if isinstance(relay, str) else None,
        recipient=str(rcpt),
        state=DeliveryState(state),
        created_at=float(str(created)),
        expires_at=float(str(expires)),
        list_name=list_name,
    )


def _values(row: FeedbackRow) -> dict[str, object]:
    return {
        "id": row.id,
        "received_at": row.received_at,
        "source": row.source,
        "kind": row.kind,
        "event": row.event,
        "delivery_id": row.delivery_id,
        "relay": row.relay,
        "recipient": row.recipient,
        "bounce_class": row.bounce_class,
        "code": row.code,
        "status": row.status,
        "diagnostic": row.diagnostic,
        "action": row.action,
        "raw": row.raw,
    }


def _row(m: sa.RowMapping) -> FeedbackRow:
    return FeedbackRow(**{k: m[k] for k in _values_keys()})


def _values_keys() -> tuple[str, ...]:
    return tuple(c.name for c in feedback.columns)
