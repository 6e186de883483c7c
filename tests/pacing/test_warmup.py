"""Warm-up: weeks of sending simulated in milliseconds with the pure functions."""

from __future__ import annotations

import math

import pytest

from relaylane.policy.pacing.warmup import (
    RELAY_PATH,
    Spill,
    WarmupPolicy,
    WarmupScope,
    WarmupState,
    advance_at,
    choose_relay,
    maybe_advance,
    next_open,
    path_key,
    record,
    room,
    step_back,
    update,
    volume,
    warmup_paths,
)
from relaylane.policy.vocabulary import Outcome

DAY = 86_400.0
MONDAY = 1_798_502_400.0  # 2026-12-28T00:00:00Z, a Monday
SCHEDULE = (200, 500, 1000, 2500, 5000, 10000, 20000, 40000, 80000)
POLICY = WarmupPolicy(schedule=SCHEDULE)


def send_day(
    state: WarmupState,
    day: int,
    demand: int,
    deferred: float = 0.0,
    blocked: float = 0.0,
    policy: WarmupPolicy = POLICY,
) -> tuple[WarmupState, int]:
    """One day at 09:00: update, then send up to `demand` within the day's room."""
    now = MONDAY + day * DAY + 9 * 3600
    state, _ = update(state, policy, now)
    count = min(demand, room(state, policy, now))
    n_deferred, n_blocked = round(count * deferred), round(count * blocked)
    outcomes = [
        (Outcome.DEFERRED, n_deferred),
        (Outcome.BLOCKED, n_blocked),
        (Outcome.SENT, count - n_deferred - n_blocked),
    ]
    for outcome, n in outcomes:
        state = record(state, policy, now, outcome, n)
    return state, count


def run_days(
    days: int, demand: int, deferred: float = 0.0, blocked: float = 0.0
) -> tuple[list[int], list[int]]:
    state, steps, sent = WarmupState(), [], []
    for day in range(days):
        state, count = send_day(state, day, demand, deferred, blocked)
        steps.append(state.step)
        sent.append(count)
    return steps, sent


def test_clean_sending_climbs_a_step_a_day_and_stops_at_the_last() -> None:
    steps, sent = run_days(14, demand=10**9)
    assert steps == [0, 1, 2, 3, 4, 5, 6, 7, 8, 8, 8, 8, 8, 8]
    assert sent == [*SCHEDULE, 80000, 80000, 80000, 80000, 80000]


def test_the_calendar_alone_never_advances() -> None:
    steps, sent = run_days(10, demand=100)  # 100 a day; step 1 needs 160, step 2 needs 400
    assert sent == [100] * 10
    assert steps == [0, 0, 1, 1, 1, 1, 2, 2, 2, 2]
    idle_days = [step for step, _ in zip(run_days(30, demand=0)[0], range(30), strict=True)]
    assert set(idle_days) == {0}


def test_high_deferrals_or_blocks_hold_the_step() -> None:
    steps, _ = run_days(10, demand=10**9, deferred=0.10)
    assert set(steps) == {0}
    steps, _ = run_days(10, demand=10**9, blocked=0.02)
    assert set(steps) == {0}
    steps, _ = run_days(5, demand=10**9, deferred=0.04, blocked=0.005)  # under both limits
    assert steps == [0, 1, 2, 3, 4]


def test_hold_reasons_explain() -> None:
    state, _ = send_day(WarmupState(), 0, 10**9, deferred=0.10)
    now = MONDAY + 2 * DAY
    same, reason = maybe_advance(state, POLICY, now)
    assert same is state
    assert reason == "holding at step 1: deferral rate 10.0% is above max_deferral_rate 5.0%"
    early, reason = maybe_advance(
        record(WarmupState(), POLICY, MONDAY, Outcome.SENT, 200), POLICY, MONDAY + 3600
    )
    assert reason == "holding at step 1: the step has not lasted a day yet"
    advanced, reason = maybe_advance(early, POLICY, MONDAY + DAY)
    assert (
        advanced.step == 1
        and advanced.sent_in_step == 0
        and advanced.step_started_at == MONDAY + DAY
    )
    assert reason == "advanced to step 2 (500/day): sent 200, deferrals 0.0%, blocks 0.0%"
    _, reason = maybe_advance(WarmupState(step=8), POLICY, MONDAY)
    assert reason == "holding at step 9: at the last step (80000/day)"


def test_idle_paths_step_back_one_step_per_idle_period() -> None:
    state = WarmupState()
    for day in range(5):
        state, _ = send_day(state, day, 10**9)
    assert state.step == 4
    last = state.last_sent_at
    assert last is not None
    same, reason = step_back(state, POLICY, last + 3 * DAY - 1)
    assert same is state and reason == ""
    back, reason = step_back(state, POLICY, last + 3 * DAY)
    assert back.step == 3 and reason.startswith("stepped back to step 4 (2500/day) after 3.0 idle")
    assert step_back(back, POLICY, last + 3 * DAY)[0] is back  # idempotent
    far, _ = step_back(state, POLICY, last + 7 * DAY)
    assert far.step == 2
    floor, _ = step_back(state, POLICY, last + 100 * DAY)
    assert floor.step == 0
    assert update(state, POLICY, last + 7 * DAY)[0].step == 2


def test_every_attempt_counts_against_the_day_and_days_follow_the_zone() -> None:
    berlin = WarmupPolicy(schedule=(10, 20), timezone="Europe/Berlin")
    late = MONDAY + 22.5 * 3600  # 23:30 in Berlin
    state = record(WarmupState(), berlin, late, Outcome.DEFERRED, 4)
    state = record(state, berlin, late, Outcome.BOUNCED, 3)
    state = record(state, berlin, late, Outcome.RELAY_FAULT, 50)  # never reached the receiver
    assert room(state, berlin, late) == 3
    assert (state.sent_in_step, state.deferrals, state.blocks) == (0, 4, 0)
    assert room(state, berlin, late + 3600) == 10  # past midnight in Berlin
    utc = WarmupPolicy(schedule=(10, 20))
    in_utc = record(WarmupState(), utc, late, Outcome.DEFERRED, 7)
    assert room(in_utc, utc, late + 3600) == 3  # 23:30 UTC: still the same day there


def test_next_open_waits_for_the_next_day_or_the_step() -> None:
    state = record(WarmupState(), POLICY, MONDAY + 9 * 3600, Outcome.SENT, 200)
    assert room(state, POLICY, MONDAY + 10 * 3600) == 0
    assert next_open(state, POLICY, MONDAY + 10 * 3600) == MONDAY + DAY
    assert advance_at(state, POLICY) == MONDAY + DAY + 9 * 3600
    fresh = WarmupState()
    assert next_open(fresh, POLICY, MONDAY) == MONDAY and advance_at(fresh, POLICY) is None
    # at 23:00 the step is due at 09:00 tomorrow, but the new day comes first
    day2 = record(state, POLICY, MONDAY + DAY + 1, Outcome.SENT, 200)
    assert next_open(day2, POLICY, MONDAY + DAY + 2) == MONDAY + DAY + 9 * 3600


def test_paths_and_spill() -> None:
    assert warmup_paths(WarmupScope.RELAY, "news.acme.test", "google") == (RELAY_PATH,)
    assert warmup_paths("relay_and_domain", "news.acme.test", "google") == (
        "",
        "news.acme.test|google",
    )
    assert path_key("a.test", "yahoo") == "a.test|yahoo"
    rooms = {"a": 0, "b": 0, "c": 5}
    assert choose_relay(Spill.LANE, "a", rooms) == "c"
    assert choose_relay(Spill.HOLD, "a", rooms) is None
    assert choose_relay("hold", "c", rooms) == "c"
    assert choose_relay(Spill.LANE, "x", {"a": 0}) is None


def test_odd_input() -> None:
    assert volume(WarmupState(step=99), POLICY) == 80000
    assert volume(WarmupState(step=-3), POLICY) == 200
    state = record(WarmupState(), POLICY, MONDAY, Outcome.SENT, 0)
    assert state == WarmupState()
    assert record(WarmupState(), POLICY, MONDAY, Outcome.SENT, -4) == WarmupState()
    with pytest.raises(ValueError, match="finite number of seconds"):
        room(WarmupState(), POLICY, math.nan)
    with pytest.raises(ValueError, match="finite number of seconds"):
        record(WarmupState(), POLICY, math.inf, Outcome.SENT)
    for bad in (
        {"schedule": ()},
        {"schedule": (5, 3)},
        {"schedule": (0,)},
        {"schedule": (1,), "min_sent_ratio": 2.0},
        {"schedule": (1,), "step_period": 0.0},
        {"schedule": (1,), "timezone": "Nowhere/Town"},
    ):
        with pytest.raises(ValueError, match=r"must|not a time zone"):
            WarmupPolicy(**bad)
    # a zero max rate refuses any deferral, a clean path still advances
    strict = WarmupPolicy(schedule=(1, 2), max_deferral_rate=0.0, max_block_rate=0.0)
    clean = record(WarmupState(), strict, MONDAY, Outcome.SENT)
    assert maybe_advance(clean, strict, MONDAY + DAY)[0].step == 1
