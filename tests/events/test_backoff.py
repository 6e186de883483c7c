"""When a failed event is tried again: 5 s doubling to 1 h, jittered, until give_up_after."""

from __future__ import annotations

from relaylane.events.backoff import DEFAULT_SCHEDULE, next_try

T0 = 1_800_000_000.0
DAY = 86_400.0


def test_delays_double_from_five_seconds_to_an_hour_within_the_jitter() -> None:
    delays = [next_try(DEFAULT_SCHEDULE, "ev-1", n, T0, 3 * DAY, T0) for n in range(1, 14)]
    waits = [d - T0 for d in delays if d is not None]
    assert len(waits) == 13
    for n, wait in enumerate(waits, start=1):
        base = min(3600.0, 5.0 * 2 ** (n - 1))
        assert base * 0.8 <= wait <= base * 1.2


def test_the_same_event_and_attempt_always_wait_the_same() -> None:
    a = next_try(DEFAULT_SCHEDULE, "ev-1", 3, T0, DAY, T0 + 10)
    assert a == next_try(DEFAULT_SCHEDULE, "ev-1", 3, T0, DAY, T0 + 10)
    others = {next_try(DEFAULT_SCHEDULE, f"ev-{i}", 3, T0, DAY, T0 + 10) for i in range(20)}
    assert len(others) > 1  # events spread out


def test_the_last_try_is_at_the_deadline_then_it_gives_up() -> None:
    deadline = T0 + 60.0
    assert next_try(DEFAULT_SCHEDULE, "ev-1", 10, T0, 60.0, T0 + 50) == deadline
    assert next_try(DEFAULT_SCHEDULE, "ev-1", 11, T0, 60.0, deadline) is None
