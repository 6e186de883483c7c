"""The pure health decisions: thresholds, damping, hysteresis, probing, evidence."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relaylane.policy import health as ph
from relaylane.policy.health import (
    RELAY_WIDE,
    Cause,
    HealthRules,
    HealthState,
    PathCounts,
    PathHealth,
    Signal,
)
from relaylane.policy.vocabulary import BounceClass, Outcome

RULES = HealthRules()
BLOCK = "550 5.7.1 Service unavailable; client host blocked using low reputation"


def feed(
    h: PathHealth, c: PathCounts, signals: list[Signal], now: float, provider: str = "google"
) -> list[PathHealth]:
    """Add signals one by one; the states the path went through."""
    seen = []
    for s in signals:
        c.add(s, now, BLOCK if s is Signal.BLOCK else "421 4.7.0 try later")
        judged = ph.after_observation(h, c, RULES, now, provider)
        if judged is not None:
            h = judged[0]
            seen.append(h)
    return seen


def test_signals_follow_the_cause_of_each_verdict() -> None:
    assert ph.signal_of(Outcome.SENT, BounceClass.NONE) is Signal.OK
    assert ph.signal_of(Outcome.BOUNCED, BounceClass.INVALID_RECIPIENT) is Signal.OK
    assert ph.signal_of(Outcome.DEFERRED, BounceClass.MAILBOX_FULL) is Signal.DEFERRAL
    assert ph.signal_of(Outcome.DEFERRED, BounceClass.RATE_LIMITED) is Signal.DEFERRAL
    assert ph.signal_of(Outcome.BLOCKED, BounceClass.REPUTATION_BLOCK) is Signal.BLOCK
    assert ph.signal_of(Outcome.BLOCKED, BounceClass.POLICY) is Signal.BLOCK
    assert ph.signal_of(Outcome.RELAY_FAULT, BounceClass.RELAY_UNAVAILABLE) is Signal.INFRA
    assert ph.signal_of(Outcome.FAILED, BounceClass.RELAY_CONFIG) is Signal.INFRA
    assert ph.signal_of(Outcome.SUPPRESSED, BounceClass.NONE) is None


def test_blocks_pause_the_pair_only_over_the_minimum_sample() -> None:
    c = PathCounts(RULES.window)
    h = ph.healthy(0.0)
    # 10 blocks in the first 199 attempts: 5%, but too few attempts to judge
    assert feed(h, c, [Signal.BLOCK] * 10 + [Signal.OK] * 189, 100.0) == []
    [paused] = feed(h, c, [Signal.OK], 100.0)
    assert (paused.state, paused.cause) == (HealthState.PAUSED, Cause.REPUTATION)
    assert paused.until == 100.0 + RULES.reputation_cool_down
    assert paused.reason.startswith("paused google: 5.0% blocks over the last 200 attempts")
    assert "sample: 550 5.7.1" in paused.reason
    assert paused.holds and not paused.avoided


def test_a_short_burst_of_blocks_does_not_pause() -> None:
    c = PathCounts(RULES.window)
    h = ph.healthy(0.0)
    assert feed(h, c, [Signal.OK] * 1000 + [Signal.BLOCK] * 20, 50.0) == []  # 1.96%
    [paused] = feed(h, c, [Signal.BLOCK], 50.0)  # 21 of 1021: 2.06%
    assert paused.state is HealthState.PAUSED


def test_blocks_leave_the_window() -> None:
    c = PathCounts(600.0)
    for _ in range(50):
        c.add(Signal.BLOCK, 0.0)
    c.add(Signal.OK, 300.0)
    assert (c.attempts, c.blocks) == (51, 50)
    c.expire(661.0)
    assert (c.attempts, c.blocks) == (1, 0)


def test_deferrals_degrade_and_recover_with_hysteresis() -> None:
    c = PathCounts(RULES.window)
    h = ph.healthy(0.0)
    [degraded] = feed(h, c, [Signal.DEFERRAL] * 31 + [Signal.OK] * 69, 10.0)
    assert (degraded.state, degraded.cause) == (HealthState.DEGRADED, Cause.DEFERRALS)
    assert degraded.reason.startswith("degraded google: 31.0% deferrals over the last 100")
    # 31 of 180 is 17%: under the 30% threshold but not under 15%: still degraded
    assert feed(degraded, c, [Signal.OK] * 80, 20.0) == []
    [back] = feed(degraded, c, [Signal.OK] * 30, 30.0)  # 31 of 210: 14.8%
    assert back.state is HealthState.HEALTHY and back.reason.startswith("recovered google")


def test_consecutive_infrastructure_faults_pause_the_relay() -> None:
    c = PathCounts(RULES.window)
    h = ph.healthy(0.0)
    run = [Signal.INFRA] * 4 + [Signal.OK] + [Signal.INFRA] * 4
    assert feed(h, c, run, 5.0, RELAY_WIDE) == []  # never five in a row
    [paused] = feed(h, c, [Signal.INFRA], 5.0, RELAY_WIDE)
    assert (paused.state, paused.cause) == (HealthState.PAUSED, Cause.INFRASTRUCTURE)
    assert paused.until == 5.0 + RULES.infrastructure_cool_down
    assert paused.avoided and not paused.holds
    assert "5 infrastructure failures in a row" in paused.reason


def test_a_pair_ignores_infrastructure_and_the_relay_ignores_blocks() -> None:
    c = PathCounts(RULES.window)
    assert feed(ph.healthy(0.0), c, [Signal.BLOCK] * 300, 1.0, RELAY_WIDE) == []
    c = PathCounts(RULES.window)
    assert feed(ph.healthy(0.0), c, [Signal.INFRA] * 10, 1.0, "google") == []


def paused_at(now: float, cool_down: float = 900.0) -> PathHealth:
    return PathHealth(HealthState.PAUSED, Cause.REPUTATION, now, now + cool_down, cool_down)


def test_probing_starts_after_the_cool_down_and_needs_every_canary() -> None:
    p = paused_at(0.0)
    assert ph.cool_down_over(p, 899.0) is None
    probing = ph.cool_down_over(p, 900.0)
    assert probing is not None and probing.state is HealthState.PROBING
    h = probing
    for i in range(RULES.canary - 1):
        after = ph.after_canary(h, Signal.OK, RULES, 901.0 + i)
        assert after is not None and after.state is HealthState.PROBING
        h = after
    done = ph.after_canary(h, Signal.OK, RULES, 910.0)
    assert done is not None and done.state is HealthState.HEALTHY
    assert done.cool_down == 900.0  # remembered: a pause soon after doubles


def test_a_failed_canary_pauses_again_for_twice_as_long_up_to_the_cap() -> None:
    h = ph.cool_down_over(paused_at(0.0), 900.0)
    assert h is not None
    again = ph.after_canary(h, Signal.BLOCK, RULES, 901.0, BLOCK)
    assert again is not None and again.state is HealthState.PAUSED
    assert (again.cool_down, again.until) == (1800.0, 2701.0)
    # deferrals do not fail a reputation probe; only blocks do
    assert ph.after_canary(h, Signal.DEFERRAL, RULES, 901.0) is not None
    capped = PathHealth(HealthState.PROBING, Cause.REPUTATION, 0.0, None, RULES.max_cool_down)
    worst = ph.after_canary(capped, Signal.BLOCK, RULES, 1.0)
    assert worst is not None and worst.cool_down == RULES.max_cool_down


def test_pausing_again_soon_after_recovering_doubles_the_cool_down() -> None:
    recovered = ph.healthy(1000.0, cool_down=900.0)
    soon = ph.pause(recovered, Cause.REPUTATION, RULES, 2000.0, "blocks")
    assert soon.cool_down == 1800.0
    late = ph.pause(recovered, Cause.REPUTATION, RULES, 1000.0 + RULES.max_cool_down, "b")
    assert late.cool_down == RULES.reputation_cool_down


def test_complaints_count_only_over_enough_deliveries() -> None:
    h = ph.healthy(0.0)
    assert ph.after_complaints(h, 1, 200, RULES, 1.0, "yahoo") is None  # noise
    review = ph.after_complaints(h, 2, 1000, RULES, 1.0, "yahoo")
    assert review is not None
    assert (review[0].state, review[0].cause) == (HealthState.DEGRADED, Cause.COMPLAINTS)
    assert review[1]["complaint_rate"] == 0.002
    pause = ph.after_complaints(h, 6, 1000, RULES, 1.0, "yahoo")
    assert pause is not None and pause[0].state is HealthState.PAUSED and pause[0].holds
    # a review recovers only well under the threshold
    assert ph.after_complaints(review[0], 8, 10000, RULES, 2.0, "yahoo") is None
    back = ph.after_complaints(review[0], 4, 10000, RULES, 2.0, "yahoo")
    assert back is not None and back[0].state is HealthState.HEALTHY


def test_operator_pauses_wait_for_resume_and_say_who() -> None:
    h = ph.operator_pause(ph.healthy(0.0), 5.0, "ops", "IP change", failover=False)
    assert (h.state, h.until, h.holds) == (HealthState.PAUSED, None, True)
    assert ph.cool_down_over(h, 1e12) is None
    assert "paused by ops: IP change" in h.reason
    m = ph.operator_pause(ph.healthy(0.0), 5.0, "ops", "", failover=True)
    assert m.avoided and m.cause is Cause.MAINTENANCE
    assert ph.operator_resume(m, 6.0, "ops").state is HealthState.HEALTHY


@given(st.lists(st.tuples(st.sampled_from(list(Signal)), st.floats(0, 7200)), max_size=200))
def test_window_totals_are_the_sum_of_recent_answers(events: list[tuple[Signal, float]]) -> None:
    c = PathCounts(600.0)
    events.sort(key=lambda e: e[1])
    for signal, at in events:
        c.add(signal, at)
    if not events:
        return
    now = events[-1][1]
    c.expire(now)
    kept = [s for s, at in events if s is not Signal.INFRA and at - at % 60 + 60 > now - 600]
    assert c.attempts == len(kept)
    assert c.blocks == kept.count(Signal.BLOCK)
    assert c.deferrals == kept.count(Signal.DEFERRAL)
