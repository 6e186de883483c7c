"""What waits in each lane right now: deliveries not yet final, by state, and the age of
the oldest. A read of the deliveries table (no state changes here)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from relaylane.policy.vocabulary import FINAL_STATES, DeliveryState
from relaylane.store.schema import deliveries

D = deliveries.c
# Not final: queued, sending, deferred, blocked, held.
WAITING_STATES = tuple(s.value for s in DeliveryState if s not in FINAL_STATES)


@dataclass(frozen=True, slots=True)
class LaneBacklog:
    lane: str
    by_state: dict[str, int] = field(default_factory=dict)
    oldest_created_at: float | None = None

    @property
    def depth(self) -> int:
        return sum(self.by_state.values())

    def oldest_age(self, now: float) -> float | None:
        """Seconds since the oldest waiting delivery was queued (None: nothing waits)."""
        if self.oldest_created_at is None:
            return None
        return max(0.0, now - self.oldest_created_at)

    def as_dict(self, now: float) -> dict[str, Any]:
        return {
            "lane": self.lane,
            "depth": self.depth,
            "by_state": dict(sorted(self.by_state.items())),
            "oldest_age": self.oldest_age(now),
        }


def lane_backlog(conn: sa.Connection, lanes: Iterable[str] | None = None) -> dict[str, LaneBacklog]:
    """Each lane's waiting deliveries (only `lanes` when given; a lane with nothing waiting
    is absent unless named)."""
    return _backlog(conn, D.lane, lanes)


def relay_backlog(
    conn: sa.Connection, relays: Iterable[str] | None = None
) -> dict[str, LaneBacklog]:
    """The same per relay: the waiting deliveries routed to each (not yet routed ones,
    which wait for a relay of their lane, are only in `lane_backlog`)."""
    return _backlog(conn, D.relay, relays)


def _backlog(
    conn: sa.Connection, column: sa.ColumnElement[str | None], names: Iterable[str] | None
) -> dict[str, LaneBacklog]:
    stmt = (
        sa.select(column, D.state, sa.func.count(), sa.func.min(D.created_at))
        .where(D.state.in_(WAITING_STATES), column.is_not(None))
        .group_by(column, D.state)
    )
    named = None if names is None else sorted(set(names))
    if named is not None:
        stmt = stmt.where(column.in_(named))
    counts: dict[str, dict[str, int]] = {name: {} for name in named or ()}
    oldest: dict[str, float] = {}
    for name, state, n, first in conn.execute(stmt):
        counts.setdefault(name, {})[state] = int(n)
        if first is not None:
            oldest[name] = min(float(first), oldest.get(name, math.inf))
    return {
        name: LaneBacklog(name, by_state, oldest.get(name)) for name, by_state in counts.items()
    }
