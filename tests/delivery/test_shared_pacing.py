"""What one worker learns about a path's pace reaches the others through the store
(shared limits): a provider's throttling that slowed one worker slows a worker that never
met it, a recovery step both workers take is logged once, and warm-up progress adds up."""

from __future__ import annotations

import time
from pathlib import Path

from relaylane.delivery.pacer import Pacer
from relaylane.delivery.worker import Worker
from relaylane.policy.pacing.allotment import Ask
from relaylane.policy.vocabulary import Outcome
from relaylane.sim.behaviour import Behaviour
from relaylane.sim.relay import SimRelay
from relaylane.store import Store
from relaylane.store.pacing import WarmupDelta, WarmupRow
from tests.delivery.test_pacing import paced_config, warm_config
from tests.helpers import queue, relay

THROTTLE = "421 4.7.28 Our system has detected an unusual rate of unsolicited mail"


async def test_a_slowdown_one_worker_met_slows_another(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    behaviour = Behaviour(rcpt_rules=[(r"@gmail\.example$", THROTTLE)])
    async with SimRelay(behaviour) as sim:
        provider = {"google": {"domains": ["gmail.example"], "rate": "50/s"}}
        cfg = paced_config(store_url, tmp_path, [relay("r1", sim.port)], provider=provider)
        queue(store, cfg, "tx", ["a@gmail.example"], time.time())
        met = Worker(cfg, store.queue, idle_quit=0.5, limits=store.limits)
        await met.run(until_idle=True)
        other = Worker(cfg, store.queue, idle_quit=0.5, limits=store.limits)
        await other.run(until_idle=True)  # nothing to send: it starts, looks and stops
    now = time.time()
    slowed = met.pacer.rate_of("r1", "google", now)
    assert slowed is not None and slowed < 50
    assert other.pacer.rate_of("r1", "google", now) == slowed


async def test_a_recovery_step_both_workers_take_is_logged_once(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    provider = {"google": {"domains": ["gmail.example"], "rate": "50/s",
                           "recover_every": "10s", "recover_step": 0.25}}  # fmt: skip
    cfg = paced_config(store_url, tmp_path, [relay("r1", 9)], provider=provider)
    workers = [Worker(cfg, store.queue, limits=store.limits) for _ in range(2)]
    start = time.time()
    first, second = workers
    first.pacer.throttle("r1", "google", 0.25, start, "test: slowed")
    await first.upkeep.flush_pacing()
    slowed = first.pacer.rate_of("r1", "google", start + 1)
    assert slowed is not None and slowed < 50
    await second.upkeep.flush_pacing()  # adopts the slowed rate
    assert second.pacer.rate_of("r1", "google", start + 1) == slowed
    for worker in workers:  # both recover by the same steps, later
        worker.pacer.tick(start + 60)
        await worker.upkeep.flush_pacing()
    for worker in workers:
        assert worker.pacer.rate_of("r1", "google", start + 60) == 50
        assert worker.shared is not None
        await worker.shared.close()
    actions = [e.action for e in store.pacing.events("r1")]
    assert sorted(actions) == ["recover"] * 3 + ["slow"]  # 0.25 -> 1 in three steps, once


async def test_warm_up_progress_adds_up_across_workers(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    cfg = warm_config(store_url, tmp_path, [9], "hold")
    workers = [Worker(cfg, store.queue, limits=store.limits) for _ in range(3)]
    now = time.time()
    for n, worker in enumerate(workers):
        for _ in range(n + 1):
            worker.pacer.on_answer("warm", "default", Outcome.SENT, "250 ok", now)
    for worker in workers:
        await worker.upkeep.flush_pacing()
    [row] = store.pacing.warmups()
    assert (row.state["sent_in_step"], row.state["offered_today"]) == (6, 6)
    for worker in workers:
        assert worker.shared is not None
        await worker.shared.close()
    # the merge is the pure warm-up policy: attempts add, nothing else moves
    delta = WarmupDelta("warm", "", {"sent": 2, "deferred": 1}, now)
    merged = workers[0].pacer.merge_warmup(delta, row.state)
    assert (merged["sent_in_step"], merged["deferrals"], merged["offered_today"]) == (8, 1, 9)


async def test_a_warm_up_step_is_logged_once_however_many_workers(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    cfg = warm_config(store_url, tmp_path, [9], "hold")  # schedule [3, 10] per day
    now = time.time()
    ready = {"step": 0, "sent_in_step": 3, "deferrals": 0, "blocks": 0,
             "last_sent_at": now - 86400, "step_started_at": now - 2 * 86400,
             "day_start": None, "offered_today": 0}  # fmt: skip
    store.pacing.flush([], [], [WarmupRow("warm", "", ready)])
    workers = [Worker(cfg, store.queue, limits=store.limits) for _ in range(3)]
    for worker in workers:  # each sends on the path, each would see the step due
        worker.pacer.on_answer("warm", "default", Outcome.SENT, "250 ok", now)
    for worker in workers:
        await worker.upkeep.flush_pacing()
        assert worker.shared is not None
        await worker.shared.close()
    [row] = store.pacing.warmups()
    assert (row.state["step"], row.state["sent_in_step"]) == (1, 3)  # advanced, then 3 sent
    moved = [e.cause for e in store.pacing.events("warm") if e.action == "warmup"]
    assert len(moved) == 1 and "advanced to step 2" in moved[0], moved


class _Grants:
    """Stands in for SharedLimits: grants everything, keeps what the pacer asked for."""

    def __init__(self) -> None:
        self.asked: list[list[Ask]] = []

    def ready(self, asks: list[Ask], now: float) -> float:
        self.asked.append(asks)
        return 0.0

    def take(self, asks: list[Ask]) -> None:
        return None


def test_the_gate_makes_its_grant_requests_once_per_slot_and_rate(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    provider = {"google": {"domains": ["gmail.example"], "rate": "40/s"}}
    cfg = paced_config(store_url, tmp_path, [relay("r1", 9)], provider=provider)
    pacer = Pacer(cfg, cfg.providers())
    grants = _Grants()
    pacer.shared = grants  # type: ignore[assignment]
    r1 = cfg.relay_by_name("r1")
    now = 1_800_000_000.1
    assert pacer.admit(r1, "google", now) == 0.0
    assert pacer.admit(r1, "google", now + 0.01) == 0.0
    first, again = grants.asked
    assert again is first  # the same slot and rate: not worked out again
    [rate] = [a for a in first if a.key == "rate|r1|google"]
    assert (rate.slot.start, rate.slot.capacity) == (1_800_000_000.0, 40)
    pacer.throttle("r1", "google", 0.25, now + 0.02, "test: slowed")
    assert pacer.admit(r1, "google", now + 0.02) == 0.0
    [slowed] = [a for a in grants.asked[-1] if a.key == "rate|r1|google"]
    assert slowed.slot.capacity < 40  # the new rate, at once
    assert pacer.admit(r1, "google", now + 1.0) == 0.0
    [later] = [a for a in grants.asked[-1] if a.key == "rate|r1|google"]
    assert later.slot.start == 1_800_000_001.0  # the next slot
