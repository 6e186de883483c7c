"""Window sums, rates and their denominators, latency percentiles from the histogram."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaylane.monitor.metrics import LATENCY_BOUNDS
from relaylane.monitor.rates import (
    bounces_by_class,
    histogram,
    latency,
    percentile,
    rates,
    sum_window,
)
from relaylane.monitor.tally import BucketCount, MetricTally

T0 = 1_800_000_000.0


def test_rates_use_their_documented_denominators() -> None:
    totals = Counter(
        {
            "attempts": 120,
            "answered": 100,
            "relay_faults": 20,
            "throttled": 6,
            "sent": 80,
            "deferred": 10,
            "blocked": 5,
            "bounced:invalid_recipient": 4,
            "bounced:bad_domain": 1,
            "delivered": 40,
            "complaints": 2,
            "unsubscribes": 8,
        }
    )
    r = rates(totals)
    assert r.block_rate == 0.05 and r.deferral_rate == 0.10 and r.bounce_rate == 0.05
    assert r.bounce_rates == {"bad_domain": 0.01, "invalid_recipient": 0.04}
    assert r.relay_fault_rate == pytest.approx(20 / 120)
    assert r.throttle_rate == pytest.approx(6 / 120)
    assert r.delivered_rate == 0.5 and r.complaint_rate == 0.025 and r.unsubscribe_rate == 0.1
    assert r.open_rate == 0.0 and r.click_rate == 0.0
    assert bounces_by_class(totals) == {"bad_domain": 1, "invalid_recipient": 4}


def test_rates_without_a_denominator_are_none() -> None:
    r = rates(Counter({"complaints": 3}))
    assert r.block_rate is None and r.complaint_rate is None and r.relay_fault_rate is None
    assert r.bounce_rates == {}


def test_sum_window_keeps_buckets_starting_inside_it_and_matching_the_filters() -> None:
    rows = [
        BucketCount(T0 - 60, "r1", "", "tx", "", "sent", 1),
        BucketCount(T0, "r1", "gmail", "tx", "", "sent", 2),
        BucketCount(T0 + 60, "r2", "gmail", "news", "spring", "sent", 4),
        BucketCount(T0 + 120, "r1", "", "tx", "", "sent", 8),
    ]
    assert sum_window(rows, T0, T0 + 120) == Counter({"sent": 6})
    assert sum_window(rows, T0, T0 + 121, relay="r1") == Counter({"sent": 10})
    assert sum_window(rows, 0, math.inf, provider="gmail", lane="news") == Counter({"sent": 4})
    assert sum_window(rows, 0, math.inf, campaign="spring") == Counter({"sent": 4})


def test_percentiles_interpolate_inside_the_bucket() -> None:
    buckets = [(1.0, 50), (2.0, 50), (math.inf, 0)]
    assert percentile(buckets, 0.5) == 1.0
    assert percentile(buckets, 0.75) == 1.5
    assert percentile(buckets, 0.99) == pytest.approx(1.98)
    assert percentile([(1.0, 0), (math.inf, 3)], 0.5) == 1.0  # the overflow: at least
    assert percentile([(1.0, 0)], 0.5) is None


def test_latency_summary_from_a_tally() -> None:
    tally = MetricTally()
    for seconds in (0.2, 0.2, 0.2, 3.0):
        tally.latency(T0, "r1", "", "tx", "", seconds)
    totals = sum_window(tally.drain(), T0, T0 + 60)
    summary = latency(totals)
    assert summary.count == 4 and summary.mean == pytest.approx(0.9)
    assert summary.p50 is not None and 0.1 < summary.p50 <= 0.25
    assert summary.p99 is not None and 2 < summary.p99 <= 5
    assert latency(Counter()).p50 is None


@given(
    st.lists(st.floats(min_value=0, max_value=400_000), min_size=1, max_size=200),
    st.sampled_from([0.5, 0.95, 0.99, 0.01, 1.0]),
)
def test_a_percentile_shares_its_bucket_with_the_true_value(values: list[float], q: float) -> None:
    tally = MetricTally()
    for v in values:
        tally.latency(T0, "r1", "", "tx", "", v)
    buckets = histogram(sum_window(tally.drain(), T0, T0 + 60))
    estimate = percentile(buckets, q)
    ordered = sorted(values)
    true = ordered[max(1, math.ceil(q * len(values) - 1e-9)) - 1]  # nearest rank
    index = next(i for i, b in enumerate(LATENCY_BOUNDS) if true <= b)
    lower = LATENCY_BOUNDS[index - 1] if index else 0.0
    upper = LATENCY_BOUNDS[index]
    assert estimate is not None
    assert lower <= estimate <= upper
    if math.isinf(upper):
        assert estimate == lower
