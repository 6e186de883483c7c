"""The dispatcher against a real HTTP receiver on loopback: every event arrives, signed,
at least once and dedupable by id, after 5xx answers, dropped connections and timeouts,
with the backoff respected; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable

import sqlalchemy as sa

from relaylane.clock import FakeClock, SystemClock
from relaylane.events.backoff import next_try
from relaylane.events.dispatch import Dispatcher
from relaylane.events.hooks import Hook, Hooks
from relaylane.events.kinds import EventKind
from relaylane.events.signing import verify_signature
from relaylane.policy.retry import RetrySchedule, jitter_unit, retry_delay
from relaylane.policy.vocabulary import DeliveryState
from relaylane.store import Store
from relaylane.store.outbox import ClaimPlan, PostOutcome, SqlOutbox
from relaylane.store.schema import event_outbox
from tests.events.helpers import SECRET, T0, hook, message, outbox, result
from tests.events.receiver import Receiver

FAST = RetrySchedule(first=0.05, cap=0.4)


def emit_sent(store: Store, hooks: Hooks, count: int, at: float) -> list[str]:
    """`count` sent deliveries recorded with `hooks`; returns the event ids, in order."""
    store.queue.enqueue([message([f"u{i}@example.test" for i in range(count)], at=at)])
    claims = store.queue.step([], [("tx", count)], set(), at, "w1", 60.0).claims["tx"]
    results = [result(c, DeliveryState.SENT, at) for c in claims]
    store.queue.step(results, [], set(), at, "w1", 60.0, hooks=hooks)
    return [row["event_id"] for row in outbox(store)]


def dispatcher(store: Store, endpoint: Hook, **kw: object) -> Dispatcher:
    options: dict[str, object] = {"schedule": FAST, "idle_poll": 0.02} | kw
    return Dispatcher(SqlOutbox(store.engine), Hooks((endpoint,)), **options)  # type: ignore[arg-type]


async def until(condition: Callable[[], object], within: float) -> None:
    """Wait for `condition()` to hold; fail after `within` seconds (an upper bound)."""
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def test_a_flaky_receiver_gets_every_event_signed_and_dedupable(store: Store) -> None:
    script = ["500", "drop", "accept-drop", "503", "hang", "drop", "500", "accept-drop"]
    with Receiver(SECRET, script, hang=1.0) as receiver:
        endpoint = hook(url=receiver.url, timeout=0.3, give_up_after=60.0)
        ids = emit_sent(store, Hooks((endpoint,)), 12, time.time())
        sender = dispatcher(store, endpoint, clock=SystemClock(), concurrency=4)
        started = time.monotonic()
        running = asyncio.create_task(sender.run())

        # every id arrived AND was recorded delivered: an "accept-drop" arrival is seen by
        # the receiver but is a failure to the dispatcher, which sends it again
        def all_delivered() -> bool:
            rows = outbox(store)
            return set(receiver.events) == set(ids) and all(r["delivered_at"] for r in rows)

        await until(all_delivered, within=20.0)
        sender.request_stop()
        stats = await asyncio.wait_for(running, 10.0)
        assert time.monotonic() - started < 20.0

    # every event arrived, and the application kept each one once, by id
    assert set(receiver.events) == set(ids) and receiver.bad_signatures == 0
    assert len(receiver.arrivals) >= len(ids) + len(script)  # retries (and a duplicate)
    rows = {row["event_id"]: row for row in outbox(store)}
    for event_id in ids:
        arrivals = receiver.arrivals_of(event_id)
        payload = rows[event_id]["payload"].encode()
        for arrival in arrivals:  # the same id, type and bytes every time, freshly signed
            assert arrival.body == payload
            assert arrival.event_type == "sent"
            assert verify_signature(SECRET, arrival.signature, arrival.body, arrival.at)
        assert_backoff_respected(event_id, [a.at for a in arrivals])
        assert rows[event_id]["delivered_at"] is not None and rows[event_id]["due_at"] is None
        assert rows[event_id]["attempts"] == len(arrivals)
    duplicates = [a for a in receiver.arrivals if a.behaviour == "accept-drop"]
    assert all(len(receiver.arrivals_of(a.event_id)) > 1 for a in duplicates)
    assert stats.delivered == len(ids) and stats.given_up == 0
    assert stats.retried == len(script)
    hung = next(a for a in receiver.arrivals if a.behaviour == "hang")
    assert "timed out" in (rows[hung.event_id]["last_error"] or "")


def assert_backoff_respected(event_id: str, times: list[float]) -> None:
    """Each retry came no sooner than its backoff after the attempt before it."""
    for failures, (before, after) in enumerate(itertools.pairwise(times), start=1):
        delay = retry_delay(FAST, failures, jitter_unit(event_id, failures))
        assert after - before >= delay - 0.002, (event_id, failures, after - before, delay)


async def test_retries_follow_the_schedule_then_give_up(store: Store) -> None:
    clock = FakeClock(T0)
    with Receiver(SECRET, always="500", clock=clock.now) as receiver:
        endpoint = hook(url=receiver.url, timeout=5.0, give_up_after=60.0)
        [event_id] = emit_sent(store, Hooks((endpoint,)), 1, T0)
        sender = dispatcher(store, endpoint, clock=clock, schedule=RetrySchedule(5.0, 3600.0))
        await sender.run(until_idle=True)
        [row] = outbox(store)
        assert row["attempts"] == 1 and row["last_error"] == "HTTP 500: not now"
        first_due = next_try(sender.schedule, event_id, 1, T0, 60.0, T0)
        assert row["due_at"] == first_due and first_due is not None
        assert 4.0 <= first_due - T0 <= 6.0  # 5 s +/- 20%

        clock.advance(first_due - T0 - 0.5)  # not yet due: nothing is sent
        await sender.run(until_idle=True)
        assert len(receiver.arrivals) == 1
        clock.advance(0.5)
        await sender.run(until_idle=True)
        assert len(receiver.arrivals) == 2
        [row] = outbox(store)
        assert row["due_at"] - clock.now() >= 8.0  # doubled: 10 s +/- 20%

        while outbox(store)[0]["due_at"] is not None:  # every try until the deadline
            clock.advance(outbox(store)[0]["due_at"] - clock.now())
            await sender.run(until_idle=True)
        assert clock.now() == T0 + 60.0  # the last try was at the deadline
    [row] = outbox(store)
    assert row["delivered_at"] is None and row["due_at"] is None
    assert row["last_error"].startswith(f"gave up after {row['attempts']} attempt(s) over 1m")
    assert sender.stats.given_up == 1 and sender.stats.delivered == 0

    # an operator sends it again: due now, with a fresh window, same id and body
    assert SqlOutbox(store.engine).retry_given_up(clock.now()) == 1
    with Receiver(SECRET, clock=clock.now) as receiver:
        sender = dispatcher(store, hook(url=receiver.url), clock=clock)
        await sender.run(until_idle=True)
        assert [a.event_id for a in receiver.arrivals] == [event_id]
    assert outbox(store)[0]["delivered_at"] == clock.now()


async def test_two_dispatchers_share_the_outbox_without_sending_twice(store: Store) -> None:
    clock = FakeClock(T0)
    with Receiver(SECRET, clock=clock.now) as receiver:
        endpoint = hook(url=receiver.url)
        ids = emit_sent(store, Hooks((endpoint,)), 30, T0)
        first = dispatcher(store, endpoint, clock=clock, concurrency=3)
        second = dispatcher(store, endpoint, clock=clock, concurrency=3)
        one, two = await asyncio.gather(first.run(until_idle=True), second.run(until_idle=True))
    assert sorted(a.event_id for a in receiver.arrivals) == sorted(ids)  # each exactly once
    assert one.delivered + two.delivered == 30


async def test_a_dead_dispatchers_events_are_sent_after_its_lease(store: Store) -> None:
    outbox_store = SqlOutbox(store.engine)
    clock = FakeClock(T0 + 1)
    with Receiver(SECRET, clock=clock.now) as receiver:
        endpoint = hook(url=receiver.url, timeout=5.0)
        [event_id] = emit_sent(store, Hooks((endpoint,)), 1, T0)
        [held] = outbox_store.step([], [ClaimPlan("app", 10, 65.0)], T0, "dead")
        sender = dispatcher(store, endpoint, clock=clock)
        await sender.run(until_idle=True)
        assert receiver.arrivals == []  # still leased
        clock.advance(65.0)
        await sender.run(until_idle=True)
        assert [a.event_id for a in receiver.arrivals] == [event_id]
    late = PostOutcome(held.id, delivered_at=None, due_at=T0 + 99, error="HTTP 500")
    outbox_store.step([late], [], T0 + 70, "dead")  # fenced: it no longer holds the lease
    [row] = outbox(store)
    assert row["delivered_at"] == T0 + 66 and row["due_at"] is None and row["last_error"] is None


async def test_events_of_an_endpoint_no_longer_configured_wait(store: Store) -> None:
    gone = hook("gone")
    emit_sent(store, Hooks((gone,)), 2, T0)
    with Receiver(SECRET) as receiver:
        sender = dispatcher(store, hook("app", url=receiver.url), clock=FakeClock(T0))
        await sender.run(until_idle=True)
        assert receiver.arrivals == []
    assert [row["due_at"] for row in outbox(store)] == [T0, T0]


async def test_a_stop_lets_posts_under_way_finish_and_records_them(store: Store) -> None:
    with Receiver(SECRET, ["hang"], hang=0.3) as receiver:
        endpoint = hook(url=receiver.url, timeout=5.0, kinds=[EventKind.SENT])
        emit_sent(store, Hooks((endpoint,)), 1, T0)
        sender = dispatcher(store, endpoint, clock=FakeClock(T0))
        running = asyncio.create_task(sender.run())
        await until(lambda: receiver.arrivals, within=5.0)
        sender.request_stop()
        await asyncio.wait_for(running, 5.0)
    [row] = outbox(store)
    assert row["attempts"] == 1 and row["lease_owner"] is None
    assert row["last_error"] == "HTTP 500: not now" and row["due_at"] is not None
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(event_outbox)).scalar() == 1
