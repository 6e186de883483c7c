"""DSNs for SMTP users with notify = "dsn": one report per failed message, to the
envelope sender, from the null sender, queued and marked in one transaction."""

from __future__ import annotations

import email
import email.policy
from pathlib import Path

from relaylane.clock import FakeClock
from relaylane.delivery.addresses import parse_address
from relaylane.delivery.compose import compose
from relaylane.delivery.submit import Origin, build_message
from relaylane.policy.vocabulary import BounceClass, DeliveryState, Outcome, Stage
from relaylane.records import AttemptRecord, DeliveryResult
from relaylane.serve.notifier import DsnNotifier
from relaylane.store import Store
from relaylane.store.notices import SqlNotices
from tests.helpers import lane, make_config, relay


def test_failed_deliveries_get_one_dsn_per_message(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    config = make_config(
        store_url,
        [relay("r1", 2525), relay("r2", 2526)],
        [lane("tx", ["r1"]), lane("news", ["r2"], purpose="marketing")],
        tmp_path,
    )
    composed = compose(from_="App <app@tx.acme.test>", subject="Your invoice", text="Hi\n")
    rcpts = [parse_address(a) for a in ("gone@b.test", "ok@b.test", "gone2@b.test")]
    msg = build_message(
        config, "news", composed, rcpts, 1000.0, origin=Origin(source="smtp", notify="dsn")
    )
    plain = build_message(config, "news", composed, [parse_address("x@b.test")], 1000.0)
    store.queue.enqueue([msg, plain])
    claims = store.queue.claim("news", 1001.0, 10, "w", 60)
    results = []
    for c in claims:
        bounced = c.recipient != "ok@b.test"
        reply = f"5.1.1 <{c.recipient}>: user unknown"
        attempt = AttemptRecord(
            at=1002.0,
            relay="r2",
            stage=Stage.RCPT,
            code=550 if bounced else 250,
            reply=reply if bounced else "ok",
            outcome=Outcome.BOUNCED if bounced else Outcome.SENT,
            bounce_class=BounceClass.INVALID_RECIPIENT if bounced else BounceClass.NONE,
            duration_ms=1.0,
        )
        state = DeliveryState.BOUNCED if bounced else DeliveryState.SENT
        results.append(
            DeliveryResult(c.id, c.token, state, None, "r2", False, 0, attempts=(attempt,))
        )
    store.queue.record(results, 1002.0, "w")

    notifier = DsnNotifier(config, SqlNotices(store.engine), FakeClock(1003.0))
    assert notifier.run_once() == 1  # x@b.test bounced too, but its sender did not ask
    assert notifier.run_once() == 0  # never twice

    [dsn] = [d for d in store.reads.list_deliveries(limit=20) if d.lane == "tx"]
    assert dsn.recipient == "app@tx.acme.test" and dsn.state == "queued"
    [body] = store.queue.bodies([dsn.message_id]).values()
    assert body.mail_from == ""  # MAIL FROM:<>: a DSN never bounces back
    report = email.message_from_bytes(body.body, policy=email.policy.default)
    assert report.get_content_type() == "multipart/report"
    assert report["To"] == "app@tx.acme.test"
    text = body.body.decode()
    assert "Final-Recipient: rfc822; gone@b.test" in text
    assert "Final-Recipient: rfc822; gone2@b.test" in text
    assert "rfc822; ok@b.test" not in text  # delivered: not in the report
    assert "Status: 5.1.1" in text and "Subject: Your invoice" in text


def test_a_report_never_carries_a_domain_into_a_lane_that_may_not_use_it(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    config = make_config(
        store_url,
        [relay("r1", 2525), relay("r2", 2526)],
        [
            lane("tx", ["r1"], from_domains=["tx.acme.test"]),
            lane("news", ["r2"], purpose="marketing"),
        ],
        tmp_path,
    )
    origin = Origin(source="smtp", notify="dsn")
    for sender in ("app@tx.acme.test", "letters@news.acme.test"):
        composed = compose(from_=sender, subject="Hi", text="Hi\n")
        msg = build_message(
            config, "news", composed, [parse_address("gone@b.test")], 1000.0, origin=origin
        )
        store.queue.enqueue([msg])
    claims = store.queue.claim("news", 1001.0, 10, "w", 60)
    bounce = AttemptRecord(
        at=1002.0,
        relay="r2",
        stage=Stage.RCPT,
        code=550,
        reply="5.1.1 user unknown",
        outcome=Outcome.BOUNCED,
        bounce_class=BounceClass.INVALID_RECIPIENT,
        duration_ms=1.0,
    )
    store.queue.record(
        [
            DeliveryResult(c.id, c.token, DeliveryState.BOUNCED, None, "r2", False, 0, (bounce,))
            for c in claims
        ],
        1002.0,
        "w",
    )
    assert DsnNotifier(config, SqlNotices(store.engine), FakeClock(1003.0)).run_once() == 2
    reports = {d.recipient: d.lane for d in store.reads.list_deliveries(limit=20) if d.id > 2}
    # tx may send as tx.acme.test; news.acme.test's report stays in its own lane
    assert reports == {"app@tx.acme.test": "tx", "letters@news.acme.test": "news"}
