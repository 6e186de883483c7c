"""End to end, on SQLite and PostgreSQL: real clients submit, and a 250 means the
deliveries are in the store at that moment."""

from __future__ import annotations

import asyncio
import re
import smtplib

import aiosmtplib
import pytest

from relaylane.auth.principal import Notify
from tests.submission.rig import HOST, PASSWORD, SENDER, Rig, message

QUEUED = re.compile(r"2\.0\.0 queued as (\d+(?:,\d+)*)$")


def queued_ids(reply: str) -> list[int]:
    match = QUEUED.search(reply)
    assert match, reply
    return [int(i) for i in match.group(1).split(",")]


async def test_starttls_auth_plain_queues_before_250(rig: Rig) -> None:
    user = rig.add_user()
    raw = message(
        to="Bob <bob@example.test>",
        headers=(
            b"X-Relaylane-Lane: tx\r\nX-Relaylane-Tags: a,\r\n b\r\nReturn-Path: <x@evil.test>\r\n"
            b"Received: from upstream.test by app.test; Mon, 1 Jan 2029 00:00:00 +0000\r\n"
        ),
    )
    client = await rig.session(user)
    errors, reply = await client.sendmail(
        SENDER, ["bob@example.test", "Bob@Example.test", "carol@other.test"], raw
    )
    await client.quit()

    assert errors == {}
    rows = rig.deliveries()  # read right after the 250, before anything else runs
    assert sorted(r.id for r in rows) == sorted(queued_ids(reply))
    assert [r.recipient for r in rows] == ["bob@example.test", "carol@other.test"]
    assert {r.lane for r in rows} == {"tx"}
    assert {r.mail_from for r in rows} == {SENDER}
    assert {(r.source, r.submitter, r.notify) for r in rows} == {("smtp", user, None)}
    body = rows[0].body
    assert b"X-Relaylane" not in body and b"Return-Path" not in body
    assert b"Received: from upstream.test" in body  # trace headers are kept
    assert body.startswith(b"Received: from localhost ([127.0.0.1])\r\n")  # ours, on top
    assert b"\tby mx.relaylane.test (relaylane) with ESMTPSA;\r\n" in body
    assert b"carol" not in body  # only in RCPT: a blind copy, as sent


async def test_auth_login_with_smtplib(rig: Rig) -> None:
    user = rig.add_user(notify=Notify.DSN)

    def send() -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP(HOST, rig.port(), timeout=10) as client:
            client.starttls(context=rig.client_tls)
            client.ehlo()
            client.user, client.password = user, PASSWORD
            code, _ = client.auth("LOGIN", client.auth_login)
            assert code == 235
            return client.sendmail(SENDER, ["dave@example.test"], message())

    assert await asyncio.to_thread(send) == {}
    [row] = rig.deliveries()
    assert (row.recipient, row.lane, row.notify) == ("dave@example.test", "tx", "dsn")


async def test_lane_header_picks_another_allowed_lane(rig: Rig) -> None:
    user = rig.add_user(("tx", "tx2"))
    client = await rig.session(user)
    raw = message(from_="alerts@alerts.acme.test", headers=b"x-relaylane-lane:  tx2 \r\n")
    await client.sendmail(SENDER, ["bob@example.test"], raw)
    await client.quit()
    [row] = rig.deliveries()
    assert row.lane == "tx2"
    assert b"relaylane-lane" not in row.body.lower()


async def test_lane_the_user_may_not_use_is_refused(rig: Rig) -> None:
    user = rig.add_user(("tx",))
    client = await rig.session(user)
    with pytest.raises(aiosmtplib.SMTPDataError) as info:
        await client.sendmail(
            SENDER, ["bob@example.test"], message(headers=b"X-Relaylane-Lane: mkt\r\n")
        )
    assert info.value.code == 550
    assert info.value.message.startswith("5.7.1 X-Relaylane-Lane:")
    assert "may not send into lane 'mkt' (allowed: tx)" in info.value.message
    await client.quit()
    assert rig.deliveries() == []


async def test_from_domain_outside_the_lane_is_refused_with_the_reason(rig: Rig) -> None:
    user = rig.add_user()
    client = await rig.session(user)
    with pytest.raises(aiosmtplib.SMTPDataError) as info:
        await client.sendmail(SENDER, ["bob@example.test"], message(from_="ceo@acme.test"))
    assert info.value.code == 550
    assert "5.7.1 From header: lane 'tx' may not send as 'acme.test'" in info.value.message
    assert "Fix: " in info.value.message
    await client.quit()
    assert rig.deliveries() == []


async def test_default_lane_is_the_users_first(rig: Rig) -> None:
    user = rig.add_user(("tx2", "tx"))
    client = await rig.session(user)
    await client.sendmail(SENDER, ["bob@example.test"], message())
    await client.quit()
    assert [r.lane for r in rig.deliveries()] == ["tx2"]


async def test_8bitmime_body_is_stored_7bit(rig: Rig) -> None:
    user = rig.add_user()
    raw = message(
        headers=b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n",
        body="Grüße aus Köln\r\n".encode(),
    )
    client = await rig.session(user)
    ehlo = await client.ehlo()
    assert "8BITMIME" in ehlo.message
    await client.sendmail(SENDER, ["bob@example.test"], raw, mail_options=["BODY=8BITMIME"])
    await client.quit()
    [row] = rig.deliveries()
    assert row.body.isascii()
    assert b"Content-Transfer-Encoding: quoted-printable" in row.body
    assert b"Gr=C3=BC=C3=9Fe aus K=C3=B6ln" in row.body


async def test_smtputf8_recipient_only_on_a_lane_whose_relays_support_it(rig: Rig) -> None:
    plain = rig.add_user(("tx",))
    intl = rig.add_user(("intl",))
    rcpt = "jöran@example.test"
    client = await rig.session(plain)
    await client.mail(SENDER, options=["SMTPUTF8"])
    await client.rcpt(rcpt, encoding="utf-8")
    with pytest.raises(aiosmtplib.SMTPDataError) as info:
        await client.data(message(to=rcpt))
    assert info.value.code == 550
    assert "needs SMTPUTF8" in info.value.message and "tx-relay" in info.value.message
    await client.quit()

    client = await rig.session(intl)
    await client.mail(SENDER, options=["SMTPUTF8"])
    await client.rcpt(rcpt, encoding="utf-8")
    reply = await client.data(message(from_="app@intl.acme.test", to=rcpt))
    assert reply.code == 250
    await client.quit()
    [row] = rig.deliveries()
    assert (row.recipient, row.lane, row.smtputf8) == (rcpt, "intl", True)


async def test_concurrent_clients_are_all_queued(lite: Rig) -> None:
    user = lite.add_user()

    async def send(n: int) -> list[int]:
        client = await lite.session(user)
        _, reply = await client.sendmail(SENDER, [f"r{n}@example.test"], message())
        await client.quit()
        return queued_ids(reply)

    ids = await asyncio.gather(*(send(n) for n in range(12)))
    assert sorted(i for batch in ids for i in batch) == list(range(1, 13))
    assert len(lite.deliveries()) == 12
    assert lite.server.authenticator.verifications == 1  # the others were remembered
