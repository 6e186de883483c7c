"""breaker: closed -> open -> half_open -> closed, as immutable values."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaylane.policy.breaker import (
    INITIAL_COOL_DOWN,
    MAX_COOL_DOWN,
    Breaker,
    BreakerState,
    closed,
    is_available,
    on_fault,
    on_success,
    probe,
    reopens_at,
)

T0 = 1_800_000_000.0


def test_closed_breaker() -> None:
    b = closed()
    assert b == Breaker(BreakerState.CLOSED, None, 30.0, 0, "")
    assert (INITIAL_COOL_DOWN, MAX_COOL_DOWN) == (30.0, 600.0)
    assert is_available(b, T0)
    assert reopens_at(b) is None


def test_breaker_is_immutable() -> None:
    b = closed()
    with pytest.raises(dataclasses.FrozenInstanceError):
        b.faults = 3  # type: ignore[misc]
    on_fault(b, T0, "timed out")
    assert b == closed()  # transitions return new values


def test_a_fault_opens_for_30_seconds() -> None:
    b = on_fault(closed(), T0, "connection refused at connect")
    assert b.state is BreakerState.OPEN
    assert (b.opened_at, b.cool_down, b.faults) == (T0, 30.0, 1)
    assert b.reason == "connection refused at connect"
    assert reopens_at(b) == T0 + 30.0
    assert not is_available(b, T0)
    assert not is_available(b, T0 + 29.999)
    assert is_available(b, T0 + 30.0)


def test_probe_only_after_the_cool_down() -> None:
    b = on_fault(closed(), T0, "timed out")
    assert probe(b, T0 + 10.0) is b  # too early: unchanged
    half = probe(b, T0 + 30.0)
    assert half.state is BreakerState.HALF_OPEN
    assert half.probe_at == T0 + 30.0
    assert not is_available(half, T0 + 30.0)  # one probe at a time
    assert not is_available(half, T0 + 59.0)


def test_probe_on_a_closed_breaker_is_a_no_op() -> None:
    b = closed()
    assert probe(b, T0) is b


def test_probe_success_closes_and_resets() -> None:
    b = probe(on_fault(closed(), T0, "timed out"), T0 + 30.0)
    b = on_fault(b, T0 + 31.0, "timed out")  # failed probe: 60 s
    b = on_success(probe(b, T0 + 91.0))
    assert b == closed()


def test_each_failed_probe_doubles_the_cool_down_up_to_600() -> None:
    now = T0
    b = on_fault(closed(), now, "refused")
    cool_downs = [b.cool_down]
    for _ in range(7):
        now = reopens_at(b) or now
        assert is_available(b, now)
        b = on_fault(probe(b, now), now + 1.0, "refused")
        cool_downs.append(b.cool_down)
        assert b.opened_at == now + 1.0
    assert cool_downs == [30.0, 60.0, 120.0, 240.0, 480.0, 600.0, 600.0, 600.0]
    assert b.faults == 8


def test_faults_from_in_flight_attempts_do_not_escalate() -> None:
    """Ten attempts in flight when the relay dies: one opening, not a 600 s cool-down."""
    b = on_fault(closed(), T0, "refused")
    for i in range(1, 10):
        b = on_fault(b, T0 + i * 0.1, f"refused #{i}")
    assert b.state is BreakerState.OPEN
    assert (b.opened_at, b.cool_down, b.faults) == (T0, 30.0, 10)
    assert b.reason == "refused #9"
    assert reopens_at(b) == T0 + 30.0


def test_a_fault_while_open_after_the_cool_down_counts_as_a_failed_probe() -> None:
    b = on_fault(closed(), T0, "refused")
    b = on_fault(b, T0 + 45.0, "refused again")
    assert (b.state, b.opened_at, b.cool_down) == (BreakerState.OPEN, T0 + 45.0, 60.0)


def test_success_while_open_closes() -> None:
    b = on_fault(closed(), T0, "refused")
    assert on_success(b) == closed()


def test_a_lost_probe_is_abandoned_after_the_cool_down() -> None:
    half = probe(on_fault(closed(), T0, "timed out"), T0 + 30.0)
    assert reopens_at(half) == T0 + 60.0
    assert not is_available(half, T0 + 59.9)
    assert is_available(half, T0 + 60.0)
    again = probe(half, T0 + 60.0)
    assert again.state is BreakerState.HALF_OPEN
    assert again.probe_at == T0 + 60.0
    assert again.cool_down == 30.0  # a lost probe is not a fault


# --- properties over random event sequences

events = st.lists(
    st.tuples(
        st.sampled_from(["fault", "success", "probe", "wait"]),
        st.floats(0.0, 1_000.0),
    ),
    max_size=40,
)


@given(events)
def test_invariants_hold_over_any_event_sequence(sequence: list[tuple[str, float]]) -> None:
    b, now = closed(), T0
    for event, seconds in sequence:
        if event == "fault":
            before = b
            b = on_fault(b, now, "fault")
            assert b.state is BreakerState.OPEN
            assert b.faults == before.faults + 1
        elif event == "success":
            b = on_success(b)
            assert b == closed()
        elif event == "probe":
            before = b
            b = probe(b, now)
            if before.state is not BreakerState.CLOSED and is_available(before, now):
                assert b.state is BreakerState.HALF_OPEN
            else:
                assert b == before
        else:
            now += seconds
        assert INITIAL_COOL_DOWN <= b.cool_down <= MAX_COOL_DOWN
        at = reopens_at(b)
        assert is_available(b, now) == (
            b.state is BreakerState.CLOSED or (at is not None and now >= at)
        )
        if b.state is BreakerState.CLOSED:
            assert (b.opened_at, b.faults, b.reason, at) == (None, 0, "", None)
        else:
            assert b.opened_at is not None
            assert b.opened_at <= now
            assert at is not None
            assert b.faults >= 1
