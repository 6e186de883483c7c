"""Pacing state at rest: sent counts per relay (and warm-up path) per hour and day, and
adaptive-backoff events. The worker flushes its counts about once a second, so a restart
keeps today's count (it may miss the last second's sends, never double them)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from relaylane.store.engine import reading
from relaylane.store.schema import pacing_counts, pacing_events, warmup_paths
from relaylane.store.upsert import insert_for

C = pacing_counts.c
E = pacing_events.c
W = warmup_paths.c


@dataclass(frozen=True, slots=True)
class SentCount:
    relay: str
    path: str  # "" for the relay itself, else "domain|provider"
    period: str  # hour | day
    period_start: float
    sent: int


@dataclass(frozen=True, slots=True)
class WarmupRow:
    relay: str
    path: str
    state: dict[str, object]  # WarmupState's fields


@dataclass(frozen=True, slots=True)
class WarmupDelta:
    """What one worker's attempts on a warm-up path were since its last flush."""

    relay: str
    path: str
    outcomes: dict[str, int]  # Outcome value -> attempts
    at: float  # the last of them


@dataclass(frozen=True, slots=True)
class PacingEvent:
    at: float
    relay: str
    provider: str
    action: str  # slow | suspend | recover | warmup
    rate: float | None
    until: float | None
    cause: str


class SqlPacing:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def flush(
        self,
        counts: Sequence[SentCount],
        events: Sequence[PacingEvent],
        warmups: Sequence[WarmupRow] = (),
        now: float = 0.0,
    ) -> None:
        """Add `counts` to the stored ones, append `events` and replace the warm-up states
        given, in one transaction."""
        if not counts and not events and not warmups:
            return
        # Rows are written in key order, so that workers flushing at once on PostgreSQL
        # wait for each other instead of deadlocking (each locks the rows it upserts).
        with self.engine.begin() as conn:
            for count in sorted(counts, key=_count_key):
                conn.execute(_increment(conn, count))
            if events:
                conn.execute(pacing_events.insert(), [vars_of(e) for e in events])
            for row in sorted(warmups, key=lambda r: (r.relay, r.path)):
                conn.execute(_upsert_warmup(conn, row, now))

    def warmups(self) -> list[WarmupRow]:
        stmt = sa.select(W.relay, W.path, W.state)
        with reading(self.engine) as conn:
            return [WarmupRow(r, p, json.loads(st)) for r, p, st in conn.execute(stmt)]

    def counts_since(self, since: float) -> list[SentCount]:
        stmt = sa.select(C.relay, C.path, C.period, C.period_start, C.sent).where(
            C.period_start >= since
        )
        with reading(self.engine) as conn:
            return [SentCount(*row) for row in conn.execute(stmt)]

    def events(self, relay: str | None = None, limit: int = 100) -> list[PacingEvent]:
        stmt = sa.select(E.at, E.relay, E.provider, E.action, E.rate, E.until, E.cause)
        stmt = stmt.order_by(E.id.desc()).limit(limit)
        if relay is not None:
            stmt = stmt.where(E.relay == relay)
        with reading(self.engine) as conn:
            return [PacingEvent(*row) for row in conn.execute(stmt)]

    def prune(self, before: float) -> int:
        with self.engine.begin() as conn:
            return conn.execute(pacing_counts.delete().where(C.period_start < before)).rowcount


def _count_key(count: SentCount) -> tuple[str, str, str, float]:
    return (count.relay, count.path, count.period, count.period_start)


def _increment(conn: sa.Connection, count: SentCount) -> sa.Executable:
    values = {
        "relay": count.relay,
        "path": count.path,
        "period": count.period,
        "period_start": count.period_start,
        "sent": count.sent,
    }
    stmt = insert_for(conn, pacing_counts).values(**values)
    return stmt.on_conflict_do_update(
        index_elements=["relay", "path", "period", "period_start"],
        set_={"sent": pacing_counts.c.sent + stmt.excluded.sent},
    )


def _upsert_warmup(conn: sa.Connection, row: WarmupRow, now: float) -> sa.Executable:
    values = {"relay": row.relay, "path": row.path, "state": json.dumps(row.state),
              "updated_at": now}  # fmt: skip
    stmt = insert_for(conn, warmup_paths).values(**values)
    return stmt.on_conflict_do_update(
        index_elements=["relay", "path"],
        set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at},
    )


def vars_of(event: PacingEvent) -> dict[str, object]:
    return {
        "at": event.at,
        "relay": event.relay,
        "provider": event.provider,
        "action": event.action,
        "rate": event.rate,
        "until": event.until,
        "cause": event.cause[:1000],
    }
