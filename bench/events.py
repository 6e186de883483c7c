"""bench/events: how fast the webhook dispatcher empties the outbox.

N events (sent-kind payloads of about 400 bytes) are written to the outbox of a SQLite
store, then one dispatcher POSTs them to a loopback receiver in its own process (a
threaded http.server answering 204), timed until every event is recorded as delivered.

    python bench/events.py [--events 5000] [--concurrency 8] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from postfix_peer import free_port
from relaylane import runtime
from relaylane.config import load_config_data
from relaylane.events.emit import emit_event
from relaylane.events.kinds import EventKind
from relaylane.events.runner import dispatcher_for
from relaylane.store import open_store
from relaylane.store.schema import event_outbox
from throughput import webhook_sink


async def dispatch(config: Any, events: int) -> float:
    """Until every event is delivered (a POST that failed is retried after 100 ms)."""
    store = open_store(config.store.url)
    started = time.perf_counter()
    while delivered(store.engine) < events and time.perf_counter() - started < 120:
        await dispatcher_for(config, store.engine, None).run(until_idle=True)
        await asyncio.sleep(0.05)
    seconds = time.perf_counter() - started
    store.close()
    return seconds


def delivered(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count()).where(event_outbox.c.delivered_at.is_not(None))
            ).scalar_one()
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    port = free_port()
    sink = mp.get_context("spawn").Process(target=webhook_sink, args=(port,), daemon=True)
    sink.start()
    time.sleep(0.5)
    with tempfile.TemporaryDirectory(prefix="rl-events-") as tmp:
        url = f"http://127.0.0.1:{port}/hooks"
        data = {
            "store": {"url": f"sqlite:///{tmp}/events.db"},
            "relay": [{"name": "r1", "host": "127.0.0.1", "port": 2525, "tls": "none"}],
            "lane": [{"name": "tx", "purpose": "transactional", "relays": ["r1"]}],
            "events": {"concurrency": args.concurrency, "retry_first": "100ms",
                       "webhook": [{"name": "bench", "url": url, "secret": "s" * 32}]},
        }  # fmt: skip
        config = load_config_data(data, source="<bench>", base_dir=Path(tmp), env={})
        store = open_store(config.store.url)
        hooks = config.events.hooks()
        payload = {"delivery_id": 1, "recipient": "user@sink.test", "lane": "tx",
                   "relay": "r1", "reply": "250 2.0.0 Ok: queued as ABCDEF" * 4}  # fmt: skip
        with store.engine.begin() as conn:
            for _ in range(args.events):
                emit_event(conn, hooks, EventKind.SENT, payload, time.time())
        seconds = runtime.run(dispatch(config, args.events))
        done = delivered(store.engine)
        store.close()
    sink.terminate()
    result = {"events": args.events, "delivered": done, "seconds": seconds,
              "events_per_sec": done / seconds, "concurrency": args.concurrency}  # fmt: skip
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"webhook dispatcher: {done} of {args.events} events POSTed and recorded in "
            f"{seconds:.2f}s ({done / seconds:.0f} events/s, {args.concurrency} in flight)"
        )
    return 0 if done == args.events else 1


if __name__ == "__main__":
    sys.exit(main())
