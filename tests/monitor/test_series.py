"""Chart series: stored buckets into equal steps, with latency percentiles per step."""

from __future__ import annotations

import time

from relaylane.monitor.metrics import latency_bucket
from relaylane.monitor.series import RANGES, series, series_metrics
from relaylane.monitor.tally import BucketCount
from relaylane.store import Store


def test_rows_land_in_their_steps_and_bounce_classes_are_summed() -> None:
    hour = RANGES["1h"]
    until = 7_200.0 + 30  # inside the minute starting at 7200
    rows = [
        (7_200.0, "sent", 5),
        (7_140.0, "sent", 2),
        (7_140.0, "bounced:invalid_recipient", 1),
        (7_140.0, "bounced:mailbox_full", 2),
        (3_600.0, "sent", 9),  # the step before the first: outside the hour
        (7_260.0, "sent", 4),  # after `until`'s step: outside too
    ]
    got = series(rows, until, hour)
    assert len(got.times) == 60 and got.times[-1] == 7_200.0 and got.times[0] == 3_660.0
    assert got.counts["sent"][-1] == 5 and got.counts["sent"][-2] == 2
    assert sum(got.counts["sent"]) == 7
    assert got.counts["bounced"][-2] == 3
    assert got.latency["p95"] == [None] * 60  # nothing measured


def test_latency_percentiles_per_step_come_from_the_histogram() -> None:
    rows = [(0.0, latency_bucket(0.2), 99), (0.0, latency_bucket(40.0), 1)]
    got = series(rows, 30.0, RANGES["1h"])
    p50, p99 = got.latency["p50"][-1], got.latency["p99"][-1]
    assert p50 is not None and 0.1 < p50 <= 0.25
    assert p99 is not None and p99 <= 0.25  # nearest rank 99 of 100 is still in 0.25
    assert got.latency["p50"][0] is None


def test_the_store_reads_the_points_of_one_relay_and_provider(store: Store) -> None:
    now = time.time()
    minute = now // 60 * 60
    store.metrics.add(
        [
            BucketCount(minute, "r1", "google", "tx", "", "sent", 3),
            BucketCount(minute - 60, "r1", "google", "tx", "", "sent", 1),
            BucketCount(minute, "r1", "yahoo", "tx", "", "sent", 7),
            BucketCount(minute, "r2", "google", "tx", "", "sent", 11),
            BucketCount(minute, "r1", "google", "tx", "", latency_bucket(0.3), 3),
        ]
    )
    rows = store.metrics.per_bucket(now - 3_600, now + 1, series_metrics(), relay="r1")
    got = series(rows, now, RANGES["1h"])
    assert got.counts["sent"][-1] == 10 and got.counts["sent"][-2] == 1
    only = store.metrics.per_bucket(
        now - 3_600, now + 1, series_metrics(), relay="r1", provider="google"
    )
    assert series(only, now, RANGES["1h"]).counts["sent"][-1] == 3
    assert series(only, now, RANGES["1h"]).latency["p50"][-1] is not None
