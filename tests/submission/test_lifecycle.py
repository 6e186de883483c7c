"""Back-pressure (store down, queue full), graceful stop, and STARTTLS under uvloop."""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Sequence
from pathlib import Path

import aiosmtplib
import pytest
import sqlalchemy as sa
import uvloop

from relaylane.store.intake import IntakeItem, IntakeOutcome, SqlIntake
from relaylane.submission import ListenError, SubmissionServer
from tests.helpers import queue
from tests.submission.conftest import RigFactory
from tests.submission.rig import (
    SENDER,
    Raw,
    config_data,
    make_config,
    message,
    start_rig,
)


class DownIntake:
    """A store whose commits fail as when the database server has gone away."""

    def commit(self, items: Sequence[IntakeItem], now: float) -> list[IntakeOutcome]:
        raise sa.exc.OperationalError("INSERT INTO messages ...", {}, ConnectionError("gone"))

    def queued_count(self) -> int:
        return 0


class GatedIntake:
    """The real store, whose commit waits until the test opens the gate."""

    def __init__(self) -> None:
        self.inner: SqlIntake | None = None  # the rig's, once it is made
        self.entered = threading.Event()
        self.gate = threading.Event()

    def commit(self, items: Sequence[IntakeItem], now: float) -> list[IntakeOutcome]:
        self.entered.set()
        assert self.gate.wait(10) and self.inner is not None
        return self.inner.commit(items, now)

    def queued_count(self) -> int:
        return 0


async def test_store_unavailable_451_and_nothing_queued(make_rig: RigFactory) -> None:
    rig = await make_rig(intake_store=DownIntake())
    client = await rig.session(rig.add_user())
    with pytest.raises(aiosmtplib.SMTPDataError) as info:
        await client.sendmail(SENDER, ["bob@example.test"], message())
    assert info.value.code == 451
    assert info.value.message == (
        "4.3.0 the store is unavailable (ConnectionError); nothing was queued, try again in 5 s"
    )
    assert (await client.noop()).code == 250  # the client may retry in the same session
    await client.quit()
    assert rig.deliveries() == []


async def test_queue_over_max_queued_451(make_rig: RigFactory) -> None:
    rig = await make_rig(intake={"max_queued": 2})
    queue(rig.store, rig.config, "tx", ["a@example.test", "b@example.test"], now=0.0)
    client = await rig.session(rig.add_user())
    with pytest.raises(aiosmtplib.SMTPDataError) as info:
        await client.sendmail(SENDER, ["bob@example.test"], message())
    assert info.value.code == 451
    assert "the queue holds 2 deliveries, over [intake] max_queued = 2" in info.value.message
    await client.quit()
    assert len(rig.deliveries()) == 2


async def test_stop_answers_idle_sessions_421_and_refuses_new_ones(make_rig: RigFactory) -> None:
    rig = await make_rig(allow_plain_auth_on_loopback=True)
    port = rig.port()
    raw = await Raw.open(port)
    await raw.login(rig.add_user())
    await asyncio.wait_for(rig.server.stop(grace=30), timeout=5)
    assert await raw.reply() == "421 4.3.2 Service shutting down"
    assert await raw.reader.read() == b""
    assert rig.server.connections == 0
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    await raw.close()


async def test_stop_lets_a_session_in_data_commit(make_rig: RigFactory) -> None:
    gated = GatedIntake()
    rig = await make_rig(allow_plain_auth_on_loopback=True, intake_store=gated)
    gated.inner = rig.store.intake
    port = rig.port()
    busy, idle = await Raw.open(port), await Raw.open(port)
    await busy.login(rig.add_user())
    for line in ("MAIL FROM:<bounces@tx.acme.test>", "RCPT TO:<bob@example.test>", "DATA"):
        await busy.command(line)
    await busy.send(message() + b".\r\n")
    assert await asyncio.to_thread(gated.entered.wait, 5)  # now committing

    stopping = asyncio.create_task(rig.server.stop(grace=30))
    assert await idle.reply() == "421 4.3.2 Service shutting down"
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection("127.0.0.1", port)
    assert not stopping.done()
    gated.gate.set()
    assert (await busy.reply()).startswith("250 2.0.0 queued as ")
    assert await busy.reply() == "421 4.3.2 Service shutting down"
    await asyncio.wait_for(stopping, timeout=5)
    assert [r.recipient for r in rig.deliveries()] == ["bob@example.test"]
    for raw in (busy, idle):
        await raw.close()


def test_starttls_under_uvloop(
    tmp_path: Path,
    tls_files: tuple[Path, Path],
    tls_client_context: ssl.SSLContext,
    password_hash: str,
) -> None:
    config = make_config(config_data(f"sqlite:///{tmp_path / 'uv.db'}", tls_files), tmp_path)

    async def main() -> list[tuple[str, bool]]:
        assert "uvloop" in type(asyncio.get_running_loop()).__module__
        rig = await start_rig(config, password_hash, tls_client_context)
        try:
            client = await rig.session(rig.add_user())
            await client.sendmail(SENDER, ["bob@example.test"], message())
            await client.quit()
            return [(r.recipient, b"with ESMTPSA;" in r.body) for r in rig.deliveries()]
        finally:
            await rig.close()

    assert uvloop.run(main()) == [("bob@example.test", True)]  # the server saw TLS


async def test_idle_client_is_told_421_before_the_timeout_closes(make_rig: RigFactory) -> None:
    rig = await make_rig(timeout="200ms", allow_plain_auth_on_loopback=True)
    raw = await Raw.open(rig.port())
    assert (await raw.command("EHLO client.test")).startswith("250")
    assert await raw.reply() == "421 4.4.2 Idle for too long; closing the connection"
    assert await asyncio.wait_for(raw.reader.read(), 5) == b""
    await raw.close()


async def test_a_taken_port_is_a_readable_error(make_rig: RigFactory, tmp_path: Path) -> None:
    rig = await make_rig()
    taken = f"127.0.0.1:{rig.port()}"
    config = make_config(config_data(rig.config.store.url, None, listen=taken), tmp_path)
    other = SubmissionServer(config, rig.store.credentials, rig.committer, rig.clock)
    with pytest.raises(ListenError, match=rf"\[submission\] listen = '{taken}': cannot listen"):
        await other.start()
    assert other.addresses == []
    await other.stop()
