"""Operator actions on a path's health (a relay, or one relay x provider), shared by
`relaylane relays pause|resume` and the dashboard's buttons. The decisions are the pure
`policy.health.operator_pause` / `operator_resume`; this records them, evidence and actor
included, in the store, where running workers pick them up within about a second."""

from __future__ import annotations

from dataclasses import dataclass

from relaylane.policy.health import (
    RELAY_WIDE,
    HealthState,
    PathHealth,
    Transition,
    operator_pause,
    operator_resume,
)
from relaylane.store import Store


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
    store.health.apply([Transition(relay, path, before, after, {"note": reason}, who)], now)


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
    store.health.apply([Transition(relay, path, before, after, evidence, who)], now)
    if provider:
        released = held.get((relay, provider), 0)
    else:
        released = sum(n for (r, _), n in held.items() if r == relay)
    return Resumed(before, released)
