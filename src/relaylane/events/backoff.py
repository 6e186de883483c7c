"""When a failed event is tried again, or given up. Pure.

Exponential backoff with deterministic jitter (`policy.retry`, keyed by the event id, so
the same event on the same attempt always waits the same time), until `give_up_after`
has passed since the event was queued: the last try is made at that deadline.
"""

from __future__ import annotations

from relaylane.policy.retry import RetrySchedule, jitter_unit, retry_delay

DEFAULT_SCHEDULE = RetrySchedule(first=5.0, cap=3600.0)  # 5 s doubling to 1 h, +/- 20%


def next_try(
    schedule: RetrySchedule,
    event_id: str,
    failures: int,
    created_at: float,
    give_up_after: float,
    now: float,
) -> float | None:
    """When to POST again after the `failures`-th failed attempt (failures >= 1), or None
    to give up (the deadline created_at + give_up_after has been reached)."""
    deadline = created_at + give_up_after
    if now >= deadline:
        return None
    delay = retry_delay(schedule, failures, jitter_unit(event_id, failures))
    return min(now + delay, deadline)
