"""Operator actions on a path's health (a relay, or one relay x provider), shared by
`relaylane relays pause|resume|drain` and the dashboard's buttons. The decisions are the
pure `policy.health.operator_pause` / `operator_resume`; this records them, evidence and
actor included, in the store, where running workers pick them up within about a second,
with an audit entry in the same transaction."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from relaylane.policy.health import (
    RELAY_WIDE,
    HealthState,
    PathHealth,
    Transition,
    operator_pause,
    operator_resume,
)
from relaylane.store import Store
from relaylane.store.audit import AuditAction, record_in
from relaylane.store.health import TransitionHook


@dataclass(frozen=True, slots=True)
class Resumed:
    before: PathHealth
    released: int  # deliveries its pause held, now released


def pause_path(
    store: Store,
    relay: str,
    provider: str | None,
    now: float,
    who: str,
    reason: str,
    failover: bool = False,
) -> None:
    path = provider or RELAY_WIDE
    before = store.health.current(relay, path, now)
    after = operator_pause(before, now, who, reason, failover)
    args = {"provider": provider, "reason": reason, "failover": failover}
    audit = _audit(who, AuditAction.RELAY_PAUSE, relay, args, {"was": before.state.value})
    store.health.apply([Transition(relay, path, before, after, {"note": reason}, who)], now, audit)


def resume_path(
    store: Store, relay: str, provider: str | None, now: float, who: str
) -> Resumed | None:
    """None when the path is healthy (nothing to resume)."""
    path = provider or RELAY_WIDE
    before = store.health.current(relay, path, now)
    if before.state is HealthState.HEALTHY:
        return None
    held = store.health.held_counts()
    after = operator_resume(before, now, who)
    evidence = {"note": "resumed", "was": before.state.value, "cause": before.cause.value}
    if provider:
        released = held.get((relay, provider), 0)
    else:
        released = sum(n for (r, _), n in held.items() if r == relay)
    effect = {"was": before.state.value, "released": released}
    audit = _audit(who, AuditAction.RELAY_RESUME, relay, {"provider": provider}, effect)
    store.health.apply([Transition(relay, path, before, after, evidence, who)], now, audit)
    return Resumed(before, released)


def drain_path(
    store: Store, relay: str, provider: str | None, now: float, who: str, reason: str = ""
) -> int:
    """Move the path's waiting deliveries to the lane's other relays; returns how many.
    (The caller checks that the relay shares a lane with another relay.)"""
    moved = store.health.drain(relay, provider, now, who, reason)
    args = {"provider": provider, "reason": reason}
    store.audit.record(now, who, AuditAction.RELAY_DRAIN, f"relay {relay}", args, {"moved": moved})
    return moved


def _audit(
    who: str,
    action: AuditAction,
    relay: str,
    args: Mapping[str, object],
    effect: Mapping[str, object],
) -> TransitionHook:
    def hook(conn: sa.Connection, _t: Transition, now: float) -> None:
        record_in(conn, now, who, action, f"relay {relay}", args, effect)

    return hook
