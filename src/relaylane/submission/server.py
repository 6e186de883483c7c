"""`SubmissionServer`: the SMTP submission listener of `relaylane serve`.

It runs inside the caller's event loop (uvloop in production): one listener on
[submission] listen (STARTTLS) and, when `tls_listen` is set, one on that address
speaking TLS from the first byte. Applications authenticate as SMTP users (AUTH PLAIN
or LOGIN, over TLS unless `allow_plain_auth_on_loopback` and the client is local), and
a message is answered `250` only after its deliveries are committed to the store.

Shutdown (`stop`): stop accepting at once, answer idle sessions `421 4.3.2` and close
them, let sessions that are in DATA finish (commit and reply) within `grace` seconds.
Stop the server before closing the committer, so those commits can complete.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from typing import Literal

from relaylane.auth.throttle import AuthThrottle
from relaylane.clock import Clock
from relaylane.config.models import Config
from relaylane.config.serving import parse_listen
from relaylane.errors import ListenError
from relaylane.submission.auth import Authenticator, UserDirectory
from relaylane.submission.handler import SubmissionHandler, Submitter
from relaylane.submission.session import (
    Connection,
    Sessions,
    new_connection,
    quiet_aiosmtpd_logs,
    reworded_replies,
)
from relaylane.submission.tls import context_for

Mode = Literal["starttls", "implicit"]


class SubmissionServer:
    def __init__(
        self, config: Config, credentials: UserDirectory, committer: Submitter, clock: Clock
    ) -> None:
        self.config = config
        self.committer = committer
        self.clock = clock
        sub = config.submission
        throttle = AuthThrottle(sub.auth_max_failures, sub.auth_failure_window, sub.auth_lockout)
        self.authenticator = Authenticator(credentials, throttle, clock)
        self.hostname = sub.hostname or ""
        self._sessions = Sessions()
        self._servers: list[tuple[asyncio.Server, Mode]] = []
        self._handler: SubmissionHandler | None = None

    def reconfigure(self, config: Config) -> None:
        """A reloaded configuration (lanes, limits, users' lanes): from the next SMTP
        command on. Listen addresses and TLS files need a restart."""
        self.config = config
        if self._handler is not None:
            self._handler.config = config

    @property
    def addresses(self) -> list[tuple[str, int, str]]:
        """(host, bound port, "starttls" | "implicit") of every listening socket."""
        return [
            (str(name[0]), int(name[1]), mode)
            for server, mode in self._servers
            for name in (s.getsockname() for s in server.sockets)
        ]

    @property
    def connections(self) -> int:
        return len(self._sessions.live)

    async def start(self) -> None:
        if self._servers:
            raise RuntimeError("the submission server is already started")
        sub = self.config.submission
        quiet_aiosmtpd_logs()
        if not self.hostname:
            self.hostname = await asyncio.to_thread(socket.getfqdn)
        tls = await asyncio.to_thread(context_for, sub, self.hostname)
        handler = SubmissionHandler(
            self.config, self.authenticator, self.committer, self.clock, self.hostname
        )
        self._handler = handler
        try:
            await self._listen(handler, tls, sub.listen, "starttls")
            if sub.tls_listen is not None:
                await self._listen(handler, tls, sub.tls_listen, "implicit")
        except BaseException:
            for server, _ in self._servers:
                server.close()
            self._servers.clear()
            raise

    async def stop(self, grace: float = 30.0) -> None:
        """Stop accepting; 421 to idle sessions; let those in DATA finish within `grace`."""
        self._sessions.stopping = True
        for server, _ in self._servers:
            server.close()
        await self._sessions.drain(grace)
        for server, _ in self._servers:
            await server.wait_closed()
        self._servers.clear()
        self.authenticator.close()

    async def _listen(
        self, handler: SubmissionHandler, tls: ssl.SSLContext, listen: str, mode: Mode
    ) -> None:
        sub = self.config.submission
        loop = asyncio.get_running_loop()
        implicit = mode == "implicit"
        reworded = reworded_replies(sub.max_message_size)

        def factory() -> Connection:
            return new_connection(
                handler,
                self._sessions,
                implicit_tls=implicit,
                plain_auth_on_loopback=sub.allow_plain_auth_on_loopback,
                reworded=reworded,
                loop=loop,
                hostname=self.hostname,
                tls_context=None if implicit else tls,
                timeout=sub.timeout,
                data_size_limit=sub.max_message_size,
            )

        host, port = parse_listen(listen)
        try:
            server = await loop.create_server(factory, host, port, ssl=tls if implicit else None)
        except OSError as exc:
            key = "tls_listen" if implicit else "listen"
            raise ListenError(
                f"[submission] {key} = {listen!r}: cannot listen there ({exc.strerror or exc}); "
                "choose a free port and an address of this machine"
            ) from exc
        self._servers.append((server, mode))
