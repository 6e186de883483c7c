"""relaylane.sim: real SMTP servers on loopback, driven by aiosmtplib over real sockets."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import ssl
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import aiosmtplib
import pytest

from relaylane.sim import Behaviour, SimRelay, refusing_port

SENDER = "sender@example.test"
MESSAGE = (
    b"From: sender@example.test\r\n"
    b"To: rcpt@example.test\r\n"
    b"Subject: hello\r\n"
    b"\r\n"
    b"first line\r\n"
    b".a line that starts with a dot\r\n"
)


def client_for(relay: SimRelay, **options: Any) -> aiosmtplib.SMTP:
    options.setdefault("start_tls", False)
    return aiosmtplib.SMTP(
        hostname=relay.host,
        port=relay.port,
        local_hostname="client.test",
        timeout=5,
        **options,
    )


class Raw:
    """A bare line-level SMTP client, to see exactly what the server sends and when it hangs up."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, relay: SimRelay) -> Raw:
        reader, writer = await asyncio.open_connection(relay.host, relay.port)
        return cls(reader, writer)

    async def reply(self) -> str:
        lines = []
        while True:
            line = await asyncio.wait_for(self.reader.readline(), 5)
            assert line, f"connection closed; reply so far {lines!r}"
            lines.append(line.decode().rstrip("\r\n"))
            if line[3:4] != b"-":
                return "\n".join(lines)

    async def cmd(self, line: str) -> str:
        self.writer.write(line.encode() + b"\r\n")
        return await self.reply()

    async def closed_by_server(self) -> bool:
        """True if the server closes the connection without sending anything more."""
        return await asyncio.wait_for(self.reader.read(), 3) == b""

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError):
            await self.writer.wait_closed()


@pytest.fixture
async def relay() -> AsyncIterator[SimRelay]:
    async with SimRelay(name="test") as started:
        yield started


# -- accepting ----------------------------------------------------------------------------


async def test_accepts_and_records_with_queue_id_in_reply(relay: SimRelay) -> None:
    assert relay.host == "127.0.0.1"
    assert relay.port > 0
    before = time.time()
    async with client_for(relay) as client:
        errors, reply = await client.sendmail(SENDER, ["a@one.test", "b@two.test"], MESSAGE)
        local_port = client.transport.get_extra_info("sockname")[1]
    assert errors == {}
    (message,) = relay.received
    assert reply == f"2.0.0 Ok: queued as {message.queue_id}"
    assert message.mail_from == SENDER
    assert message.rcpt_tos == ("a@one.test", "b@two.test")
    assert message.data == MESSAGE  # dot-stuffing undone, CRLF kept
    assert message.peer == ("127.0.0.1", local_port)
    assert message.tls is False
    assert message.auth_user is None
    assert before <= message.received_at <= time.time()
    assert relay.accepted == 1
    assert relay.connections == 1
    assert relay.commands == Counter(EHLO=1, MAIL=1, RCPT=2, DATA=1, QUIT=1)


async def test_counts_are_right_on_a_reused_connection(relay: SimRelay) -> None:
    relay.behaviour.rcpt_rules = [("nobody@", "550 5.1.1 no such user")]
    async with client_for(relay) as client:
        await client.sendmail(SENDER, ["one@x.test"], MESSAGE)
        await client.rset()
        await client.sendmail(SENDER, ["two@x.test", "three@x.test"], MESSAGE)
        with pytest.raises(aiosmtplib.SMTPRecipientsRefused):
            await client.sendmail(SENDER, ["nobody@x.test"], MESSAGE)  # client sends RSET
        await client.sendmail(SENDER, ["four@x.test"], MESSAGE)
    assert relay.connections == 1
    assert relay.accepted == 3
    assert [m.rcpt_tos for m in relay.received] == [
        ("one@x.test",),
        ("two@x.test", "three@x.test"),
        ("four@x.test",),
    ]
    assert len({m.queue_id for m in relay.received}) == 3
    assert relay.commands == Counter(EHLO=1, MAIL=4, RCPT=5, DATA=3, RSET=2, QUIT=1)


async def test_custom_accept_reply_and_behaviour_replaced_at_run_time(relay: SimRelay) -> None:
    relay.behaviour = Behaviour(accept_reply="250 2.6.0 <{queue_id}@relay> accepted {kept}")
    async with client_for(relay) as client:
        _, reply = await client.sendmail(SENDER, ["a@x.test"], MESSAGE)
        relay.behaviour = Behaviour(data_reply="451 4.3.0 try later")
        with pytest.raises(aiosmtplib.SMTPDataError):
            await client.sendmail(SENDER, ["a@x.test"], MESSAGE)
    (message,) = relay.received
    assert reply == f"2.6.0 <{message.queue_id}@relay> accepted {{kept}}"


# -- refusing -----------------------------------------------------------------------------


async def test_rcpt_rules_first_match_wins(relay: SimRelay) -> None:
    relay.behaviour.rcpt_rules = [
        (r"@blocked\.test$", "550 5.1.1 no such user"),
        (r"^vip@", "251 2.1.5 vip, will forward"),
        (r"blocked", "451 4.3.0 never reached"),
    ]
    async with client_for(relay) as client:
        errors, _ = await client.sendmail(SENDER, ["ok@fine.test", "x@blocked.test"], MESSAGE)
        await client.mail(SENDER)
        vip = await client.rcpt("vip@fine.test")
        await client.rset()
    assert list(errors) == ["x@blocked.test"]
    assert errors["x@blocked.test"].code == 550
    assert errors["x@blocked.test"].message == "5.1.1 no such user"
    assert (vip.code, vip.message) == (251, "2.1.5 vip, will forward")
    (message,) = relay.received
    assert message.rcpt_tos == ("ok@fine.test",)


@pytest.mark.parametrize("greeting", ["421 4.3.2 Service shutting down", "554 5.7.1 go away"])
async def test_greeting_refusal_then_close(relay: SimRelay, greeting: str) -> None:
    relay.behaviour.greeting_reply = greeting
    client = client_for(relay)
    with pytest.raises(aiosmtplib.SMTPConnectResponseError) as refused:
        await client.connect()
    assert refused.value.code == int(greeting[:3])
    assert not client.is_connected

    raw = await Raw.open(relay)
    assert await raw.reply() == greeting
    assert await raw.closed_by_server()
    await raw.close()
    assert relay.connections == 2
    assert relay.commands == Counter()


async def test_mail_reply_refuses_sender_until_cleared(relay: SimRelay) -> None:
    relay.behaviour.mail_reply = "530 5.7.0 Authentication required"
    async with client_for(relay) as client:
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await client.sendmail(SENDER, ["a@x.test"], MESSAGE)
        assert (refused.value.code, refused.value.message) == (530, "5.7.0 Authentication required")
        assert relay.received == []
        relay.behaviour.mail_reply = None
        await client.sendmail(SENDER, ["a@x.test"], MESSAGE)
    assert relay.accepted == 1
    assert relay.connections == 1
    assert relay.commands["MAIL"] == 2
    assert relay.commands["RCPT"] == 1


async def test_a_421_reply_closes_the_connection(relay: SimRelay) -> None:
    relay.behaviour.mail_reply = "421 4.3.2 Shutting down"
    raw = await Raw.open(relay)
    await raw.reply()
    assert (await raw.cmd("EHLO client.test")).startswith("250-relay.sim.test")
    assert await raw.cmd(f"MAIL FROM:<{SENDER}>") == "421 4.3.2 Shutting down"
    assert await raw.closed_by_server()
    await raw.close()


@pytest.mark.parametrize("data_reply", ["451 4.3.0 try later", "554 5.7.1 spam"])
async def test_data_reply_refuses_the_message(relay: SimRelay, data_reply: str) -> None:
    relay.behaviour.data_reply = data_reply
    async with client_for(relay) as client:
        with pytest.raises(aiosmtplib.SMTPDataError) as refused:
            await client.sendmail(SENDER, ["a@x.test"], MESSAGE)
    assert (refused.value.code, refused.value.message) == (int(data_reply[:3]), data_reply[4:])
    assert relay.received == []
    assert relay.accepted == 0
    assert relay.commands["DATA"] == 1


# -- slow, stalled and dropping relays ----------------------------------------------------


async def test_delay_waits_then_accepts(relay: SimRelay) -> None:
    relay.behaviour.delay = 0.2
    loop = asyncio.get_running_loop()
    async with client_for(relay) as client:
        started = loop.time()
        _, reply = await client.sendmail(SENDER, ["a@x.test"], MESSAGE)
        elapsed = loop.time() - started
    assert 0.2 <= elapsed < 3.0
    assert reply.endswith(relay.received[0].queue_id)


async def test_stall_exceeds_the_client_timeout(relay: SimRelay) -> None:
    relay.behaviour.stall = 0.6
    loop = asyncio.get_running_loop()
    client = client_for(relay)
    await client.connect()
    started = loop.time()
    with pytest.raises(aiosmtplib.SMTPTimeoutError):
        await client.sendmail(SENDER, ["a@x.test"], MESSAGE, timeout=0.2)
    assert loop.time() - started < 0.6
    assert not client.is_connected
    # The client hung up mid-stall: the relay never gets to accept the message.
    await asyncio.sleep(0.8)
    assert relay.received == []
    assert relay.accepted == 0
    assert relay.commands["DATA"] == 1


async def test_drop_in_data_closes_without_a_reply(relay: SimRelay) -> None:
    relay.behaviour.drop_in_data = True
    async with client_for(relay) as client:
        with pytest.raises(aiosmtplib.SMTPServerDisconnected):
            await client.sendmail(SENDER, ["a@x.test"], MESSAGE)

    raw = await Raw.open(relay)
    await raw.reply()
    await raw.cmd("EHLO client.test")
    assert (await raw.cmd(f"MAIL FROM:<{SENDER}>")).startswith("250")
    assert (await raw.cmd("RCPT TO:<a@x.test>")).startswith("250")
    assert (await raw.cmd("DATA")).startswith("354")
    raw.writer.write(b"Subject: x\r\n\r\nbody\r\n.\r\n")
    assert await raw.closed_by_server()  # not a byte of reply to the final dot
    await raw.close()
    assert relay.received == []
    assert relay.commands["DATA"] == 2


# -- throttling and idle timeout ----------------------------------------------------------


async def test_throttle_after_answers_421_and_closes(relay: SimRelay) -> None:
    relay.behaviour.throttle_after = 2
    async with client_for(relay) as client:
        await client.sendmail(SENDER, ["a@x.test"], MESSAGE)
        await client.sendmail(SENDER, ["b@x.test"], MESSAGE)
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await client.sendmail(SENDER, ["c@x.test"], MESSAGE)
        assert refused.value.code == 421
        assert refused.value.message == "4.7.0 Too many messages, slow down"
        assert not client.is_connected

    raw = await Raw.open(relay)  # still throttled on a new connection, and hung up on
    await raw.reply()
    await raw.cmd("EHLO client.test")
    assert (await raw.cmd(f"MAIL FROM:<{SENDER}>")).startswith("421 4.7.0")
    assert await raw.closed_by_server()
    await raw.close()
    assert relay.accepted == 2
    assert relay.commands["RCPT"] == 2


async def test_throttle_for_recovers_then_counts_again(relay: SimRelay) -> None:
    relay.behaviour.throttle_after = 1
    relay.behaviour.throttle_for = 0.5
    async with client_for(relay) as client:
        await client.sendmail(SENDER, ["a@x.test"], MESSAGE)
        with pytest.raises(aiosmtplib.SMTPSenderRefused):
            await client.sendmail(SENDER, ["b@x.test"], MESSAGE)  # throttling starts
    async with client_for(relay) as client:
        with pytest.raises(aiosmtplib.SMTPSenderRefused):
            await client.sendmail(SENDER, ["b@x.test"], MESSAGE)
    await asyncio.sleep(0.55)
    async with client_for(relay) as client:
        await client.sendmail(SENDER, ["b@x.test"], MESSAGE)
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await client.sendmail(SENDER, ["c@x.test"], MESSAGE)
    assert refused.value.code == 421
    assert [m.rcpt_tos for m in relay.received] == [("a@x.test",), ("b@x.test",)]
    assert relay.connections == 3


async def test_close_idle_after_closes_idle_connections_only(relay: SimRelay) -> None:
    relay.behaviour.close_idle_after = 0.3
    loop = asyncio.get_running_loop()

    busy = client_for(relay)
    await busy.connect()
    for _ in range(6):  # 0.6 s, but never 0.3 s without a command
        await asyncio.sleep(0.1)
        assert (await busy.noop()).code == 250

    raw = await Raw.open(relay)
    await raw.reply()
    await raw.cmd("EHLO client.test")
    idle_since = loop.time()
    assert await raw.closed_by_server()  # closed without a reply
    assert loop.time() - idle_since >= 0.25
    await raw.close()

    await asyncio.sleep(0.4)
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await busy.noop()


# -- TLS and AUTH -------------------------------------------------------------------------


async def test_starttls_is_required_before_mail(
    tls_server_context: ssl.SSLContext, tls_client_context: ssl.SSLContext
) -> None:
    relay = SimRelay(tls="starttls", tls_context=tls_server_context)
    async with relay, client_for(relay, tls_context=tls_client_context) as client:
        await client.ehlo()
        assert client.supports_extension("starttls")
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await client.mail(SENDER)
        assert refused.value.code == 530
        await client.starttls()
        assert client.get_transport_info("peercert") is not None
        await client.sendmail(SENDER, ["a@x.test"], MESSAGE)
    (message,) = relay.received
    assert message.tls is True
    assert relay.commands["STARTTLS"] == 1
    assert relay.commands["MAIL"] == 1  # the MAIL turned away before STARTTLS is not counted


async def test_starttls_certificate_is_really_checked(
    tls_server_context: ssl.SSLContext,
) -> None:
    untrusting = ssl.create_default_context()  # does not know the test CA
    loop = asyncio.get_running_loop()
    relay = await SimRelay(tls="starttls", tls_context=tls_server_context).start()
    client = client_for(relay, tls_context=untrusting)
    await client.connect()
    with pytest.raises(ssl.SSLCertVerificationError):
        await client.starttls()
    client.close()
    started = loop.time()
    await relay.stop()  # the server side may still be inside its half of the handshake
    assert loop.time() - started < 1.0
    assert relay.received == []


async def test_implicit_tls(
    tls_server_context: ssl.SSLContext, tls_client_context: ssl.SSLContext
) -> None:
    relay = SimRelay(tls="implicit", tls_context=tls_server_context)
    async with relay, client_for(relay, use_tls=True, tls_context=tls_client_context) as client:
        await client.ehlo()
        assert not client.supports_extension("starttls")
        await client.sendmail(SENDER, ["a@x.test"], MESSAGE)
    (message,) = relay.received
    assert message.tls is True
    assert message.data == MESSAGE


@pytest.mark.parametrize("mechanism", ["plain", "login"])
async def test_auth_required_wrong_password_refused_right_one_accepted(
    relay: SimRelay, mechanism: str
) -> None:
    relay.behaviour.require_auth = {"alice": "s3cret"}
    async with client_for(relay) as client:
        await client.ehlo()
        assert {"PLAIN", "LOGIN"} <= {m.upper() for m in client.server_auth_methods}
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as refused:
            await client.sendmail(SENDER, ["a@x.test"], MESSAGE)
        assert refused.value.code == 530
        authenticate = getattr(client, f"auth_{mechanism}")
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as denied:
            await authenticate("alice", "wrong")
        assert denied.value.code == 535
        assert (await authenticate("alice", "s3cret")).code == 235
        await client.sendmail(SENDER, ["a@x.test"], MESSAGE)
    (message,) = relay.received
    assert message.auth_user == "alice"
    assert relay.commands["AUTH"] == 2


async def test_auth_with_starttls_is_offered_only_after_tls(
    tls_server_context: ssl.SSLContext, tls_client_context: ssl.SSLContext
) -> None:
    behaviour = Behaviour(require_auth={"bob": "pw"})
    relay = SimRelay(behaviour, tls="starttls", tls_context=tls_server_context)
    async with relay, client_for(relay, tls_context=tls_client_context) as client:
        await client.ehlo()
        assert not client.supports_extension("auth")
        await client.starttls()
        await client.ehlo()
        assert client.supports_extension("auth")
        await client.login("bob", "pw")
        await client.sendmail(SENDER, ["a@x.test"], MESSAGE)
    (message,) = relay.received
    assert (message.tls, message.auth_user) == (True, "bob")


async def test_no_auth_offered_unless_required(relay: SimRelay) -> None:
    async with client_for(relay) as client:
        await client.ehlo()
        assert not client.supports_extension("auth")
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as denied:
            await client.auth_plain("alice", "s3cret")
        assert denied.value.code == 502


async def test_smtputf8_only_when_enabled(relay: SimRelay) -> None:
    async with client_for(relay) as client:
        await client.ehlo()
        assert not client.supports_extension("smtputf8")
    relay.behaviour.smtputf8 = True
    async with client_for(relay) as client:
        await client.ehlo()
        assert client.supports_extension("smtputf8")
        await client.sendmail(SENDER, ["josé@exämple.test"], MESSAGE, mail_options=["SMTPUTF8"])
    assert relay.received[0].rcpt_tos == ("josé@exämple.test",)


# -- refused connections, life cycle ------------------------------------------------------


async def test_refusing_port_refuses_connections() -> None:
    port = refusing_port()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, local_hostname="c.test", timeout=5)
    with pytest.raises(aiosmtplib.SMTPConnectError) as failed:
        await client.connect()
    assert isinstance(failed.value.__cause__, ConnectionRefusedError)


async def test_stop_closes_every_connection_and_the_listener() -> None:
    relay = await SimRelay(Behaviour(stall=30.0)).start()
    port = relay.port
    idle = client_for(relay)
    await idle.connect()
    stalled = client_for(relay)
    await stalled.connect()
    sending = asyncio.create_task(stalled.sendmail(SENDER, ["a@x.test"], MESSAGE))
    for _ in range(500):  # until the relay is inside its stall
        if relay.commands["DATA"]:
            break
        await asyncio.sleep(0.01)
    assert relay.commands["DATA"] == 1

    loop = asyncio.get_running_loop()
    started = loop.time()
    await relay.stop()
    assert loop.time() - started < 2.0
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await sending
    with pytest.raises(aiosmtplib.SMTPServerDisconnected):
        await idle.noop()
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    await relay.stop()  # a second stop is harmless
    assert relay.received == []
    gc.collect()  # an unclosed transport would now raise a ResourceWarning (an error here)


async def test_start_twice_and_bad_tls_arguments_are_refused(
    relay: SimRelay, tls_server_context: ssl.SSLContext
) -> None:
    with pytest.raises(RuntimeError, match="already started"):
        await relay.start()
    with pytest.raises(ValueError, match="tls_context"):
        SimRelay(tls="starttls")
    with pytest.raises(ValueError, match="tls_context"):
        SimRelay(tls_context=tls_server_context)
    with pytest.raises(ValueError, match="tls must be"):
        SimRelay(tls="bogus", tls_context=tls_server_context)  # type: ignore[arg-type]
