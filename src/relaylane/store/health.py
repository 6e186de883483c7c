"""Relay health in the store: each path's current state (shared by every worker and
changed by operators), every transition with its evidence, and the deliveries a pause
holds.

A transition is one transaction: the path's row, its event, and the held deliveries of
the path retimed (released when the path is usable again, due at the end of the
cool-down while paused, waiting for the probe's verdict while probing).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from relaylane.policy.health import (
    RELAY_WIDE,
    Cause,
    HealthState,
    PathHealth,
    Transition,
)
from relaylane.policy.health import healthy as ph_healthy
from relaylane.policy.vocabulary import DeliveryState
from relaylane.store.engine import reading
from relaylane.store.queue_control import not_operator_held, operator_held
from relaylane.store.schema import deliveries, health_events, metric_buckets, relay_health

H = relay_health.c
E = health_events.c
D = deliveries.c
M = metric_buckets.c
# Called inside a transition's transaction (the webhook outbox's relay_state_changed).
TransitionHook = Callable[[sa.Connection, Transition, float], None]


@dataclass(frozen=True, slots=True)
class StoredPath:
    relay: str
    provider: str
    health: PathHealth
    updated_at: float


@dataclass(frozen=True, slots=True)
class HealthEvent:
    id: int
    at: float
    relay: str
    provider: str
    from_state: str
    to_state: str
    cause: str
    reason: str
    evidence: dict[str, Any]
    actor: str


class SqlHealth:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- reads ------------------------------------------------------------------------
    def paths(self, updated_after: float | None = None) -> list[StoredPath]:
        stmt = sa.select(relay_health)
        if updated_after is not None:
            stmt = stmt.where(H.updated_at > updated_after)
        with reading(self.engine) as conn:
            return [_stored(row) for row in conn.execute(stmt.order_by(H.relay, H.provider))]

    def events(
        self, relay: str | None = None, *, limit: int = 50, since: float | None = None
    ) -> list[HealthEvent]:
        stmt = sa.select(health_events).order_by(E.at.desc(), E.id.desc()).limit(limit)
        if relay is not None:
            stmt = stmt.where(E.relay == relay)
        if since is not None:
            stmt = stmt.where(E.at >= since)
        with reading(self.engine) as conn:
            return [_event(row) for row in conn.execute(stmt).mappings()]

    def complaint_counts(
        self, since: float, path: tuple[str, str] | None = None
    ) -> dict[tuple[str, str], tuple[int, int]]:
        """(complaints, sent) per relay x provider since `since` (of one path, or all),
        from the metric buckets."""
        stmt = (
            sa.select(M.relay, M.provider, M.metric, sa.func.sum(M.n))
            .where(M.start >= since, M.metric.in_(("complaints", "sent")), M.provider != "")
            .group_by(M.relay, M.provider, M.metric)
        )
        if path is not None:
            stmt = stmt.where(M.relay == path[0], M.provider == path[1])
        out: dict[tuple[str, str], tuple[int, int]] = {}
        with reading(self.engine) as conn:
            for relay, provider, metric, n in conn.execute(stmt):
                complaints, sent = out.get((relay, provider), (0, 0))
                if metric == "complaints":
                    complaints += int(n)
                else:
                    sent += int(n)
                out[(relay, provider)] = (complaints, sent)
        return out

    def held_counts(self) -> dict[tuple[str, str], int]:
        """Deliveries held per relay x provider (for `relays` and `relays show`)."""
        stmt = (
            sa.select(D.relay, D.provider, sa.func.count())
            .where(D.state == DeliveryState.HELD.value, D.relay.is_not(None))
            .group_by(D.relay, D.provider)
        )
        with reading(self.engine) as conn:
            return {(r, p or ""): int(n) for r, p, n in conn.execute(stmt)}

    # -- writes -----------------------------------------------------------------------
    def apply(
        self, transitions: Sequence[Transition], now: float, hook: TransitionHook | None = None
    ) -> None:
        """Store transitions in one transaction: rows, events, held deliveries retimed."""
        if not transitions:
            return
        with self.engine.begin() as conn:
            apply_in(conn, transitions, now, hook)

    def drain(
        self, relay: str, provider: str | None, now: float, actor: str, note: str = ""
    ) -> int:
        """Move the path's waiting deliveries (held, blocked, deferred, queued) off the
        relay: unpinned and due now, with the relay recorded as one to avoid, so the
        lane's other relays take them. An operator's deliberate act, recorded as an event."""
        waiting = [
            s.value
            for s in (DeliveryState.HELD, DeliveryState.BLOCKED, DeliveryState.DEFERRED,
                      DeliveryState.QUEUED)
        ]  # fmt: skip
        stmt = deliveries.update().where(D.relay == relay, D.state.in_(waiting))
        if provider:
            stmt = stmt.where(D.provider == provider)
        stmt = stmt.values(
            relay=None,
            pinned=False,
            avoid_relay=relay,
            # an operator's hold (store.queue_control) moves with them, still held
            due_at=sa.case((operator_held(), None), else_=now),
            state=sa.case(
                (operator_held(), DeliveryState.HELD.value),
                (D.state == DeliveryState.HELD.value, DeliveryState.QUEUED.value),
                else_=D.state,
            ),
            updated_at=now,
        )
        with self.engine.begin() as conn:
            moved = int(conn.execute(stmt).rowcount)
            current = _current(conn, relay, provider or RELAY_WIDE, now)
            why = (
                f"drained {moved} waiting deliveries of {provider or 'every provider'} to the "
                f"lane's other relays{': ' + note if note else ''}"
            )
            conn.execute(
                health_events.insert().values(
                    at=now,
                    relay=relay,
                    provider=provider or RELAY_WIDE,
                    from_state=current.state.value,
                    to_state=current.state.value,
                    cause="drain",
                    reason=why,
                    evidence=json.dumps({"moved": moved}),
                    actor=actor,
                )
            )
        return moved

    def current(self, relay: str, provider: str, now: float) -> PathHealth:
        with reading(self.engine) as conn:
            return _current(conn, relay, provider, now)


def release_in(conn: sa.Connection, paths: Sequence[tuple[str, str]], now: float) -> None:
    """Held deliveries of these paths are due now (a worker adopted their release)."""
    for relay, provider in paths:
        _retime_held(conn, relay, provider, ph_healthy(now), now)


def apply_in(
    conn: sa.Connection,
    transitions: Sequence[Transition],
    now: float,
    hook: TransitionHook | None = None,
) -> list[Transition]:
    """`SqlHealth.apply` inside the caller's transaction (the worker stores transitions
    with the results decided before them, so a release is never undone by a late hold).

    An automatic transition applies only while the stored state is still the one it
    started from: an operator's pause, or another worker's move (its probe of the same
    path, say), wins, and the transition is returned as skipped (the caller adopts the
    stored state). An operator's transition always applies."""
    skipped = []
    for t in transitions:
        if not _upsert(conn, t, now):
            skipped.append(t)
            continue
        _insert_event(conn, t, now)
        _retime_held(conn, t.relay, t.provider, t.after, now)
        if hook is not None:
            hook(conn, t, now)
    return skipped


def release_stranded(conn: sa.Connection, now: float) -> int:
    """Held deliveries waiting without a time (an operator's pause) on a path that is no
    longer paused or probing are due now: a resume whose release a worker missed (it
    stopped first) never strands them."""
    h = relay_health.alias("h")
    blocking = (
        sa.select(h.c.relay)
        .where(
            h.c.relay == D.relay,
            sa.or_(h.c.provider == RELAY_WIDE, h.c.provider == D.provider),
            h.c.state.in_((HealthState.PAUSED.value, HealthState.PROBING.value)),
        )
        .exists()
    )
    stmt = (
        deliveries.update()
        .where(D.state == DeliveryState.HELD.value, D.due_at.is_(None), D.relay.is_not(None))
        .where(~blocking, not_operator_held())
        .values(due_at=now, updated_at=now)
    )
    return int(conn.execute(stmt).rowcount)


# -- helpers --------------------------------------------------------------------------------
def _current(conn: sa.Connection, relay: str, provider: str, now: float) -> PathHealth:
    row = conn.execute(
        sa.select(relay_health).where(H.relay == relay, H.provider == provider)
    ).first()
    if row is None:
        return PathHealth(HealthState.HEALTHY, Cause.NONE, now)
    return _stored(row).health


def _upsert(conn: sa.Connection, t: Transition, now: float) -> bool:
    """Write the path's new state; False when an automatic transition lost its race."""
    relay, provider, h = t.relay, t.provider, t.after
    values = {
        "state": h.state.value,
        "cause": h.cause.value,
        "since": h.since,
        "until": h.until,
        "cool_down": h.cool_down,
        "reason": h.reason,
        "updated_at": now,
    }
    stmt = relay_health.update().where(H.relay == relay, H.provider == provider)
    if t.actor == "auto":
        stmt = stmt.where(H.state == t.before.state.value)
    if conn.execute(stmt.values(values)).rowcount:
        return True
    exists = conn.execute(
        sa.select(H.state).where(H.relay == relay, H.provider == provider)
    ).first()
    if exists is not None:
        return False
    conn.execute(relay_health.insert().values(relay=relay, provider=provider, **values))
    return True


def _insert_event(conn: sa.Connection, t: Transition, now: float) -> None:
    conn.execute(
        health_events.insert().values(
            at=t.after.since if t.after.since > 0 else now,  # when it happened
            relay=t.relay,
            provider=t.provider,
            from_state=t.before.state.value,
            to_state=t.after.state.value,
            cause=t.after.cause.value if t.after.cause is not Cause.NONE else t.before.cause.value,
            reason=t.after.reason,
            evidence=json.dumps(t.evidence, sort_keys=True, default=str),
            actor=t.actor,
        )
    )


def _retime_held(conn: sa.Connection, relay: str, provider: str, h: PathHealth, now: float) -> None:
    """Held deliveries of the path: released when it is usable (or its deliveries move
    elsewhere), due at the end of the cool-down while paused (never, for an operator's
    pause), let in to be claimed when probing starts (a few go as canaries, the others are
    held again without a time until the probe's verdict)."""
    if h.state is HealthState.PAUSED and h.holds:
        due: float | None = h.until
    else:
        due = now
    stmt = deliveries.update().where(D.relay == relay, D.state == DeliveryState.HELD.value)
    stmt = stmt.where(not_operator_held())  # only the operator releases those
    if provider != RELAY_WIDE:
        stmt = stmt.where(D.provider == provider)
    conn.execute(stmt.values(due_at=due, updated_at=now))


def _stored(row: sa.Row[Any]) -> StoredPath:
    m = row._mapping
    health = PathHealth(
        state=HealthState(m["state"]),
        cause=Cause(m["cause"]),
        since=m["since"],
        until=m["until"],
        cool_down=m["cool_down"],
        reason=m["reason"],
    )
    return StoredPath(m["relay"], m["provider"], health, m["updated_at"])


def _event(m: sa.RowMapping) -> HealthEvent:
    return HealthEvent(
        id=m["id"],
        at=m["at"],
        relay=m["relay"],
        provider=m["provider"],
        from_state=m["from_state"],
        to_state=m["to_state"],
        cause=m["cause"],
        reason=m["reason"],
        evidence=json.loads(m["evidence"]),
        actor=m["actor"],
    )
