"""A relay handshake that sends no mail: connect, EHLO, STARTTLS or implicit TLS (the
certificate verified as relaylane verifies it), AUTH when configured, QUIT.

`handshake` does the I/O and returns `HandshakeFacts`; `handshake_checks` judges them.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
from dataclasses import dataclass

import aiosmtplib

from relaylane.config.base import is_loopback_host
from relaylane.config.models import RelayConfig
from relaylane.delivery.session import tls_context_for
from relaylane.doctor.report import Check, failed, passed, warned
from relaylane.policy.vocabulary import TlsMode

HANDSHAKE_LIMIT = 10.0  # seconds for any one step, whatever the relay's own timeouts
_TLS_OK = ("TLSv1.2", "TLSv1.3")


@dataclass(slots=True)
class HandshakeFacts:
    relay: str
    reached: str = "connect"  # the last stage begun: connect, ehlo, starttls, auth, quit, done
    error: str | None = None  # why `reached` failed
    tls_error: bool = False  # the failure was a TLS one (handshake, certificate)
    greeting: str | None = None
    tls_version: str | None = None  # "TLSv1.3"; None without TLS
    auth_ok: bool | None = None  # None: not attempted


class _Failed(Exception):
    pass


async def handshake(
    relay: RelayConfig, *, limit: float = HANDSHAKE_LIMIT, local_hostname: str | None = None
) -> HandshakeFacts:
    """Talk to `relay` up to QUIT; never raises for network or protocol trouble."""
    step = min(limit, relay.timeouts.connect, relay.timeouts.command)
    implicit = relay.tls is TlsMode.IMPLICIT
    context = tls_context_for(relay)
    smtp = aiosmtplib.SMTP(
        hostname=relay.server_name if implicit and relay.server_name else relay.host,
        port=None if implicit and relay.server_name else relay.port,
        local_hostname=relay.helo or local_hostname or socket.getfqdn() or "localhost",
        timeout=step,
        use_tls=implicit,
        start_tls=False,
        tls_context=context if implicit else None,
    )
    facts = HandshakeFacts(relay.name)
    try:
        async with asyncio.timeout(step * 6):
            await _talk(relay, smtp, context, step, facts)
    except Exception as exc:
        facts.error = _describe(exc)
        facts.tls_error = _is_tls(exc)
    finally:
        smtp.close()
    return facts


async def _talk(
    relay: RelayConfig,
    smtp: aiosmtplib.SMTP,
    context: ssl.SSLContext | None,
    step: float,
    facts: HandshakeFacts,
) -> None:
    if relay.tls is TlsMode.IMPLICIT and relay.server_name:
        reply = await smtp.connect(timeout=step, sock=await _tcp(relay.host, relay.port, step))
    else:
        reply = await smtp.connect(timeout=step)
    facts.greeting = f"{reply.code} {reply.message}"
    facts.reached = "ehlo"
    await smtp.ehlo()
    if relay.tls is TlsMode.STARTTLS:
        facts.reached = "starttls"
        if not smtp.supports_extension("starttls"):
            raise _Failed('the relay does not offer STARTTLS, which tls = "starttls" requires')
        await smtp.starttls(tls_context=context, server_hostname=relay.server_name or relay.host)
        await smtp.ehlo()
    ssl_object = smtp.get_transport_info("ssl_object")
    if ssl_object is not None:
        facts.tls_version = ssl_object.version()
    if relay.username:
        facts.reached = "auth"
        facts.auth_ok = False
        await smtp.login(relay.username, relay.password() or "")
        facts.auth_ok = True
    facts.reached = "quit"
    with contextlib.suppress(aiosmtplib.SMTPException, OSError):  # all was said
        await smtp.quit()
    facts.reached = "done"


async def _tcp(host: str, port: int, limit: float) -> socket.socket:
    loop = asyncio.get_running_loop()
    family, kind, proto, _, address = (await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM))[
        0
    ]
    sock = socket.socket(family, kind, proto)
    sock.setblocking(False)
    try:
        await asyncio.wait_for(loop.sock_connect(sock, address), limit)
    except BaseException:
        sock.close()
        raise
    return sock


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _is_tls(exc: BaseException) -> bool:
    return any(isinstance(e, ssl.SSLError | ssl.CertificateError) for e in _causes(exc))


def _describe(exc: BaseException) -> str:
    for cause in _causes(exc):
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"certificate not valid: {cause.verify_message or cause}"
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"
    return str(exc) or type(exc).__name__


def handshake_checks(relay: RelayConfig, facts: HandshakeFacts) -> list[Check]:
    """Connection, TLS and AUTH lines for one relay."""
    subject = f"relay {relay.name}"
    where = f"{relay.host}:{relay.port}"
    if facts.reached in ("connect", "ehlo") and facts.error:
        hint = f"check host and port of relay {relay.name}, and that it accepts connections"
        if facts.tls_error:
            return [failed(subject, "TLS", f"{where}: {facts.error}", _tls_fix(relay))]
        return [failed(subject, "connect", f"{where} at {facts.reached}: {facts.error}", hint)]
    lines = [passed(subject, "connect", f"{where} answered {facts.greeting}")]
    lines.append(_tls_line(relay, facts, subject))
    if relay.username:
        if facts.auth_ok:
            lines.append(passed(subject, "AUTH", f"logged in as {relay.username}"))
        elif facts.reached == "auth":
            lines.append(
                failed(
                    subject,
                    "AUTH",
                    f"login as {relay.username} refused: {facts.error}",
                    f"check username and the password in ${relay.password_env}",
                )
            )
    if facts.error and facts.reached not in ("starttls", "auth"):
        lines.append(failed(subject, facts.reached, facts.error))
    return lines


def _tls_line(relay: RelayConfig, facts: HandshakeFacts, subject: str) -> Check:
    if relay.tls is TlsMode.NONE:
        if is_loopback_host(relay.host):
            return passed(subject, "TLS", 'tls = "none" on loopback: traffic stays local')
        return warned(
            subject,
            "TLS",
            f'tls = "none": mail to {relay.host} crosses the network unencrypted',
            'set tls = "starttls" (port 587) or "implicit" (port 465)',
        )
    if facts.reached == "starttls" and facts.error:
        return failed(subject, "TLS", facts.error, _tls_fix(relay))
    version = facts.tls_version or "unknown"
    if version not in _TLS_OK:
        return failed(subject, "TLS", f"negotiated {version}; 1.2 or newer is needed", None)
    if not relay.verify:
        return warned(
            subject,
            "TLS",
            f"{version}, but the certificate is not verified (verify = false)",
            "set verify = true and ca_file to the CA that issued the relay's certificate",
        )
    return passed(subject, "TLS", f"{version}, certificate verified")


def _tls_fix(relay: RelayConfig) -> str:
    return (
        f"check tls, server_name and ca_file of relay {relay.name}: the certificate must "
        f"name {relay.server_name or relay.host} and chain to a trusted CA"
    )
