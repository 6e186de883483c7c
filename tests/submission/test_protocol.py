"""The SMTP conversation: extensions, pipelining, smuggling, open-relay attempts,
size and recipient limits, malformed input."""

from __future__ import annotations

import aiosmtplib
import pytest

from tests.submission.conftest import RigFactory
from tests.submission.rig import SENDER, Raw, Rig, message


@pytest.fixture
async def rig(make_rig: RigFactory) -> Rig:
    return await make_rig(tls_listen="127.0.0.1:0", max_message_size=20_000, max_recipients=3)


async def logged_in(rig: Rig) -> Raw:
    raw = await Raw.open(rig.port("implicit"), rig.client_tls)
    await raw.login(rig.add_user())
    return raw


async def test_ehlo_advertises_the_extensions(rig: Rig) -> None:
    raw = await Raw.open(rig.port("implicit"), rig.client_tls)
    lines = (await raw.command("EHLO client.test")).splitlines()
    assert lines[0] == "250-mx.relaylane.test"
    for extension in ("SIZE 20000", "8BITMIME", "SMTPUTF8", "PIPELINING", "AUTH LOGIN PLAIN"):
        assert any(line[4:] == extension for line in lines), (extension, lines)
    await raw.close()


async def test_pipelined_commands_are_answered_in_order(rig: Rig) -> None:
    raw = await logged_in(rig)
    await raw.send(
        b"MAIL FROM:<bounces@tx.acme.test>\r\n"
        b"RCPT TO:<bob@example.test>\r\n"
        b"RCPT TO:<not an address>\r\n"
        b"RCPT TO:<carol@example.test>\r\n"
        b"DATA\r\n"
    )
    answers = [(await raw.reply())[:3] for _ in range(5)]
    assert answers == ["250", "250", "553", "250", "354"]
    await raw.send(message() + b".\r\n")
    assert (await raw.reply()).startswith("250 2.0.0 queued as ")
    assert [r.recipient for r in rig.deliveries()] == ["bob@example.test", "carol@example.test"]
    await raw.close()


SMUGGLED = (
    b"MAIL FROM:<bounces@tx.acme.test>\r\n"
    b"RCPT TO:<smuggled@evil.test>\r\n"
    b"DATA\r\n"
    b"From: app@tx.acme.test\r\nTo: smuggled@evil.test\r\nSubject: smuggled\r\n\r\nGotcha\r\n"
)


@pytest.mark.parametrize("ending", [b"\n.\n", b"\r.\r", b"\r\n.\n", b"\n.\r\n", b"\n", b"\r"])
async def test_bare_cr_or_lf_and_smuggling_queue_nothing(rig: Rig, ending: bytes) -> None:
    raw = await logged_in(rig)
    for line in ("MAIL FROM:<bounces@tx.acme.test>", "RCPT TO:<bob@example.test>", "DATA"):
        await raw.command(line)
    data = message().removesuffix(b"\r\n") + ending + SMUGGLED + b"\r\n.\r\n"
    await raw.send(data)
    assert await raw.reply() == ("550 5.6.0 Message contains bare CR or LF; use CRLF line endings")
    assert (await raw.command("NOOP")).startswith("250")  # the session goes on, in step
    assert rig.deliveries() == []
    await raw.close()


@pytest.mark.parametrize("tls", [False, True])
async def test_no_relaying_without_auth(rig: Rig, tls: bool) -> None:
    client = rig.client(start_tls=tls)
    await client.connect()
    await client.ehlo()
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as sender:
        await client.mail(SENDER)
    assert (sender.value.code, sender.value.message) == (530, "5.7.0 Authentication required")
    for rcpt in ("bob@example.test", "postmaster@mx.relaylane.test", "root@localhost"):
        response = await client.execute_command(b"RCPT", f"TO:<{rcpt}>".encode())
        assert (response.code, response.message) == (530, "5.7.0 Authentication required")
    assert (await client.execute_command(b"DATA")).code == 530
    await client.quit()
    assert rig.deliveries() == []


async def test_message_over_the_size_limit_552(rig: Rig) -> None:
    raw = await logged_in(rig)
    declared = await raw.command("MAIL FROM:<bounces@tx.acme.test> SIZE=20001")
    assert declared == "552 5.3.4 Declared SIZE exceeds the size limit of 20000 bytes"
    for line in ("MAIL FROM:<bounces@tx.acme.test> SIZE=19000", "RCPT TO:<bob@example.test>"):
        assert (await raw.command(line)).startswith("250")
    assert (await raw.command("DATA")).startswith("354")
    await raw.send(message(body=b"x" * 70 + b"\r\n") * 300 + b".\r\n")
    assert await raw.reply() == "552 5.3.4 Message exceeds the size limit of 20000 bytes"
    assert rig.deliveries() == []
    await raw.close()


async def test_message_over_the_size_limit_once_encoded_552(rig: Rig) -> None:
    client = await rig.session(rig.add_user())
    eight_bit = message(
        headers=b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n",
        body=("é" * 70 + "\r\n").encode() * 100,  # 14 kB as sent, 43 kB quoted-printable
    )
    with pytest.raises(aiosmtplib.SMTPDataError) as info:
        await client.sendmail(SENDER, ["bob@example.test"], eight_bit)
    assert (info.value.code, info.value.message) == (
        552,
        "5.3.4 Message exceeds the size limit of 20000 bytes",
    )
    await client.quit()


async def test_too_many_recipients_452(rig: Rig) -> None:
    client = await rig.session(rig.add_user())
    await client.mail(SENDER)
    for n in range(3):
        await client.rcpt(f"r{n}@example.test")
    with pytest.raises(aiosmtplib.SMTPRecipientRefused) as info:
        await client.rcpt("r3@example.test")
    assert (info.value.code, info.value.message) == (452, "4.5.3 Too many recipients")
    await client.data(message())
    await client.quit()
    assert len(rig.deliveries()) == 3


async def test_malformed_message_550_with_the_fix(rig: Rig) -> None:
    client = await rig.session(rig.add_user())
    with pytest.raises(aiosmtplib.SMTPDataError) as info:
        await client.sendmail(SENDER, ["bob@example.test"], b"Subject: no sender\r\n\r\nHi\r\n")
    assert info.value.code == 550
    assert info.value.message.startswith("5.6.0 the message has no From header. Fix: ")
    await client.quit()
    assert rig.deliveries() == []


async def test_sender_and_recipient_syntax(rig: Rig) -> None:
    raw = await logged_in(rig)
    assert (await raw.command("MAIL FROM:<>")).startswith("550 5.7.1 The null sender")
    assert (await raw.command("MAIL FROM:<no-at-sign>")).startswith("553 5.1.7 MAIL FROM: ")
    utf8 = "RCPT TO:<jöran@example.test>"
    assert (await raw.command("MAIL FROM:<bounces@tx.acme.test>")).startswith("250")
    assert (await raw.command(utf8)).startswith("553 5.6.7 RCPT TO has a non-ASCII address")
    assert (await raw.command("RSET")).startswith("250")
    assert (await raw.command("MAIL FROM:<bounces@tx.acme.test> SMTPUTF8")).startswith("250")
    assert (await raw.command(utf8)).startswith("250")
    await raw.close()
