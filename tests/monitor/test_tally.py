"""The worker's in-memory tally: minute buckets, latency histogram, drain and restore."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from relaylane.monitor.tally import BucketCount, MetricTally, campaign_of, minute_start
from relaylane.policy.vocabulary import BounceClass, Outcome, Stage

T0 = 1_800_000_000.0  # a minute boundary


def test_counts_in_one_minute_add_up_and_the_next_minute_is_its_own_row() -> None:
    tally = MetricTally()
    tally.count(T0 + 1, "r1", "gmail", "tx", "", "sent")
    tally.count(T0 + 59.9, "r1", "gmail", "tx", "", "sent", 2)
    tally.count(T0 + 60, "r1", "gmail", "tx", "", "sent")
    rows = sorted(tally.drain(), key=lambda r: r.start)
    assert rows == [
        BucketCount(T0, "r1", "gmail", "tx", "", "sent", 3),
        BucketCount(T0 + 60, "r1", "gmail", "tx", "", "sent", 1),
    ]
    assert tally.drain() == [] and len(tally) == 0


def test_an_attempt_counts_each_of_its_metrics() -> None:
    tally = MetricTally()
    tally.attempt(
        T0, "r1", "", "tx", "spring",
        stage=Stage.STARTTLS, outcome=Outcome.RELAY_FAULT,
        bounce_class=BounceClass.RELAY_UNAVAILABLE,
    )  # fmt: skip
    assert {r.metric: r.n for r in tally.drain()} == {
        "attempts": 1,
        "relay_faults": 1,
        "tls_failures": 1,
    }


def test_latency_adds_a_bucket_the_count_and_the_sum() -> None:
    tally = MetricTally()
    tally.latency(T0, "r1", "gmail", "tx", "", 0.3)
    tally.latency(T0, "r1", "gmail", "tx", "", 7.0)
    tally.latency(T0, "r1", "gmail", "tx", "", float("inf"))
    counts = {r.metric: r.n for r in tally.drain()}
    assert counts == {
        "latency_le:0.5": 1,
        "latency_le:10": 1,
        "latency_le:inf": 1,
        "latency_count": 3,
        "latency_sum_ms": 7300,
    }


def test_restored_rows_come_back_with_the_next_drain() -> None:
    tally = MetricTally()
    tally.count(T0, "r1", "", "tx", "", "sent")
    rows = tally.drain()
    tally.count(T0, "r1", "", "tx", "", "sent")
    tally.restore(rows)
    assert tally.drain() == [BucketCount(T0, "r1", "", "tx", "", "sent", 2)]


def test_the_campaign_comes_from_the_metadata_and_never_raises() -> None:
    assert campaign_of('{"campaign": "spring", "list": "news"}') == "spring"
    assert campaign_of('{"list": "news"}') == ""
    assert campaign_of(None) == campaign_of("") == campaign_of("[1]") == ""
    assert campaign_of("not json") == campaign_of('{"campaign": 3}') == ""
    assert len(campaign_of('{"campaign": "%s"}' % ("x" * 300))) == 128


events = st.lists(
    st.tuples(
        st.floats(min_value=T0, max_value=T0 + 7200),
        st.sampled_from(["r1", "r2"]),
        st.sampled_from(["", "gmail"]),
        st.sampled_from(["sent", "deferred"]),
        st.integers(min_value=1, max_value=5),
    ),
    max_size=60,
)


@given(events)
def test_drain_keeps_every_count_in_the_minute_it_happened(
    seen: list[tuple[float, str, str, str, int]],
) -> None:
    tally = MetricTally()
    for at, relay, provider, metric, n in seen:
        tally.count(at, relay, provider, "tx", "", metric, n)
    rows = tally.drain()
    expected: Counter[tuple[float, str, str, str]] = Counter()
    for at, relay, provider, metric, n in seen:
        expected[(minute_start(at), relay, provider, metric)] += n
    got = Counter({(r.start, r.relay, r.provider, r.metric): r.n for r in rows})
    assert got == expected
    assert all(r.start % 60 == 0 for r in rows)
