"""The control loop end to end: real loopback relays whose behaviour changes mid-run.

One worker runs throughout. Relay A first blocks one provider (550 5.7.1), then refuses
connections, then recovers; relay B is the lane's other relay; relay C serves another
lane. The exact state sequences, failover for the infrastructure cause with nothing lost
or duplicated, the hold for the block cause with nothing moved, and the other lane
untouched are all asserted on what the relays received and what the store recorded.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from relaylane.config.load import load_config_data
from relaylane.config.models import Config
from relaylane.delivery.worker import Worker
from relaylane.sim.relay import SimRelay
from relaylane.store import Store
from relaylane.store.schema import deliveries
from tests.helpers import lane, queue, relay, signing_domains

BLOCK = "550 5.7.1 Service unavailable; client host [192.0.2.1] blocked: low reputation"
GMAIL = r"@gmail\.example$"
TIMEOUT = 30.0


def health_config(store_url: str, tmp_path: Path, a: int, b: int, c: int) -> Config:
    fast = {"first": "3s", "cap": "3s", "jitter": 0.0}  # blocked: retried on the same relay
    data: dict[str, Any] = {
        "store": {"url": store_url},
        "worker": {"lease": "60s", "idle_poll": "50ms"},
        "domain": signing_domains(),
        # adaptive backoff off: this test is about the health loop alone (with it, the
        # blocks would also slow the pair, and canaries would wait for its rate)
        "provider": {
            "default": {"rule": []},
            "google": {"domains": ["gmail.example"], "rate": "10000/s", "rule": []},
            "yahoo": {"domains": ["yahoo.example"], "rate": "10000/s", "rule": []},
        },
        "health": {
            "reputation_cool_down": "1s",
            "infrastructure_cool_down": "1s",
            "max_cool_down": "4s",
            "canary": 3,
        },
        "relay": [relay("a", a), relay("b", b), relay("c", c)],
        "lane": [
            lane("tx", ["a", "b"], strategy="failover", retry=fast),
            lane("news", ["c"], purpose="marketing", retry=fast),
        ],
    }
    return load_config_data(data, source="<test>", base_dir=tmp_path, env={})


async def until(check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not await asyncio.to_thread(check):  # store reads off the worker's event loop
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        for task in asyncio.all_tasks():
            if task.get_name() == "worker" and task.done():
                task.result()  # the worker died: show why
                raise AssertionError("the worker stopped")
        await asyncio.sleep(0.05)


def states(store: Store, relay_name: str, provider: str) -> list[str]:
    events = store.health.events(relay_name, limit=1000)
    path = [e for e in reversed(events) if e.provider == provider and e.cause != "drain"]
    return [path[0].from_state, *(e.to_state for e in path)] if path else []


def by_state(store: Store, ids: list[int]) -> Counter[str]:
    stmt = sa.select(deliveries.c.state).where(deliveries.c.id.in_(ids))
    with store.engine.connect() as conn:
        return Counter(conn.execute(stmt).scalars())


def rcpts(sim: SimRelay) -> list[str]:
    return [r for m in sim.received for r in m.rcpt_tos]


async def test_block_then_outage_then_recovery(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(name="a") as a, SimRelay(name="b") as b, SimRelay(name="c") as c:
        cfg = health_config(store_url, tmp_path, a.port, b.port, c.port)
        worker = Worker(cfg, store.queue, idle_quit=0.5)
        running = asyncio.create_task(worker.run(), name="worker")
        try:
            await _scenario(store, cfg, worker, a, b, c)
        finally:
            worker.request_stop()
            await asyncio.wait_for(running, TIMEOUT)


async def _scenario(
    store: Store, cfg: Config, worker: Worker, a: SimRelay, b: SimRelay, c: SimRelay
) -> None:
    now = time.time
    news = queue(store, cfg, "news", [f"n{i}@gmail.example" for i in range(50)], now())

    # 1. a short burst: 4 blocks among 300 gmail deliveries (1.3%) pauses nothing
    a.behaviour.rcpt_rules = [(r"^burst\d@gmail", BLOCK)]
    burst = [f"burst{i}@gmail.example" for i in range(4)]
    first = queue(store, cfg, "tx", [*burst, *(f"u{i}@gmail.example" for i in range(296))], now())
    await until(lambda: by_state(store, first[:4]) == {"blocked": 4}, "the burst")
    a.behaviour.rcpt_rules = []  # their retries (on a, pinned) will pass
    await until(lambda: by_state(store, first[4:]) == {"sent": 296}, "the first batch")
    assert states(store, "a", "google") == []

    # 2. a blocks every gmail recipient: a x google pauses and its mail is held there
    a.behaviour.rcpt_rules = [(GMAIL, BLOCK)]
    gmail = queue(store, cfg, "tx", [f"g{i}@gmail.example" for i in range(200)], now())
    yahoo = queue(store, cfg, "tx", [f"y{i}@yahoo.example" for i in range(100)], now())
    await until(lambda: states(store, "a", "google")[:2] == ["healthy", "paused"], "the pause")
    await until(lambda: by_state(store, yahoo)["sent"] == 100, "yahoo via a")
    # the canaries of the first probe are blocked too: paused again, for twice as long
    await until(lambda: len(states(store, "a", "google")) >= 4, "a failed probe")
    assert states(store, "a", "google")[:4] == ["healthy", "paused", "probing", "paused"]
    [again] = [p for p in store.health.paths() if (p.relay, p.provider) == ("a", "google")]
    assert again.health.cool_down == 2.0 and again.health.cause == "reputation"
    held = by_state(store, gmail)
    assert held["held"] + held["blocked"] + held["sending"] == 200, held
    assert not [r for r in rcpts(b) if r.endswith("@gmail.example")]  # nothing moved
    assert {d.delivery.relay for d in map(store.reads.delivery, gmail)} == {"a"}

    # 3. a accepts gmail again: the next probe's canaries pass, held mail is released
    a.behaviour.rcpt_rules = []
    await until(lambda: by_state(store, gmail)["sent"] == 200, "the held gmail mail")
    assert states(store, "a", "google") == [
        "healthy", "paused", "probing", "paused", "probing", "healthy"
    ]  # fmt: skip
    assert not [r for r in rcpts(b) if r.endswith("@gmail.example")]

    # 4. a refuses connections: after 5 faults in a row it pauses; the lane's b takes over
    await a.stop()
    outage = queue(store, cfg, "tx", [f"o{i}@yahoo.example" for i in range(60)], now())
    await until(lambda: by_state(store, outage)["sent"] == 60, "failover to b")
    await until(lambda: states(store, "a", "")[:2] == ["healthy", "paused"], "a paused")
    [down] = [p for p in store.health.paths() if (p.relay, p.provider) == ("a", "")]
    assert down.health.cause == "infrastructure"

    # 5. a comes back: probing lets canaries through, then it is healthy again
    await a.start()
    await until(lambda: "probing" in states(store, "a", ""), "the probe")
    after = queue(store, cfg, "tx", [f"r{i}@yahoo.example" for i in range(20)], now())
    await until(lambda: by_state(store, after)["sent"] == 20, "mail after the outage")
    await until(lambda: states(store, "a", "")[-1] == "healthy", "a healthy again")
    assert states(store, "a", "") == ["healthy", "paused", "probing", "healthy"]
    assert any(r.startswith("r") for r in rcpts(a))  # the canaries went through a

    # nothing lost, nothing sent twice (the 4 blocked in the burst were retried on a,
    # the relay that refused them, and went once it accepted); the other lane never noticed
    everyone = [*first, *gmail, *yahoo, *outage, *after]
    assert by_state(store, everyone) == {"sent": len(everyone)}
    accepted = Counter(rcpts(a) + rcpts(b))
    assert all(n == 1 for n in accepted.values()), accepted.most_common(3)
    assert len(accepted) == len(everyone)
    assert {store.reads.delivery(i).delivery.relay for i in first[:4]} == {"a"}
    assert by_state(store, news) == {"sent": 50} and len(c.received) == 50
    assert not [p for p in store.health.paths() if p.relay in ("b", "c")]
    assert not [r for r in rcpts(a) + rcpts(b) if r.startswith("n")]
