"""When to try again: exponential back-off with deterministic jitter, bounded by a lane's max_age.

Pure: the jitter comes from a stable hash of (key, attempt), never from a random generator,
so the same delivery on the same attempt always gets the same delay (reproducible in tests and
across restarts) while different deliveries spread out.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

__all__ = ["RetrySchedule", "is_expired", "jitter_unit", "next_due", "retry_delay"]


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """Back-off parameters (seconds). Field names match the lane config's retry model."""

    first: float = 300.0  # delay after the first failure
    cap: float = 3600.0  # largest delay before jitter
    factor: float = 2.0  # growth per further failure
    jitter: float = 0.2  # +/- this fraction of the delay

    def __post_init__(self) -> None:
        problems = []
        if not (math.isfinite(self.first) and self.first > 0):
            problems.append(f"first must be a positive number of seconds, got {self.first!r}")
        if not (math.isfinite(self.cap) and self.cap >= self.first):
            problems.append(f"cap must be >= first ({self.first!r}), got {self.cap!r}")
        if not (math.isfinite(self.factor) and self.factor >= 1):
            problems.append(f"factor must be >= 1, got {self.factor!r}")
        if not (0 <= self.jitter < 1):
            problems.append(f"jitter must be in [0, 1), got {self.jitter!r}")
        if problems:
            raise ValueError("; ".join(problems))


def jitter_unit(key: int | str, attempt: int) -> float:
    """A deterministic number in [0, 1) for (key, attempt), from BLAKE2b (stable across runs).

    The key's type is part of the hash, so the int 7 and the str "7" differ. The top 53 bits
    of the digest make the float, so the result is exact and never rounds up to 1.0.
    """
    tag = "i" if isinstance(key, int) else "s"
    data = f"{tag}:{key}:{attempt}".encode()
    digest = hashlib.blake2b(data, digest_size=8, person=b"relaylane-jit").digest()
    return (int.from_bytes(digest, "big") >> 11) / float(1 << 53)


def retry_delay(schedule: RetrySchedule, failures: int, unit: float) -> float:
    """Seconds to wait after the `failures`-th failure (failures >= 1), jittered by `unit`.

    Exactly:
        base  = min(cap, first * factor ** (failures - 1))
        delay = base * (1 - jitter + 2 * jitter * unit)
    then clamped to [first * (1 - jitter), cap * (1 + jitter)] to absorb float rounding.
    With unit in [0, 1] the delay is > 0, within those bounds and, for a fixed unit, never
    decreases as failures grow. `unit` is normally `jitter_unit(delivery_id, failures)`.
    """
    if failures < 1:
        raise ValueError(f"failures must be >= 1, got {failures}")
    if not (0.0 <= unit <= 1.0):
        raise ValueError(f"unit must be in [0, 1], got {unit!r}")
    s = schedule
    try:
        base = min(s.cap, s.first * s.factor ** (failures - 1))
    except OverflowError:  # factor ** huge: far past the cap
        base = s.cap
    delay = base * (1.0 - s.jitter + 2.0 * s.jitter * unit)
    return min(s.cap * (1.0 + s.jitter), max(s.first * (1.0 - s.jitter), delay))


def next_due(now: float, enqueued_at: float, max_age: float, delay: float) -> float | None:
    """When to try again (now + delay), or None to give up (FAILED/EXPIRED).

    None when now + delay would pass the deadline enqueued_at + max_age. A retry landing
    exactly on the deadline is still made (consistent with `is_expired`).
    """
    due = now + delay
    if due > enqueued_at + max_age:
        return None
    return due


def is_expired(now: float, enqueued_at: float, max_age: float) -> bool:
    """Has the delivery passed its deadline (strictly after enqueued_at + max_age)?"""
    return now > enqueued_at + max_age
