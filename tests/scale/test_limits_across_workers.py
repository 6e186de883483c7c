"""Limits count every worker (issue 11): three `relaylane worker` processes on one
PostgreSQL store never pass a relay's rate, its max_connections, its daily cap or a warm-up
step's volume, measured at the relays (upper bounds only). Per process, three workers would
send three times each limit."""

from __future__ import annotations

import asyncio
import math
import time
from contextlib import AsyncExitStack
from pathlib import Path

import pytest

from relaylane.config import load_config
from relaylane.sim import SimRelay
from relaylane.sim.behaviour import Behaviour
from relaylane.sim.windows import most_in_window
from relaylane.store import open_store
from tests.scale.test_many_workers import (
    logs,
    queue_workload,
    received_pairs,
    start_worker,
    stop_all,
    wait_all,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.timeout(180),
    pytest.mark.parametrize("store_url", ["postgres"], indirect=True),
]

WORKERS = 3
DELIVERIES = 900
RATE = 60  # tx-a, messages per second
CAP = 150  # tx-b, per day
WARM = 100  # tx-c's first warm-up step, per day
SLACK = 3  # sends granted at a slot's end that reach the relay in the next


def write_config(tmp_path: Path, store_url: str, ports: dict[str, int]) -> str:
    path = tmp_path / "relaylane.toml"
    path.write_text(
        f"""
[store]
url = "{store_url}"

[worker]
idle_poll = "50ms"
lease = "20s"

[warmup.new]
schedule = [{WARM}, {WARM * 10}]
scope = "relay"

[[relay]]
name = "tx-a"
host = "127.0.0.1"
port = {ports["tx-a"]}
tls = "none"
rate = "{RATE}/s"
max_connections = 2

[[relay]]
name = "tx-b"
host = "127.0.0.1"
port = {ports["tx-b"]}
tls = "none"
daily_cap = {CAP}
max_connections = 3

[[relay]]
name = "tx-c"
host = "127.0.0.1"
port = {ports["tx-c"]}
tls = "none"
warmup = "new"
max_connections = 1

[[lane]]
name = "transactional"
purpose = "transactional"
relays = ["tx-a", "tx-b", "tx-c"]
strategy = "round_robin"
"""
    )
    return str(path)


async def test_three_workers_keep_one_set_of_limits(tmp_path: Path, store_url: str) -> None:
    slow = Behaviour(delay=0.01)  # a connection stays busy long enough to overlap
    async with AsyncExitStack() as stack:
        names = ("tx-a", "tx-b", "tx-c")
        sims = {n: await stack.enter_async_context(SimRelay(slow, name=n)) for n in names}
        cfg = write_config(tmp_path, store_url, {n: s.port for n, s in sims.items()})
        store = open_store(store_url)
        try:
            await asyncio.to_thread(queue_workload, store, load_config(cfg), DELIVERIES)
        finally:
            store.close()
        paths = [tmp_path / f"worker{i}.log" for i in range(WORKERS)]
        files = [stack.enter_context(p.open("wb")) for p in paths]
        started = time.monotonic()
        procs = [await start_worker(cfg, f, "--until-idle") for f in files]
        try:
            await wait_all(procs, 150)
        finally:
            await stop_all(procs)
        took = time.monotonic() - started
        assert [p.returncode for p in procs] == [0] * WORKERS, logs(paths)
    counts, _, _ = received_pairs(sims)
    stamps = [m.received_at for m in sims["tx-a"].received]
    windows = {w: most_in_window(stamps, w) for w in (1.0, 2.0, 5.0)}
    print(
        f"\n{DELIVERIES} deliveries, {WORKERS} workers, {took:.1f}s; accepted "
        f"{ {n: s.accepted for n, s in sims.items()} }; peak connections "
        f"{ {n: s.peak_connections for n, s in sims.items()} }; tx-a's most in any "
        f"window {windows} (rate {RATE}/s)"
    )
    assert len(counts) == DELIVERIES and max(counts.values()) == 1  # all, once each
    assert sims["tx-b"].accepted <= CAP  # the daily cap, all workers together
    assert sims["tx-c"].accepted <= WARM  # the warm-up step's volume
    assert sims["tx-a"].peak_connections <= 2  # max_connections, all workers together
    assert sims["tx-b"].peak_connections <= 3
    assert sims["tx-c"].peak_connections <= 1
    for width, most in windows.items():  # documented: rate × (T + 1 s), whole seconds
        assert most <= RATE * (math.ceil(width) + 1) + SLACK, (width, most)
