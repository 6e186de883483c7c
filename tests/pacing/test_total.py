"""Every parser and policy function answers any input with a result or a ValueError."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from hypothesis import given
from hypothesis import strategies as st

from relaylane.config.pacing import RateError, parse_rate
from relaylane.policy.pacing.aimd import PathRate, Rule, effective_rate, on_reply, recover
from relaylane.policy.pacing.bucket import TokenBucket
from relaylane.policy.pacing.caps import CapState, period_end, period_start
from relaylane.policy.pacing.warmup import WarmupPolicy, WarmupState, next_open, room, update
from relaylane.policy.pacing.windows import WindowError, earliest_start, parse_window
from relaylane.policy.pacing.workload import parse_split

anything = st.one_of(st.text(max_size=40), st.floats(allow_nan=True), st.integers(), st.none())
times = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(10**20), max_value=10**20),
)


@given(anything)
def test_parse_rate(value: object) -> None:
    with contextlib.suppress(RateError):
        assert parse_rate(value) > 0


@given(st.text(max_size=60))
def test_parse_window(text: str) -> None:
    with contextlib.suppress(WindowError):
        parse_window(text)


@given(st.text(max_size=60))
def test_parse_split(text: str) -> None:
    try:
        shares = parse_split(text)
        assert abs(sum(shares.values()) - 1.0) < 1e-6
    except ValueError:
        pass


@given(times)
def test_time_functions(moment: float) -> None:
    calls: list[Callable[[], object]] = [
        lambda: period_start(moment, "Europe/Berlin", "day"),
        lambda: period_end(moment, "UTC", "hour"),
        lambda: CapState(5, 10).room(moment),
        lambda: TokenBucket(1.0).take(moment),
        lambda: TokenBucket(1.0).ready_at(moment, 3),
        lambda: room(WarmupState(), WarmupPolicy((1, 2)), moment),
        lambda: update(WarmupState(step=1, last_sent_at=0.0), WarmupPolicy((1, 2)), moment),
        lambda: next_open(WarmupState(), WarmupPolicy((1,)), moment),
        lambda: effective_rate(PathRate(1.0), moment),
        lambda: recover(PathRate(1.0, factor=0.5, next_step_at=0.0), moment),
        lambda: earliest_start(moment, [], [parse_window("08:00-09:00")]),
    ]
    for call in calls:
        with contextlib.suppress(ValueError):
            call()


@given(st.text(max_size=200), st.floats(min_value=0, max_value=1e10))
def test_on_reply_any_text(text: str, moment: float) -> None:
    rules = (Rule.of(r"4\.7\.28", "slow"), Rule.of(r"\[TS", "suspend"))
    path, change = on_reply(PathRate(5.0), text, rules, moment)
    assert 0 <= effective_rate(path, moment) <= 5.0
    assert change is None or change.at == moment
