"""AUTH: only over TLS (or loopback when allowed), users from the store, revocation,
the verified-credential memory, and lockout per client IP."""

from __future__ import annotations

import asyncio
import base64
import smtplib
import ssl

import aiosmtplib
import pytest
import sqlalchemy as sa
from aiosmtpd.smtp import LoginPassword

from relaylane.auth.principal import Notify
from relaylane.auth.secrets import hash_password
from relaylane.auth.throttle import AuthThrottle
from relaylane.clock import FakeClock
from relaylane.store.credentials import SmtpUserRow
from relaylane.submission.auth import Authenticator
from tests.submission.conftest import RigFactory
from tests.submission.rig import HOST, PASSWORD, SENDER, Raw, Rig, message


async def test_auth_before_starttls_is_refused_538(lite: Rig) -> None:
    user = lite.add_user()
    client = lite.client(start_tls=False)
    await client.connect()
    ehlo = await client.ehlo()
    assert "STARTTLS" in ehlo.message and "AUTH" not in ehlo.message
    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as info:
        await client.auth_plain(user, PASSWORD)
    assert info.value.code == 538
    await client.quit()


async def test_plain_auth_on_loopback_when_allowed(make_rig: RigFactory) -> None:
    rig = await make_rig(allow_plain_auth_on_loopback=True)
    user = rig.add_user()
    client = rig.client(start_tls=False)
    await client.connect()
    assert "AUTH LOGIN PLAIN" in (await client.ehlo()).message
    assert (await client.auth_plain(user, PASSWORD)).code == 235
    await client.sendmail(SENDER, ["bob@example.test"], message())
    await client.quit()
    [row] = rig.deliveries()
    assert b"with ESMTPA;" in row.body  # authenticated, not over TLS


async def test_implicit_tls_port(make_rig: RigFactory) -> None:
    rig = await make_rig(tls_listen="127.0.0.1:0")
    assert sorted(m for _, _, m in rig.server.addresses) == ["implicit", "starttls"]
    user = rig.add_user()

    def send() -> dict[str, tuple[int, bytes]]:
        with smtplib.SMTP_SSL(HOST, rig.port("implicit"), context=rig.client_tls) as client:
            client.ehlo()
            assert not client.has_extn("starttls")
            client.login(user, PASSWORD)
            return client.sendmail(SENDER, ["bob@example.test"], message())

    assert await asyncio.to_thread(send) == {}
    assert [r.recipient for r in rig.deliveries()] == ["bob@example.test"]


async def test_self_signed_certificate_when_none_is_configured(make_rig: RigFactory) -> None:
    rig = await make_rig(tls_cert=None, tls_key=None, hostname="submit.local.test")
    user = rig.add_user()
    trusting = ssl.create_default_context()
    trusting.check_hostname = False
    trusting.verify_mode = ssl.CERT_NONE
    client = await rig.session(user, tls_context=trusting)
    await client.sendmail(SENDER, ["bob@example.test"], message())
    await client.quit()
    assert len(rig.deliveries()) == 1
    with pytest.raises(ssl.SSLCertVerificationError):  # and it is not trusted by default
        await rig.client(tls_context=ssl.create_default_context()).connect()


async def test_wrong_password_and_unknown_user_535(lite: Rig) -> None:
    user = lite.add_user()
    client = lite.client()
    await client.connect()
    await client.ehlo()
    for name, password in ((user, "wrong"), ("nobody", PASSWORD), ("", PASSWORD)):
        with pytest.raises(aiosmtplib.SMTPAuthenticationError) as info:
            await client.auth_plain(name, password)
        assert (info.value.code, info.value.message) == (
            535,
            "5.7.8 Authentication credentials invalid",
        )
    assert (await client.auth_plain(user, PASSWORD)).code == 235
    await client.quit()


async def test_revoked_user_is_refused_even_when_remembered(lite: Rig) -> None:
    user = lite.add_user()
    first = await lite.session(user)  # verified once: now remembered
    await first.quit()
    lite.store.credentials.revoke_smtp_user(user, now=1.0)
    client = lite.client()
    await client.connect()
    await client.ehlo()
    with pytest.raises(aiosmtplib.SMTPAuthenticationError) as info:
        await client.auth_plain(user, PASSWORD)
    assert info.value.code == 535
    await client.quit()


async def test_verified_credentials_are_remembered(lite: Rig) -> None:
    slow_hash = hash_password(PASSWORD)  # the real cost, once
    lite.store.credentials.add_smtp_user(
        name="busy", password_hash=slow_hash, lanes=("tx",), notify=Notify.NONE, now=0.0
    )
    for _ in range(3):
        client = await lite.session("busy")
        await client.quit()
    assert lite.server.authenticator.verifications == 1
    client = lite.client()
    await client.connect()
    await client.ehlo()
    with pytest.raises(aiosmtplib.SMTPAuthenticationError):
        await client.auth_plain("busy", PASSWORD + "x")  # another password: checked again
    await client.quit()
    assert lite.server.authenticator.verifications == 2


async def test_failed_auth_locks_out_one_ip_not_another(make_rig: RigFactory) -> None:
    rig = await make_rig(auth_max_failures=3, auth_failure_window="10m", auth_lockout="15m")
    user = rig.add_user()

    async def attempt(ip: str, password: str) -> tuple[int, str]:
        client = rig.client(source_address=(ip, 0))
        await client.connect()
        await client.ehlo()
        try:
            response = await client.auth_plain(user, password)
        except aiosmtplib.SMTPAuthenticationError as exc:
            return exc.code, exc.message
        finally:
            await client.quit()
        return response.code, response.message

    for _ in range(3):
        assert (await attempt("127.0.0.2", "guess"))[0] == 535
    locked = await attempt("127.0.0.2", PASSWORD)  # right password, not even checked
    assert locked == (454, "4.7.0 Too many failed AUTH attempts from 127.0.0.2; try again in 900 s")
    assert (await attempt("127.0.0.3", PASSWORD))[0] == 235
    rig.clock.advance(600)
    assert (await attempt("127.0.0.2", PASSWORD))[1].endswith("try again in 300 s")
    rig.clock.advance(301)
    assert (await attempt("127.0.0.2", PASSWORD))[0] == 235


async def test_parallel_guesses_from_one_ip_are_bounded(make_rig: RigFactory) -> None:
    """20 wrong passwords at once from one IP: only as many are checked as failures are
    allowed; the rest are refused without a password check, and the IP is then locked."""
    rig = await make_rig(auth_max_failures=3, auth_failure_window="10m", auth_lockout="15m")
    user = rig.add_user()

    async def guess(n: int) -> int:
        client = rig.client(source_address=("127.0.0.4", 0))
        await client.connect()
        await client.ehlo()
        try:
            return (await client.auth_plain(user, f"guess-{n}")).code
        except aiosmtplib.SMTPAuthenticationError as exc:
            return exc.code
        finally:
            await client.quit()

    codes = await asyncio.gather(*(guess(n) for n in range(20)))
    assert codes.count(535) <= 3 and codes.count(454) >= 17 and 235 not in codes
    assert rig.server.authenticator.throttle.locked_for("127.0.0.4", rig.clock.now()) > 0


async def test_auth_login_lockout_answers_before_the_challenge(make_rig: RigFactory) -> None:
    rig = await make_rig(auth_max_failures=1, tls_listen="127.0.0.1:0")
    user = rig.add_user()
    raw = await Raw.open(rig.port("implicit"), rig.client_tls)
    await raw.command("EHLO client.test")
    assert (await raw.command("AUTH LOGIN")) == "334 VXNlcm5hbWU6"  # "Username:"
    assert (await raw.command(b64(user))) == "334 UGFzc3dvcmQ6"  # "Password:"
    assert (await raw.command(b64("wrong"))).startswith("535 5.7.8")
    assert (await raw.command("AUTH LOGIN")).startswith("454 4.7.0 Too many failed AUTH")
    await raw.close()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def test_plain_acting_as_another_user_is_refused(make_rig: RigFactory) -> None:
    rig = await make_rig(tls_listen="127.0.0.1:0")
    user, other = rig.add_user(), rig.add_user()
    raw = await Raw.open(rig.port("implicit"), rig.client_tls)
    await raw.command("EHLO client.test")
    token = b64(f"{other}\0{user}\0{PASSWORD}")
    assert (await raw.command(f"AUTH PLAIN {token}")).startswith("535 5.7.8 Acting as another")
    assert (await raw.command("AUTH PLAIN")) == "334 "
    assert (await raw.command(b64(f"{user}\0{user}\0{PASSWORD}"))).startswith("235 ")
    await raw.close()


class DownDirectory:
    def smtp_user(self, name: str) -> SmtpUserRow:
        raise sa.exc.OperationalError("SELECT ...", {}, ConnectionError("gone"))


async def test_store_down_during_auth_is_temporary_and_not_a_failure() -> None:
    throttle = AuthThrottle(max_failures=1, window=60, lockout=60)
    authenticator = Authenticator(DownDirectory(), throttle, FakeClock())
    try:
        result = await authenticator.check("127.0.0.9", LoginPassword(b"app", b"pw"))
    finally:
        authenticator.close()
    assert not result.success
    assert result.message == "454 4.7.0 Temporary authentication failure; try again later"
    assert throttle.locked_for("127.0.0.9", FakeClock().now()) == 0
