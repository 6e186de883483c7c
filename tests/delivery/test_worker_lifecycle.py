"""Lanes scheduled independently, leases after a crash, and a graceful stop."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from relaylane.clock import FakeClock
from relaylane.delivery.worker import Worker
from relaylane.sim import SimRelay
from relaylane.store import Store, open_store
from tests.helpers import deliver, lane, make_config, queue, relay

BACKLOG = 20_000


@pytest.mark.slow
async def test_transactional_is_sent_before_half_the_marketing_backlog(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay() as mkt, SimRelay() as tx:
        cfg = make_config(
            store_url,
            [relay("mkt", mkt.port, max_connections=4), relay("tx", tx.port)],
            [lane("transactional", ["tx"]), lane("marketing", ["mkt"], purpose="marketing")],
            tmp_path,
        )
        recipients = [f"r{i}@example.test" for i in range(BACKLOG)]
        queue(store, cfg, "marketing", recipients, time.time(), subject="Spring")
        worker = Worker(cfg, store.queue, idle_quit=1.0)
        running = asyncio.create_task(worker.run())
        deadline = time.monotonic() + 60
        while mkt.accepted < 200 and time.monotonic() < deadline:  # the backlog is draining
            await asyncio.sleep(0.01)
        [reset] = await asyncio.to_thread(
            queue, store, cfg, "transactional", ["bob@example.test"], time.time()
        )
        while not tx.received and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
        marketing_sent_before = mkt.accepted
        worker.request_stop()
        await running
    assert tx.received, "the transactional delivery was never sent"
    assert 200 <= marketing_sent_before < BACKLOG / 2
    assert store.reads.delivery(reset).delivery.state == "sent"
    # the graceful stop left nothing claimed: everything is sent or back in the queue
    counts = store.reads.status(time.time()).by_state
    assert "sending" not in counts
    assert counts["sent"] == mkt.accepted + 1
    assert counts["sent"] + counts["queued"] == BACKLOG + 1


async def test_a_dead_workers_claims_are_delivered_after_its_lease(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    clock = FakeClock(time.time())
    async with SimRelay() as sim:
        cfg = make_config(
            store_url, [relay("r1", sim.port)], [lane("tx", ["r1"])], tmp_path, lease="30s"
        )
        ids = queue(store, cfg, "tx", ["a@example.test", "b@example.test"], clock.now())
        dead = store.queue.claim("tx", clock.now(), 10, "dead-worker", 30)
        assert len(dead) == 2
        await deliver(cfg, store, clock=clock)  # lease still valid: nothing to do
        assert sim.accepted == 0
        clock.advance(31)
        await deliver(cfg, store, clock=clock)
    assert sim.accepted == 2
    for i in ids:
        detail = store.reads.delivery(i)
        assert detail.delivery.state == "sent"
        assert "lease expired" in detail.attempts[0].reply


async def test_stop_while_sending_loses_nothing(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay() as sim:
        sim.behaviour.delay = 0.01
        cfg = make_config(
            store_url, [relay("r1", sim.port, max_connections=2)], [lane("tx", ["r1"])], tmp_path
        )
        queue(store, cfg, "tx", [f"u{i}@example.test" for i in range(300)], time.time())
        worker = Worker(cfg, store.queue, idle_quit=1.0)
        running = asyncio.create_task(worker.run())
        while sim.accepted < 20:
            await asyncio.sleep(0.01)
        worker.request_stop()
        await running
        accepted_at_stop = sim.accepted
    counts = store.reads.status(time.time()).by_state
    assert "sending" not in counts
    assert counts["sent"] == accepted_at_stop  # every accepted message is recorded as sent
    assert counts["sent"] + counts["queued"] == 300


async def test_two_workers_share_the_queue_and_send_each_delivery_once(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay() as sim:
        cfg = make_config(
            store_url,
            [relay("r1", sim.port, max_connections=2)],
            [lane("tx", ["r1"])],
            tmp_path,
            claim_batch=50,
        )
        queue(store, cfg, "tx", [f"u{i}@example.test" for i in range(600)], time.time())
        other = open_store(store_url)  # a second worker with its own connections
        try:
            first = Worker(cfg, store.queue, idle_quit=0.5)
            second = Worker(cfg, other.queue, idle_quit=0.5)
            a, b = await asyncio.gather(first.run(until_idle=True), second.run(until_idle=True))
        finally:
            other.close()
    recipients = [r.rcpt_tos[0] for r in sim.received]
    assert len(recipients) == 600 and len(set(recipients)) == 600  # each exactly once
    assert a.recorded + b.recorded == 600
    assert a.recorded > 0 and b.recorded > 0  # both did work
    assert store.reads.status(time.time()).by_state == {"sent": 600}


class FlakyQueue:
    """The real queue, except that its first `failures` ticks fail like a locked or
    unreachable database."""

    def __init__(self, queue: Any, failures: int) -> None:
        self.queue = queue
        self.failures = failures

    def __getattr__(self, name: str) -> Any:
        return getattr(self.queue, name)

    def step(self, *args: Any, **kwargs: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise sa.exc.OperationalError("step", {}, Exception("database is locked"))
        return self.queue.step(*args, **kwargs)


async def test_store_trouble_is_retried_and_nothing_is_lost(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay() as sim:
        cfg = make_config(store_url, [relay("r1", sim.port)], [lane("tx", ["r1"])], tmp_path)
        ids = queue(store, cfg, "tx", [f"u{i}@example.test" for i in range(20)], time.time())
        flaky = FlakyQueue(store.queue, failures=2)
        await Worker(cfg, flaky, idle_quit=0.5).run(until_idle=True)  # type: ignore[arg-type]
    assert flaky.failures == 0
    assert sim.accepted == 20
    assert all(store.reads.delivery(i).delivery.state == "sent" for i in ids)


async def test_body_cache_smaller_than_the_mix_of_messages(
    store: Store, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("relaylane.delivery.worker.BODY_CACHE_SIZE", 3)
    async with SimRelay() as sim:
        cfg = make_config(
            store_url, [relay("r1", sim.port)], [lane("tx", ["r1"])], tmp_path, claim_batch=8
        )
        now = time.time()
        queue(store, cfg, "tx", [f"fan{i}@example.test" for i in range(40)], now, subject="Shared")
        for i in range(20):  # distinct messages due among the shared one's deliveries
            queue(store, cfg, "tx", [f"one{i}@example.test"], now, subject=f"Own {i}")
        await deliver(cfg, store)
    assert sim.accepted == 60
    subjects = {r.data.split(b"Subject: ", 1)[1].split(b"\r\n", 1)[0] for r in sim.received}
    assert len(subjects) == 21
