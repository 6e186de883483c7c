"""A running submission server on loopback with its store and committer, and the
client side: messages, TLS contexts, raw SMTP lines."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosmtplib
import sqlalchemy as sa

from relaylane.auth.principal import Notify
from relaylane.clock import FakeClock
from relaylane.config import Config, load_config_data
from relaylane.intake.committer import Committer, IntakeStore
from relaylane.store import Store, open_store
from relaylane.store.schema import deliveries, messages
from relaylane.submission import SubmissionServer
from tests.helpers import lane, relay, signing_domains

PASSWORD = "correct horse battery staple"
HOST = "127.0.0.1"
FROM = "App <app@tx.acme.test>"
SENDER = "bounces@tx.acme.test"


def quick_hash(password: str) -> str:
    """A hash in relaylane's scrypt format at a low cost (N=2^10) so that tests don't pay
    0.1 s per AUTH; `verify_password` reads the cost from the hash like any other."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**10, r=8, p=1, dklen=32)
    parts = (
        "scrypt",
        "1024",
        "8",
        "1",
        base64.b64encode(salt).decode(),
        base64.b64encode(digest).decode(),
    )
    return "$".join(parts)


def config_data(store_url: str, tls: tuple[Path, Path] | None, **submission: Any) -> dict[str, Any]:
    sub: dict[str, Any] = {
        "listen": f"{HOST}:0",
        "hostname": "mx.relaylane.test",
        **submission,
    }
    if tls is not None:
        sub.setdefault("tls_cert", str(tls[0]))
        sub.setdefault("tls_key", str(tls[1]))
    return {
        "store": {"url": store_url},
        "relay": [
            relay("tx-relay", 2525),
            relay("tx2-relay", 2526),
            relay("mkt-relay", 2527),
            relay("intl-relay", 2528, smtputf8=True),
        ],
        "lane": [
            lane("tx", ["tx-relay"], from_domains=["tx.acme.test"]),
            lane("tx2", ["tx2-relay"], from_domains=["tx.acme.test", "alerts.acme.test"]),
            lane("mkt", ["mkt-relay"], purpose="marketing"),
            lane("intl", ["intl-relay"]),
        ],
        "submission": sub,
        "domain": signing_domains(),
    }


def make_config(data: dict[str, Any], base_dir: Path) -> Config:
    return load_config_data(data, source="<test>", base_dir=base_dir, env={})


@dataclass
class Rig:
    config: Config
    store: Store
    server: SubmissionServer
    committer: Committer
    clock: FakeClock
    client_tls: ssl.SSLContext
    password_hash: str
    _users: int = field(default=0)

    def port(self, mode: str = "starttls") -> int:
        return next(p for _, p, m in self.server.addresses if m == mode)

    def add_user(
        self,
        lanes: tuple[str, ...] = ("tx", "tx2"),
        *,
        name: str | None = None,
        notify: Notify = Notify.NONE,
    ) -> str:
        self._users += 1
        name = name or f"app{self._users}"
        self.store.credentials.add_smtp_user(
            name=name, password_hash=self.password_hash, lanes=lanes, notify=notify, now=0.0
        )
        return name

    def client(self, **kw: Any) -> aiosmtplib.SMTP:
        """An aiosmtplib client for the STARTTLS port (STARTTLS on by default)."""
        options: dict[str, Any] = {
            "hostname": HOST,
            "port": self.port(),
            "tls_context": self.client_tls,
            "start_tls": True,
            "timeout": 10,
            **kw,
        }
        return aiosmtplib.SMTP(**options)

    async def session(self, user: str, **kw: Any) -> aiosmtplib.SMTP:
        client = self.client(**kw)
        await client.connect()
        await client.ehlo()  # again: STARTTLS starts the session over
        await client.auth_plain(user, PASSWORD)
        return client

    def deliveries(self) -> list[sa.Row[Any]]:
        stmt = (
            sa.select(
                deliveries,
                messages.c.body,
                messages.c.mail_from,
                messages.c.notify,
                messages.c.source,
                messages.c.submitter,
                messages.c.smtputf8,
            )
            .join(messages)
            .order_by(deliveries.c.id)
        )
        with self.store.engine.connect() as conn:
            return list(conn.execute(stmt.set_label_style(sa.LABEL_STYLE_NONE)))

    async def close(self) -> None:
        await self.server.stop(grace=1)
        await self.committer.close()
        self.store.close()


async def start_rig(
    config: Config,
    password_hash: str,
    client_tls: ssl.SSLContext,
    *,
    intake: IntakeStore | None = None,
) -> Rig:
    store = open_store(config.store.url)
    clock = FakeClock()
    committer = Committer(intake or store.intake, config.intake, clock)
    await committer.start()
    server = SubmissionServer(config, store.credentials, committer, clock)
    await server.start()
    return Rig(config, store, server, committer, clock, client_tls, password_hash)


def message(
    *,
    from_: str = FROM,
    to: str = "bob@example.test",
    subject: str = "Your code",
    headers: bytes = b"",
    body: bytes = b"Your code is 1234.\r\n",
) -> bytes:
    return (
        f"From: {from_}\r\nTo: {to}\r\nSubject: {subject}\r\n".encode() + headers + b"\r\n" + body
    )


class Raw:
    """SMTP spoken line by line over a stream (for what a client library would fix)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, tls: ssl.SSLContext | None = None, **kw: Any) -> Raw:
        reader, writer = await asyncio.open_connection(HOST, port, ssl=tls, **kw)
        raw = cls(reader, writer)
        assert (await raw.reply()).startswith("220 ")
        return raw

    async def reply(self) -> str:
        """One reply; a multi-line reply is returned as its lines joined by newlines."""
        lines = []
        while True:
            line = (await asyncio.wait_for(self.reader.readline(), 10)).decode()
            lines.append(line.rstrip("\r\n"))
            if len(line) < 4 or line[3] != "-":
                return "\n".join(lines)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def command(self, line: str) -> str:
        await self.send(line.encode() + b"\r\n")
        return await self.reply()

    async def login(self, user: str) -> None:
        assert (await self.command("EHLO client.test")).startswith("250")
        token = base64.b64encode(f"\0{user}\0{PASSWORD}".encode()).decode()
        assert (await self.command(f"AUTH PLAIN {token}")).startswith("235 ")

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            await self.writer.wait_closed()
