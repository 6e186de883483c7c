"""Adaptive backoff: slow then additive recovery (no jumps), suspend, floor, causes."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaylane.policy.pacing.aimd import (
    Backoff,
    ChangeAction,
    PathRate,
    Rule,
    RuleAction,
    effective_rate,
    first_rule,
    next_change_at,
    on_reply,
    recover,
)

T0 = 1_800_000_000.0
SLOW = Rule.of(r"4\.7\.28|unusual rate", "slow", 0.5, 1800.0)
SUSPEND = Rule.of(r"\[TSS04\]", RuleAction.SUSPEND, duration=7200.0)
FLOOR = Rule.of("reputation", "slow", 0.0001, 5400.0)
RULES = (SLOW, SUSPEND, FLOOR)
GMAIL = "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail"


def test_slow_holds_then_recovers_additively() -> None:
    path, change = on_reply(PathRate(10.0), GMAIL, RULES, T0)
    assert change is not None
    assert (change.at, change.cause, change.action, change.rate, change.until) == (
        T0,
        GMAIL,
        ChangeAction.SLOW,
        5.0,
        T0 + 1800,
    )
    assert effective_rate(path, T0 + 1799) == 5.0  # held for the rule's duration
    expected = [6.0, 7.0, 8.0, 9.0, 10.0, 10.0]
    got = [effective_rate(path, T0 + 1800 + i * 300) for i in range(6)]
    assert got == pytest.approx(expected)
    assert next_change_at(path, T0) == T0 + 1800
    assert next_change_at(path, T0 + 1800) == T0 + 2100
    done = recover(path, T0 + 10_000)
    assert done.factor == 1.0 and done.next_step_at is None
    steps = [c for c in done.changes if c.action is ChangeAction.RECOVER]
    assert [c.at for c in steps] == [T0 + 1800 + i * 300 for i in range(5)]
    assert [c.rate for c in steps] == pytest.approx([6.0, 7.0, 8.0, 9.0, 10.0])
    assert next_change_at(done, T0 + 10_000) is None


def test_replies_in_flight_decrease_once_per_recover_every() -> None:
    path, _ = on_reply(PathRate(10.0), GMAIL, RULES, T0)
    path, change = on_reply(path, GMAIL, RULES, T0 + 10)
    assert change is not None and change.rate == 5.0 and change.until == T0 + 1810
    path, change = on_reply(path, GMAIL, RULES, T0 + 300)
    assert change is not None and change.rate == 2.5
    assert effective_rate(path, T0 + 2099) == 2.5


def test_never_below_the_floor() -> None:
    path = PathRate(10.0, Backoff(floor=1 / 60))
    path, change = on_reply(path, "low reputation of the sending IP", RULES, T0)
    assert change is not None and change.rate == pytest.approx(1 / 60)
    for i in range(1, 20):
        path, _ = on_reply(path, GMAIL, RULES, T0 + i * 301)
        assert effective_rate(path, T0 + i * 301) >= 1 / 60 - 1e-12
    slow_base = PathRate(0.01, Backoff(floor=1 / 60))  # a floor above the base: no slowing
    slow_base, _ = on_reply(slow_base, GMAIL, RULES, T0)
    assert effective_rate(slow_base, T0) == 0.01


def test_suspend_stops_the_pair_then_resumes_at_its_rate() -> None:
    path, _ = on_reply(PathRate(10.0), GMAIL, RULES, T0)
    path, change = on_reply(path, "421 4.7.0 [TSS04] Messages temporarily deferred", RULES, T0 + 60)
    assert change is not None and change.action is ChangeAction.SUSPEND
    assert (change.rate, change.until) == (0.0, T0 + 60 + 7200)
    assert effective_rate(path, T0 + 7259) == 0.0
    assert next_change_at(path, T0 + 100) == T0 + 7260
    # recovery waited for the suspension: it resumes at the slowed rate, then climbs
    assert effective_rate(path, T0 + 7260) == pytest.approx(6.0)
    later = recover(path, T0 + 7260)
    assert [c.action for c in later.changes][-2:] == [ChangeAction.RECOVER, ChangeAction.RECOVER]
    assert later.changes[-2].cause == "suspension over"
    path, _ = on_reply(path, "[TSS04]", RULES, T0 + 120)  # a later match extends it
    assert path.suspended_until == T0 + 120 + 7200


def test_no_match_changes_nothing() -> None:
    path = PathRate(10.0)
    same, change = on_reply(path, "250 2.0.0 OK", RULES, T0)
    assert change is None and same == path
    assert first_rule("", RULES) is None
    assert on_reply(path, GMAIL, (), T0)[1] is None
    assert first_rule("UNUSUAL RATE", RULES) is SLOW  # case-insensitive


events = st.lists(
    st.tuples(st.floats(min_value=0, max_value=4000), st.sampled_from([GMAIL, "reputation", "ok"])),
    max_size=30,
)


@settings(max_examples=200, deadline=None)
@given(events=events, base=st.floats(min_value=0.05, max_value=200), samples=st.integers(2, 60))
def test_recovery_never_jumps(events: list[tuple[float, str]], base: float, samples: int) -> None:
    backoff = Backoff(floor=0.01, recover_step=0.1, recover_every=300.0)
    path = PathRate(base, backoff)
    now = T0
    for gap, text in events:
        now += gap
        path, _ = on_reply(path, text, RULES, now)
        assert min(backoff.floor, base) - 1e-9 <= effective_rate(path, now) <= base
    rates = [effective_rate(path, now + i * 150.0) for i in range(samples)]
    for before, after in itertools.pairwise(rates):
        assert after >= before - 1e-9  # never drops without a reply
        assert after - before <= 0.1 * base + 1e-9  # one step at most per step period
    for i in range(samples):
        moment = now + i * 150.0
        assert effective_rate(recover(path, moment), moment) == pytest.approx(rates[i])


def test_odd_input() -> None:
    for base in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="base must be a positive, finite rate"):
            PathRate(base)
    with pytest.raises(ValueError, match="factor must be in"):
        PathRate(1.0, factor=0.0)
    for bad in (
        {"floor": 0.0},
        {"recover_step": 0.0},
        {"recover_step": 1.5},
        {"recover_every": 0.0},
    ):
        with pytest.raises(ValueError, match="must be"):
            Backoff(**bad)
    with pytest.raises(ValueError, match="finite number of seconds"):
        on_reply(PathRate(1.0), GMAIL, RULES, math.nan)
    with pytest.raises(ValueError, match="not a valid RuleAction"):
        Rule.of("x", "throttle")
    tiny = PathRate(1.0, Backoff(floor=1e-6, recover_step=1e-6, recover_every=1.0))
    tiny, _ = on_reply(tiny, GMAIL, RULES, T0)
    far = recover(tiny, T0 + 1e9)  # a million steps: computed, not looped; few changes kept
    assert far.factor == 1.0 and len(far.changes) <= 201
    long_text = "4.7.28 " + "x" * 5000
    _, change = on_reply(PathRate(1.0), long_text, RULES, T0)
    assert change is not None and len(change.cause) == 1000
