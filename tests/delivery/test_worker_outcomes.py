"""The worker against real SMTP servers on loopback: what each answer does to a delivery."""

from __future__ import annotations

import email
import ssl
import time
from pathlib import Path

from relaylane.clock import FakeClock
from relaylane.config.models import RelayConfig
from relaylane.delivery.session import SmtpSession
from relaylane.sim import Behaviour, SimRelay, refusing_port
from relaylane.store import Store
from tests.helpers import deliver, lane, make_config, queue, relay


async def test_accepted_delivery_is_sent_with_its_own_headers(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay() as sim:
        cfg = make_config(
            store_url, [relay("r1", sim.port, max_connections=1)], [lane("tx", ["r1"])], tmp_path
        )
        ids = queue(store, cfg, "tx", ["bob@example.test", "ann@example.test"], time.time())
        stats = await deliver(cfg, store)
    assert stats.recorded == 2
    got = {r.rcpt_tos[0]: r for r in sim.received}
    assert set(got) == {"bob@example.test", "ann@example.test"}
    assert sim.connections == 1  # one connection carried both
    for delivery_id in ids:
        detail = store.reads.delivery(delivery_id)
        d = detail.delivery
        assert d.state == "sent" and d.relay == "r1"
        received = got[d.recipient]
        assert d.relay_queue_id == received.queue_id
        parsed = email.message_from_bytes(received.data)
        assert parsed["Message-ID"] == d.header_message_id
        assert parsed["Message-ID"].endswith("@tx.acme.test>")
        assert parsed["To"] == d.recipient
        assert parsed["Date"]
        assert [a.outcome for a in detail.attempts] == ["sent"]
        assert detail.attempts[0].reply.startswith("250 ")
    ids_in_mail = {email.message_from_bytes(r.data)["Message-ID"] for r in sim.received}
    assert len(ids_in_mail) == 2  # each delivery has its own Message-ID


async def test_connections_are_reused_up_to_the_limit(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay() as sim:
        cfg = make_config(
            store_url,
            [relay("r1", sim.port, max_connections=1, max_messages_per_connection=3)],
            [lane("tx", ["r1"])],
            tmp_path,
        )
        queue(store, cfg, "tx", [f"u{i}@example.test" for i in range(7)], time.time())
        await deliver(cfg, store)
    assert sim.accepted == 7
    assert sim.connections == 3  # 3 + 3 + 1
    assert sim.commands["QUIT"] == 3


async def test_unknown_recipient_bounces_without_failover(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    rules = [(r"^ghost@", "550 5.1.1 <ghost@example.test>: Recipient address rejected")]
    async with SimRelay(Behaviour(rcpt_rules=rules)) as a, SimRelay() as b:
        cfg = make_config(
            store_url,
            [relay("a", a.port, max_connections=1), relay("b", b.port)],
            [lane("tx", ["a", "b"])],
            tmp_path,
        )
        [ghost, real] = queue(
            store, cfg, "tx", ["ghost@example.test", "real@example.test"], time.time()
        )
        await deliver(cfg, store)
        rset_count = a.commands["RSET"]
    assert store.reads.delivery(ghost).delivery.state == "bounced"
    assert store.reads.delivery(ghost).delivery.bounce_class == "invalid_recipient"
    assert store.reads.delivery(real).delivery.state == "sent"
    assert b.received == []  # a recipient's problem never moves to another relay
    assert rset_count >= 1  # the failed transaction was reset on the reused connection


async def test_reputation_block_is_held_on_the_same_relay(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    clock = FakeClock(time.time())
    behaviour = Behaviour(
        data_reply="550 5.7.1 Service unavailable; client host blocked using Spamhaus"
    )
    async with SimRelay(behaviour) as a, SimRelay() as b:
        cfg = make_config(
            store_url,
            [relay("a", a.port), relay("b", b.port)],
            [lane("mkt", ["a", "b"], purpose="marketing", strategy="round_robin")],
            tmp_path,
        )
        ids = queue(store, cfg, "mkt", ["x@example.test", "y@example.test"], clock.now())
        await deliver(cfg, store, clock=clock)
        blocked = [store.reads.delivery(i).delivery for i in ids]
        held = [d for d in blocked if d.state == "blocked"]
        assert len(held) == 1 and held[0].relay == "a"
        assert held[0].bounce_class == "reputation_block"
        assert held[0].due_at is not None and held[0].due_at > clock.now()
        # later, the block is lifted: the retry goes to relay a again, never b
        behaviour.data_reply = None
        before_b = len(b.received)
        clock.advance(4 * 3600 + 1)
        await deliver(cfg, store, clock=clock)
    d = store.reads.delivery(held[0].id).delivery
    assert d.state == "sent" and d.relay == "a"
    assert len(b.received) == before_b


async def test_temporary_refusal_defers_with_backoff_then_expires(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    clock = FakeClock(time.time())
    rules = [(r".", "451 4.3.0 Temporary local problem, try later")]
    async with SimRelay(Behaviour(rcpt_rules=rules)) as sim:
        cfg = make_config(
            store_url,
            [relay("r1", sim.port)],
            [lane("tx", ["r1"], max_age="12m", retry={"first": "5m", "cap": "1h", "jitter": 0.2})],
            tmp_path,
        )
        [i] = queue(store, cfg, "tx", ["slow@example.test"], clock.now())
        await deliver(cfg, store, clock=clock)
        d = store.reads.delivery(i).delivery
        assert d.state == "deferred" and d.relay == "r1"
        assert d.due_at is not None and 240 <= d.due_at - clock.now() <= 360
        clock.advance(d.due_at - clock.now())
        await deliver(cfg, store, clock=clock)  # second try: 10 min more would pass max_age
        final = store.reads.delivery(i)
    assert final.delivery.state == "failed"
    assert final.delivery.bounce_class == "expired"
    assert [a.outcome for a in final.attempts] == ["deferred", "deferred", "failed"]


async def test_too_many_recipients_defers_only_that_recipient(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    rules = [(r"^busy@", "452 4.5.3 Too many recipients")]
    async with SimRelay(Behaviour(rcpt_rules=rules)) as sim:
        cfg = make_config(
            store_url, [relay("r1", sim.port, max_connections=1)], [lane("tx", ["r1"])], tmp_path
        )
        [busy, ok] = queue(store, cfg, "tx", ["busy@example.test", "ok@example.test"], time.time())
        await deliver(cfg, store)
    assert store.reads.delivery(busy).delivery.state == "deferred"
    assert store.reads.delivery(ok).delivery.state == "sent"
    assert sim.connections == 1  # no breaker, no reconnect: the relay is fine


async def test_message_too_large_fails_without_retry(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour(data_reply="552 5.3.4 Message size exceeds fixed limit")) as sim:
        cfg = make_config(store_url, [relay("r1", sim.port)], [lane("tx", ["r1"])], tmp_path)
        [i] = queue(store, cfg, "tx", ["big@example.test"], time.time())
        await deliver(cfg, store)
    d = store.reads.delivery(i).delivery
    assert d.state == "failed" and d.bounce_class == "message_too_large"


async def test_expired_before_sending_fails_without_contacting_relay(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    clock = FakeClock(time.time())
    async with SimRelay() as sim:
        cfg = make_config(
            store_url, [relay("r1", sim.port)], [lane("tx", ["r1"], max_age="1h")], tmp_path
        )
        [i] = queue(store, cfg, "tx", ["late@example.test"], clock.now())
        clock.advance(3601)
        await deliver(cfg, store, clock=clock)
    assert store.reads.delivery(i).delivery.state == "failed"
    assert sim.connections == 0


async def test_refused_connection_fails_over_inside_the_lane(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay() as backup:
        cfg = make_config(
            store_url,
            [relay("primary", refusing_port()), relay("backup", backup.port)],
            [lane("tx", ["primary", "backup"], strategy="failover")],
            tmp_path,
        )
        ids = queue(store, cfg, "tx", [f"u{i}@example.test" for i in range(30)], time.time())
        stats = await deliver(cfg, store)
    assert backup.accepted == 30
    details = [store.reads.delivery(i) for i in ids]
    assert all(d.delivery.state == "sent" and d.delivery.relay == "backup" for d in details)
    moved = [a for d in details for a in d.attempts if a.relay == "primary"]
    assert moved and all(a.outcome == "relay_fault" and a.failover for a in moved)
    # 5 refusals in a row paused the relay (plus at most one per connection already
    # opening): every other delivery went straight to backup
    limit = cfg.health.infrastructure_failures + cfg.relay_by_name("primary").max_connections
    assert stats.relays["primary"].outcomes["relay_fault"] <= limit
    [paused] = [p for p in store.health.paths() if p.relay == "primary"]
    assert paused.health.state == "paused" and paused.health.cause == "infrastructure"


async def test_throttling_relay_is_skipped_and_its_share_moves(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    behaviour = Behaviour(throttle_after=2, throttle_reply="421 4.7.0 Too many messages")
    async with SimRelay(behaviour) as a, SimRelay() as b:
        cfg = make_config(
            store_url,
            [relay("a", a.port, max_connections=1), relay("b", b.port, max_connections=1)],
            [lane("mkt", ["a", "b"], purpose="marketing", strategy="failover")],
            tmp_path,
        )
        queue(store, cfg, "mkt", [f"u{i}@example.test" for i in range(10)], time.time())
        await deliver(cfg, store)
    assert a.accepted == 2 and b.accepted == 8
    # each refused delivery moved to b at once; 5 refusals in a row paused a
    assert a.commands["MAIL"] == 2 + cfg.health.infrastructure_failures
    assert store.reads.status(time.time()).by_state == {"sent": 10}


async def test_failover_never_leaves_the_lane(store: Store, store_url: str, tmp_path: Path) -> None:
    async with SimRelay() as other:
        cfg = make_config(
            store_url,
            [relay("down", refusing_port()), relay("other", other.port)],
            [lane("tx", ["down"]), lane("mkt", ["other"], purpose="marketing")],
            tmp_path,
        )
        [i] = queue(store, cfg, "tx", ["a@example.test"], time.time())
        await deliver(cfg, store)
    d = store.reads.delivery(i)
    assert d.delivery.state == "deferred"  # waits for its own lane's relay
    assert d.delivery.due_at is not None
    assert other.received == []
    assert d.attempts[-1].bounce_class == "relay_unavailable"


async def test_drop_mid_data_is_a_relay_fault_and_fails_over(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour(drop_in_data=True)) as a, SimRelay() as b:
        cfg = make_config(
            store_url, [relay("a", a.port), relay("b", b.port)], [lane("tx", ["a", "b"])], tmp_path
        )
        [i] = queue(store, cfg, "tx", ["a@example.test"], time.time())
        await deliver(cfg, store)
    d = store.reads.delivery(i)
    assert d.delivery.state == "sent" and d.delivery.relay == "b"
    assert d.attempts[0].relay == "a" and d.attempts[0].outcome == "relay_fault"


async def test_stalled_relay_times_out_and_fails_over(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour(stall=3.0)) as a, SimRelay() as b:
        cfg = make_config(
            store_url,
            [
                relay("a", a.port, timeouts={"connect": 1, "command": 1, "data_end": 0.5}),
                relay("b", b.port),
            ],
            [lane("tx", ["a", "b"])],
            tmp_path,
        )
        [i] = queue(store, cfg, "tx", ["a@example.test"], time.time())
        started = time.monotonic()
        await deliver(cfg, store)
        elapsed = time.monotonic() - started
    d = store.reads.delivery(i)
    assert d.delivery.state == "sent" and d.delivery.relay == "b"
    assert "timeout" in d.attempts[0].reply
    assert elapsed < 3.0  # never waited for the stalled relay beyond its data_end timeout


async def test_a_relay_that_cannot_be_set_up_fails_over(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay() as backup:
        cfg = make_config(
            store_url,
            [relay("broken", refusing_port()), relay("backup", backup.port)],
            [lane("tx", ["broken", "backup"])],
            tmp_path,
        )
        [i] = queue(store, cfg, "tx", ["a@example.test"], time.time())

        def sessions(relay_cfg: RelayConfig) -> SmtpSession:
            if relay_cfg.name == "broken":
                raise ssl.SSLError("cannot load the CA bundle")
            return SmtpSession(relay_cfg)

        await deliver(cfg, store, sessions=sessions)
    d = store.reads.delivery(i).delivery
    assert d.state == "sent" and d.relay == "backup"
