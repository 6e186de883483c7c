"""Connection hygiene of one SMTP session, against a real server."""

from __future__ import annotations

import asyncio
from pathlib import Path

from relaylane.config import load_config_data
from relaylane.config.models import RelayConfig
from relaylane.delivery.session import SmtpSession, parse_queue_id
from relaylane.policy.vocabulary import Stage
from relaylane.sim import Behaviour, SimRelay
from tests.helpers import lane, relay

BODY = b"From: a@tx.acme.test\r\nTo: b@example.test\r\nSubject: t\r\n\r\nhello\r\n.dot line\r\n"


def relay_config(port: int, tmp_path: Path, **extra: object) -> RelayConfig:
    cfg = load_config_data(
        {"relay": [relay("r1", port, **extra)], "lane": [lane("tx", ["r1"])]},
        source="<test>",
        base_dir=tmp_path,
        env={},
    )
    return cfg.relay_by_name("r1")


async def test_relay_closing_an_idle_connection_costs_no_attempt(tmp_path: Path) -> None:
    async with SimRelay(Behaviour(close_idle_after=0.2)) as sim:
        session = SmtpSession(relay_config(sim.port, tmp_path))
        first = await session.send("a@tx.acme.test", "b@example.test", BODY, False)
        await asyncio.sleep(0.5)  # the relay drops the idle connection
        second = await session.send("a@tx.acme.test", "c@example.test", BODY, False)
        await session.close()
    assert first.accepted and second.accepted
    assert sim.accepted == 2 and sim.connections == 2


async def test_rset_after_a_refused_transaction_and_the_connection_is_kept(tmp_path: Path) -> None:
    rules = [(r"^no@", "550 5.1.1 No such user")]
    async with SimRelay(Behaviour(rcpt_rules=rules)) as sim:
        session = SmtpSession(relay_config(sim.port, tmp_path))
        refused = await session.send("a@tx.acme.test", "no@example.test", BODY, False)
        ok = await session.send("a@tx.acme.test", "yes@example.test", BODY, False)
        await session.close()
    assert (refused.stage, refused.code) == (Stage.RCPT, 550)
    assert ok.accepted
    assert sim.commands["RSET"] == 1 and sim.connections == 1
    assert sim.received[0].data.endswith(b".dot line\r\n")  # dot-stuffing undone by the relay


async def test_connection_closed_after_421(tmp_path: Path) -> None:
    async with SimRelay(Behaviour(mail_reply="421 4.7.0 Try again later")) as sim:
        session = SmtpSession(relay_config(sim.port, tmp_path))
        report = await session.send("a@tx.acme.test", "b@example.test", BODY, False)
        assert report.code == 421 and report.stage is Stage.MAIL
        assert not session.connected
        await session.close()


async def test_quit_when_closed_politely(tmp_path: Path) -> None:
    async with SimRelay() as sim:
        session = SmtpSession(relay_config(sim.port, tmp_path))
        await session.send("a@tx.acme.test", "b@example.test", BODY, False)
        await session.close()
        await asyncio.sleep(0.05)
    assert sim.commands["QUIT"] == 1


def test_queue_id_is_read_from_common_replies() -> None:
    assert parse_queue_id("2.0.0 Ok: queued as 4XyZ12") == "4XyZ12"
    assert parse_queue_id("Ok: queued as <abc.def@relay>") == "abc.def@relay"
    assert parse_queue_id("2.0.0 OK id=1qA2-000B3c-Dd") == "1qA2-000B3c-Dd"
    assert parse_queue_id("Ok 0100018c2f3e4d5e-abcdef12-3456") == "0100018c2f3e4d5e-abcdef12-3456"
    assert parse_queue_id("2.0.0 Accepted") is None
