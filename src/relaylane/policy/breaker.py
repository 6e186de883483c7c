"""A per-relay circuit breaker as an immutable value: every transition returns a new Breaker.

closed --fault--> open (30 s) --cool-down elapsed, probe()--> half_open
half_open --success--> closed;  half_open --fault--> open, cool-down doubled (max 600 s)

Any attempt whose outcome is not RELAY_FAULT proves the relay is up: call `on_success`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

__all__ = [
    "INITIAL_COOL_DOWN",
    "MAX_COOL_DOWN",
    "Breaker",
    "BreakerState",
    "closed",
    "is_available",
    "on_fault",
    "on_success",
    "probe",
    "reopens_at",
]

INITIAL_COOL_DOWN = 30.0
MAX_COOL_DOWN = 600.0


class BreakerState(StrEnum):
    """Where a relay's breaker stands."""

    CLOSED = "closed"  # the relay is used normally
    OPEN = "open"  # the relay is skipped until its cool-down has elapsed
    HALF_OPEN = "half_open"  # one probe attempt is in flight; others skip the relay


@dataclass(frozen=True, slots=True)
class Breaker:
    """One relay's breaker."""

    state: BreakerState
    opened_at: float | None  # when it (last) opened; None while closed
    cool_down: float  # how long it stays open; doubles on each failed probe
    faults: int  # relay faults since it was last closed
    reason: str  # the last fault's reason, "" while closed
    # Added: when the current probe started (half_open only). A probe that never reports back
    # (a crashed worker) is abandoned after `cool_down`, so the relay cannot stay stuck.
    probe_at: float | None = None


def closed() -> Breaker:
    """A healthy relay's breaker."""
    return Breaker(BreakerState.CLOSED, None, INITIAL_COOL_DOWN, 0, "")


def on_fault(b: Breaker, now: float, reason: str) -> Breaker:
    """A RELAY_FAULT from this relay.

    closed -> open for 30 s. half_open (the probe failed) -> open with the cool-down doubled,
    capped at 600 s. open: a fault that arrives during the cool-down comes from an attempt that
    started before the breaker opened, so it is only counted (no doubling, no extension);
    otherwise many in-flight attempts failing together would push one blip to 600 s. A fault
    while open after the cool-down counts as a failed probe.
    """
    faults = b.faults + 1
    if b.state is BreakerState.CLOSED:
        return Breaker(BreakerState.OPEN, now, INITIAL_COOL_DOWN, faults, reason)
    if b.state is BreakerState.OPEN and not _cool_down_over(b, now):
        return replace(b, faults=faults, reason=reason)
    cool_down = min(b.cool_down * 2.0, MAX_COOL_DOWN)
    return Breaker(BreakerState.OPEN, now, cool_down, faults, reason)


def on_success(b: Breaker) -> Breaker:
    """The relay answered (any outcome but RELAY_FAULT): closed, cool-down reset."""
    return closed()


def is_available(b: Breaker, now: float) -> bool:
    """May an attempt use this relay now? Closed, or its cool-down (or a stale probe) is over.

    When it returns True for a breaker that is not closed, the caller sends one probe
    attempt and records it with `probe`.
    """
    at = reopens_at(b)
    return b.state is BreakerState.CLOSED or (at is not None and now >= at)


def probe(b: Breaker, now: float) -> Breaker:
    """Start a probe: open with the cool-down over (or a stale half_open) -> half_open.

    Any other breaker is returned unchanged.
    """
    if b.state is not BreakerState.CLOSED and is_available(b, now):
        return replace(b, state=BreakerState.HALF_OPEN, probe_at=now)
    return b


def reopens_at(b: Breaker) -> float | None:
    """When the relay becomes available again: the end of the cool-down (open), the time a
    probe in flight is given up (half_open), None when closed."""
    if b.state is BreakerState.OPEN and b.opened_at is not None:
        return b.opened_at + b.cool_down
    if b.state is BreakerState.HALF_OPEN and b.probe_at is not None:
        return b.probe_at + b.cool_down
    return None


def _cool_down_over(b: Breaker, now: float) -> bool:
    at = reopens_at(b)
    return at is not None and now >= at
