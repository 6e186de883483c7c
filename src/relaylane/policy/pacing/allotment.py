"""Limits shared by every worker: time is cut into slots, and each limit's slot has a
capacity that all workers together may take, in small grants, from the store.

- A rate of r messages per second uses slots of `max(1 s, 1/r)`, aligned to the epoch.
  Slot k may grant `floor(r·L·(k+1)) − floor(r·L·k)` messages, so the long-run average is r
  exactly and a slow rate ("1/min") gets one message per minute slot. A worker spends its
  grant only inside the slot it was granted for, so a window of T seconds, which overlaps
  at most `ceil(T/L) + 1` slots, sees at most `r × L × (ceil(T/L) + 1)` messages from all
  workers together (+1 for the rounding of a fractional rate). For whole seconds at rates
  of 1/s and more that is `r × (T + 1 s)`: the in-process token bucket's own bound (a burst
  of one second's worth). Sends granted at a slot's very end may reach the relay a few
  milliseconds into the next one, which a window at the relay can see as well.
- An hourly or daily cap, and a warm-up path's daily volume, use the local hour or day as
  the slot, and the cap as its capacity: all workers together never pass it.

A grant is never returned for a rate slot (it expires with the slot); a cap's unused grant
is given back when a worker stops. A worker that dies holding a grant loses it: the limit
under-sends by at most that grant, and never over-sends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

__all__ = ["MIN_SLOT", "Ask", "Slot", "cap_chunk", "rate_chunk", "rate_slot"]

MIN_SLOT = 1.0  # seconds: the shortest rate slot
CAP_CHUNK_SHARE = 0.02  # a cap's grant: this share of the cap ...
CAP_CHUNK_MAX = 50  # ... at most this many messages
RATE_CHUNK_SHARE = 0.25  # a rate slot's grant: this share of the slot's capacity
_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Slot:
    """One period of one limit: [start, end), with what all workers may take in it."""

    start: float
    end: float
    capacity: int


@dataclass(frozen=True, slots=True)
class Ask:
    """A worker's request for `want` more of `key`'s slot. `seed` is what was already
    used of the slot before any grant (a cap's sends restored from the store when the
    first grant of its period is asked for): the slot's row starts there."""

    key: str
    slot: Slot
    want: int
    seed: int = 0


def rate_slot(rate: float, now: float) -> Slot:
    """The slot of a `rate` (messages per second) containing `now`."""
    if not (math.isfinite(rate) and rate > 0):
        return Slot(math.floor(now), math.inf, 0)
    length = max(MIN_SLOT, 1.0 / rate)
    k = math.floor(now / length)
    if now >= (k + 1) * length:  # the division rounded down across a boundary
        k += 1
    elif now < k * length:
        k -= 1
    per_slot = rate * length
    capacity = math.floor(per_slot * (k + 1) + _EPS) - math.floor(per_slot * k + _EPS)
    return Slot(k * length, (k + 1) * length, capacity)


def rate_chunk(slot: Slot) -> int:
    """How many of a rate slot a worker asks for at once: a quarter of it, at least one;
    small enough that other workers find some left, large enough to ask rarely."""
    return max(1, math.ceil(slot.capacity * RATE_CHUNK_SHARE))


def cap_chunk(cap: int) -> int:
    """How many of an hourly or daily cap (or warm-up volume) a worker asks for at once."""
    return max(1, min(CAP_CHUNK_MAX, math.ceil(cap * CAP_CHUNK_SHARE)))
