"""`relaylane serve` as a process: API, SMTP submission and workers together, and a
SIGTERM while deliveries are in flight (nothing lost, nothing left in `sending`)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import aiosmtplib
import httpx

from relaylane.sim import Behaviour, SimRelay
from relaylane.store import open_store
from tests.cli.test_cli import run, start_worker

LISTEN = re.compile(r"listening (api|smtp|bounces): (\S+(?: \([a-z ]+\))?) on (\S+):(\d+)")


def write_config(tmp_path: Path, store_url: str, relay_port: int, http_port: int = 0) -> str:
    path = tmp_path / "relaylane.toml"
    path.write_text(
        f"""
[store]
url = "{store_url}"

[worker]
idle_poll = "50ms"
lease = "20s"

[http]
listen = "127.0.0.1:{http_port}"

[submission]
listen = "127.0.0.1:0"
hostname = "mail.relaylane.test"

[bounces]
listen = "127.0.0.1:0"

[[relay]]
name = "slow"
host = "127.0.0.1"
port = {relay_port}
tls = "none"
max_connections = 2
timeouts = {{ connect = 5, command = 10, data_end = 10 }}

[[lane]]
name = "transactional"
purpose = "transactional"
relays = ["slow"]
"""
    )
    return str(path)


async def start_serve(cfg: str) -> tuple[asyncio.subprocess.Process, dict[str, int], list[str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relaylane", "serve", "--config", cfg,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    ports: dict[str, int] = {}
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        lines.append(line)
        if not line:
            break
        if found := LISTEN.search(line):
            ports[found.group(2)] = int(found.group(4))
        if "relaylane serve ready" in line:
            return proc, ports, lines
    proc.kill()
    raise AssertionError("serve did not become ready:\n" + "".join(lines))


async def test_serve_accepts_both_ways_and_sigterm_loses_nothing(
    tmp_path: Path, store_url: str
) -> None:
    # slow enough (about 13 msg/s over its 2 connections) that the 80 are still being
    # delivered when the SIGTERM comes, however busy the machine is while submitting
    async with SimRelay(Behaviour(delay=0.15)) as sim:
        cfg = write_config(tmp_path, store_url, sim.port)
        code, out = await asyncio.to_thread(
            run, "keys", "create", "--scope", "send,read", "--lanes", "transactional", "-c", cfg
        )
        assert code == 0, out
        token = out.split()[0]
        code, out = await asyncio.to_thread(
            run, "smtp-users", "create", "app", "--lanes", "transactional",
            "--password", "correct horse battery", "-c", cfg,
        )  # fmt: skip
        assert code == 0, out

        proc, ports, _ = await start_serve(cfg)
        assert set(ports) == {"http", "smtp (starttls)", "smtp (bounces)"}
        api = f"http://127.0.0.1:{ports['http']}"
        async with httpx.AsyncClient(base_url=api, timeout=10) as client:
            assert (await client.get("/healthz")).status_code == 200
            for i in range(40):
                r = await client.post(
                    "/v1/messages",
                    headers={"Authorization": f"Bearer {token}"},
                    json={"from": "a@tx.acme.test", "to": [f"api{i}@b.test"], "subject": "Hi",
                          "text": "Hello"},
                )  # fmt: skip
                assert r.status_code == 202, r.text
            auth = {"Authorization": f"Bearer {token}"}
            relays = (await client.get("/v1/relays", headers=auth)).json()
            assert "slow" in str(relays)  # served from the in-process worker's board
            assert (await client.get("/v1/status", headers=auth)).status_code == 200
        smtp = aiosmtplib.SMTP(
            hostname="127.0.0.1", port=ports["smtp (starttls)"], start_tls=True,
            validate_certs=False, timeout=10,
        )  # fmt: skip
        await smtp.connect()
        await smtp.login("app", "correct horse battery")
        for i in range(40):
            body = f"From: a@tx.acme.test\r\nTo: x@b.test\r\nSubject: s\r\n\r\nbody {i}\r\n"
            await smtp.sendmail("a@tx.acme.test", [f"smtp{i}@b.test"], body)
        await smtp.quit()

        deadline = time.monotonic() + 30
        while sim.accepted < 5 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        os.kill(proc.pid, signal.SIGTERM)  # with deliveries in flight and more queued
        output, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, output.decode()
        assert "nothing accepted was lost" in output.decode()
        accepted_before_stop = sim.accepted
        assert accepted_before_stop < 80  # it really stopped with work left

        store = open_store(store_url)
        states = Counter(d.state for d in store.reads.list_deliveries(limit=1000))
        store.close()
        assert sum(states.values()) == 80  # every acknowledged message is there
        assert states["sending"] == 0  # released or finished, none left leased
        assert states["sent"] == accepted_before_stop

        worker = await start_worker("--until-idle", "--config", cfg)
        out, _ = await asyncio.wait_for(worker.communicate(), 60)
        assert worker.returncode == 0, out.decode()
        got = Counter(r for m in sim.received for r in m.rcpt_tos)
        expected = {f"api{i}@b.test" for i in range(40)} | {f"smtp{i}@b.test" for i in range(40)}
        assert set(got) == expected and max(got.values()) == 1  # each once, none twice


async def test_a_taken_port_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path / 'r.db'}", 2525, http_port=port)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "relaylane", "serve", "--no-worker", "--config", cfg,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(proc.communicate(), 30)
    taken.close()
    text = output.decode()
    assert proc.returncode == 1, text
    assert f"[http] listen = '127.0.0.1:{port}': cannot listen there" in text
    assert "Traceback" not in text


async def test_an_smtp_user_with_notify_dsn_gets_a_report(tmp_path: Path, store_url: str) -> None:
    """End to end: submit over SMTP, the relay refuses one recipient for good, and a DSN
    for it arrives through the transactional lane at the original envelope sender."""
    refuse = Behaviour(rcpt_rules=[("gone@", "550 5.1.1 <gone@b.test>: user unknown")])
    async with SimRelay(refuse) as sim:
        cfg = write_config(tmp_path, store_url, sim.port)
        code, out = await asyncio.to_thread(
            run, "smtp-users", "create", "app", "--lanes", "transactional", "--notify", "dsn",
            "--password", "correct horse battery", "-c", cfg,
        )  # fmt: skip
        assert code == 0, out
        proc, ports, _ = await start_serve(cfg)
        try:
            smtp = aiosmtplib.SMTP(
                hostname="127.0.0.1", port=ports["smtp (starttls)"], start_tls=True,
                validate_certs=False, timeout=10,
            )  # fmt: skip
            await smtp.connect()
            await smtp.login("app", "correct horse battery")
            body = "From: app@tx.acme.test\r\nSubject: Invoice 7\r\n\r\nHello\r\n"
            await smtp.sendmail("bounces@tx.acme.test", ["gone@b.test", "ok@b.test"], body)
            await smtp.quit()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not any(
                m.rcpt_tos == ("bounces@tx.acme.test",) for m in sim.received
            ):
                await asyncio.sleep(0.1)
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            await asyncio.wait_for(proc.communicate(), 60)
        [dsn] = [m for m in sim.received if m.rcpt_tos == ("bounces@tx.acme.test",)]
        assert dsn.mail_from in ("", "<>")  # from the null sender
        text = dsn.data.decode()
        assert "report-type=delivery-status" in text
        assert "Final-Recipient: rfc822; gone@b.test" in text and "Status: 5.1.1" in text
        assert "rfc822; ok@b.test" not in text and "Subject: Invoice 7" in text
