"""Metric buckets at rest on SQLite and PostgreSQL: increment upserts, windows,
breakdowns, rollup to hours, feedback counts and the lanes' backlog."""

from __future__ import annotations

import json
import random
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import pytest
import sqlalchemy as sa

from relaylane.monitor.rates import sum_window
from relaylane.monitor.tally import BucketCount, MetricTally
from relaylane.records import NewDelivery, NewMessage
from relaylane.store import Store
from relaylane.store.feedback import FeedbackRow
from relaylane.store.metrics import HOUR, ROLLUP_AFTER, count_feedback
from relaylane.store.schema import deliveries, metric_buckets

T0 = 1_800_000_000.0  # an hour boundary
NOW = T0 + 3 * 86_400.0
B = metric_buckets.c


def row(start: float, metric: str = "sent", n: int = 1, **dims: str) -> BucketCount:
    d = {"relay": "r1", "provider": "gmail", "lane": "tx", "campaign": ""} | dims
    return BucketCount(start, d["relay"], d["provider"], d["lane"], d["campaign"], metric, n)


def stored(store: Store) -> list[tuple[str, float, str, str, str, int]]:
    stmt = sa.select(B.resolution, B.start, B.relay, B.provider, B.metric, B.n).order_by(
        B.resolution, B.start, B.relay, B.provider, B.metric
    )
    with store.engine.connect() as conn:
        return [(res, float(at), r, p, m, int(n)) for res, at, r, p, m, n in conn.execute(stmt)]


def test_adding_the_same_bucket_twice_increments_it(store: Store) -> None:
    store.metrics.add([row(T0 + 5, n=2), row(T0 + 30, n=3)])  # one minute: merged
    store.metrics.add([row(T0, n=4), row(T0, "deferred")])
    store.metrics.add([])
    assert stored(store) == [
        ("minute", T0, "r1", "gmail", "deferred", 1),
        ("minute", T0, "r1", "gmail", "sent", 9),
    ]


def test_add_in_joins_the_callers_transaction(store: Store) -> None:
    with store.engine.connect() as conn:
        transaction = conn.begin()
        store.metrics.add_in(conn, [row(T0)])
        transaction.rollback()
    assert stored(store) == []
    with store.engine.begin() as conn:
        store.metrics.add_in(conn, [row(T0)])
    assert stored(store) == [("minute", T0, "r1", "gmail", "sent", 1)]


def test_a_name_outside_the_vocabulary_writes_nothing(store: Store) -> None:
    with pytest.raises(ValueError, match="not a metric name"):
        store.metrics.add([row(T0), row(T0, "sent_typo")])
    assert stored(store) == []


def test_a_window_sums_the_buckets_starting_inside_it_with_filters(store: Store) -> None:
    store.metrics.add(
        [
            row(T0 - 60),
            row(T0, n=2),
            row(T0 + 60, n=4, relay="r2", provider="yahoo", lane="news", campaign="spring"),
            row(T0 + 120, "blocked", n=8),
        ]
    )
    m = store.metrics
    assert m.window(T0, T0 + 120) == Counter({"sent": 6})
    assert m.window(T0, T0 + 180) == Counter({"sent": 6, "blocked": 8})
    assert m.window(0, NOW, relay="r1") == Counter({"sent": 3, "blocked": 8})
    assert m.window(0, NOW, lane="news", provider="yahoo") == Counter({"sent": 4})
    assert m.window(0, NOW, campaign="spring") == Counter({"sent": 4})
    assert m.window(0, NOW, relay="nobody") == Counter()
    assert m.by_provider(0, NOW) == {
        "gmail": Counter({"sent": 3, "blocked": 8}),
        "yahoo": Counter({"sent": 4}),
    }
    assert m.breakdown("relay", 0, NOW, provider="gmail") == {"r1": Counter(sent=3, blocked=8)}
    with pytest.raises(ValueError, match="dimension"):
        m.breakdown("metric", 0, NOW)


def random_rows(seed: int, count: int) -> list[BucketCount]:
    rng = random.Random(seed)
    return [
        row(
            NOW - rng.uniform(0, 5 * 86_400),
            rng.choice(["sent", "deferred", "latency_le:1"]),
            rng.randint(1, 9),
            relay=rng.choice(["r1", "r2"]),
            provider=rng.choice(["", "gmail"]),
            campaign=rng.choice(["", "spring"]),
        )
        for _ in range(count)
    ]


def test_rollup_folds_old_minutes_into_hours_and_keeps_every_sum(store: Store) -> None:
    rows = random_rows(7, 400)
    store.metrics.add(rows)
    cutoff = (NOW - ROLLUP_AFTER) // HOUR * HOUR
    old = [r for r in rows if r.start < cutoff]
    moved = store.metrics.rollup(NOW)
    assert moved > 0
    contents = stored(store)
    assert all(start >= cutoff for res, start, *_ in contents if res == "minute")
    assert all(start % HOUR == 0 and start < cutoff for res, start, *_ in contents if res == "hour")
    assert sum(n for res, *_, n in contents if res == "hour") == sum(r.n for r in old)
    for since in (0.0, T0 + 86_400, cutoff, NOW - 3600):  # windows on hour boundaries
        assert store.metrics.window(since, NOW + 60) == sum_window(rows, since, NOW + 60)
    for relay in ("r1", "r2"):
        expected = sum_window(rows, 0, NOW + 60, relay=relay, campaign="spring")
        assert store.metrics.window(0, NOW + 60, relay=relay, campaign="spring") == expected


def test_rollup_is_idempotent_and_later_writes_to_old_minutes_roll_up_next_time(
    store: Store,
) -> None:
    store.metrics.add([row(T0 + 60, n=2), row(T0 + 1800, n=3), row(NOW - 60, n=5)])
    assert store.metrics.rollup(NOW) == 2
    before = stored(store)
    assert store.metrics.rollup(NOW) == 0
    assert (
        stored(store)
        == before
        == [
            ("hour", T0, "r1", "gmail", "sent", 5),
            ("minute", NOW - 60, "r1", "gmail", "sent", 5),
        ]
    )
    store.metrics.add([row(T0 + 120, n=7)])  # a late writer, after the rollup
    assert store.metrics.rollup(NOW) == 1
    assert stored(store)[0] == ("hour", T0, "r1", "gmail", "sent", 12)
    assert store.metrics.window(0, NOW) == Counter({"sent": 17})


def test_prune_drops_hour_rows_before_a_moment(store: Store) -> None:
    store.metrics.add([row(T0), row(NOW - 60)])
    store.metrics.rollup(NOW)
    assert store.metrics.prune(T0 + HOUR) == 1
    assert stored(store) == [("minute", NOW - 60, "r1", "gmail", "sent", 1)]


def enqueue(store: Store, lane: str, metadata: dict[str, str], at: float = T0) -> int:
    message = NewMessage(
        lane=lane,
        mail_from="no-reply@tx.acme.test",
        from_domain="tx.acme.test",
        body=b"Subject: hi\r\n\r\nhello\r\n",
        smtputf8=False,
        created_at=at,
        expires_at=at + 86_400,
        deliveries=(NewDelivery("bob@example.test", "<1@tx.acme.test>", b""),),
        metadata=tuple(metadata.items()),
    )
    [[delivery_id]] = store.queue.enqueue([message])
    return delivery_id


def sent_by(store: Store, delivery_id: int, relay: str, provider: str | None) -> None:
    values = {"state": "sent", "relay": relay, "provider": provider, "due_at": None}
    with store.engine.begin() as conn:
        conn.execute(deliveries.update().where(deliveries.c.id == delivery_id).values(**values))


def finding(delivery_id: int | None, event: str, action: str, **kw: object) -> FeedbackRow:
    base = FeedbackRow(
        received_at=NOW,
        source="receiver",
        kind="dsn",
        event=event,
        delivery_id=delivery_id,
        relay=None,
        recipient="bob@example.test",
        bounce_class="none",
        code=None,
        status=None,
        diagnostic="",
        action=action,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def test_feedback_counts_by_the_deliverys_relay_provider_lane_and_campaign(
    store: Store,
) -> None:
    spring = enqueue(store, "news", {"campaign": "spring", "list": "weekly"})
    plain = enqueue(store, "tx", {})
    sent_by(store, spring, "r1", "gmail")
    sent_by(store, plain, "r2", None)
    findings = [
        finding(spring, "delivered", "delivered"),
        finding(spring, "delivered", "recorded"),  # a duplicate: changed nothing
        finding(spring, "complained", "suppressed"),
        finding(spring, "unsubscribed", "recorded"),
        finding(plain, "bounced", "bounced", bounce_class="invalid_recipient", relay="r3"),
        finding(plain, "bounced", "held", bounce_class="rate_limited"),
        finding(plain, "bounced", "failed", bounce_class="expired"),
        finding(plain, "bounced", "recorded", bounce_class="invalid_recipient"),
        finding(plain, "delayed", "recorded"),
        finding(None, "bounced", "unmatched", bounce_class="invalid_recipient"),
        finding(9999, "complained", "suppressed"),  # no such delivery
    ]
    with store.engine.begin() as conn:
        assert count_feedback(conn, findings, NOW + 7) == 7
    m = store.metrics
    assert m.window(NOW, NOW + 60, campaign="spring") == Counter(
        {"delivered": 1, "complaints": 1, "unsubscribes": 1}
    )
    assert m.by_provider(NOW, NOW + 60, lane="news") == {
        "gmail": Counter({"delivered": 1, "complaints": 1, "unsubscribes": 1})
    }
    assert m.window(NOW, NOW + 60, relay="r3") == Counter({"bounced:invalid_recipient": 1})
    assert m.window(NOW, NOW + 60, relay="r2", provider="", lane="tx", campaign="") == Counter(
        {"blocked": 1, "throttled": 1, "failed": 1}
    )


def test_feedback_without_anything_to_count_writes_nothing(store: Store) -> None:
    with store.engine.begin() as conn:
        assert count_feedback(conn, [finding(None, "bounced", "unmatched")], NOW) == 0
    assert stored(store) == []


def test_the_backlog_shows_each_lanes_waiting_deliveries_and_oldest(store: Store) -> None:
    first = enqueue(store, "tx", {}, at=T0)
    enqueue(store, "tx", {}, at=T0 + 100)
    done = enqueue(store, "news", {}, at=T0 - 500)
    sent_by(store, done, "r1", "gmail")
    backlog = store.metrics.backlog(["tx", "news", "empty"])
    assert backlog["tx"].depth == 2 and backlog["tx"].by_state == {"queued": 2}
    assert backlog["tx"].oldest_age(T0 + 1000) == 1000
    assert backlog["news"].depth == 0 and backlog["news"].oldest_age(T0) is None
    assert set(backlog) == {"tx", "news", "empty"}
    assert set(store.metrics.backlog()) == {"tx"}
    assert first > 0


def test_a_drained_tally_round_trips_through_the_store(store: Store) -> None:
    tally = MetricTally()
    for i in range(50):
        tally.latency(T0 + i, "r1", "gmail", "tx", "", i / 10)
    rows = tally.drain()
    store.metrics.add(rows)
    assert store.metrics.window(T0, T0 + 60) == sum_window(rows, T0, T0 + 60)
    assert json.dumps(sorted(store.metrics.window(T0, T0 + 60).items()))


def test_rollups_beside_writers_and_each_other_lose_and_double_nothing(store: Store) -> None:
    batches = [random_rows(seed, 20) for seed in range(20)]
    errors: list[BaseException] = []

    def guarded(work: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # reported below, in the test's thread
                errors.append(exc)

        return run

    def write(part: list[list[BucketCount]]) -> None:
        for batch in part:
            store.metrics.add(batch)

    def roll() -> None:
        for _ in range(10):
            store.metrics.rollup(NOW)

    jobs = [lambda: write(batches[0::2]), lambda: write(batches[1::2]), roll, roll]
    threads = [threading.Thread(target=guarded(job)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    store.metrics.rollup(NOW)
    everything = [r for batch in batches for r in batch]
    assert store.metrics.window(0, NOW + 60) == sum_window(everything, 0, NOW + 60)
