"""Read-side queries for `status` and `messages` (no state changes here)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from relaylane.errors import NotFoundError
from relaylane.policy.vocabulary import FINAL_STATES, DeliveryState
from relaylane.store.engine import reading
from relaylane.store.schema import attempts, deliveries, messages

D = deliveries.c
A = attempts.c


@dataclass(frozen=True, slots=True)
class StatusReport:
    by_state: dict[str, int]
    by_lane: dict[str, dict[str, int]]
    by_relay: dict[str, dict[str, int]]
    oldest_pending_age: float | None  # seconds since the oldest not-yet-final delivery was queued
    total: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class DeliveryRow:
    id: int
    message_id: int
    lane: str
    recipient: str
    state: str
    relay: str | None
    attempts: int
    created_at: float
    updated_at: float
    due_at: float | None
    last_code: int | None
    last_reply: str | None
    bounce_class: str | None
    relay_queue_id: str | None
    sent_at: float | None
    header_message_id: str


@dataclass(frozen=True, slots=True)
class AttemptRow:
    at: float
    relay: str | None
    stage: str
    code: int | None
    reply: str
    outcome: str
    bounce_class: str
    duration_ms: float
    failover: bool
    stale: bool
    worker: str | None


@dataclass(frozen=True, slots=True)
class DeliveryDetail:
    delivery: DeliveryRow
    mail_from: str
    size: int
    attempts: list[AttemptRow]

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


ROW_COLUMNS = (
    D.id,
    D.message_id,
    D.lane,
    D.recipient,
    D.state,
    D.relay,
    D.attempts,
    D.created_at,
    D.updated_at,
    D.due_at,
    D.last_code,
    D.last_reply,
    D.bounce_class,
    D.relay_queue_id,
    D.sent_at,
    D.header_message_id,
)


class Reads:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def status(self, now: float) -> StatusReport:
        by_state: dict[str, int] = {}
        by_lane: dict[str, dict[str, int]] = {}
        by_relay: dict[str, dict[str, int]] = {}
        stmt = sa.select(D.lane, D.relay, D.state, sa.func.count()).group_by(
            D.lane, D.relay, D.state
        )
        final = [s.value for s in FINAL_STATES]
        oldest_stmt = sa.select(sa.func.min(D.created_at)).where(D.state.not_in(final))
        with reading(self.engine) as conn:
            rows = conn.execute(stmt).all()
            oldest = conn.execute(oldest_stmt).scalar()
        for lane, relay, state, n in rows:
            by_state[state] = by_state.get(state, 0) + n
            lane_counts = by_lane.setdefault(lane, {})
            lane_counts[state] = lane_counts.get(state, 0) + n
            if relay is not None:
                relay_counts = by_relay.setdefault(relay, {})
                relay_counts[state] = relay_counts.get(state, 0) + n
        return StatusReport(
            by_state=by_state,
            by_lane=by_lane,
            by_relay=by_relay,
            oldest_pending_age=None if oldest is None else max(0.0, now - oldest),
            total=sum(by_state.values()),
        )

    def list_deliveries(
        self,
        *,
        state: DeliveryState | None = None,
        lane: str | None = None,
        relay: str | None = None,
        limit: int = 50,
    ) -> list[DeliveryRow]:
        stmt = sa.select(*ROW_COLUMNS).order_by(D.id.desc()).limit(limit)
        if state is not None:
            stmt = stmt.where(D.state == state.value)
        if lane is not None:
            stmt = stmt.where(D.lane == lane)
        if relay is not None:
            stmt = stmt.where(D.relay == relay)
        with reading(self.engine) as conn:
            return [DeliveryRow(*row) for row in conn.execute(stmt)]

    def delivery(self, delivery_id: int) -> DeliveryDetail:
        with reading(self.engine) as conn:
            row = conn.execute(sa.select(*ROW_COLUMNS).where(D.id == delivery_id)).first()
            if row is None:
                raise NotFoundError(
                    f"no delivery with id {delivery_id}; list them with `relaylane messages list`"
                )
            msg = conn.execute(
                sa.select(messages.c.mail_from, messages.c.size).where(
                    messages.c.id == row.message_id
                )
            ).one()
            tries = conn.execute(
                sa.select(
                    A.at,
                    A.relay,
                    A.stage,
                    A.code,
                    A.reply,
                    A.outcome,
                    A.bounce_class,
                    A.duration_ms,
                    A.failover,
                    A.stale,
                    A.worker,
                )
                .where(A.delivery_id == delivery_id)
                .order_by(A.at, A.id)
            ).all()
        return DeliveryDetail(
            delivery=DeliveryRow(*row),
            mail_from=msg.mail_from,
            size=msg.size,
            attempts=[AttemptRow(*t) for t in tries],
        )

    def relay_attempt_stats(self) -> list[tuple[str, str, int, float]]:
        """(relay, outcome, count, total_ms) over all attempts; for summaries."""
        stmt = (
            sa.select(A.relay, A.outcome, sa.func.count(), sa.func.sum(A.duration_ms))
            .where(A.relay.is_not(None))
            .group_by(A.relay, A.outcome)
        )
        with reading(self.engine) as conn:
            return [(r, o, n, float(t or 0.0)) for r, o, n, t in conn.execute(stmt)]
