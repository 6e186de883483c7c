"""Interop with a real MTA's bounces: relaylane hands a message to a private Postfix whose
next hop (smtp-sink -f RCPT) gives every recipient a hard 5xx. Postfix itself writes the
DSN and delivers it, through a transport map for the return-path domain, to relaylane's
bounce receiver, which suppresses the address and cancels its queued deliveries."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from relaylane.bounces.ingest import FeedbackIngest
from relaylane.bounces.receiver import BounceReceiver
from relaylane.bounces.tokens import verp_token
from relaylane.clock import SystemClock
from relaylane.config import Config, load_config_data
from relaylane.store import Store
from relaylane.store.feedback import FeedbackRow
from tests.helpers import deliver, queue, relay
from tests.interop.test_postfix_relay import _postfix_missing

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import postfix_peer

RETURN_PATH = "bounces.tx.acme.test"
GONE = "gone@example.test"
REJECT = f"550 5.1.1 <{GONE}>: Recipient address rejected: User unknown"
WAIT = 60.0  # upper bound for Postfix to bounce and the DSN to be recorded; not a speed test


def _require_postfix() -> None:
    reason = _postfix_missing()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true requires Postfix for interop tests: {reason}")
        # Outside CI a developer may lack Postfix: skipped with the reason shown (-ra).
        pytest.skip(reason)


def config_for(store_url: str, base_dir: Path, relay_port: int) -> Config:
    data = {
        "store": {"url": store_url},
        "worker": {"lease": "60s", "idle_poll": "50ms"},
        "bounces": {"listen": "127.0.0.1:0", "hostname": "bounces.relaylane.test"},
        "domain": {"tx.acme.test": {"return_path": RETURN_PATH}},
        "relay": [relay("postfix", relay_port, kind="mta")],
        "lane": [
            {
                "name": "tx",
                "purpose": "transactional",
                "relays": ["postfix"],
                "allow_shared_relays": True,
            },
            {"name": "news", "purpose": "marketing", "relays": ["postfix"]},
        ],
    }
    return load_config_data(data, source="<test>", base_dir=base_dir, env={})


class RecordingIngest(FeedbackIngest):
    """FeedbackIngest that also remembers the envelope recipients of each report."""

    envelopes: list[list[str]]

    def report(
        self, raw: bytes, *, source: str, envelope_rcpts: Sequence[str] = ()
    ) -> list[FeedbackRow]:
        self.envelopes.append(list(envelope_rcpts))
        return super().report(raw, source=source, envelope_rcpts=envelope_rcpts)


@dataclass
class Loop:
    config: Config
    ingest: RecordingIngest
    receiver: BounceReceiver
    postfix: postfix_peer.PrivatePostfix

    def diagnostics(self) -> str:
        return "--- postfix log (tail) ---\n" + "\n".join(self.postfix.tail)


@pytest.fixture
async def bounce_loop(store: Store, store_url: str, tmp_path: Path) -> AsyncIterator[Loop]:
    _require_postfix()
    async with contextlib.AsyncExitStack() as stack:
        # 1. relaylane's bounce receiver first, on a port of its own choosing
        #    (the relay port is filled in below, once Postfix has one).
        probe = config_for(store_url, tmp_path, 1)
        ingest = RecordingIngest(probe, store.feedback, store.token_keys, SystemClock())
        ingest.envelopes = []
        receiver = BounceReceiver(probe, ingest)
        await receiver.start()
        stack.push_async_callback(receiver.stop, 1.0)
        receiver_port = receiver.addresses[0][1]

        # 2. the next hop: a hard 5xx for every recipient
        sink_port = postfix_peer.free_port()
        sink = await asyncio.to_thread(
            postfix_peer.start_sink, sink_port, ["-f", "RCPT", "-B", REJECT]
        )

        def stop_sink() -> None:
            sink.terminate()
            sink.wait()

        stack.push_async_callback(asyncio.to_thread, stop_sink)

        # 3. Postfix: relays to the sink, but mail for the return path goes to the receiver
        pf = postfix_peer.PrivatePostfix(
            sink_port, transport={RETURN_PATH: f"smtp:[127.0.0.1]:{receiver_port}"}
        )
        await asyncio.to_thread(pf.__enter__)
        stack.push_async_callback(asyncio.to_thread, pf.close)

        config = config_for(store_url, tmp_path, pf.port)
        yield Loop(config, ingest, receiver, pf)


@pytest.mark.slow
async def test_a_postfix_dsn_suppresses_the_address_and_cancels_queued_mail(
    bounce_loop: Loop, store: Store
) -> None:
    loop = bounce_loop
    config = loop.config
    now = SystemClock().now()
    [did] = queue(store, config, "tx", [GONE], now)
    # queued before the DSN can arrive, and due far in the future: it stays queued
    [waiting] = queue(store, config, "news", [GONE], now + 30 * 86400, subject="News")

    await deliver(config, store)
    first = store.reads.delivery(did).delivery
    assert first.state in ("sent", "bounced"), loop.diagnostics()
    # not sent (due in 30 days); the DSN may already have cancelled it on a busy machine
    assert store.reads.delivery(waiting).delivery.state in ("queued", "suppressed")

    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if store.reads.delivery(did).delivery.state == "bounced":
            break
        await asyncio.sleep(0.2)
    state = store.reads.delivery(did).delivery.state
    assert state == "bounced", f"still {state!r} after {WAIT:.0f}s\n{loop.diagnostics()}"

    # the address is suppressed everywhere, on the DSN's evidence
    [entry] = store.suppressions.list(address=GONE)
    assert (entry.scope, entry.reason, entry.source, entry.delivery_id) == (
        "global",
        "hard_bounce",
        "dsn",
        did,
    )
    # and the newsletter still queued for it is cancelled
    assert store.reads.delivery(waiting).delivery.state == "suppressed"

    [row] = store.feedback.list()
    assert (row.kind, row.event, row.bounce_class, row.action) == (
        "dsn",
        "bounced",
        "invalid_recipient",
        "bounced",
    )
    assert row.delivery_id == did and row.relay == "postfix"
    assert (row.code, row.status, row.diagnostic) == (550, "5.1.1", REJECT)  # unfolded
    assert row.source == "receiver"

    # the DSN came to the VERP address relaylane used as envelope sender for this delivery
    [envelope] = loop.ingest.envelopes
    [rcpt] = envelope
    assert rcpt.lower().endswith("@" + RETURN_PATH) and rcpt.lower().startswith("b-")
    token = verp_token(rcpt)
    assert token is not None
    assert store.token_keys.ring(SystemClock().now()).delivery_of(token, time.time()) == did

    # ... and Postfix wrote it (not a hand-made DSN), quoting smtp-sink's reply
    assert row.raw is not None
    assert b"Reporting-MTA: dns; peer.test" in row.raw
    assert b"Undelivered Mail Returned to Sender" in row.raw
    assert b"User unknown" in row.raw
