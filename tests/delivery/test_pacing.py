"""Pacing through real loopback relays: rates never exceeded (upper bounds only), a
provider's throttling slows only that provider on that relay, caps survive a restart."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from relaylane.config import Config, load_config_data
from relaylane.delivery.worker import Worker
from relaylane.sim.behaviour import Behaviour
from relaylane.sim.relay import SimRelay
from relaylane.sim.windows import most_in_window
from relaylane.store import Store
from relaylane.store.limits import SqlLimits
from relaylane.store.schema import deliveries
from tests.helpers import lane, queue, relay, signing_domains


@pytest.fixture(params=["per-process", "shared"])
def limits(request: pytest.FixtureRequest, store: Store) -> SqlLimits | None:
    """Every test here runs with limits counted per process and shared through the store."""
    return store.limits if request.param == "shared" else None


def paced_config(
    store_url: str, tmp_path: Path, relays: list[dict[str, Any]], **top: Any
) -> Config:
    data: dict[str, Any] = {
        "store": {"url": store_url},
        "worker": {"lease": "60s", "idle_poll": "50ms"},
        "domain": signing_domains(),
        "relay": relays,
        "lane": [lane("tx", [r["name"] for r in relays])],
        **top,
    }
    return load_config_data(data, source="<test>", base_dir=tmp_path, env={})


async def test_a_relay_rate_is_never_exceeded(
    store: Store, limits: SqlLimits | None, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour()) as sim:
        cfg = paced_config(store_url, tmp_path, [relay("r1", sim.port, rate="20/s")])
        queue(store, cfg, "tx", [f"u{i}@example.test" for i in range(70)], time.time())
        await Worker(cfg, store.queue, idle_quit=0.5, limits=limits).run(until_idle=True)
        stamps = [m.received_at for m in sim.received]
    assert len(stamps) == 70
    burst = 20  # the bucket holds one second of tokens
    # The stamps are the relay's, not the gate's: the first burst reaches the relay over
    # some milliseconds (two connections), so a window that starts at its first message
    # also holds the token refilled in that time. One interval (50 ms) of that slack.
    slack = 1
    assert most_in_window(stamps, 1.0) <= 20 + burst + slack
    assert most_in_window(stamps, 2.0) <= 40 + burst + slack


async def test_a_provider_throttling_slows_only_that_provider_on_that_relay(
    store: Store, limits: SqlLimits | None, store_url: str, tmp_path: Path
) -> None:
    throttle = "421 4.7.28 Our system has detected an unusual rate of unsolicited mail"
    behaviour = Behaviour(rcpt_rules=[(r"@gmail\.example$", throttle)])
    async with SimRelay(behaviour) as sim:
        provider = {"google": {"domains": ["gmail.example"], "rate": "50/s"}}
        cfg = paced_config(store_url, tmp_path, [relay("r1", sim.port)], provider=provider)
        rcpts = ["a@gmail.example", "b@gmail.example", "c@other.example", "d@other.example"]
        queue(store, cfg, "tx", rcpts, time.time())
        worker = Worker(cfg, store.queue, idle_quit=0.5, limits=limits)
        await worker.run(until_idle=True)
    now = time.time()
    google = worker.pacer.rate_of("r1", "google", now)
    assert google is not None and google < 50  # slowed (x0.5 per matching reply)
    assert worker.pacer.rate_of("r1", "default", now) == 100  # untouched
    events = store.pacing.events("r1")
    assert events and {e.provider for e in events} == {"google"}
    assert all("4.7.28" in e.cause and e.action == "slow" for e in events)
    assert {m.rcpt_tos[0] for m in sim.received} == {"c@other.example", "d@other.example"}
    from relaylane.reports.messages import pacing_changes  # what `messages show` prints

    throttled = [r for r in store.reads.list_deliveries() if r.recipient == "a@gmail.example"]
    changes = pacing_changes(store, store.reads.delivery(throttled[0].id))
    assert changes and all(c.provider == "google" and "4.7.28" in c.cause for c in changes)


async def test_a_daily_cap_survives_a_restart(
    store: Store, limits: SqlLimits | None, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour()) as sim:
        cfg = paced_config(store_url, tmp_path, [relay("r1", sim.port, daily_cap=3)])
        ids = queue(store, cfg, "tx", [f"u{i}@example.test" for i in range(5)], time.time())
        await Worker(cfg, store.queue, idle_quit=0.5, limits=limits).run(until_idle=True)
        assert len(sim.received) == 3
        with store.engine.begin() as conn:  # make the two waiting ones due again, now
            conn.execute(
                deliveries.update()
                .where(deliveries.c.id.in_(ids), deliveries.c.state == "queued")
                .values(due_at=time.time())
            )
        await Worker(cfg, store.queue, idle_quit=0.5, limits=limits).run(
            until_idle=True
        )  # a new process
        assert len(sim.received) == 3  # the restored count still fills today's cap
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(deliveries.c.state, deliveries.c.due_at)).all()
    waiting = [due for state, due in rows if state == "queued"]
    assert len(waiting) == 2 and all(due > time.time() for due in waiting)
    assert [c.sent for c in store.pacing.counts_since(0) if c.period == "day"] == [3]


async def test_sticky_keeps_each_provider_on_one_relay(
    store: Store, limits: SqlLimits | None, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour()) as a, SimRelay(Behaviour()) as b:
        provider = {"google": {"domains": [f"g{i}.example" for i in range(12)]}}
        data: dict[str, Any] = {
            "store": {"url": store_url},
            "worker": {"lease": "60s", "idle_poll": "50ms"},
            "domain": signing_domains(),
            "relay": [relay("a", a.port), relay("b", b.port)],
            "lane": [lane("tx", ["a", "b"], strategy="sticky")],
            "provider": provider,
        }
        cfg = load_config_data(data, source="<t>", base_dir=tmp_path, env={})
        rcpts = [f"user@g{i}.example" for i in range(12)]  # 12 domains, one provider
        queue(store, cfg, "tx", rcpts, time.time())
        await Worker(cfg, store.queue, idle_quit=0.5, limits=limits).run(until_idle=True)
        counts = sorted([len(a.received), len(b.received)])
    assert counts == [0, 12]  # by domain they would have spread over both relays


def warm_config(store_url: str, tmp_path: Path, ports: list[int], spill: str) -> Config:
    relays = [relay("warm", ports[0], warmup="new")]
    relays += [relay("old", p) for p in ports[1:]]
    data: dict[str, Any] = {
        "store": {"url": store_url},
        "worker": {"lease": "60s", "idle_poll": "50ms"},
        "domain": signing_domains(),
        "relay": relays,
        "lane": [lane("tx", [r["name"] for r in relays])],
        "warmup": {"new": {"schedule": [3, 10], "spill": spill, "scope": "relay"}},
    }
    return load_config_data(data, source="<t>", base_dir=tmp_path, env={})


async def test_a_warming_relay_holds_at_its_step(
    store: Store, limits: SqlLimits | None, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour()) as sim:
        cfg = warm_config(store_url, tmp_path, [sim.port], "hold")
        queue(store, cfg, "tx", [f"u{i}@example.test" for i in range(8)], time.time())
        await Worker(cfg, store.queue, idle_quit=0.5, limits=limits).run(until_idle=True)
        assert len(sim.received) == 3  # step 1: 3 a day
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(deliveries.c.state, deliveries.c.due_at)).all()
    waiting = [due for state, due in rows if state == "queued"]
    assert len(waiting) == 5 and all(due > time.time() + 60 for due in waiting)
    [row] = store.pacing.warmups()
    assert (row.relay, row.path, row.state["step"], row.state["offered_today"]) == (
        "warm",
        "",
        0,
        3,
    )


async def test_a_warming_relay_spills_to_the_lanes_other_relays(
    store: Store, limits: SqlLimits | None, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour()) as warm, SimRelay(Behaviour()) as old:
        cfg = warm_config(store_url, tmp_path, [warm.port, old.port], "lane")
        queue(store, cfg, "tx", [f"u{i}@example.test" for i in range(8)], time.time())
        await Worker(cfg, store.queue, idle_quit=0.5, limits=limits).run(until_idle=True)
        assert (len(warm.received), len(old.received)) == (3, 5)


async def test_a_reported_deferral_slows_the_pair_like_an_smtp_reply(
    store: Store, limits: SqlLimits | None, store_url: str, tmp_path: Path
) -> None:
    import asyncio

    from relaylane.bounces.decide import Action, Decision
    from relaylane.policy.suppression import Source
    from relaylane.store.feedback import FeedbackRow, Recording

    async with SimRelay(Behaviour()) as sim:
        provider = {"google": {"domains": ["gmail.example"], "rate": "50/s"}}
        cfg = paced_config(store_url, tmp_path, [relay("r1", sim.port)], provider=provider)
        [did] = queue(store, cfg, "tx", ["a@gmail.example"], time.time())
        worker = Worker(cfg, store.queue, idle_quit=0.5, limits=limits)
        task = asyncio.create_task(worker.run())
        deadline = time.monotonic() + 10
        while not sim.received and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        row = FeedbackRow(time.time(), "receiver", "dsn", "delayed", did, "r1",
                          "a@gmail.example", "rate_limited", 421, "4.7.28",
                          "Our system has detected an unusual rate of unsolicited mail",
                          "recorded")  # fmt: skip
        store.feedback.record([Recording(row, Decision(Action.RECORDED), None, Source.DSN)],
                              cfg.suppression_policy(), time.time())  # fmt: skip
        while (
            worker.pacer.rate_of("r1", "google", time.time()) == 50 and time.monotonic() < deadline
        ):
            await asyncio.sleep(0.1)
        worker.request_stop()
        await task
    rate = worker.pacer.rate_of("r1", "google", time.time())
    assert rate is not None and rate < 50
    assert any(e.provider == "google" and "4.7.28" in e.cause for e in store.pacing.events("r1"))


async def test_outside_its_send_window_a_delivery_waits_as_held(
    store: Store, limits: SqlLimits | None, store_url: str, tmp_path: Path
) -> None:
    from datetime import UTC, datetime, timedelta

    from relaylane.delivery.submit import Origin

    now = datetime.now(UTC)
    closed = f"{(now + timedelta(hours=2)):%H:%M}-{(now + timedelta(hours=3)):%H:%M} UTC"
    async with SimRelay(Behaviour()) as sim:
        data: dict[str, Any] = {
            "store": {"url": store_url},
            "worker": {"lease": "60s", "idle_poll": "50ms"},
            "domain": signing_domains(),
            "relay": [relay("r1", sim.port)],
            "lane": [lane("tx", ["r1"], send_window=closed), lane("now", ["r1"],
                                                                  allow_shared_relays=True)],
        }  # fmt: skip
        cfg = load_config_data(data, source="<t>", base_dir=tmp_path, env={})
        [windowed] = queue(store, cfg, "tx", ["a@example.test"], time.time())
        later = Origin(not_before=time.time() + 3600)
        from relaylane.delivery.addresses import parse_address
        from relaylane.delivery.compose import compose
        from relaylane.delivery.submit import build_message

        composed = compose(from_="a@tx.acme.test", subject="x", text="x\n")
        rcpt = [parse_address("b@example.test")]
        msg = build_message(cfg, "now", composed, rcpt, time.time(), origin=later)
        [[scheduled]] = store.queue.enqueue([msg])
        await Worker(cfg, store.queue, idle_quit=0.5, limits=limits).run(until_idle=True)
        assert sim.received == []
    with store.engine.connect() as conn:
        rows = dict(conn.execute(sa.select(deliveries.c.id, deliveries.c.state)).all())
        due = dict(conn.execute(sa.select(deliveries.c.id, deliveries.c.due_at)).all())
    assert rows[windowed] == "held" and rows[scheduled] == "held"
    opens = (now + timedelta(hours=2)).replace(second=0, microsecond=0).timestamp()
    assert abs(due[windowed] - opens) < 61
    assert due[scheduled] >= time.time() + 3500
