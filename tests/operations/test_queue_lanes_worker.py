"""A lane paused while a real worker runs against loopback relays: its mail waits while
the other lane's is sent; after resume it is sent; nothing lost or duplicated."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from pathlib import Path

from relaylane.delivery.worker import Worker
from relaylane.sim.relay import SimRelay
from relaylane.store import Store
from relaylane.store.queue_control import SqlQueueControl
from tests.health.test_control_loop import by_state, rcpts, until
from tests.helpers import queue
from tests.operations.queue_fixture import mixed_config


async def test_a_paused_lane_waits_and_others_flow(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(name="a") as a, SimRelay(name="b") as b, SimRelay(name="c") as c:
        cfg = mixed_config(store_url, tmp_path, (a.port, b.port, c.port))
        control = SqlQueueControl(store.engine)
        worker = Worker(cfg, store.queue, idle_quit=0.5)
        running = asyncio.create_task(worker.run(), name="worker")
        try:
            first = queue(
                store, cfg, "news", [f"early{i}@x.example" for i in range(5)], time.time()
            )
            await until(lambda: by_state(store, first) == {"sent": 5}, "news before the pause")
            control.pause_lane("news", time.time(), "operator:ann", "bad copy")
            await asyncio.sleep(0.3)  # the worker's next ticks
            news = queue(store, cfg, "news", [f"n{i}@x.example" for i in range(40)], time.time())
            tx = queue(store, cfg, "tx", [f"t{i}@x.example" for i in range(40)], time.time())
            await until(lambda: by_state(store, tx) == {"sent": 40}, "the other lane")
            await asyncio.sleep(1.0)
            assert by_state(store, news) == {"queued": 40}
            assert not [r for r in rcpts(c) if r.startswith("n")]
            control.resume_lane("news", time.time(), "operator:ann")
            await until(lambda: by_state(store, news) == {"sent": 40}, "news after resume")
        finally:
            worker.request_stop()
            await asyncio.wait_for(running, 30)
    sent = Counter(rcpts(a) + rcpts(b) + rcpts(c))
    assert set(sent.values()) == {1} and len(sent) == 85
    assert {r for r in rcpts(c)} == {f"n{i}@x.example" for i in range(40)} | {
        f"early{i}@x.example" for i in range(5)
    }
