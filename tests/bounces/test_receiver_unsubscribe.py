"""The List-Unsubscribe mailto on loopback: a marketing message goes out through a relay,
the recipient mails u-<token>@<return path> to the running bounce receiver, and the
ledger suppresses the address for the lane (or the message's list). A forged token
suppresses nothing and is stored unmatched."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiosmtplib
import pytest

from relaylane.bounces.ingest import FeedbackIngest
from relaylane.bounces.receiver import BounceReceiver
from relaylane.clock import SystemClock
from relaylane.config import Config
from relaylane.delivery.addresses import parse_address
from relaylane.delivery.compose import compose
from relaylane.delivery.submit import Origin, build_message
from relaylane.policy.suppression import Reason, Scope, ScopeKind, Source, lane_scope
from relaylane.sim.behaviour import Behaviour
from relaylane.sim.relay import SimRelay
from relaylane.store import Store
from tests.bounces.test_receiver import RETURN_PATH, config_for, store_url_of
from tests.helpers import deliver

RCPT = "ann@example.test"


@pytest.fixture
async def receiver(store: Store, tmp_path: Path) -> AsyncIterator[BounceReceiver]:
    config = config_for(store_url_of(store), 1, tmp_path)
    ingest = FeedbackIngest(config, store.feedback, store.token_keys, SystemClock())
    running = BounceReceiver(config, ingest)
    await running.start()
    yield running
    await running.stop(1.0)


async def sent_news(store: Store, tmp_path: Path, list_name: str = "") -> tuple[int, str]:
    """Send one marketing message; its delivery id and the mailto its List-Unsubscribe
    names (no https public_url in this configuration: the mailto alone)."""
    async with SimRelay(Behaviour()) as relay:
        cfg: Config = config_for(store_url_of(store), relay.port, tmp_path)
        composed = compose(from_="Acme <news@tx.acme.test>", subject="News", text="Hi\n")
        origin = Origin(metadata=(("list", list_name),) if list_name else ())
        msg = build_message(
            cfg, "news", composed, [parse_address(RCPT)], time.time(), origin=origin
        )
        [[did]] = store.queue.enqueue([msg])
        await deliver(cfg, store)
        [got] = relay.received
    parsed = email.message_from_bytes(got.data, policy=email.policy.compat32)
    value = str(parsed["List-Unsubscribe"])
    assert value.startswith("<mailto:u-") and value.endswith(f"@{RETURN_PATH}>")
    assert parsed["List-Unsubscribe-Post"] is None  # one-click needs an https URL
    return did, value.removeprefix("<mailto:").removesuffix(">")


async def mail_to(receiver: BounceReceiver, address: str) -> str:
    """What a mail client sends for a mailto List-Unsubscribe."""
    host, port = receiver.addresses[0]
    body = f"From: {RCPT}\r\nTo: {address}\r\nSubject: unsubscribe\r\n\r\nunsubscribe\r\n"
    client = aiosmtplib.SMTP(hostname=host, port=port, use_tls=False, start_tls=False)
    async with client:
        await client.mail(RCPT)
        reply = await client.rcpt(address)
        assert reply.code == 250
        data = await client.data(body.encode())
    assert data.code == 250
    return data.message


async def test_the_mailto_unsubscribes_the_lane(
    store: Store, receiver: BounceReceiver, tmp_path: Path
) -> None:
    did, address = await sent_news(store, tmp_path)
    assert "unsubscribed" in await mail_to(receiver, address)
    [entry] = store.suppressions.list(address=RCPT)
    assert entry.scope == "lane:news"
    assert store.suppressions.list(address=RCPT, scope=lane_scope("news")) == [entry]
    assert (entry.reason, entry.source, entry.delivery_id) == (
        Reason.UNSUBSCRIBE,
        Source.ONE_CLICK,
        did,
    )
    [row] = [r for r in store.feedback.list() if r.delivery_id == did]
    assert (row.source, row.event) == ("oneclick", "unsubscribed")
    # a second mail (or a one-click POST after it) records nothing new; an upper-case
    # local part (some MTAs change case) is the same token
    local, _, domain = address.partition("@")
    assert "unsubscribed" in await mail_to(receiver, f"{local.upper()}@{domain}")
    assert len(store.suppressions.list(address=RCPT)) == 1
    assert len([r for r in store.feedback.list() if r.delivery_id == did]) == 1


async def test_the_mailto_of_a_list_message_unsubscribes_the_list(
    store: Store, receiver: BounceReceiver, tmp_path: Path
) -> None:
    did, address = await sent_news(store, tmp_path, list_name="weekly")
    await mail_to(receiver, address)
    [entry] = store.suppressions.list(address=RCPT)
    assert store.suppressions.list(address=RCPT, scope=Scope(ScopeKind.LIST, "weekly")) == [entry]
    assert entry.delivery_id == did


async def test_a_forged_token_suppresses_nothing_and_is_stored_unmatched(
    store: Store, receiver: BounceReceiver, tmp_path: Path
) -> None:
    did, address = await sent_news(store, tmp_path)
    local, _, domain = address.partition("@")
    forged = local[:-4] + ("aaaa" if not local.endswith("aaaa") else "bbbb") + "@" + domain
    verp_like = "b-" + local.removeprefix("u-") + "@" + domain  # the unsubscribe token as VERP
    for fake in (forged, verp_like):
        reply = await mail_to(receiver, fake)
        assert "unmatched" in reply and "unsubscribed" not in reply
    assert store.suppressions.list(address=RCPT) == []
    stored = store.feedback.list(unmatched=True)
    assert len(stored) == 2
    assert all(r.delivery_id is None and r.raw and b"unsubscribe" in r.raw for r in stored)
    [row] = [r for r in store.reads.list_deliveries() if r.id == did]
    assert row.state == "sent"
