"""The fixed-bucket histogram: counts, cumulative buckets, percentile estimates."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaylane.delivery.stats import WorkerStats
from relaylane.monitor.histogram import LATENCY_BUCKETS, TRANSACTION_BUCKETS, Histogram
from relaylane.policy.vocabulary import DeliveryState, Outcome
from relaylane.records import DeliveryResult


def nearest_rank(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def test_values_land_in_the_first_bucket_whose_bound_is_not_below_them() -> None:
    h = Histogram((1.0, 2.0, 5.0))
    for v in (0.5, 1.0, 1.5, 2.0, 4.0, 5.0, 9.0):
        h.observe(v)
    assert h.counts == [2, 2, 2, 1]  # le=1, le=2, le=5, overflow
    assert h.cumulative() == [(1.0, 2), (2.0, 4), (5.0, 6), (math.inf, 7)]
    assert (h.count, h.sum, h.min, h.max) == (7, 23.0, 0.5, 9.0)


def test_empty_histogram_has_no_percentile() -> None:
    h = Histogram(TRANSACTION_BUCKETS)
    assert h.percentile(50) is None and h.count == 0


def test_nan_is_ignored() -> None:
    h = Histogram((1.0,))
    h.observe(float("nan"))
    assert h.count == 0 and h.percentile(50) is None


def test_one_repeated_value_is_estimated_exactly() -> None:
    h = Histogram(TRANSACTION_BUCKETS)
    for _ in range(100):
        h.observe(0.0123)
    assert h.percentile(50) == pytest.approx(0.0123)
    assert h.percentile(99) == pytest.approx(0.0123)


def test_extremes_are_exact() -> None:
    h = Histogram(TRANSACTION_BUCKETS)
    for v in (0.004, 0.03, 0.3, 7.0):
        h.observe(v)
    assert h.percentile(100) == 7.0
    assert h.percentile(0) >= 0.004  # type: ignore[operator]


@pytest.mark.parametrize("bounds", [(), (2.0, 1.0), (1.0, 1.0), (1.0, math.inf)])
def test_bad_bounds_are_refused(bounds: tuple[float, ...]) -> None:
    with pytest.raises(ValueError, match="bounds"):
        Histogram(bounds)


def test_percentile_outside_0_100_is_refused() -> None:
    with pytest.raises(ValueError, match="between 0 and 100"):
        Histogram((1.0,)).percentile(101)


@given(
    st.lists(st.floats(0.0005, 500.0), min_size=1, max_size=300),
    st.sampled_from([50.0, 90.0, 95.0, 99.0]),
)
def test_estimate_stays_within_the_true_values_bucket(values: list[float], p: float) -> None:
    """Never further from the nearest-rank value than the width of its bucket."""
    h = Histogram(TRANSACTION_BUCKETS)
    for v in values:
        h.observe(v)
    estimate = h.percentile(p)
    assert estimate is not None
    true = nearest_rank(values, p)
    edges = (0.0, *TRANSACTION_BUCKETS, math.inf)
    index = next(i for i, b in enumerate(edges) if b >= true)  # true's bucket: (low, high]
    low, high = edges[index - 1], min(edges[index], max(values))
    assert min(values) <= estimate <= max(values)
    assert low - 1e-12 <= estimate <= high + 1e-12


def test_memory_does_not_grow_with_the_number_of_values() -> None:
    stats = WorkerStats()
    result = DeliveryResult(
        id=1, token=1, state=DeliveryState.SENT, due_at=None, relay="r1", pinned=False,
        retries=0, sent_at=1000.5,
    )  # fmt: skip
    for _ in range(20_000):
        stats.attempt("r1", Outcome.SENT, 0.004, False)
        stats.finished("tx", result, created_at=1000.0)
    durations = stats.relays["r1"].durations
    latencies = stats.lanes["tx"].latencies
    assert len(durations.counts) == len(TRANSACTION_BUCKETS) + 1
    assert len(latencies.counts) == len(LATENCY_BUCKETS) + 1
    assert durations.count == latencies.count == 20_000
    assert latencies.percentile(95) == pytest.approx(0.5)
    assert stats.relays["r1"].outcomes["sent"] == 20_000


def test_relay_faults_are_counted_but_not_timed() -> None:
    stats = WorkerStats()
    stats.attempt("r1", Outcome.RELAY_FAULT, 30.0, True)
    stats.attempt("r1", Outcome.SENT, 0.01, False)
    tally = stats.relays["r1"]
    assert tally.outcomes == {"relay_fault": 1, "sent": 1}
    assert tally.failovers == 1 and tally.durations.count == 1
