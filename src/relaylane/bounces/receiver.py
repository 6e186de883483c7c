"""`BounceReceiver`: the SMTP listener for the return-path domains ([bounces] listen).

Relays and receivers send bounces (DSNs), complaint reports (ARF) and auto-replies to the
VERP envelope senders b-<token>@<return path>; a transport map (or MX) for the
return-path domains points here. Every message is recorded before it is answered `250`:
matched or not, readable or not, it is never lost (a store failure answers `451`, so
the sending MTA keeps it and tries again). Recipients outside the configured return-path
domains are refused, unless no return path is configured at all.

Mail to u-<token>@<a return-path domain> is a List-Unsubscribe mailto (RFC 2369): when the
token verifies as an unsubscribe token it is recorded like a one-click unsubscribe
(`FeedbackIngest.one_click`); when it does not (forged, tampered), the message is stored
through the report path like any other mail, where nothing matches it and nothing acts.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import Any

import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, Envelope, Session

from relaylane.bounces.ingest import FeedbackIngest
from relaylane.config.models import Config
from relaylane.config.serving import parse_listen
from relaylane.errors import ListenError, NotFoundError
from relaylane.submission.session import Connection, Sessions, quiet_aiosmtpd_logs
from relaylane.unsubscribe.oneclick import mailto_token, verify_unsubscribe_token

log = logging.getLogger("relaylane.bounces")
IDENT = "ESMTP relaylane bounce receiver"


def return_path_domains(config: Config) -> frozenset[str]:
    domains = {d.return_path for d in config.domain.values() if d.return_path}
    for relay in config.relay:
        domains.update(relay.return_path.values())
    return frozenset(domains)


class _Handler:
    def __init__(self, ingest: FeedbackIngest, domains: frozenset[str]) -> None:
        self.ingest = ingest
        self.domains = domains
        self.received = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        domain = address.rpartition("@")[2].lower()
        if self.domains and domain not in self.domains:
            return "550 5.1.2 this host takes bounces for its return-path domains only"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        if isinstance(raw, str):  # pragma: no cover - aiosmtpd gives bytes with decode_data off
            raw = raw.encode("utf-8", "surrogateescape")
        try:
            actions = await asyncio.to_thread(self._take, raw, list(envelope.rcpt_tos))
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            log.warning("could not record a report (%s); the sender will retry", exc)
            return "451 4.3.0 cannot record the report now; try again later"
        self.received += 1
        return f"250 2.0.0 recorded ({', '.join(sorted(actions)) or 'recorded'})"

    def _take(self, raw: bytes, rcpts: list[str]) -> set[str]:
        """Record one message (in a thread): each verified u-<token> recipient as an
        unsubscribe; the message as a report for the other recipients, or when no
        unsubscribe verified. The actions taken, for the reply."""
        others: list[str] = []
        actions: set[str] = set()
        for rcpt in rcpts:
            if self._unsubscribed(rcpt):
                actions.add("unsubscribed")
            else:
                others.append(rcpt)
        if others or not actions:
            rows = self.ingest.report(raw, source="receiver", envelope_rcpts=others)
            actions.update(r.action for r in rows)
        return actions

    def _unsubscribed(self, rcpt: str) -> bool:
        """True when `rcpt` is u-<token>@ with a token that verifies and names a delivery
        that still exists, and its unsubscribe is now recorded (or already was)."""
        token = mailto_token(rcpt.strip().strip("<>").rpartition("@")[0])
        if token is None:
            return False
        delivery_id = verify_unsubscribe_token(self.ingest.ring(self.ingest.clock.now()), token)
        if delivery_id is None:
            log.warning("unsubscribe mail to %s: the token does not verify; stored unmatched", rcpt)
            return False
        try:
            recorded = self.ingest.one_click(delivery_id)
        except NotFoundError:
            log.info("unsubscribe mail for delivery %d, which no longer exists", delivery_id)
            return False
        if recorded:
            log.info("delivery %d: the recipient unsubscribed (mailto)", delivery_id)
        return True


class BounceReceiver:
    def __init__(self, config: Config, ingest: FeedbackIngest) -> None:
        self.config = config
        self.handler = _Handler(ingest, return_path_domains(config))
        self.hostname = config.bounces.hostname or ""
        self._sessions = Sessions()
        self._server: asyncio.Server | None = None

    def reconfigure(self, config: Config) -> None:
        """A reloaded configuration: the return-path domains it accepts mail for."""
        self.config = config
        self.handler.domains = return_path_domains(config)

    @property
    def addresses(self) -> list[tuple[str, int]]:
        if self._server is None:
            return []
        return [(str(s.getsockname()[0]), int(s.getsockname()[1])) for s in self._server.sockets]

    async def start(self) -> None:
        if self._server is not None:
            raise RuntimeError("the bounce receiver is already started")
        quiet_aiosmtpd_logs()
        if not self.hostname:
            self.hostname = await asyncio.to_thread(socket.getfqdn)
        loop = asyncio.get_running_loop()
        cfg = self.config.bounces

        def factory() -> Connection:
            return Connection(
                self.handler,
                sessions=self._sessions,
                plain_auth_on_loopback=False,
                reworded={},
                ident=IDENT,
                hostname=self.hostname,
                data_size_limit=cfg.max_message_size,
                enable_SMTPUTF8=True,
                timeout=300,
                loop=loop,
            )

        host, port = parse_listen(cfg.listen)
        try:
            self._server = await loop.create_server(factory, host, port)
        except OSError as exc:
            raise ListenError(
                f"[bounces] listen = {cfg.listen!r}: cannot listen there "
                f"({exc.strerror or exc}); choose a free port and an address of this machine"
            ) from exc

    async def stop(self, grace: float = 30.0) -> None:
        """Stop accepting; let messages being recorded finish within `grace`."""
        self._sessions.stopping = True
        if self._server is not None:
            self._server.close()
        await self._sessions.drain(grace)
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
