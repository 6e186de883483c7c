"""bench/campaign: a 100,000-recipient personalized campaign against Postfix, same run.

relaylane: N contacts are imported into a list (in a separate process, not timed), a
template of about 4 KB of HTML with a text part and per-contact fields is added, and a
campaign is started on a marketing lane over 4 relays (loopback smtp-sink processes).
One worker process then feeds, renders (per contact, at send time), DKIM-signs (RSA-2048),
tracks (links rewritten, open pixel) and sends every message. Timed from `campaign
start` to the campaign's `finished` state. Reported: messages/second, the worker
process's peak RSS, and the store's growth per recipient (SQLite file after a WAL
checkpoint, indexes included) from before the start to the end.

Postfix: a private instance relaying to smtp-sink, fed by smtp-source with the same
number of 4 KB messages, timed until its queue is empty (bench/postfix_peer.py).

    python bench/campaign.py [--contacts 100000] [--relays 4] [--skip-postfix] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import resource
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from postfix_peer import free_port, run_postfix_peer, start_sink
from relaylane import runtime
from relaylane.campaigns.feeding import CampaignFeeder
from relaylane.campaigns.lifecycle import new_campaign, start
from relaylane.campaigns.states import CampaignState
from relaylane.config import Config, load_config_data
from relaylane.contacts.csv_rows import Contact
from relaylane.delivery.worker import Worker
from relaylane.dkim import generate_key, write_private_key
from relaylane.policy.suppression import address_key
from relaylane.store import open_store

DOMAINS = ("gmail.test", "outlook.test", "yahoo.test", "web.test", "icloud.test", "corp.test")
ROW = (
    '<tr><td style="padding:8px;font-family:Arial,sans-serif;font-size:14px;color:#333">'
    '<a href="https://acme.test/p/{n}?utm_source=news&amp;utm_medium=email">Product {n}</a>'
    " — hand-picked for {{{{ first_name | default('you') }}}} in {{{{ city }}}}.</td></tr>\n"
)
HTML = (
    '<!DOCTYPE html><html><head><meta charset="utf-8"><title>News</title></head>'
    '<body style="margin:0;background:#f4f4f4"><table width="100%" cellpadding="0">\n'
    "<tr><td><h1>Hello {{ first_name | default('there') }},</h1>"
    "<p>Here is what is new this month for customers in {{ country }}.</p></td></tr>\n"
    + "".join(ROW.format(n=n) for n in range(16))
    + "<tr><td><p>Your account: {{ email }} — member since {{ since }}.</p>"
    '<p><a href="https://acme.test/account">Manage your account</a></p></td></tr>'
    "</table></body></html>\n"
)
TEXT = (
    "Hello {{ first_name | default('there') }},\n\nHere is what is new this month for "
    "customers in {{ country }}.\n\n"
    + "".join(f"Product {n}: https://acme.test/p/{n}\n" for n in range(16))
    + "\nYour account: {{ email }}, member since {{ since }}.\n"
)


def bench_config(workdir: Path, ports: list[int], connections: int) -> Config:
    relays = [
        {"name": f"sink{i}", "host": "127.0.0.1", "port": port, "tls": "none",
         "helo": "bench.relaylane.test", "max_connections": connections,
         "max_messages_per_connection": 1000}
        for i, port in enumerate(ports)
    ]  # fmt: skip
    key = workdir / "news-rsa.pem"
    write_private_key(key, generate_key("rsa"))
    data: dict[str, object] = {
        "store": {"url": f"sqlite:///{workdir / 'bench.db'}"},
        "worker": {"claim_batch": 256, "idle_poll": "50ms"},
        "http": {"public_url": "https://mail.acme.test"},
        "domain": {"news.acme.test": {"dkim": [{"selector": "bench", "key_file": str(key)}]}},
        "relay": relays,
        "lane": [{"name": "news", "purpose": "marketing", "relays": [r["name"] for r in relays],
                  "from_domains": ["news.acme.test"]}],
        # each recipient domain is a provider of its own (sticky keeps one relay each);
        # the sinks stand for them all, so their per relay x provider rate is lifted
        "provider": {d.split(".")[0]: {"domains": [d], "rate": "100000/s"} for d in DOMAINS},
        "campaigns": {"feed_batch": 2000, "feed_ahead": 4000},
    }  # fmt: skip
    return load_config_data(data, source="<bench>", base_dir=workdir, env={})


def import_contacts(url: str, contacts: int) -> None:
    """In its own process: the import is not what is measured."""
    store = open_store(url)
    list_id = store.contacts.ensure_list("news")
    now = time.time()
    for first in range(0, contacts, 10_000):
        batch = []
        for i in range(first, min(contacts, first + 10_000)):
            email = f"user{i}@{DOMAINS[i % len(DOMAINS)]}"
            fields = {"first_name": f"Name{i}", "country": "DE", "city": "Berlin",
                      "since": "2021"}  # fmt: skip
            batch.append(Contact(i + 2, email, address_key(email), fields, now, "bench"))
        store.contacts.import_batch(list_id, batch, now)
    store.close()


def store_bytes(url: str) -> int:
    path = Path(url.removeprefix("sqlite:///"))
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path.stat().st_size


def extra_worker(config: Config, ready: Any, go: Any) -> None:
    """One more worker process (spawned): it shares the campaign through the store."""
    store = open_store(config.store.url)
    feeder = CampaignFeeder(store.campaigns, store.tracking, config)
    worker = Worker(config, store.queue, idle_quit=2.0, feeder=feeder, limits=store.limits)
    ready.set()
    go.wait()
    runtime.run(worker.run(until_idle=True))
    store.close()


async def run_campaign(config: Config, contacts: int, workers: int = 1) -> dict[str, float]:
    store = open_store(config.store.url)
    store.templates.add("news", "{{ first_name }}, this month at Acme", HTML, TEXT, time.time())
    store.campaigns.create(
        new_campaign(
            config, name="bench", list_name="news", segment=None, template="news",
            lane="news", from_header="Acme News <news@news.acme.test>", reply_to=None,
            strategy="sticky", send_window=None, tz=None, not_before=None,
            max_per_hour=None, tracking=None,
        ),
        time.time(),
    )  # fmt: skip
    before = store_bytes(config.store.url)
    ctx = mp.get_context("spawn")
    go = ctx.Event()
    others = []
    for _ in range(workers - 1):
        ready = ctx.Event()
        proc = ctx.Process(target=extra_worker, args=(config, ready, go))
        proc.start()
        await asyncio.to_thread(ready.wait)
        others.append(proc)
    started = time.perf_counter()
    start(config, store, "bench", time.time())
    go.set()
    feeder = CampaignFeeder(store.campaigns, store.tracking, config)
    limits = store.limits if workers > 1 else None  # one worker counts its own limits
    worker = Worker(config, store.queue, idle_quit=2.0, feeder=feeder, limits=limits)
    stats = await worker.run(until_idle=True)
    for proc in others:
        await asyncio.to_thread(proc.join)
    seconds = time.perf_counter() - started
    campaign = store.campaigns.get("bench")
    sent = sum(r.count for r in store.campaigns.status_rows(campaign.id) if r.state == "sent")
    store.close()
    after = store_bytes(config.store.url)
    return {
        "contacts": contacts,
        "workers": workers,
        "sent": sent,
        "recorded": stats.recorded,
        "finished": float(campaign.state is CampaignState.FINISHED),
        "seconds": seconds,
        "msgs_per_sec": sent / seconds,
        "store_bytes_before": before,
        "store_bytes_after": after,
        "bytes_per_recipient": (after - before) / contacts,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--relays", type=int, default=4)
    parser.add_argument("--connections", type=int, default=4, help="per relay")
    parser.add_argument("--workers", type=int, default=1, help="worker processes")
    parser.add_argument("--skip-postfix", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="rl-bench-") as tmp:
        ports = [free_port() for _ in range(args.relays)]
        for port in ports:
            sink = start_sink(port)
            stack.callback(sink.wait)
            stack.callback(sink.terminate)
        config = bench_config(Path(tmp), ports, args.connections)
        open_store(config.store.url).close()
        importer = mp.get_context("spawn").Process(
            target=import_contacts, args=(config.store.url, args.contacts)
        )
        importer.start()
        importer.join()
        ours = runtime.run(run_campaign(config, args.contacts, args.workers))
        body = len(HTML.encode())
    ours["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result: dict[str, object] = {"relaylane": ours, "template_html_bytes": body}
    if not args.skip_postfix:
        peer = run_postfix_peer(messages=args.contacts, size=4096)
        result["postfix"] = {
            "messages": peer.messages,
            "delivered": peer.delivered,
            "seconds": peer.seconds,
            "msgs_per_sec": peer.msgs_per_sec,
        }
        result["ratio"] = ours["msgs_per_sec"] / peer.msgs_per_sec
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"relaylane campaign: {ours['sent']:.0f} of {args.contacts} contacts sent in "
        f"{ours['seconds']:.1f}s = {ours['msgs_per_sec']:.0f} msg/s (personalized ~{body} B "
        f"HTML + text, tracked, DKIM-signed, {args.relays} relays, sticky per provider); "
        f"peak RSS {ours['peak_rss_mb']:.0f} MB (pid {os.getpid()}); store grew "
        f"{ours['bytes_per_recipient']:.0f} bytes per recipient"
    )
    if "postfix" in result:
        peer_result = result["postfix"]
        assert isinstance(peer_result, dict)
        print(
            f"postfix (same run): {peer_result['messages']} messages of 4096 B in "
            f"{peer_result['seconds']:.1f}s = {peer_result['msgs_per_sec']:.0f} msg/s; "
            f"relaylane/postfix = {result['ratio']:.2f}"
        )
    return 0 if ours["finished"] else 1


if __name__ == "__main__":
    sys.exit(main())
