"""What the Prometheus gauges read from the store: queue depth and age, relay health.

Two small grouped queries (`read_snapshot`), cached for `CACHE_SECONDS` by
`SnapshotCache` and run off the event loop, so however often Prometheus (or several of
them) scrape, the database answers at most once per period.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa

from relaylane.store.backlog import lane_backlog
from relaylane.store.engine import reading
from relaylane.store.schema import relay_health

__all__ = ["CACHE_SECONDS", "HealthRow", "SnapshotCache", "StoreSnapshot", "read_snapshot"]

log = logging.getLogger("relaylane.metrics")
CACHE_SECONDS = 5.0
H = relay_health.c


@dataclass(frozen=True, slots=True)
class HealthRow:
    relay: str
    provider: str  # "" for the relay as a whole
    state: str  # healthy | degraded | paused | probing


@dataclass(frozen=True, slots=True)
class StoreSnapshot:
    at: float  # when it was read (the clock's time)
    depth: dict[tuple[str, str], int]  # (lane, state) -> deliveries not yet final
    oldest: dict[str, float]  # lane -> created_at of its oldest delivery not yet final
    health: tuple[HealthRow, ...] | None  # None: the health table could not be read

    def oldest_age(self, lane: str) -> float:
        """Seconds the lane's oldest pending delivery has waited; 0 when none waits."""
        created = self.oldest.get(lane)
        return 0.0 if created is None else max(0.0, self.at - created)


def read_snapshot(engine: sa.Engine, now: float) -> StoreSnapshot:
    """Read the queue counts and relay health (blocking; raises when the store fails)."""
    with reading(engine) as conn:
        backlog = lane_backlog(conn)
    depth = {(b.lane, state): n for b in backlog.values() for state, n in b.by_state.items()}
    oldest = {
        b.lane: b.oldest_created_at for b in backlog.values() if b.oldest_created_at is not None
    }
    return StoreSnapshot(now, depth, oldest, _read_health(engine))


def _read_health(engine: sa.Engine) -> tuple[HealthRow, ...] | None:
    """The relay_health rows; None when they cannot be read (a store whose schema
    predates them): the collector then reports no health rather than a guess."""
    stmt = sa.select(H.relay, H.provider, H.state).order_by(H.relay, H.provider)
    try:
        with reading(engine) as conn:
            return tuple(HealthRow(r, p, s) for r, p, s in conn.execute(stmt))
    except sa.exc.DBAPIError as exc:
        log.debug("relay_health unreadable: %s", exc.__class__.__name__)
        return None


@dataclass
class SnapshotCache:
    """The last snapshot, refreshed when older than `ttl` seconds (monotonic time)."""

    engine: sa.Engine
    now: Callable[[], float]  # the clock: ages are measured on it
    ttl: float = CACHE_SECONDS
    snapshot: StoreSnapshot | None = None  # None: never read, or the last read failed
    _read_at: float | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def refresh(self) -> StoreSnapshot | None:
        """The snapshot, re-read off the event loop when stale; None if the store fails."""
        async with self._lock:  # concurrent scrapes share one read
            if self._read_at is not None and time.monotonic() - self._read_at < self.ttl:
                return self.snapshot
            self._read_at = time.monotonic()
            try:
                self.snapshot = await asyncio.to_thread(read_snapshot, self.engine, self.now())
            except sa.exc.SQLAlchemyError as exc:
                if self.snapshot is not None:
                    log.warning("metrics: the store does not answer (%s)", type(exc).__name__)
                self.snapshot = None
            return self.snapshot
