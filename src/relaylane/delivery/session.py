"""One SMTP connection to one relay, over aiosmtplib. It reports facts, decides nothing.

`SmtpSession.send` returns a `SendReport`: the stage the relay answered at, its code and
text, or the connection fault. Policy (relaylane.policy.classify) turns that into an
outcome. Connection hygiene lives here: RSET after a failed transaction, close after a
421, reconnect once without counting an attempt when the relay closed an idle
connection, QUIT when the connection has carried its quota or goes idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Protocol

import aiosmtplib

from relaylane.config.models import RelayConfig
from relaylane.policy.classify import Fault
from relaylane.policy.vocabulary import Stage, TlsMode

QUEUE_ID_PATTERNS = (
    re.compile(r"queued as\s+<?([\w.\-@]+)>?", re.IGNORECASE),
    re.compile(r"\bid[=:]\s*<?([\w.\-@]+)>?", re.IGNORECASE),
    re.compile(r"^(?:2\.\d\.\d\s+)?Ok:?\s+<?([\w.\-@]{6,})>?\s*$", re.IGNORECASE),
)


@dataclass(frozen=True, slots=True)
class SendReport:
    """What happened when one message was offered to a relay."""

    stage: Stage
    code: int | None
    text: str
    fault: Fault | None
    duration: float  # seconds, from the first byte of this transaction to its answer

    @property
    def accepted(self) -> bool:
        return self.stage is Stage.DATA_END and self.code is not None and 200 <= self.code < 300

    @property
    def queue_id(self) -> str | None:
        return parse_queue_id(self.text) if self.accepted else None

    def reply(self) -> str:
        if self.fault is not None:
            return f"{self.fault.value}: {self.text}"
        return f"{self.code} {self.text}"


def dot_stuff(message: bytes) -> bytes:
    """The message as sent after DATA: every line starting with "." gets another one
    (RFC 5321 4.5.2), ending with CRLF "." CRLF. `message` must use CRLF line endings."""
    stuffed = message.replace(b"\r\n.", b"\r\n..")
    if stuffed.startswith(b"."):
        stuffed = b"." + stuffed
    if not stuffed.endswith(b"\r\n"):
        stuffed += b"\r\n"
    return stuffed + b".\r\n"


def parse_queue_id(text: str) -> str | None:
    """The relay's queue id from a 250 reply ("Ok: queued as 4Xyz"), when it gives one."""
    for pattern in QUEUE_ID_PATTERNS:
        m = pattern.search(text.strip())
        if m:
            return m.group(1)
    return None


class RelaySession(Protocol):
    """The relay transport seam: one connection that can carry many transactions."""

    relay: str
    sent: int

    @property
    def exhausted(self) -> bool: ...

    async def send(self, mail_from: str, rcpt: str, data: bytes, smtputf8: bool) -> SendReport: ...

    async def close(self, polite: bool = True) -> None: ...


def tls_context_for(relay: RelayConfig) -> ssl.SSLContext | None:
    """Verified TLS by default; `verify = false` is an explicit, visible choice."""
    if relay.tls is TlsMode.NONE:
        return None
    ctx = ssl.create_default_context(cafile=str(relay.ca_file) if relay.ca_file else None)
    if not relay.verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


class _OpenFailed(Exception):
    def __init__(self, report: SendReport) -> None:
        self.report = report


class SmtpSession:
    """A pooled connection to `relay`, opened lazily on the first send."""

    def __init__(
        self,
        relay: RelayConfig,
        tls_context: ssl.SSLContext | None = None,
        local_hostname: str | None = None,
    ) -> None:
        self.relay = relay.name
        self.config = relay
        self.sent = 0
        self._tls = tls_context if tls_context is not None else tls_context_for(relay)
        self._helo = relay.helo or local_hostname or socket.getfqdn() or "localhost"
        self._smtp: aiosmtplib.SMTP | None = None

    @property
    def exhausted(self) -> bool:
        return self.sent >= self.config.max_messages_per_connection

    @property
    def connected(self) -> bool:
        return self._smtp is not None and self._smtp.is_connected

    # -- opening ------------------------------------------------------------------
    def _client(self) -> aiosmtplib.SMTP:
        cfg = self.config
        implicit = cfg.tls is TlsMode.IMPLICIT
        if implicit and cfg.server_name:
            # connect to `host` ourselves, verify the certificate as `server_name`
            return aiosmtplib.SMTP(
                hostname=cfg.server_name,
                local_hostname=self._helo,
                timeout=cfg.timeouts.command,
                use_tls=True,
                start_tls=False,
                tls_context=self._tls,
            )
        return aiosmtplib.SMTP(
            hostname=cfg.host,
            port=cfg.port,
            local_hostname=self._helo,
            timeout=cfg.timeouts.command,
            use_tls=implicit,
            start_tls=False,
            tls_context=self._tls if implicit else None,
        )

    async def _open(self) -> None:
        cfg = self.config
        t = cfg.timeouts
        implicit = cfg.tls is TlsMode.IMPLICIT
        smtp = self._client()
        started = time.monotonic()
        stage = Stage.STARTTLS if implicit else Stage.CONNECT
        try:
            if implicit and cfg.server_name:
                sock = await _tcp_connect(cfg.host, cfg.port, t.connect)
                await smtp.connect(timeout=t.connect, sock=sock)
            else:
                await smtp.connect(timeout=t.connect)
            stage = Stage.EHLO
            await smtp.ehlo()
            if cfg.tls is TlsMode.STARTTLS:
                stage = Stage.STARTTLS
                if not smtp.supports_extension("starttls"):
                    raise _OpenFailed(
                        self._report(
                            stage,
                            None,
                            "relay does not offer STARTTLS, "
                            'which this relay\'s tls = "starttls" requires',
                            Fault.TLS,
                            started,
                        )
                    )
                await smtp.starttls(
                    tls_context=self._tls, server_hostname=cfg.server_name or cfg.host
                )
                stage = Stage.EHLO
                await smtp.ehlo()
            password = cfg.password()
            if cfg.username and password is not None:
                stage = Stage.AUTH
                await smtp.login(cfg.username, password)
        except _OpenFailed:
            smtp.close()
            raise
        except BaseException as exc:
            smtp.close()
            if not isinstance(exc, Exception):
                raise
            raise _OpenFailed(self._from_exception(stage, exc, started)) from exc
        self._smtp = smtp
        self.sent = 0

    # -- sending ------------------------------------------------------------------
    async def send(self, mail_from: str, rcpt: str, data: bytes, smtputf8: bool) -> SendReport:
        started = time.monotonic()
        reused = self.connected
        if not reused:
            await self.close(polite=False)
            try:
                await self._open()
            except _OpenFailed as failed:
                return failed.report
        report = await self._transaction(mail_from, rcpt, data, smtputf8, started)
        if reused and report.fault is Fault.DISCONNECTED and report.stage is Stage.MAIL:
            # The relay closed the idle connection under us: reconnect, no attempt counted.
            await self.close(polite=False)
            try:
                await self._open()
            except _OpenFailed as failed:
                return failed.report
            report = await self._transaction(mail_from, rcpt, data, smtputf8, time.monotonic())
        await self._after(report)
        return report

    async def _transaction(
        self, mail_from: str, rcpt: str, data: bytes, smtputf8: bool, started: float
    ) -> SendReport:
        """MAIL, RCPT, DATA and the message, through aiosmtplib's command layer.

        Addresses were validated at intake and bodies are CRLF-normalised there, so this
        skips aiosmtplib's per-message address re-parsing and regex normalisation (the
        bulk of its CPU per message) and only dot-stuffs with a bytes replace.
        """
        smtp = self._smtp
        assert smtp is not None
        t = self.config.timeouts
        if smtputf8 and not smtp.supports_extension("smtputf8"):
            return self._report(
                Stage.MAIL,
                None,
                f"relay {self.relay} does not advertise SMTPUTF8, which this message needs",
                Fault.SMTPUTF8_UNSUPPORTED,
                started,
            )
        encoding = "utf-8" if smtputf8 else "ascii"
        mail_arg = b"FROM:<" + mail_from.encode(encoding) + b">"
        stage = Stage.MAIL
        try:
            reply = await smtp.execute_command(
                b"MAIL", mail_arg, *([b"SMTPUTF8"] if smtputf8 else []), timeout=t.command
            )
            if reply.code != 250:
                return self._report(stage, reply.code, reply.message, None, started)
            stage = Stage.RCPT
            reply = await smtp.execute_command(
                b"RCPT", b"TO:<" + rcpt.encode(encoding) + b">", timeout=t.command
            )
            if reply.code not in (250, 251):
                return self._report(stage, reply.code, reply.message, None, started)
            stage = Stage.DATA
            reply = await smtp.execute_command(b"DATA", timeout=t.command)
            if reply.code != 354:
                return self._report(stage, reply.code, reply.message, None, started)
            stage = Stage.DATA_END
            protocol = smtp.protocol
            if protocol is None:
                raise aiosmtplib.SMTPServerDisconnected("Connection lost")
            protocol.write(dot_stuff(data))
            reply = await protocol.read_response(timeout=t.data_end)
        except Exception as exc:
            if stage is Stage.DATA_END:
                smtp.close()  # the relay's state is unknown mid-message: never reuse
            return self._from_exception(stage, exc, started)
        if 200 <= reply.code < 300:
            self.sent += 1
        return self._report(Stage.DATA_END, reply.code, reply.message, None, started)

    async def _after(self, report: SendReport) -> None:
        """Connection hygiene after a transaction."""
        if report.accepted:
            if self.exhausted:
                await self.close()
            return
        if report.fault is Fault.SMTPUTF8_UNSUPPORTED:
            return  # nothing was sent; the connection is fine
        if report.fault is not None or report.code == 421 or report.stage in _OPEN_STAGES:
            await self.close(polite=False)
            return
        if self.connected:
            try:
                assert self._smtp is not None
                await self._smtp.rset(timeout=self.config.timeouts.command)
            except Exception:
                await self.close(polite=False)

    async def close(self, polite: bool = True) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        if polite and smtp.is_connected:
            with contextlib.suppress(Exception):  # closing anyway
                await smtp.quit(timeout=min(5.0, self.config.timeouts.command))
        smtp.close()

    # -- reporting ----------------------------------------------------------------
    def _report(
        self, stage: Stage, code: int | None, text: str, fault: Fault | None, started: float
    ) -> SendReport:
        return SendReport(stage, code, text, fault, time.monotonic() - started)

    def _from_exception(self, stage: Stage, exc: Exception, started: float) -> SendReport:
        if isinstance(exc, _OpenFailed):
            return exc.report
        if isinstance(exc, aiosmtplib.SMTPResponseException):
            code = exc.code
            if code < 0:  # aiosmtplib's local pseudo-codes
                return self._report(stage, None, exc.message, Fault.DISCONNECTED, started)
            return self._report(stage, code, exc.message, None, started)
        if isinstance(exc, TimeoutError):
            return self._report(stage, None, f"no answer in time ({exc})", Fault.TIMEOUT, started)
        if isinstance(exc, ssl.SSLError | ssl.CertificateError):
            return self._report(stage, None, f"TLS failed: {exc}", Fault.TLS, started)
        if isinstance(exc, aiosmtplib.SMTPConnectError | ConnectionRefusedError):
            cause = exc.__cause__ or exc
            if isinstance(cause, ssl.SSLError | ssl.CertificateError):
                return self._report(stage, None, f"TLS failed: {cause}", Fault.TLS, started)
            return self._report(stage, None, str(exc), Fault.REFUSED, started)
        if stage is Stage.AUTH and type(exc) is aiosmtplib.SMTPException:
            # aiosmtplib's own refusal: the relay offers no AUTH mechanism we can use
            return self._report(stage, None, str(exc), Fault.AUTH_UNSUPPORTED, started)
        if isinstance(exc, ConnectionError | OSError | aiosmtplib.SMTPException):
            return self._report(
                stage, None, str(exc) or type(exc).__name__, Fault.DISCONNECTED, started
            )
        raise exc


_OPEN_STAGES = frozenset({Stage.CONNECT, Stage.EHLO, Stage.STARTTLS, Stage.AUTH})


async def _tcp_connect(host: str, port: int, limit: float) -> socket.socket:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    last: OSError | None = None
    for family, kind, proto, _, addr in infos:
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, addr), limit)
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise ConnectionRefusedError(str(last) if last else f"cannot connect to {host}:{port}")
