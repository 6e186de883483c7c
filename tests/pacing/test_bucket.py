"""TokenBucket: never more than rate × window + burst in any window; ready_at is exact."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaylane.policy.pacing.bucket import (
    DEFAULT_BURST_SECONDS,
    DEFAULT_MIN_BURST,
    TokenBucket,
    default_burst,
)

T0 = 1_800_000_000.0
SLACK = 1e-6  # float rounding of the token count


@settings(max_examples=300, deadline=None)
@given(
    rate=st.floats(min_value=0.01, max_value=1000.0),
    burst=st.floats(min_value=1.0, max_value=50.0),
    gaps=st.lists(st.floats(min_value=0.0, max_value=5.0), min_size=1, max_size=200),
    sizes=st.lists(st.integers(min_value=1, max_value=3), min_size=1, max_size=200),
)
def test_never_more_than_rate_times_window_plus_burst(
    rate: float, burst: float, gaps: list[float], sizes: list[int]
) -> None:
    bucket = TokenBucket(rate, burst)
    now = T0
    admitted: list[tuple[float, int]] = []
    for index, gap in enumerate(gaps):
        now += gap
        n = sizes[index % len(sizes)]
        if bucket.take(now, n):
            admitted.append((now, n))
    # every window that matters starts and ends at an admission
    for i, (start, _) in enumerate(admitted):
        total = 0
        for end, n in admitted[i:]:
            total += n
            assert total <= rate * (end - start) + burst + SLACK


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(min_value=0.001, max_value=500.0),
    burst=st.floats(min_value=1.0, max_value=20.0),
    steps=st.lists(
        st.tuples(st.floats(min_value=0, max_value=100), st.integers(1, 3)), max_size=50
    ),
)
def test_ready_at_is_exact(rate: float, burst: float, steps: list[tuple[float, int]]) -> None:
    bucket = TokenBucket(rate, burst)
    now = T0
    for gap, n in steps:
        now += gap
        if n > burst:
            assert bucket.ready_at(now, n) == math.inf
            continue
        ready = bucket.ready_at(now, n)
        assert ready >= now
        if ready > now:
            assert not bucket.take(now, n)  # refusing changes nothing
        assert bucket.take(ready, n)
        now = ready


def test_starts_full_then_paces() -> None:
    bucket = TokenBucket(20.0)  # default burst: one second's worth
    assert bucket.burst == 20.0
    assert sum(bucket.take(T0) for _ in range(25)) == 20
    ready = bucket.ready_at(T0)
    assert ready == pytest.approx(T0 + 0.05)
    assert bucket.take(ready)
    assert not bucket.take(ready)


def test_default_burst() -> None:
    assert (DEFAULT_BURST_SECONDS, DEFAULT_MIN_BURST) == (1.0, 2.0)
    assert default_burst(1 / 60) == 2.0
    assert default_burst(20.0) == 20.0
    assert default_burst(0.0) == 2.0 and default_burst(math.inf) == 2.0
    slow = TokenBucket(1 / 60)
    assert slow.take(T0) and slow.take(T0) and not slow.take(T0 + 59)
    assert slow.ready_at(T0 + 1) == pytest.approx(T0 + 60)
    assert slow.take(slow.ready_at(T0 + 1))


def test_set_rate_keeps_tokens_gained() -> None:
    bucket = TokenBucket(1.0, 1.0)
    assert bucket.take(T0)
    bucket.set_rate(T0 + 0.5, 0.0)  # half a token gained, then nothing more
    assert bucket.tokens(T0 + 100) == pytest.approx(0.5)
    assert bucket.ready_at(T0 + 100) == math.inf
    bucket.set_rate(T0 + 100, 1.0)
    assert bucket.ready_at(T0 + 100) == pytest.approx(T0 + 100.5)


def test_a_slowed_default_bucket_loses_its_big_burst() -> None:
    bucket = TokenBucket(10.0)
    assert bucket.burst == 10.0
    bucket.set_rate(T0, 1 / 60)
    assert bucket.burst == 2.0 and bucket.tokens(T0) == 2.0
    assert bucket.take(T0) and bucket.take(T0) and not bucket.take(T0)
    bucket.set_rate(T0 + 1, 10.0)
    assert bucket.burst == 10.0 and bucket.tokens(T0 + 1) < 1
    fixed = TokenBucket(10.0, 5.0)
    fixed.set_rate(T0, 1.0)
    assert fixed.burst == 5.0


def test_odd_input() -> None:
    bucket = TokenBucket(5.0, 2.0)
    assert bucket.take(T0, 0) and bucket.take(T0, -3)
    assert bucket.ready_at(T0, 0) == T0
    assert bucket.ready_at(T0, 3) == math.inf  # more than the burst: never
    assert not bucket.take(T0, 3)
    assert bucket.take(T0, 2)
    assert not bucket.take(T0 - 100)  # the clock stepped back: no tokens appear
    assert bucket.ready_at(T0 - 100) == pytest.approx(T0 + 0.2)
    for bad_time in (math.nan, math.inf, "now", True):
        with pytest.raises(ValueError, match="finite number of seconds"):
            bucket.take(bad_time)  # type: ignore[arg-type]
    for rate, burst in ((-1.0, 1.0), (math.nan, 1.0), (math.inf, 1.0), (1.0, 0.5), (1.0, math.inf)):
        with pytest.raises(ValueError, match="must be"):
            TokenBucket(rate, burst)
    with pytest.raises(ValueError, match="rate must be a number"):
        TokenBucket("20/s")  # type: ignore[arg-type]
