"""Idle CPU: a worker whose every delivery waits on a limit sleeps on timers, not polls.

The issue's bound: with all work waiting on limits for 10 s, the worker process uses under
2% of a CPU. CPU time is this process's (`time.process_time`: the event loop, the store's
thread and anything else in the test process). The SimRelay shares the loop, but it has
nothing to do in the window: the two sends the rate allows happened before it, and the
worker's idle connection has said QUIT. SQLite only: the store runs in this process, so
its share is counted (PostgreSQL's server work would not be), and one run keeps the test
near 12 s.

The backlog is under one claim batch (256), the common case of a small queue held back by
a slow limit: the lane's in-flight budget (512) still has room for a full batch, so a
worker that ticks while its jobs are parked would ask the store for more work each tick.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from relaylane.delivery.worker import PACE_PARK, Worker
from relaylane.sim import SimRelay
from relaylane.store import open_store
from tests.helpers import lane, make_config, queue, relay

BACKLOG = 200  # under one claim batch: all claimed in the first tick
WINDOW = 10.0  # seconds of wall time measured
MAX_SHARE = 0.02  # of one CPU


@pytest.mark.slow
async def test_a_worker_waiting_on_limits_uses_under_2_percent_of_a_cpu(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'relaylane.db'}"
    store = open_store(url)
    try:
        async with SimRelay() as sim:
            # 1/min with the default burst of 2: two go at once, the third's token is due
            # in 60 s (<= PACE_PARK: parked in memory on a timer, as is every later one).
            # idle_poll as shipped (0.5 s), not the 50 ms of the other worker tests.
            relays = [relay("r1", sim.port, rate="1/min")]
            cfg = make_config(url, relays, [lane("tx", ["r1"])], tmp_path, idle_poll="500ms")
            rcpts = [f"u{i}@example.test" for i in range(BACKLOG)]
            queue(store, cfg, "tx", rcpts, time.time())
            worker = Worker(cfg, store.queue, idle_quit=0.5)
            running = asyncio.create_task(worker.run())
            try:
                deadline = time.monotonic() + 10
                while sim.accepted < 2 and time.monotonic() < deadline:
                    await asyncio.sleep(0.01)
                assert sim.accepted == 2
                first_sends = time.monotonic()
                await asyncio.sleep(1.0)  # the rest claimed and parked, the connection closed
                cpu, wall = time.process_time(), time.perf_counter()
                await asyncio.sleep(WINDOW)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                sent_in_window = sim.accepted - 2
                assert time.monotonic() - first_sends < PACE_PARK  # no parked timer fell due
            finally:
                worker.request_stop()
                await asyncio.wait_for(running, 30)
        counts = store.reads.status(time.time()).by_state
    finally:
        store.close()
    share = cpu / wall
    print(f"idle CPU: {cpu:.3f} s over {wall:.2f} s wall = {share:.2%} of a CPU")
    assert sent_in_window == 0  # all the work waited on the limit
    # nothing lost: the two sent, the rest back in the queue, nothing left claimed
    assert "sending" not in counts
    assert counts == {"sent": 2, "queued": BACKLOG - 2}
    assert share < MAX_SHARE, f"{cpu:.3f} CPU seconds in {wall:.1f} s ({share:.2%})"
