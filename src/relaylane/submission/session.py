"""One client connection of the submission listener: aiosmtpd's `SMTP` protocol, plus
what the server needs to shut down gracefully and the loopback AUTH exception.

- Every connection is registered in `Sessions` while it lives; `busy` is true while it
  is in DATA (receiving, preparing, committing), so that `stop()` can let exactly those
  finish and answer the others `421 4.3.2` at once.
- With `allow_plain_auth_on_loopback`, a client connected over loopback may AUTH
  before TLS (aiosmtpd only knows a per-server switch; it is set per connection here).
- On the implicit TLS listener, aiosmtpd (which only knows STARTTLS) must be told
  that the connection is TLS already, or it would refuse AUTH there.
- A few of aiosmtpd's own fixed replies are reworded to carry enhanced status codes.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any, AnyStr, cast

from aiosmtpd.smtp import SMTP

from relaylane.config.base import is_loopback_host
from relaylane.submission import replies

IDENT = "ESMTP relaylane"
# aiosmtpd's fixed replies that are worth a clearer text; {limit} is the size limit.
_REWORDED = {
    "552 Error: Too much mail data": replies.too_big,
    "552 Error: message size exceeds fixed maximum message size": replies.declared_too_big,
}


class _QuietLoginData(logging.Filter):
    """aiosmtpd logs a deprecation warning on every successful AUTH (it sets the
    deprecated `Session.login_data` itself); that is not news for an operator."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("Session.login_data is deprecated")


def quiet_aiosmtpd_logs() -> None:
    logger = logging.getLogger("mail.log")
    if not any(isinstance(f, _QuietLoginData) for f in logger.filters):
        logger.addFilter(_QuietLoginData())


CLOSE_WAIT = 2.0  # seconds to let closed connections say goodbye before aborting them


class Sessions:
    """The live connections of one server."""

    def __init__(self) -> None:
        self.live: set[Connection] = set()
        self.stopping = False

    async def drain(self, grace: float) -> None:
        """Stop: answer idle sessions at once, let those in DATA finish within `grace`,
        then close everything (aborting what does not say goodbye)."""
        self.stopping = True
        sessions = list(self.live)
        for conn in sessions:
            if not conn.busy:
                conn.shut_down()
        busy = [conn.wait_idle() for conn in sessions if conn.busy]
        if busy:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.gather(*busy), timeout=grace)
        for conn in sessions:
            conn.shut_down()  # those still busy after the grace period
        lost = [conn.lost for conn in sessions if not conn.lost.done()]
        if lost:
            await asyncio.wait(lost, timeout=CLOSE_WAIT)
        for conn in list(self.live):
            conn.abort()


class Connection(SMTP):
    def __init__(
        self,
        handler: Any,
        *,
        sessions: Sessions,
        plain_auth_on_loopback: bool,
        reworded: Mapping[str, str],
        **options: Any,
    ) -> None:
        super().__init__(handler, **options)
        self.sessions = sessions
        self.plain_auth_on_loopback = plain_auth_on_loopback
        self.reworded = reworded
        self.lost: asyncio.Future[None] = self.loop.create_future()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def busy(self) -> bool:
        return not self._idle.is_set()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    # -- connection life -----------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None  # called again with the TLS transport after STARTTLS
        if first:
            self.sessions.live.add(self)
            peer = transport.get_extra_info("peername")
            if self.plain_auth_on_loopback and peer and is_loopback_host(str(peer[0])):
                self._auth_require_tls = False  # read by aiosmtpd at EHLO and AUTH
        super().connection_made(transport)
        if first and self.sessions.stopping:
            self.shut_down()

    def connection_lost(self, error: Exception | None) -> None:
        try:
            super().connection_lost(error)
        finally:
            self.sessions.live.discard(self)
            self._idle.set()
            if not self.lost.done():
                self.lost.set_result(None)

    def shut_down(self, reply: str = replies.SHUTTING_DOWN) -> None:
        """Answer `reply` (whatever the client is doing) and close."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        cast(asyncio.WriteTransport, transport).write(reply.encode() + b"\r\n")
        transport.close()

    def _timeout_cb(self) -> None:  # aiosmtpd's idle timer: it would just hang up
        self.shut_down(replies.IDLE_TIMEOUT)

    def abort(self) -> None:
        """Drop the connection now (after a shutdown the client did not complete)."""
        if self.transport is not None:
            cast(asyncio.Transport, self.transport).abort()
        task = self._handler_coroutine
        if task is not None:
            task.cancel()

    # -- commands ------------------------------------------------------------------------

    async def smtp_DATA(self, arg: str) -> None:
        self._idle.clear()
        try:
            await super().smtp_DATA(arg)
        finally:
            self._idle.set()
        if self.sessions.stopping:
            self.shut_down()

    async def push(self, status: AnyStr) -> None:
        if isinstance(status, str):
            await super().push(self.reworded.get(status, status))
        else:
            await super().push(status)


def reworded_replies(limit: int) -> dict[str, str]:
    return {text: make(limit) for text, make in _REWORDED.items()}


def new_connection(
    handler: Any,
    sessions: Sessions,
    *,
    implicit_tls: bool,
    plain_auth_on_loopback: bool,
    reworded: Mapping[str, str],
    **options: Any,
) -> Connection:
    """A connection for a STARTTLS listener (`tls_context` in options), or for an
    implicit TLS one, whose transport is TLS from the start: aiosmtpd does not know
    that, so its "AUTH only over TLS" rule is switched off there (every byte is TLS)."""
    conn = Connection(
        handler,
        sessions=sessions,
        plain_auth_on_loopback=plain_auth_on_loopback,
        reworded=reworded,
        ident=IDENT,
        auth_required=True,
        require_starttls=False,
        enable_SMTPUTF8=True,
        **options,
    )
    if implicit_tls:
        conn._auth_require_tls = False
    return conn
