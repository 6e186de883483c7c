"""The aiosmtpd handler of the submission listener: one instance serves every session.

aiosmtpd checks HELO, TLS before AUTH (538) and AUTH before MAIL/RCPT/DATA (530)
itself; the hooks here add PIPELINING to EHLO, the AUTH lockout and mechanisms, the
sender and recipient checks, and DATA: prepare the message (off the loop: a large
message takes a while to parse) and answer 250 only once the committer has stored it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Protocol

from aiosmtpd.smtp import (
    MISSING,
    SMTP,
    AuthResult,
    Envelope,
    LoginPassword,
    Session,
    TLSSetupException,
)

from relaylane.auth.principal import Principal
from relaylane.clock import Clock
from relaylane.config.models import Config
from relaylane.delivery.addresses import parse_address
from relaylane.errors import InputError, Unavailable
from relaylane.intake.quota import QuotaAsk
from relaylane.store.intake import IntakeItem, IntakeOutcome
from relaylane.submission import replies
from relaylane.submission.accept import MAIL_FIELD, RCPT_FIELD, Refused, Submission, prepare
from relaylane.submission.auth import Authenticator, client_ip, read_login, read_plain
from relaylane.submission.headers import received_header

log = logging.getLogger("relaylane.submission")
# Messages up to this size are prepared on the event loop (typically well under 1 ms).
INLINE_BYTES = 256 * 1024


class Submitter(Protocol):
    """The group committer (`relaylane.intake.committer.Committer`)."""

    async def submit(self, item: IntakeItem) -> IntakeOutcome: ...


class SubmissionHandler:
    # No attribute of this class may start with "auth_": aiosmtpd takes those for
    # AUTH mechanisms.
    def __init__(
        self,
        config: Config,
        authenticator: Authenticator,
        committer: Submitter,
        clock: Clock,
        hostname: str,
    ) -> None:
        self.config = config
        self.authenticator = authenticator
        self.committer = committer
        self.clock = clock
        self.hostname = hostname

    # -- EHLO and AUTH -------------------------------------------------------------------

    async def handle_EHLO(
        self, server: SMTP, session: Session, envelope: Envelope, hostname: str, lines: list[str]
    ) -> list[str]:
        session.host_name = hostname  # with this hook, aiosmtpd leaves it to us
        return [*lines[:-1], "250-PIPELINING", lines[-1]]

    async def handle_AUTH(
        self, server: SMTP, session: Session, envelope: Envelope, args: list[str]
    ) -> Any:
        locked = self.authenticator.lockout_reply(client_ip(session.peer))
        return MISSING if locked is None else locked

    async def auth_PLAIN(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._check(server, await read_plain(server, args))

    async def auth_LOGIN(self, server: SMTP, args: list[str]) -> AuthResult:
        return await self._check(server, await read_login(server, args))

    async def _check(self, server: SMTP, creds: LoginPassword | None) -> AuthResult:
        if creds is None:  # answered already
            return AuthResult(success=False, handled=True)
        assert server.session is not None
        return await self.authenticator.check(client_ip(server.session.peer), creds)

    # -- the transaction -----------------------------------------------------------------

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address == "<>":
            return replies.NULL_SENDER
        refusal = _address_problem(address, MAIL_FIELD, envelope, "5.1.7")
        if refusal is not None:
            return refusal
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return replies.SENDER_OK

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if len(envelope.rcpt_tos) >= self.config.submission.max_recipients:
            return replies.TOO_MANY_RECIPIENTS
        refusal = _address_problem(address, RCPT_FIELD, envelope, "5.1.3")
        if refusal is not None:
            return refusal
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return replies.RECIPIENT_OK

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        principal = session.auth_data
        if not session.authenticated or not isinstance(principal, Principal):
            return replies.AUTH_REQUIRED  # aiosmtpd has refused DATA already; never relay
        now = self.clock.now()
        submission = Submission(
            principal=principal,
            mail_from=str(envelope.mail_from),
            rcpt_tos=tuple(envelope.rcpt_tos),
            content=bytes(envelope.original_content or b""),
            trace=self._trace(server, session, now),
        )
        try:
            if len(submission.content) > INLINE_BYTES:  # keep the loop free for big ones
                message = await asyncio.to_thread(prepare, self.config, submission, now)
            else:  # a thread hop costs more than the work (and contends for the GIL)
                message = prepare(self.config, submission, now)
            quota = QuotaAsk.of(principal, now, self.config.pacing.timezone)
            outcome = await self.committer.submit(IntakeItem(messages=(message,), quota=quota))
        except Refused as exc:
            return exc.reply
        except InputError as exc:  # the store refused this message's data
            return replies.input_error(exc)
        except Unavailable as exc:
            log.warning("submission from %s not queued: %s", principal.name, exc.reason)
            return replies.unavailable(exc)
        if outcome.over_quota is not None:
            log.info("submission from %s refused: %s", principal.name, outcome.over_quota.reason())
            return replies.over_quota(outcome.over_quota)
        return replies.queued(outcome.ids[0])

    async def handle_exception(self, error: Exception) -> str:
        if isinstance(error, TLSSetupException):  # aiosmtpd closes the connection
            log.info("STARTTLS handshake failed: %r", error.__cause__)
        else:
            log.error("submission session failed", exc_info=error)
        return replies.INTERNAL_ERROR

    def _trace(self, server: SMTP, session: Session, now: float) -> bytes:
        transport = server.transport
        tls = transport is not None and transport.get_extra_info("ssl_object") is not None
        return received_header(
            helo=session.host_name,
            ip=client_ip(session.peer),
            hostname=self.hostname,
            tls=tls,
            now=now,
        )


def _address_problem(address: str, field: str, envelope: Envelope, status: str) -> str | None:
    """The 553 reply for an address that is not ASCII without SMTPUTF8 (RFC 6531 3.4),
    or malformed."""
    if not address.isascii() and not envelope.smtp_utf8:
        return replies.not_ascii(field)
    try:
        parse_address(address, field=field, allow_display_name=False)
    except InputError as exc:
        return replies.input_error(exc, 553, status)
    return None
