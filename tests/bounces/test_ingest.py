"""Reports acted on by the lane's suppression policy: complaints, full mailboxes,
expired messages, delivery reports, auto-replies, unreadable input, provider events."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from relaylane.bounces.ingest import FeedbackIngest
from relaylane.bounces.report import Event, Finding
from relaylane.bounces.webhooks.common import ProviderEvent
from relaylane.clock import FakeClock
from relaylane.config import Config, load_config_data
from relaylane.policy.vocabulary import BounceClass, DeliveryState, Outcome, Stage
from relaylane.records import AttemptRecord, DeliveryResult
from relaylane.store import Store
from relaylane.store.schema import deliveries
from tests.helpers import queue

NOW = 1_800_000_000.0
RP = "bounces.acme.test"


def make(store: Store, tmp_path: Path, **tx_suppression: Any) -> Config:
    tx: dict[str, Any] = {
        "name": "tx",
        "purpose": "transactional",
        "relays": ["pf"],
        "allow_shared_relays": True,
    }
    if tx_suppression:
        tx["suppression"] = tx_suppression
    data = {
        "store": {"url": store.engine.url.render_as_string(hide_password=False)},
        "domain": {"tx.acme.test": {"return_path": RP}},
        "relay": [{"name": "pf", "host": "127.0.0.1", "port": 2525, "tls": "none"}],
        "lane": [
            tx,
            {"name": "news", "purpose": "marketing", "relays": ["pf"]},
            {"name": "outreach", "purpose": "outreach", "relays": ["pf"]},
        ],
    }
    return load_config_data(data, source="<test>", base_dir=tmp_path, env={})


def sent(store: Store, config: Config, lane: str, rcpt: str) -> int:
    [did] = queue(store, config, lane, [rcpt], NOW - 600)
    with store.engine.begin() as conn:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.id == did)
            .values(state="sent", due_at=None, relay="pf", sent_at=NOW - 500)
        )
    return did


def state_of(store: Store, did: int) -> str:
    with store.engine.connect() as conn:
        return str(
            conn.execute(sa.select(deliveries.c.state).where(deliveries.c.id == did)).scalar()
        )


def ingest_for(store: Store, config: Config, clock: FakeClock | None = None) -> FeedbackIngest:
    return FeedbackIngest(config, store.feedback, store.token_keys, clock or FakeClock(NOW))


def token(store: Store, did: int) -> str:
    return store.token_keys.ring(NOW).token(did)


def dsn(to: str, rcpt: str, status: str, diagnostic: str, action: str = "failed") -> bytes:
    return (
        f"From: MAILER-DAEMON@peer.test\r\nTo: {to}\r\nSubject: Delivery Status Notification\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; "
        'boundary="B"\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nReport.\r\n'
        "--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; peer.test\r\n\r\n"
        f"Final-Recipient: rfc822; {rcpt}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n\r\n--B--\r\n"
    ).encode()


def arf(rcpt: str, tok: str) -> bytes:
    return (
        "From: feedback@fbl.example\r\nTo: fbl@acme.test\r\nSubject: Abuse report\r\n"
        "MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=feedback-report; "
        'boundary="A"\r\n\r\n--A\r\nContent-Type: text/plain\r\n\r\nA complaint.\r\n'
        "--A\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: abuse\r\n"
        "User-Agent: ExampleFBL/1.0\r\nVersion: 1\r\n"
        f"Original-Rcpt-To: {rcpt}\r\n\r\n"
        "--A\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        f"From: news@tx.acme.test\r\nTo: {rcpt}\r\nX-Relaylane-ID: {tok}\r\n\r\n--A--\r\n"
    ).encode()


def scopes_of(store: Store, address: str) -> set[tuple[str, str]]:
    return {(e.scope, e.reason) for e in store.suppressions.list(address=address)}


def test_a_complaint_about_marketing_mail_stops_bulk_lanes_only(
    store: Store, tmp_path: Path
) -> None:
    config = make(store, tmp_path)
    did = sent(store, config, "news", "ann@example.test")
    [reset] = queue(store, config, "tx", ["ann@example.test"], NOW)
    [promo] = queue(store, config, "outreach", ["ann@example.test"], NOW)
    [row] = ingest_for(store, config).report(arf("ann@example.test", token(store, did)), source="t")
    assert (row.kind, row.event, row.action, row.delivery_id) == (
        "arf",
        "complained",
        "suppressed",
        did,
    )
    assert scopes_of(store, "ann@example.test") == {
        ("lane:news", "complaint"),
        ("lane:outreach", "complaint"),
    }
    assert state_of(store, did) == "delivered"  # a complaint proves delivery
    assert state_of(store, promo) == "suppressed"
    assert state_of(store, reset) == "queued"  # password resets still go out


@pytest.mark.parametrize("listens", [True, False])
def test_a_transactional_lane_hears_only_about_its_own_mail_and_may_opt_out(
    store: Store, tmp_path: Path, listens: bool
) -> None:
    config = make(store, tmp_path, complaints=listens)
    did = sent(store, config, "tx", "bob@example.test")
    ingest_for(store, config).report(arf("bob@example.test", token(store, did)), source="t")
    expected = {("lane:news", "complaint"), ("lane:outreach", "complaint")}
    if listens:
        expected.add(("lane:tx", "complaint"))
    assert scopes_of(store, "bob@example.test") == expected


def test_a_full_mailbox_suppresses_after_three_distinct_messages(
    store: Store, tmp_path: Path
) -> None:
    config = make(store, tmp_path)
    clock = FakeClock(NOW)
    ingest = ingest_for(store, config, clock)
    full = "552 5.2.2 The email account that you tried to reach is over quota"
    for n in range(3):
        did = sent(store, config, "news", "full@example.test")
        ingest.report(
            dsn(f"b-{token(store, did)}@{RP}", "full@example.test", "5.2.2", full), source="t"
        )
        clock.advance(86400)
        expected = {("global", "soft_bounce_limit")} if n == 2 else set()
        assert scopes_of(store, "full@example.test") == expected, n
        assert state_of(store, did) == "bounced"


def test_an_expired_message_never_touches_the_address(store: Store, tmp_path: Path) -> None:
    config = make(store, tmp_path)
    ingest = ingest_for(store, config)
    for _ in range(4):
        did = sent(store, config, "news", "slow@example.test")
        text = "452 4.2.2 mailbox full"
        [row] = ingest.report(
            dsn(f"b-{token(store, did)}@{RP}", "slow@example.test", "4.4.7", text), source="t"
        )
        assert (row.action, row.bounce_class) == ("failed", "mailbox_full")
        assert state_of(store, did) == "failed"
    assert scopes_of(store, "slow@example.test") == set()


def test_delivered_delayed_auto_reply_and_garbage(store: Store, tmp_path: Path) -> None:
    config = make(store, tmp_path)
    ingest = ingest_for(store, config)
    did = sent(store, config, "tx", "cat@example.test")
    verp = f"b-{token(store, did)}@{RP}"
    [delayed] = ingest.report(
        dsn(verp, "cat@example.test", "4.4.1", "connect timed out", "delayed"), source="t"
    )
    assert (delayed.event, delayed.action, state_of(store, did)) == ("delayed", "recorded", "sent")
    [done] = ingest.report(
        dsn(verp, "cat@example.test", "2.0.0", "250 ok", "delivered"), source="t"
    )
    assert (done.action, state_of(store, did)) == ("delivered", "delivered")
    away = (
        f"From: cat@example.test\r\nTo: {verp}\r\nSubject: Out of Office: Reset\r\n"
        "Auto-Submitted: auto-replied\r\n\r\nI am out of the office until Monday.\r\n"
    ).encode()
    [auto] = ingest.report(away, source="t")
    assert (auto.kind, auto.action, auto.bounce_class) == ("auto_reply", "auto_reply", "auto_reply")
    assert state_of(store, did) == "delivered"
    rows = ingest.report(b"\x00\xff not mail at all", source="t")
    assert rows and all(r.action in ("unmatched", "unclassified") for r in rows)
    assert rows[0].raw == b"\x00\xff not mail at all"
    assert scopes_of(store, "cat@example.test") == set()


def test_provider_events_match_by_signed_id_or_by_the_providers_message_id(
    store: Store, tmp_path: Path
) -> None:
    config = make(store, tmp_path)
    ingest = ingest_for(store, config)
    by_id = sent(store, config, "news", "dan@example.test")
    by_queue_id = sent(store, config, "news", "eve@example.test")
    with store.engine.begin() as conn:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.id == by_queue_id)
            .values(relay_queue_id="0100018c-ses-id")
        )
    bounce = Finding(Event.BOUNCED, "dan@example.test", 550, "5.1.1", "user unknown")
    complaint = Finding(Event.COMPLAINED, "eve@example.test")
    forged = Finding(Event.BOUNCED, "fay@example.test", 550, "5.1.1", "user unknown")
    rows = ingest.provider_events(
        [
            ProviderEvent("ses", bounce, token(store, by_id), None, None),
            ProviderEvent("ses", complaint, None, "0100018c-ses-id", None),
            ProviderEvent("ses", forged, "b" * 32, None, None),
        ],
        source="webhook:ses",
        raw=b"{}",
    )
    assert [r.action for r in rows] == ["bounced", "suppressed", "unmatched"]
    assert scopes_of(store, "dan@example.test") == {("global", "hard_bounce")}
    [entry] = store.suppressions.list(address="dan@example.test")
    assert entry.source == "webhook"
    assert ("lane:news", "complaint") in scopes_of(store, "eve@example.test")
    assert scopes_of(store, "fay@example.test") == set()


def test_a_report_naming_several_recipients_acts_only_for_ours(
    store: Store, tmp_path: Path
) -> None:
    config = make(store, tmp_path)
    did = sent(store, config, "news", "ours@example.test")
    two = dsn(f"b-{token(store, did)}@{RP}", "ours@example.test", "5.1.1", "550 5.1.1 unknown")
    extra = (
        b"Final-Recipient: rfc822; alias-member@example.test\r\nAction: failed\r\n"
        b"Status: 5.1.1\r\nDiagnostic-Code: smtp; 550 5.1.1 unknown\r\n\r\n--B--\r\n"
    )
    two = two.replace(b"\r\n--B--\r\n", b"\r\n" + extra)
    rows = ingest_for(store, config).report(two, source="t")
    assert sorted((r.recipient, r.action) for r in rows) == [
        ("alias-member@example.test", "unmatched"),
        ("ours@example.test", "bounced"),
    ]
    assert scopes_of(store, "alias-member@example.test") == set()
    assert scopes_of(store, "ours@example.test") == {("global", "hard_bounce")}


def test_a_dsn_that_beats_the_workers_own_record_is_not_overwritten(
    store: Store, tmp_path: Path
) -> None:
    """A fast relay accepts, bounces and reports before the worker commits `sent`: the
    DSN applies to the delivery still `sending`, and the worker's late `sent` is fenced
    off as stale (its attempt kept) instead of turning the bounce back into `sent`."""
    config = make(store, tmp_path)
    [did] = queue(store, config, "tx", ["gone@example.test"], NOW - 600)
    [claimed] = store.queue.claim("tx", NOW - 590, 10, "w1", 60.0)
    assert claimed.id == did and state_of(store, did) == "sending"
    report = dsn(f"b-{token(store, did)}@{RP}", "gone@example.test", "5.1.1", "550 5.1.1 unknown")
    ingest_for(store, config).report(report, source="receiver")
    assert state_of(store, did) == "bounced"
    accepted = AttemptRecord(
        at=NOW - 589, relay="pf", stage=Stage.DATA, code=250, reply="250 2.0.0 Ok: queued",
        outcome=Outcome.SENT, bounce_class=BounceClass.NONE, duration_ms=12.0,
    )  # fmt: skip
    late = DeliveryResult(
        id=did, token=claimed.token, state=DeliveryState.SENT, due_at=None, relay="pf",
        pinned=False, retries=0, attempts=(accepted,), sent_at=NOW - 589,
    )  # fmt: skip
    assert store.queue.record([late], NOW - 588, "w1") == 0  # fenced off: stale
    assert state_of(store, did) == "bounced"
    history = store.reads.delivery(did).attempts
    assert any(a.code == 250 for a in history)  # the relay's acceptance is still on record
