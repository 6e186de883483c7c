"""bench/health: from the start of a degradation to the pause, in time and attempts.

A worker sends a steady stream to a loopback relay (aiosmtpd) on the default [health]
thresholds. Once 1,000 messages went through, the relay starts refusing, and the run
measures how long and how many attempts it takes the control loop to pause the path:

- blocks: "550 5.7.1 ... low reputation" for every gmail recipient (relay x google);
- partial blocks: the same for 1 recipient in 20 (5%);
- outage: the relay stops listening (connections refused; the relay as a whole).

Attempts are counted from the store (every attempt is recorded), from the moment the
behaviour changed to the pause's own timestamp. A pure replay of the policy shows the
attempts needed from a cold start at several block shares (the minimum sample at work).

    python bench/health.py [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from relaylane import runtime
from relaylane.config import load_config_data
from relaylane.delivery.addresses import parse_address
from relaylane.delivery.compose import compose
from relaylane.delivery.submit import build_message
from relaylane.delivery.worker import Worker
from relaylane.policy import health as ph
from relaylane.sim.relay import SimRelay
from relaylane.store import open_store
from relaylane.store.schema import attempts, health_events

BLOCK = "550 5.7.1 Service unavailable; client host [192.0.2.1] blocked: low reputation"
WARM = 1000  # messages accepted before the relay turns


def config(workdir: Path, port: int) -> Any:
    data = {
        "store": {"url": f"sqlite:///{workdir / 'health.db'}"},
        "worker": {"idle_poll": "50ms"},
        "provider": {
            "google": {"domains": ["gmail.example"], "rate": "100000/s", "rule": []},
            "default": {"rule": []},
        },
        "relay": [
            {"name": "a", "host": "127.0.0.1", "port": port, "tls": "none", "max_connections": 4}
        ],
        "lane": [{"name": "bulk", "purpose": "marketing", "relays": ["a"]}],
    }
    return load_config_data(data, source="<bench>", base_dir=workdir, env={})


async def scenario(kind: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="rl-health-") as tmp:
        async with SimRelay() as relay:
            cfg = config(Path(tmp), relay.port)
            store = open_store(cfg.store.url)
            now = time.time()
            batch = []
            for i in range(6000):
                composed = compose(from_="B <b@news.acme.test>", subject=f"m{i}", text="x\n")
                rcpt = [parse_address(f"u{i}@gmail.example")]
                batch.append(build_message(cfg, "bulk", composed, rcpt, now))
            store.queue.enqueue(batch)
            worker = Worker(cfg, store.queue, idle_quit=0.5)
            running = asyncio.create_task(worker.run())
            while relay.accepted < WARM:  # noqa: ASYNC110 (a counter, not an event)
                await asyncio.sleep(0.001)
            started = time.time()
            if kind == "blocks":
                relay.behaviour.rcpt_rules = [(r"@gmail\.example$", BLOCK)]
            elif kind == "partial blocks":
                relay.behaviour.rcpt_rules = [(r"^u\d*[02468]0@", BLOCK)]
            else:
                await relay.stop()
            paused = await wait_for_pause(store)
            worker.request_stop()
            await running
            counted = count_attempts(store, started, paused["at"])
            store.close()
    return {
        "scenario": kind,
        "path": paused["path"],
        "seconds_to_pause": paused["at"] - started,
        "attempts_to_pause": counted,
        "reason": paused["reason"],
    }


async def wait_for_pause(store: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with store.engine.connect() as conn:
            row = conn.execute(
                sa.select(health_events).where(health_events.c.to_state == "paused")
            ).first()
        if row is not None:
            m = row._mapping
            return {"at": m["at"], "path": f"{m['relay']} x {m['provider'] or 'relay'}",
                    "reason": m["reason"]}  # fmt: skip
        await asyncio.sleep(0.01)
    raise RuntimeError("no pause within 60 s")


def count_attempts(store: Any, since: float, until: float) -> int:
    a = attempts.c
    stmt = sa.select(sa.func.count()).where(
        a.at >= since, a.at <= until, a.relay.is_not(None), a.stage != "local"
    )
    with store.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def cold_start_replay(share: float, rules: ph.HealthRules) -> int | None:
    """Attempts from a fresh path until a pause, with blocks spread evenly at `share`."""
    counts = ph.PathCounts(rules.window)
    h = ph.healthy(0.0)
    owed = 0.0
    for n in range(1, 100_000):
        owed += share
        signal = ph.Signal.BLOCK if owed >= 1 else ph.Signal.OK
        owed -= 1 if signal is ph.Signal.BLOCK else 0
        counts.add(signal, 1.0)
        if ph.after_observation(h, counts, rules, 1.0, "google") is not None:
            return n
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    runs = [runtime.run(scenario(kind)) for kind in ("blocks", "partial blocks", "outage")]
    rules = ph.HealthRules()
    replay = {
        f"{share:.1%}": cold_start_replay(share, rules) for share in (0.021, 0.03, 0.05, 0.1, 1.0)
    }
    if args.json:
        print(json.dumps({"runs": runs, "cold_start_attempts": replay}, indent=2))
        return 0
    print(f"after {WARM} good deliveries, on the default [health] thresholds:")
    for r in runs:
        print(
            f"  {r['scenario']:>14}: {r['path']} paused {r['seconds_to_pause'] * 1000:.0f} ms "
            f"and {r['attempts_to_pause']} attempts after it began ({r['reason'][:80]}...)"
        )
    shares = ", ".join(f"{k}: {v}" for k, v in replay.items())
    print(f"  from a cold start, attempts until a block pause by block share: {shares}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
