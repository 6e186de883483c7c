"""The whole loop on loopback: relaylane sends with a VERP envelope sender and a signed
X-Relaylane-ID, a DSN comes back to the bounce receiver, and the ledger acts on it."""

from __future__ import annotations

import email
from pathlib import Path

import aiosmtplib
import pytest

from relaylane.bounces.ingest import FeedbackIngest
from relaylane.bounces.receiver import BounceReceiver
from relaylane.bounces.tokens import verp_token
from relaylane.clock import SystemClock
from relaylane.config import Config, load_config_data
from relaylane.sim.behaviour import Behaviour
from relaylane.sim.relay import SimRelay
from relaylane.store import Store
from tests.helpers import deliver, queue

RETURN_PATH = "bounces.tx.acme.test"


def config_for(store_url: str, port: int, tmp_path: Path) -> Config:
    data = {
        "store": {"url": store_url},
        "worker": {"lease": "60s", "idle_poll": "50ms"},
        "bounces": {"listen": "127.0.0.1:0"},
        "domain": {"tx.acme.test": {"return_path": RETURN_PATH}},
        "relay": [
            {
                "name": "pf",
                "kind": "mta",
                "host": "127.0.0.1",
                "port": port,
                "tls": "none",
                "timeouts": {"connect": 5, "command": 5, "data_end": 5},
            }
        ],
        "lane": [
            {"name": "tx", "purpose": "transactional", "relays": ["pf"]},
            {"name": "news", "purpose": "marketing", "relays": ["pf"]},
        ],
    }
    data["lane"][0]["allow_shared_relays"] = True  # type: ignore[index]
    return load_config_data(data, source="<test>", base_dir=tmp_path, env={})


def dsn(verp: str, recipient: str, status: str, diagnostic: str, token: str = "") -> bytes:
    returned = f"X-Relaylane-ID: {token}\r\n" if token else ""
    return (
        f"From: MAILER-DAEMON@peer.test\r\n"
        f"To: {verp}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you.\r\n"
        "--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; peer.test\r\n\r\n"
        f"Final-Recipient: rfc822; {recipient}\r\n"
        "Action: failed\r\n"
        f"Status: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n"
        "\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"{returned}Subject: Reset\r\n\r\n--B--\r\n"
    ).encode()


async def send_to_receiver(receiver: BounceReceiver, rcpt: str, data: bytes) -> str:
    """Deliver like an MTA delivers a bounce: null envelope sender."""
    host, port = receiver.addresses[0]
    client = aiosmtplib.SMTP(hostname=host, port=port, use_tls=False, start_tls=False)
    async with client:
        await client.mail("")
        await client.rcpt(rcpt)
        reply = await client.data(data)
    return reply.message


async def sent_one(store: Store, config: Config, rcpt: str) -> tuple[int, str, bytes]:
    """Queue and deliver one message; returns its delivery id, envelope sender, data."""
    async with SimRelay(Behaviour()) as relay:
        cfg = config_for(store_url_of(store), relay.port, Path("."))
        [did] = queue(store, cfg, "tx", [rcpt], SystemClock().now())
        await deliver(cfg, store)
        [got] = relay.received
    return did, got.mail_from, got.data


def store_url_of(store: Store) -> str:
    return store.engine.url.render_as_string(hide_password=False)


@pytest.fixture
async def loop_parts(store: Store, tmp_path: Path):  # type: ignore[no-untyped-def]
    config = config_for(store_url_of(store), 1, tmp_path)
    ingest = FeedbackIngest(config, store.feedback, store.token_keys, SystemClock())
    receiver = BounceReceiver(config, ingest)
    await receiver.start()
    yield config, receiver
    await receiver.stop(1.0)


async def test_verp_and_signed_id_on_the_wire(store: Store) -> None:
    did, mail_from, data = await sent_one(store, None, "ann@example.test")  # type: ignore[arg-type]
    token = verp_token(mail_from)
    assert token is not None and mail_from.endswith("@" + RETURN_PATH)
    assert len(mail_from.partition("@")[0]) <= 64
    assert "ann" not in mail_from  # no address in clear
    ring = store.token_keys.ring(SystemClock().now())
    assert ring.delivery_of(token, SystemClock().now()) == did
    header = email.message_from_bytes(data)["X-Relaylane-ID"]
    assert header == token


async def test_a_hard_bounce_suppresses_and_stops_queued_mail(
    store: Store, loop_parts: tuple[Config, BounceReceiver]
) -> None:
    config, receiver = loop_parts
    did, mail_from, _ = await sent_one(store, config, "gone@example.test")
    [waiting] = queue(store, config, "news", ["Gone@example.test"], SystemClock().now() + 3600)
    reply = await send_to_receiver(
        receiver, mail_from, dsn(mail_from, "gone@example.test", "5.1.1", "550 5.1.1 User unknown")
    )
    assert "bounced" in reply
    rows = store.reads.list_deliveries()
    states = {r.id: r.state for r in rows}
    assert states[did] == "bounced" and states[waiting] == "suppressed"
    [entry] = store.suppressions.list(address="gone@example.test")
    assert (entry.scope, entry.reason, entry.source, entry.delivery_id) == (
        "global",
        "hard_bounce",
        "dsn",
        did,
    )


async def test_a_reputation_bounce_holds_on_the_same_relay_and_suppresses_nothing(
    store: Store, loop_parts: tuple[Config, BounceReceiver]
) -> None:
    config, receiver = loop_parts
    did, mail_from, _ = await sent_one(store, config, "kept@example.test")
    text = "550 5.7.1 Service unavailable; message rejected because of low reputation"
    await send_to_receiver(receiver, mail_from, dsn(mail_from, "kept@example.test", "5.7.1", text))
    [row] = [r for r in store.reads.list_deliveries() if r.id == did]
    assert (row.state, row.relay, row.bounce_class) == ("blocked", "pf", "reputation_block")
    assert row.due_at is not None
    assert store.suppressions.list(address="kept@example.test") == []


async def test_a_forged_token_is_stored_unmatched_and_acted_on_by_nothing(
    store: Store, loop_parts: tuple[Config, BounceReceiver]
) -> None:
    config, receiver = loop_parts
    did, mail_from, _ = await sent_one(store, config, "victim@example.test")
    token = verp_token(mail_from)
    assert token is not None
    forged_token = token[:-4] + ("aaaa" if not token.endswith("aaaa") else "bbbb")
    forged = f"b-{forged_token}@{RETURN_PATH}"
    body = dsn(forged, "victim@example.test", "5.1.1", "550 5.1.1 User unknown", forged_token)
    reply = await send_to_receiver(receiver, forged, body)
    assert "unmatched" in reply
    [row] = [r for r in store.reads.list_deliveries() if r.id == did]
    assert row.state == "sent"
    assert store.suppressions.list(address="victim@example.test") == []
    [stored] = store.feedback.list(unmatched=True)
    assert stored.raw is not None and b"User unknown" in stored.raw


async def test_recipients_outside_the_return_path_domains_are_refused(
    store: Store, loop_parts: tuple[Config, BounceReceiver]
) -> None:
    _, receiver = loop_parts
    with pytest.raises(aiosmtplib.SMTPRecipientRefused):
        await send_to_receiver(receiver, "someone@elsewhere.test", b"Subject: x\r\n\r\nx\r\n")
