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
    stmt = (
        sa.select(D.lane, D.state, sa.func.count(), sa.func.min(D.created_at))
        .where(D.state.in_(WAITING_STATES))
        .group_by(D.lane, D.state)
    )
    named = None if lanes is None else sorted(set(lanes))
    if named is not None:
        stmt = stmt.where(D.lane.in_(named))
    counts: dict[str, dict[str, int]] = {lane: {} for lane in named or ()}
    oldest: dict[str, float] = {}
    for lane, state, n, first in conn.execute(stmt):
        counts.setdefault(lane, {})[state] = int(n)
        if first is not None:
            oldest[lane] = min(float(first), oldest.get(lane, math.inf))
    return {
        lane: LaneBacklog(lane, by_state, oldest.get(lane)) for lane, by_state in counts.items()
    }
