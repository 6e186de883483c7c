"""`SimRelay`: a real SMTP server on loopback, inside the caller's event loop.

Built on aiosmtpd's `SMTP` protocol: one protocol object per connection, served by
``loop.create_server``; no threads. The handler hooks (``handle_EHLO/AUTH/MAIL/RCPT/
DATA``) carry out the `Behaviour`; the protocol subclass counts commands, sends the
custom greeting, hangs up after a reply when asked, and keeps track of live connections
so that `SimRelay.stop` can close them all.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import socket
import ssl
import time
import warnings
from collections import Counter
from collections.abc import Callable, Coroutine
from typing import Any, Literal

from aiosmtpd.smtp import MISSING, SMTP, AuthResult

from relaylane.sim.behaviour import (
    Behaviour,
    Received,
    ThrottleState,
    closes_connection,
    is_positive,
)

TlsMode = Literal["none", "starttls", "implicit"]
LOOPBACK = "127.0.0.1"
_IDENT = "ESMTP relaylane-sim"
_NO_IDLE_LIMIT = 86_400.0  # aiosmtpd always arms an idle timer; "None" means a day
_STOP_GRACE = 5.0  # seconds stop() waits for cancelled client tasks to end
_LOST_GRACE = 0.1  # ... and then for connection_lost of the aborted connections

_Method = Callable[[str | None], Coroutine[Any, Any, None]]


class _Connection(SMTP):
    """One client connection."""

    def __init__(self, relay: SimRelay, *, offers_auth: bool, **options: Any) -> None:
        self.relay = relay
        self.offers_auth = offers_auth
        self.hangup = False  # set by a hook: close the connection after this reply
        loop: asyncio.AbstractEventLoop = options["loop"]
        self.lost: asyncio.Future[None] = loop.create_future()
        super().__init__(relay._handler, **options)

    # -- connection life -------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        first = self.transport is None  # called again on the TLS transport after STARTTLS
        super().connection_made(transport)
        if first:
            self.relay._live.add(self)
            self.relay.peak_connections = max(self.relay.peak_connections, len(self.relay._live))

    def connection_lost(self, error: Exception | None) -> None:
        try:
            super().connection_lost(error)
        finally:
            self.relay._live.discard(self)
            if not self.lost.done():
                self.lost.set_result(None)

    async def _handle_client(self) -> None:
        # aiosmtpd has no greeting hook: its client loop sends the 220 first thing.
        greeting = self.relay.behaviour.greeting_reply
        if greeting is None:
            await super()._handle_client()
            return
        with contextlib.suppress(ConnectionError):
            await self.push(greeting)
        self.close()

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        if isinstance(self.transport, asyncio.Transport):
            self.transport.abort()

    def uses_tls(self) -> bool:
        return self.transport is not None and (
            self.transport.get_extra_info("ssl_object") is not None
        )

    def cancel_client_task(self) -> asyncio.Task[None] | None:
        """Cancel aiosmtpd's task serving this client; return it to be awaited."""
        task: asyncio.Task[None] | None = self._handler_coroutine
        if task is not None:
            task.cancel()
        return task

    # -- commands: count every dispatched command, hang up after the reply if asked ---

    async def _run(self, verb: str, method: _Method, arg: str | None) -> None:
        self.relay.commands[verb] += 1
        await method(arg)
        if self.hangup:
            self.close()

    async def smtp_EHLO(self, arg: str | None) -> None:
        await self._run("EHLO", super().smtp_EHLO, arg)

    async def smtp_HELO(self, arg: str | None) -> None:
        await self._run("HELO", super().smtp_HELO, arg)

    async def smtp_STARTTLS(self, arg: str | None) -> None:
        await self._run("STARTTLS", super().smtp_STARTTLS, arg)

    async def smtp_AUTH(self, arg: str | None) -> None:
        await self._run("AUTH", super().smtp_AUTH, arg)

    async def smtp_MAIL(self, arg: str | None) -> None:
        await self._run("MAIL", super().smtp_MAIL, arg)

    async def smtp_RCPT(self, arg: str | None) -> None:
        await self._run("RCPT", super().smtp_RCPT, arg)

    async def smtp_DATA(self, arg: str | None) -> None:
        await self._run("DATA", super().smtp_DATA, arg)

    async def smtp_RSET(self, arg: str | None) -> None:
        await self._run("RSET", super().smtp_RSET, arg)

    async def smtp_NOOP(self, arg: str | None) -> None:
        await self._run("NOOP", super().smtp_NOOP, arg)

    async def smtp_QUIT(self, arg: str | None) -> None:
        await self._run("QUIT", super().smtp_QUIT, arg)


class _Handler:
    """aiosmtpd handler hooks carrying out the relay's `Behaviour`.

    A hook that returns a reply (not aiosmtpd's MISSING) takes over the command, so the
    MAIL and RCPT hooks fill the envelope themselves when they accept.
    """

    def __init__(self, relay: SimRelay) -> None:
        self._relay = relay

    @staticmethod
    def _answer(conn: _Connection, reply: str) -> str:
        if closes_connection(reply):
            conn.hangup = True
        return reply

    async def handle_EHLO(
        self, conn: _Connection, session: Any, envelope: Any, hostname: str, lines: list[str]
    ) -> list[str]:
        session.host_name = hostname  # aiosmtpd leaves this to a handle_EHLO hook
        if not conn.offers_auth:
            lines = [line for line in lines if not line[4:].startswith("AUTH")]
        return lines

    async def handle_AUTH(self, conn: _Connection, session: Any, envelope: Any, args: Any) -> Any:
        return MISSING if conn.offers_auth else "502 5.5.1 AUTH not available"

    def authenticate(
        self, conn: _Connection, session: Any, envelope: Any, mechanism: str, auth_data: Any
    ) -> AuthResult:
        user = auth_data.login.decode("utf-8", "replace")
        password = auth_data.password.decode("utf-8", "replace")
        users = self._relay.behaviour.require_auth or {}
        ok = user in users and users[user] == password
        return AuthResult(success=ok, handled=False, auth_data=user if ok else None)

    async def handle_MAIL(
        self, conn: _Connection, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        behaviour = self._relay.behaviour
        if self._relay._throttle.refuses(behaviour, asyncio.get_running_loop().time()):
            conn.hangup = True
            return behaviour.throttle_reply
        reply = behaviour.mail_reply
        if reply is not None and not is_positive(reply):
            return self._answer(conn, reply)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return reply or "250 2.1.0 Ok"

    async def handle_RCPT(
        self, conn: _Connection, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        reply = self._relay.behaviour.rcpt_reply(address)
        if reply is not None and not is_positive(reply):
            return self._answer(conn, reply)
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return reply or "250 2.1.5 Ok"

    async def handle_DATA(self, conn: _Connection, session: Any, envelope: Any) -> str:
        behaviour = self._relay.behaviour
        wait = behaviour.delay + behaviour.stall
        if wait > 0:
            await asyncio.sleep(wait)
        if behaviour.drop_in_data:
            # Hang up and never return: connection_lost cancels this client's task, so
            # aiosmtpd never gets to write a reply to the final dot.
            conn.close()
            await asyncio.shield(conn.lost)
            raise ConnectionResetError("dropped in DATA")  # pragma: no cover
        reply = behaviour.data_reply
        if reply is not None and not is_positive(reply):
            return self._answer(conn, reply)
        queue_id = self._relay._next_queue_id()
        peer = session.peer
        self._relay._record(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=tuple(envelope.rcpt_tos),
                data=bytes(envelope.original_content),
                queue_id=queue_id,
                peer=(str(peer[0]), int(peer[1])),
                tls=conn.uses_tls(),
                auth_user=session.auth_data if session.authenticated else None,
                received_at=time.time(),
            )
        )
        return (reply or behaviour.accept_reply).replace("{queue_id}", queue_id)


class SimRelay:
    """A loopback SMTP relay whose answers follow `behaviour`.

    ``tls="starttls"`` offers STARTTLS and requires it before anything but EHLO/NOOP/
    QUIT; ``tls="implicit"`` speaks TLS from the first byte. Both need `tls_context`
    (a server-side context). AUTH, when `Behaviour.require_auth` is set, is offered
    only over TLS when ``tls="starttls"``, and from the start otherwise.

    `commands` counts the commands that reached command handling, whatever the reply;
    lines aiosmtpd turns away before that (530 before STARTTLS, unknown verbs, over-long
    lines) are not counted.
    """

    def __init__(
        self,
        behaviour: Behaviour | None = None,
        *,
        name: str = "sim",
        tls: TlsMode = "none",
        tls_context: ssl.SSLContext | None = None,
        hostname: str = "relay.sim.test",
    ) -> None:
        if tls not in ("none", "starttls", "implicit"):
            raise ValueError(f"tls must be 'none', 'starttls' or 'implicit', not {tls!r}")
        if tls != "none" and tls_context is None:
            raise ValueError(f"tls={tls!r} needs a server-side tls_context")
        if tls == "none" and tls_context is not None:
            raise ValueError("a tls_context is given but tls='none'; say 'starttls' or 'implicit'")
        self.behaviour = behaviour if behaviour is not None else Behaviour()
        self.name = name
        self.tls: TlsMode = tls
        self.tls_context = tls_context
        self.hostname = hostname
        self.host = LOOPBACK
        self.port = 0
        self.received: list[Received] = []
        self.connections = 0
        self.peak_connections = 0  # the most connections open at once
        self.commands: Counter[str] = Counter()
        self.accepted = 0
        self._handler = _Handler(self)
        self._throttle = ThrottleState()
        self._live: set[_Connection] = set()
        self._ids = itertools.count(1)
        self._server: asyncio.Server | None = None

    def __repr__(self) -> str:
        return f"<SimRelay {self.name} {self.host}:{self.port} tls={self.tls}>"

    async def start(self) -> SimRelay:
        """Listen on a fresh loopback port, or again on the same one after `stop` (a relay
        that was down comes back where its clients expect it)."""
        if self._server is not None:
            raise RuntimeError(f"{self!r} is already started")
        self._server = await asyncio.get_running_loop().create_server(
            self._new_connection,
            self.host,
            self.port,
            ssl=self.tls_context if self.tls == "implicit" else None,
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        """Stop listening, abort every open connection and wait until they are gone."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        connections = list(self._live)
        self._live.clear()
        for conn in connections:
            conn.abort()
        # Cancel the client tasks as well as aborting: a connection aborted in the middle
        # of a STARTTLS handshake never hears of it (asyncio's SSL layer drops the news),
        # and its task would wait for input forever.
        tasks = [task for conn in connections if (task := conn.cancel_client_task())]
        if tasks:
            await asyncio.wait(tasks, timeout=_STOP_GRACE)
        # Normally connection_lost has run by now; give stragglers a few loop turns.
        lost = [conn.lost for conn in connections if not conn.lost.done()]
        if lost:
            await asyncio.wait(lost, timeout=_LOST_GRACE)
        await server.wait_closed()

    async def __aenter__(self) -> SimRelay:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- used by the connections -----------------------------------------------------

    def _next_queue_id(self) -> str:
        return f"{next(self._ids):05X}{secrets.token_hex(3).upper()}"

    def _record(self, message: Received) -> None:
        self.received.append(message)
        self.accepted += 1
        self._throttle.count_accepted()

    def _new_connection(self) -> _Connection:
        self.connections += 1
        behaviour = self.behaviour
        starttls = self.tls == "starttls"
        idle = behaviour.close_idle_after
        with warnings.catch_warnings():
            # aiosmtpd warns about AUTH without TLS; that is the point of tls="none".
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return _Connection(
                self,
                offers_auth=behaviour.require_auth is not None,
                loop=asyncio.get_running_loop(),
                hostname=self.hostname,
                ident=_IDENT,
                tls_context=self.tls_context if starttls else None,
                require_starttls=starttls,
                timeout=_NO_IDLE_LIMIT if idle is None else idle,
                auth_required=behaviour.require_auth is not None,
                auth_require_tls=starttls,
                authenticator=self._handler.authenticate,
                enable_SMTPUTF8=behaviour.smtputf8,
            )


def refusing_port() -> int:
    """A loopback port with nothing listening on it: connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])
