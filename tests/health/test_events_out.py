"""What a running worker tells the world: events in the outbox (one `deferred` per
delivery however often it is retried, `relay_state_changed` with its evidence) sent to a
real HTTP receiver, and durable metrics that `relaylane stats` reads and complaint
rates are judged on."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from relaylane.config.load import load_config_data
from relaylane.config.models import Config
from relaylane.delivery.health import HealthBoard
from relaylane.delivery.worker import Worker
from relaylane.events.runner import run_dispatcher
from relaylane.monitor.tally import BucketCount, minute_start
from relaylane.policy.health import HealthState
from relaylane.sim.behaviour import Behaviour
from relaylane.sim.relay import SimRelay, refusing_port
from relaylane.store import Store
from relaylane.store.schema import event_outbox
from tests.events.helpers import SECRET
from tests.events.receiver import Receiver
from tests.helpers import lane, queue, relay, signing_domains


def events_config(store_url: str, tmp_path: Path, url: str, ok: int, down: int) -> Config:
    fast = {"first": "200ms", "cap": "200ms", "jitter": 0.0}
    data: dict[str, Any] = {
        "store": {"url": store_url},
        "worker": {"lease": "60s", "idle_poll": "50ms"},
        "domain": signing_domains(),
        "health": {"infrastructure_failures": 2},
        "events": {
            "retry_first": "50ms",
            "retry_cap": "200ms",
            "webhook": [{"name": "app", "url": url, "secret": SECRET.decode()}],
        },
        "relay": [relay("ok", ok), relay("down", down, max_connections=1)],
        "lane": [
            lane("tx", ["ok"], retry=fast, max_age="2s", allow_shared_relays=True),
            lane("news", ["down", "ok"], purpose="marketing", strategy="failover"),
        ],
    }
    return load_config_data(data, source="<test>", base_dir=tmp_path, env={})


def kinds(store: Store) -> Counter[tuple[str, str]]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(event_outbox.c.kind, event_outbox.c.payload)).all()
    out: Counter[tuple[str, str]] = Counter()
    for kind, payload in rows:
        data = json.loads(payload)["data"]
        out[(kind, str(data.get("recipient") or data.get("relay")))] += 1
    return out


async def test_a_worker_run_reaches_the_webhook_once_per_change(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    behaviour = Behaviour(rcpt_rules=[(r"^slow@", "451 4.3.0 Temporary local problem")])
    with Receiver(SECRET) as receiver:
        async with SimRelay(behaviour) as ok:
            cfg = events_config(store_url, tmp_path, receiver.url, ok.port, refusing_port())
            queue(store, cfg, "tx", ["slow@example.test", "fine@example.test"], time.time())
            queue(store, cfg, "news", [f"n{i}@example.test" for i in range(4)], time.time())
            deadline = time.monotonic() + 20
            while store.reads.status(time.time()).by_state.get("failed", 0) < 1:
                assert time.monotonic() < deadline, "slow@ never expired"
                # slow@ is retried every 200 ms until its 2 s max_age
                await Worker(cfg, store.queue, idle_quit=0.3).run(until_idle=True)
                await asyncio.sleep(0.1)
        stop = asyncio.Event()
        sending = asyncio.create_task(run_dispatcher(cfg, store, stop))
        deadline = time.monotonic() + 20
        while len(receiver.events) < sum(kinds(store).values()):
            assert time.monotonic() < deadline, "the receiver never got every event"
            await asyncio.sleep(0.05)
        stop.set()
        await sending
    seen = kinds(store)
    assert ok.commands["RCPT"] >= 4  # slow@ was tried (and deferred) several times
    assert seen[("deferred", "slow@example.test")] == 1  # once per delivery
    assert seen[("failed", "slow@example.test")] == 1  # expired after its max_age
    assert seen[("sent", "fine@example.test")] == 1
    assert all(seen[("sent", f"n{i}@example.test")] == 1 for i in range(4))
    # the refusing relay paused after 2 faults in a row: one event, with its evidence
    assert seen[("relay_state_changed", "down")] == 1
    [change] = [json.loads(b)["data"] for b in receiver.events.values()
                if json.loads(b)["type"] == "relay_state_changed"]  # fmt: skip
    assert (change["from"], change["to"], change["cause"]) == (
        "healthy",
        "paused",
        "infrastructure",
    )
    assert change["evidence"]["consecutive_failures"] == 2
    assert receiver.bad_signatures == 0


async def test_metrics_of_a_run_are_durable_and_read_back(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay() as ok:
        cfg = events_config(store_url, tmp_path, "http://127.0.0.1:9/x", ok.port, refusing_port())
        queue(store, cfg, "tx", [f"u{i}@example.test" for i in range(7)], time.time())
        queue(store, cfg, "news", [f"n{i}@example.test" for i in range(3)], time.time())
        await Worker(cfg, store.queue, idle_quit=0.3).run(until_idle=True)
    since = time.time() - 3600
    tx = store.metrics.window(since, time.time() + 60, relay="ok", lane="tx")
    assert tx["sent"] == 7 and tx["latency_count"] == 7
    news_down = store.metrics.window(since, time.time() + 60, relay="down")
    assert news_down["conn_failures"] == 2  # then it paused and "ok" took the rest
    assert store.metrics.window(since, time.time() + 60, relay="ok", lane="news")["sent"] == 3


def test_complaints_pause_a_feedback_loop_provider_only_over_enough_mail(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    cfg = events_config(store_url, tmp_path, "http://127.0.0.1:9/x", 1, 2)
    now = time.time()
    at = minute_start(now - 120)
    store.metrics.add([
        BucketCount(at, "ok", "yahoo", "news", "", "sent", 2000),
        BucketCount(at, "ok", "yahoo", "news", "", "complaints", 12),  # 0.6%
        BucketCount(at, "ok", "microsoft", "news", "", "sent", 500),
        BucketCount(at, "ok", "microsoft", "news", "", "complaints", 5),  # 1%, too few sent
        BucketCount(at, "ok", "google", "news", "", "sent", 5000),
        BucketCount(at, "ok", "google", "news", "", "complaints", 50),  # no per-message FBL
    ])  # fmt: skip
    counts = store.queue.complaint_counts(now - cfg.health.complaint_window)
    board = HealthBoard(cfg)
    [t] = board.on_complaints(counts, now)
    assert (t.relay, t.provider, t.after.state) == ("ok", "yahoo", HealthState.PAUSED)
    assert t.after.holds and "0.60% complaints over 2000 deliveries" in t.after.reason
