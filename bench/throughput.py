"""bench/throughput: relaylane end to end against Postfix, in the same run.

relaylane: 20,000 deliveries of about 4 KB, each its own message, queued in batches of
1,000 by a producer process (an application submitting, as an API would) while one
worker process delivers them on one lane over 4 relays to 4 loopback smtp-sink
processes. Timed from the first enqueue to the last recorded result (committed), with
SQLite (WAL, synchronous=FULL) as the store. Peak RSS is the worker process's.

Postfix: a private instance relaying to smtp-sink, fed by smtp-source with the same
volume and size, timed until its queue is empty (bench/postfix_peer.py).

    python bench/throughput.py [--messages 20000] [--size 4096] [--relays 4] [--json]

Durable metrics are on, as in production; --no-metrics measures without them.
--events adds an outgoing webhook endpoint (a loopback HTTP server in its own process
answering 204): every result also writes its event to the outbox in the same commit, and
the dispatcher POSTs them while the worker runs, as `relaylane worker` does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import resource
import sys
import tempfile
import time
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from postfix_peer import free_port, run_postfix_peer, start_sink
from relaylane import runtime
from relaylane.config import Config, load_config_data
from relaylane.delivery.addresses import parse_address
from relaylane.delivery.compose import compose
from relaylane.delivery.submit import build_message
from relaylane.delivery.worker import Worker
from relaylane.dkim import generate_key, write_private_key
from relaylane.events.runner import run_dispatcher
from relaylane.records import NewMessage
from relaylane.store import open_store
from relaylane.store.schema import event_outbox

BATCH = 1000


class NoMetricsWorker(Worker):
    """The worker without its durable metrics: what they cost, measured."""

    def _count(self, *args: Any) -> None:
        return None  # nothing counted, so nothing to store


class _Hook(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return None


def webhook_sink(port: int) -> None:
    """A webhook receiver in its own process: reads each POST, answers 204."""
    ThreadingHTTPServer(("127.0.0.1", port), _Hook).serve_forever()


def bench_config(
    workdir: Path,
    ports: list[int],
    connections: int,
    dkim: bool = True,
    webhook: int | None = None,
) -> Config:
    relays = [
        {
            "name": f"sink{i}",
            "host": "127.0.0.1",
            "port": port,
            "tls": "none",
            "helo": "bench.relaylane.test",
            "max_connections": connections,
            "max_messages_per_connection": 1000,
        }
        for i, port in enumerate(ports)
    ]
    lane: dict[str, object] = {
        "name": "bulk",
        "purpose": "marketing",
        "strategy": "round_robin",
        "relays": [r["name"] for r in relays],
    }
    data: dict[str, object] = {
        "store": {"url": f"sqlite:///{workdir / 'bench.db'}"},
        "worker": {"claim_batch": 256, "idle_poll": "50ms"},
        "relay": relays,
        "lane": [lane],
        # The sinks stand for many mailbox providers; the recipients all share one .test
        # group, so its per relay × provider rate is lifted to measure the pipeline.
        "provider": {"default": {"rate": "100000/s"}},
    }
    if webhook is not None:
        data["events"] = {"webhook": [{"name": "bench", "url": f"http://127.0.0.1:{webhook}/h",
                                       "secret": "bench-secret-0123456789"}]}  # fmt: skip
    if dkim:  # as in production: gated lane, every message signed with RSA-2048
        key = workdir / "news-rsa.pem"
        write_private_key(key, generate_key("rsa"))
        data["domain"] = {"news.acme.test": {"dkim": [{"selector": "bench", "key_file": str(key)}]}}
        lane["from_domains"] = ["news.acme.test"]
    return load_config_data(data, source="<bench>", base_dir=workdir, env={})


def make_batches(config: Config, messages: int, size: int, now: float) -> list[list[NewMessage]]:
    filler = ("relaylane benchmark body line, about seventy characters of plain text.\n") * (
        size // 72
    )
    batches: list[list[NewMessage]] = []
    for start in range(0, messages, BATCH):
        batch = []
        for i in range(start, min(messages, start + BATCH)):
            composed = compose(
                from_="Bench <bench@news.acme.test>", subject=f"Benchmark {i}", text=filler
            )
            rcpt = parse_address(f"user{i}@sink.test")
            batch.append(build_message(config, "bulk", composed, [rcpt], now))
        batches.append(batch)
    return batches


def producer(config: Config, messages: int, size: int, ready: Any, go: Any, done: Any) -> None:
    """An application in its own process: composes its messages first (untimed), then
    queues them in batches of 1,000 once told to go, each batch one durable commit."""
    batches = make_batches(config, messages, size, time.time())
    store = open_store(config.store.url)
    ready.set()
    go.wait()
    for batch in batches:
        store.queue.enqueue(batch)
    done.value = time.perf_counter()
    store.close()


async def run_relaylane(
    config: Config, messages: int, size: int, metrics: bool = True
) -> dict[str, float]:
    """Time from the first enqueue to the last recorded result, with the producer
    queueing while the worker delivers (as Postfix's intake and delivery overlap)."""
    open_store(config.store.url).close()  # create the schema before the race starts
    ctx = mp.get_context("spawn")
    ready, go, done = ctx.Event(), ctx.Event(), ctx.Value("d", 0.0)
    proc = ctx.Process(target=producer, args=(config, messages, size, ready, go, done))
    proc.start()
    await asyncio.to_thread(ready.wait)
    store = open_store(config.store.url)
    intake_done = asyncio.Event()

    async def watch() -> None:
        await asyncio.to_thread(proc.join)
        intake_done.set()

    try:
        started = time.perf_counter()
        go.set()
        watcher = asyncio.create_task(watch())
        kind = Worker if metrics else NoMetricsWorker
        # limits shared through the store, as `relaylane worker` runs (the default)
        worker = kind(config, store.queue, idle_quit=2.0, limits=store.limits)
        stop_events = asyncio.Event()
        events = asyncio.create_task(run_dispatcher(config, store, stop_events))
        stats = await worker.run(until_idle=True, intake_done=intake_done)
        finished = time.perf_counter()
        stop_events.set()
        await events
        await watcher
        counts = store.reads.status(time.time()).by_state
    finally:
        store.close()
    seconds = finished - started
    return {
        "messages": messages,
        "sent": counts.get("sent", 0),
        "recorded": stats.recorded,
        "enqueue_seconds": done.value - started,
        "seconds": seconds,
        "msgs_per_sec": messages / seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--relays", type=int, default=4)
    parser.add_argument("--connections", type=int, default=4, help="per relay")
    parser.add_argument("--skip-postfix", action="store_true")
    parser.add_argument("--no-dkim", action="store_true", help="send unsigned (ungated lane)")
    parser.add_argument("--no-metrics", action="store_true", help="without durable metrics")
    parser.add_argument("--events", action="store_true", help="with a webhook endpoint")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="rl-bench-") as tmp:
        ports = [free_port() for _ in range(args.relays)]
        for port in ports:
            sink = start_sink(port)
            stack.callback(sink.wait)
            stack.callback(sink.terminate)
        webhook = None
        if args.events:
            webhook = free_port()
            hook = mp.get_context("spawn").Process(target=webhook_sink, args=(webhook,))
            hook.start()
            stack.callback(hook.join)
            stack.callback(hook.terminate)
        config = bench_config(Path(tmp), ports, args.connections, not args.no_dkim, webhook)
        body = len(make_batches(config, 1, args.size, time.time())[0][0].body)
        ours = runtime.run(
            run_relaylane(config, args.messages, args.size, metrics=not args.no_metrics)
        )
        if args.events:
            with open_store(config.store.url).engine.connect() as conn:
                ours["events_written"] = conn.execute(
                    sa.select(sa.func.count()).select_from(event_outbox)
                ).scalar_one()
                ours["events_sent"] = conn.execute(
                    sa.select(sa.func.count()).where(event_outbox.c.delivered_at.is_not(None))
                ).scalar_one()
    ours["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ours["body_bytes"] = body
    result: dict[str, object] = {"relaylane": ours}
    if not args.skip_postfix:
        peer = run_postfix_peer(messages=args.messages, size=args.size)
        result["postfix"] = {
            "messages": peer.messages,
            "delivered": peer.delivered,
            "seconds": peer.seconds,
            "msgs_per_sec": peer.msgs_per_sec,
            "intake_seconds": peer.intake_seconds,
        }
        result["ratio"] = ours["msgs_per_sec"] / peer.msgs_per_sec
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"relaylane: {ours['messages']:.0f} deliveries of {body} bytes, "
            f"{ours['sent']:.0f} sent, in {ours['seconds']:.2f}s "
            f"(all queued after {ours['enqueue_seconds']:.2f}s): "
            f"{ours['msgs_per_sec']:.0f} msg/s end to end, peak RSS {ours['peak_rss_mb']:.0f} MB"
            f"{'' if args.no_dkim else ', each DKIM-signed (RSA-2048)'}"
            f"{'' if args.no_metrics else ', durable metrics on'}"
        )
        if args.events:
            print(
                f"events: {ours['events_written']:.0f} written to the outbox in the results' "
                f"commits, {ours['events_sent']:.0f} POSTed to the webhook by the end"
            )
        if "postfix" in result:
            p = result["postfix"]
            assert isinstance(p, dict)
            print(
                f"postfix:   {p['messages']} messages, {p['delivered']} delivered, in "
                f"{p['seconds']:.2f}s: {p['msgs_per_sec']:.0f} msg/s end to end"
            )
            print(f"ratio relaylane/postfix: {result['ratio']:.2f}x")
    sent_all = ours["sent"] == ours["messages"]
    return 0 if sent_all else 1


if __name__ == "__main__":
    sys.exit(main())
