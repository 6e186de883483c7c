"""Where events come from and where they go in a running relaylane: reports recorded by
ingest, the `events` part of `serve`, `run_dispatcher`, and `relaylane events`."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from relaylane.bounces.ingest import FeedbackIngest
from relaylane.clock import FakeClock
from relaylane.config import Config, load_config_data
from relaylane.events.runner import run_dispatcher
from relaylane.policy.vocabulary import DeliveryState
from relaylane.serve.service import Part, Service
from relaylane.store import Store
from relaylane.store.outbox import SqlOutbox
from relaylane.store.schema import event_outbox
from tests.cli.test_cli import run, write_config
from tests.events.helpers import SECRET, T0, message, outbox, result
from tests.events.receiver import Receiver

DSN = """From: MAILER-DAEMON@peer.test
To: b-{token}@bounces.tx.acme.test
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; peer.test

Final-Recipient: rfc822; u0@example.test
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown

--B--
"""


def config(store_url: str, tmp_path: Path, url: str, **webhook: Any) -> Config:
    data = {
        "store": {"url": store_url},
        "relay": [{"name": "r1", "host": "127.0.0.1", "port": 2525, "tls": "none"}],
        "lane": [{"name": "tx", "purpose": "transactional", "relays": ["r1"]}],
        "events": {
            "retry_first": "50ms",
            "retry_cap": "200ms",
            "webhook": [{"name": "app", "url": url, "secret": SECRET.decode(), **webhook}],
        },
    }
    return load_config_data(data, source="<test>", base_dir=tmp_path, env={})


def sent(store: Store, count: int, at: float) -> list[int]:
    [ids] = store.queue.enqueue([message([f"u{i}@example.test" for i in range(count)], at=at)])
    claims = store.queue.step([], [("tx", count)], set(), at, "w1", 60.0).claims["tx"]
    store.queue.step([result(c, DeliveryState.SENT, at) for c in claims], [], set(), at, "w1", 60)
    return ids


def test_a_bounce_report_makes_a_bounced_event(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    cfg = config(store_url, tmp_path, "https://hooks.example/x", events=["bounced"])
    [did] = sent(store, 1, T0)
    token = store.token_keys.ring(T0).token(did)
    ingest = FeedbackIngest(cfg, store.feedback, store.token_keys, FakeClock(T0 + 60))
    [row] = ingest.report(DSN.format(token=token).encode(), source="receiver")
    assert row.action == "bounced"
    [event] = outbox(store)
    assert event["kind"] == "bounced"
    data = event["body"]["data"]
    assert (data["delivery_id"], data["source"], data["report"]) == (did, "receiver", "dsn")
    assert (data["status"], data["bounce_class"]) == ("5.1.1", "invalid_recipient")


async def test_serve_runs_the_dispatcher_when_a_webhook_is_configured(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    with Receiver(SECRET) as receiver:
        cfg = config(store_url, tmp_path, receiver.url)
        sent(store, 3, time.time())  # events for no endpoint: none yet
        hooked = cfg.events.hooks()
        store.queue.enqueue([message(["x@example.test"], at=time.time())])
        claims = store.queue.step([], [("tx", 1)], set(), time.time(), "w1", 60.0).claims["tx"]
        results = [result(c, DeliveryState.SENT, time.time()) for c in claims]
        store.queue.step(results, [], set(), time.time(), "w1", 60.0, hooks=hooked)
        service = Service(cfg, store, frozenset({Part.EVENTS}))
        running = asyncio.create_task(service.run())
        deadline = time.monotonic() + 10
        while not receiver.events:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        service.request_stop()
        await asyncio.wait_for(running, 10)
    assert service.dispatcher is not None and service.dispatcher.stats.delivered == 1
    assert [json.loads(b)["data"]["recipient"] for b in receiver.events.values()] == [
        "x@example.test"
    ]


async def test_serve_without_webhooks_starts_no_dispatcher(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    data = {
        "store": {"url": store_url},
        "relay": [{"name": "r1", "host": "127.0.0.1", "port": 2525, "tls": "none"}],
        "lane": [{"name": "tx", "purpose": "transactional", "relays": ["r1"]}],
    }
    cfg = load_config_data(data, source="<test>", base_dir=tmp_path, env={})
    service = Service(cfg, store, frozenset({Part.EVENTS}))
    running = asyncio.create_task(service.run())
    await asyncio.sleep(0.05)
    service.request_stop()
    await asyncio.wait_for(running, 5)
    assert service.dispatcher is None


async def test_run_dispatcher_sends_until_stopped(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    with Receiver(SECRET, ["500"]) as receiver:
        cfg = config(store_url, tmp_path, receiver.url)
        [did] = sent_with(store, cfg)
        stop = asyncio.Event()
        running = asyncio.create_task(run_dispatcher(cfg, store, stop))
        deadline = time.monotonic() + 10
        while not receiver.events:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.02)
        stop.set()
        stats = await asyncio.wait_for(running, 10)
    assert (stats.delivered, stats.retried) == (1, 1)
    [body] = receiver.events.values()
    assert json.loads(body)["data"]["delivery_id"] == did


def sent_with(store: Store, cfg: Config) -> list[int]:
    now = time.time()
    [ids] = store.queue.enqueue([message(["y@example.test"], at=now)])
    claims = store.queue.step([], [("tx", 1)], set(), now, "w1", 60.0).claims["tx"]
    results = [result(c, DeliveryState.SENT, now) for c in claims]
    store.queue.step(results, [], set(), now, "w1", 60.0, hooks=cfg.events.hooks())
    return ids


def test_events_list_and_retry_from_the_command_line(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    extra = f"""
[[events.webhook]]
name = "app"
url = "http://127.0.0.1:9/hook"
secret = "{SECRET.decode()}"
"""
    path = str(write_config(tmp_path, store_url, extra=extra))
    cfg = config(store_url, tmp_path, "http://127.0.0.1:9/hook")
    sent_with(store, cfg)
    sent_with(store, cfg)
    outbox_store = SqlOutbox(store.engine)
    [newest, oldest] = outbox_store.list()
    with store.engine.begin() as conn:  # the oldest was given up
        conn.execute(
            event_outbox.update()
            .where(event_outbox.c.id == oldest.id)
            .values(due_at=None, last_error="gave up")
        )

    code, out = run("events", "list", "--json", "--config", path)
    assert code == 0, out
    listed = json.loads(out)
    assert [(e["id"], e["status"]) for e in listed] == [
        (newest.id, "pending"),
        (oldest.id, "given_up"),
    ]
    code, out = run("events", "list", "--pending", "--json", "--config", path)
    assert code == 0 and [e["event_id"] for e in json.loads(out)] == [newest.event_id]
    code, out = run("events", "list", "--config", path)
    assert code == 0 and "given_up" in out and "pending" in out

    code, out = run("events", "retry", "--all-given-up", "--config", path)
    assert code == 0 and "1 event(s) due again now" in out
    assert {e.status for e in outbox_store.list()} == {"pending"}
    code, out = run("events", "retry", oldest.event_id, "--config", path)
    assert code == 0 and "1 event(s)" in out
    code, out = run("events", "retry", "999", "--config", path)
    assert code == 1 and "no undelivered event '999'" in out
    code, out = run("events", "retry", "--config", path)
    assert code == 2 and "--all-given-up" in out
