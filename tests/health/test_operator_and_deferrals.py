"""A running worker follows what operators store (pause, resume, drain) within a second,
and a path with many deferrals is degraded (slowed), then recovers with hysteresis."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import sqlalchemy as sa

from relaylane.delivery.worker import Worker
from relaylane.policy import health as ph
from relaylane.policy.health import Transition
from relaylane.sim.relay import SimRelay
from relaylane.store import Store
from relaylane.store.schema import deliveries
from tests.health.test_control_loop import health_config

TIMEOUT = 30.0


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not await asyncio.to_thread(check):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def states_of(store: Store, ids: list[int]) -> Counter[tuple[str, str | None]]:
    stmt = sa.select(deliveries.c.state, deliveries.c.relay).where(deliveries.c.id.in_(ids))
    with store.engine.connect() as conn:
        return Counter((state, relay) for state, relay in conn.execute(stmt))


def operator(store: Store, relay: str, provider: str, pause: bool) -> None:
    now = time.time()
    before = store.health.current(relay, provider, now)
    if pause:
        after = ph.operator_pause(before, now, "operator:test", "maintenance", failover=False)
    else:
        after = ph.operator_resume(before, now, "operator:test")
    store.health.apply([Transition(relay, provider, before, after, {}, "operator:test")], now)


async def test_operator_pause_resume_and_drain_reach_a_running_worker(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    from tests.helpers import queue

    async with SimRelay() as a, SimRelay() as b, SimRelay() as c:
        cfg = health_config(store_url, tmp_path, a.port, b.port, c.port)
        worker = Worker(cfg, store.queue, idle_quit=0.5)
        running = asyncio.create_task(worker.run())
        try:
            operator(store, "a", "google", pause=True)
            await asyncio.sleep(1.5)  # the worker adopts stored changes every second
            gmail = queue(store, cfg, "tx", [f"g{i}@gmail.example" for i in range(10)], time.time())
            yahoo = queue(store, cfg, "tx", [f"y{i}@yahoo.example" for i in range(10)], time.time())
            await until(lambda: states_of(store, yahoo) == {("sent", "a"): 10}, "yahoo sent")
            await until(lambda: states_of(store, gmail) == {("held", "a"): 10}, "gmail held")
            assert a.accepted == 10 and b.accepted == 0  # held, not moved to b

            operator(store, "a", "google", pause=False)  # resume: released, sent on a
            await until(lambda: states_of(store, gmail) == {("sent", "a"): 10}, "resumed")

            operator(store, "a", "google", pause=True)
            await asyncio.sleep(1.5)
            more = queue(store, cfg, "tx", [f"m{i}@gmail.example" for i in range(5)], time.time())
            await until(lambda: states_of(store, more) == {("held", "a"): 5}, "held again")
            moved = store.health.drain("a", "google", time.time(), "operator:test")
            assert moved == 5
            await until(lambda: states_of(store, more) == {("sent", "b"): 5}, "drained to b")
        finally:
            worker.request_stop()
            await asyncio.wait_for(running, TIMEOUT)
    drains = [e for e in store.health.events("a") if e.cause == "drain"]
    assert len(drains) == 1 and drains[0].evidence == {"moved": 5}
    assert drains[0].actor == "operator:test"


async def test_deferrals_degrade_a_pair_and_it_recovers_only_well_under_the_threshold(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    from tests.helpers import queue

    async with SimRelay() as a, SimRelay() as b, SimRelay() as c:
        cfg = health_config(store_url, tmp_path, a.port, b.port, c.port)
        # every other yahoo recipient is deferred: 50% of the pair's attempts
        a.behaviour.rcpt_rules = [(r"^d\d+@yahoo", "451 4.3.0 Temporary local problem")]
        worker = Worker(cfg, store.queue, idle_quit=0.5)
        running = asyncio.create_task(worker.run())
        try:
            mixed = [f"{'d' if i % 2 else 'k'}{i}@yahoo.example" for i in range(120)]
            queue(store, cfg, "tx", mixed, time.time())

            def path() -> ph.PathHealth:
                return store.health.current("a", "yahoo", time.time())

            await until(lambda: path().state == "degraded", "degraded")
            assert path().cause == "deferrals" and "deferrals over the last" in path().reason
            a.behaviour.rcpt_rules = []  # the deferrals stop (their retries now pass)
            good = [f"ok{i}@yahoo.example" for i in range(500)]
            queue(store, cfg, "tx", good, time.time())
            await until(lambda: path().state == "healthy", "recovered")
        finally:
            worker.request_stop()
            await asyncio.wait_for(running, TIMEOUT)
    [down, up] = [e for e in reversed(store.health.events("a")) if e.provider == "yahoo"]
    assert (down.to_state, up.to_state) == ("degraded", "healthy")
    assert up.evidence["deferral_rate"] < cfg.health.deferral_rate * cfg.health.recover_below
    assert b.accepted == 0  # a degraded path slows; it never moves mail
