"""Configuration reload: the pure decision, and `relaylane serve` taking SIGHUP with a bad
file (kept running on the old one, audited) and a good one (a relay swapped while mail
flows: nothing lost, nothing sent twice), each process reporting its configuration's
hash in `relaylane workers`."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from relaylane.config import load_config
from relaylane.serve.reload import load_again, restart_only_changes
from relaylane.sim import Behaviour, SimRelay
from relaylane.store import open_store
from tests.cli.test_cli import send, start_worker
from tests.cli_run import as_json, run
from tests.serve.test_serve import start_serve

TIMEOUT = 30.0


def config_text(
    store_url: str, relays: dict[str, int], lane_relays: list[str], extra: str = ""
) -> str:
    blocks = "".join(
        f"""
[[relay]]
name = "{name}"
host = "127.0.0.1"
port = {port}
tls = "none"
max_connections = 2
timeouts = {{ connect = 5, command = 10, data_end = 10 }}
"""
        for name, port in relays.items()
    )
    return f"""
[store]
url = "{store_url}"

[worker]
idle_poll = "50ms"
lease = "20s"

[http]
listen = "127.0.0.1:0"

[submission]
listen = "127.0.0.1:0"
hostname = "mail.relaylane.test"

[bounces]
enabled = false
{extra}
{blocks}
[[lane]]
name = "transactional"
purpose = "transactional"
relays = {lane_relays!r}
""".replace("'", '"')


def test_a_bad_file_or_a_restart_only_change_keeps_the_running_configuration(
    tmp_path: Path, store_url: str
) -> None:
    path = tmp_path / "relaylane.toml"
    path.write_text(config_text(store_url, {"a": 2601}, ["a"]))
    running = load_config(path)
    path.write_text(config_text(store_url, {"a": 2601}, ["a"], extra="[bogus]\nx = 1\n"))
    bad = load_again(running, lambda: load_config(path))
    assert not bad.ok and bad.problem is not None and "bogus" in bad.problem
    moved = config_text(store_url, {"a": 2601}, ["a"]).replace("127.0.0.1:0", "127.0.0.1:8026", 1)
    path.write_text(moved)
    refused = load_again(running, lambda: load_config(path))
    assert not refused.ok and refused.problem is not None
    assert "[http] listen" in refused.problem and "restart" in refused.problem
    assert restart_only_changes(running, load_config(path)) == ["[http] listen"]
    path.write_text(config_text(store_url, {"a": 2601, "b": 2602}, ["a", "b"]))
    good = load_again(running, lambda: load_config(path))
    assert good.ok and good.config is not None and good.config.hash != running.hash


@pytest.mark.slow
async def test_serve_reloads_on_sighup_while_mail_flows(tmp_path: Path, store_url: str) -> None:
    async with SimRelay(Behaviour(delay=0.02), name="a") as a, SimRelay(name="b") as b:
        path = tmp_path / "relaylane.toml"
        path.write_text(config_text(store_url, {"a": a.port}, ["a"]))
        cfg = str(path)
        first = load_config(path).hash
        code, out = await asyncio.to_thread(
            run, "keys", "create", "--scope", "send", "--lanes", "transactional", "-c", cfg
        )
        assert code == 0, out
        token = out.split()[0]
        proc, ports, _ = await start_serve(cfg)
        reader = tmp_path / "reader.toml"  # the CLI reads a good copy while serve's is bad
        reader.write_text(path.read_text())
        try:
            await _scenario(proc.pid, str(reader), path, store_url, token, ports["http"], a, b,
                            first)  # fmt: skip
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            output, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, output.decode()
        text = output.decode()
        assert "configuration not reloaded" in text and "bogus" in text
        assert "configuration reloaded" in text

        store = open_store(store_url)
        states = Counter(d.state for d in store.reads.list_deliveries(limit=1000))
        store.close()
        assert states == {"sent": 60}, states
        got = Counter(r for m in [*a.received, *b.received] for r in m.rcpt_tos)
        assert len(got) == 60 and max(got.values()) == 1  # each once, none twice
        late = {r for m in b.received for r in m.rcpt_tos}
        assert {f"late{i}@b.test" for i in range(30)} <= late  # after the reload: only b


async def _scenario(
    pid: int, cfg: str, path: Path, store_url: str, token: str, http: int,
    a: SimRelay, b: SimRelay, first: str,
) -> None:  # fmt: skip
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{http}", timeout=10) as client:
        auth = {"Authorization": f"Bearer {token}"}

        async def send(prefix: str, n: int) -> None:
            for i in range(n):
                message = {"from": "a@tx.acme.test", "to": [f"{prefix}{i}@b.test"],
                           "subject": "Hi", "text": "Hello"}  # fmt: skip
                r = await client.post("/v1/messages", headers=auth, json=message)
                assert r.status_code == 202, r.text

        await until(lambda: _hashes(cfg) == [first], "the heartbeat")
        await send("early", 30)
        await until(lambda: a.accepted >= 3, "mail in flight through a")

        bad = config_text(store_url, {"a": a.port}, ["a"], extra="[bogus]\nx = 1\n")
        await asyncio.to_thread(path.write_text, bad)
        os.kill(pid, signal.SIGHUP)
        await until(lambda: _reload_entries(cfg) == [False], "the refused reload's entry")
        assert _hashes(cfg) == [first]  # still running the first configuration

        good = config_text(store_url, {"b": b.port}, ["b"])  # relay a removed
        await asyncio.to_thread(path.write_text, good)
        second = load_config(path).hash
        os.kill(pid, signal.SIGHUP)
        await until(lambda: _hashes(cfg) == [second], "the new configuration's heartbeat")
        assert _reload_entries(cfg) == [True, False]
        await send("late", 30)
        await until(lambda: a.accepted + b.accepted >= 60, "every message")


def _hashes(cfg: str) -> list[str]:
    report = as_json("workers", "-c", cfg)
    return [p["config_hash"] for p in report["processes"] if p["alive"]]


def _reload_entries(cfg: str) -> list[bool]:
    entries = as_json("audit", "--action", "config", "-c", cfg)["entries"]
    return [e["effect"]["applied"] for e in entries]


async def until(check: object, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not await asyncio.to_thread(check):  # type: ignore[arg-type]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


@pytest.mark.slow
async def test_a_standalone_worker_reloads_on_sighup(tmp_path: Path, store_url: str) -> None:
    async with SimRelay(Behaviour(delay=0.02), name="a") as a, SimRelay(name="b") as b:
        path = tmp_path / "relaylane.toml"
        await asyncio.to_thread(path.write_text, config_text(store_url, {"a": a.port}, ["a"]))
        reader = tmp_path / "reader.toml"
        await asyncio.to_thread(reader.write_text, path.read_text())
        cfg = str(path)
        for i in range(20):
            code, out = await asyncio.to_thread(
                send, cfg, "--to", f"w{i}@b.test", "--subject", "s", "--text", "t"
            )
            assert code == 0, out
        worker = await start_worker("--config", cfg)
        try:
            await until(lambda: a.accepted >= 2, "the worker sending through a")
            assert _roles(str(reader)) == ["worker"]
            good = config_text(store_url, {"b": b.port}, ["b"])
            await asyncio.to_thread(path.write_text, good)
            second = load_config(path).hash
            os.kill(worker.pid, signal.SIGHUP)
            await until(lambda: _hashes(str(reader)) == [second], "the reloaded worker")
            for i in range(10):
                code, out = await asyncio.to_thread(
                    send, cfg, "--to", f"v{i}@b.test", "--subject", "s", "--text", "t"
                )
                assert code == 0, out
            await until(lambda: a.accepted + b.accepted >= 30, "every message")
            await until(lambda: _sent(str(reader)) == 30, "the heartbeat's counts")
        finally:
            os.kill(worker.pid, signal.SIGTERM)
            output, _ = await asyncio.wait_for(worker.communicate(), 60)
        assert worker.returncode == 0, output.decode()
        got = Counter(r for m in [*a.received, *b.received] for r in m.rcpt_tos)
        assert len(got) == 30 and max(got.values()) == 1
        assert {f"v{i}@b.test" for i in range(10)} <= {r for m in b.received for r in m.rcpt_tos}
        assert await asyncio.to_thread(_hashes, str(reader)) == []  # a clean stop removes its row


def _roles(cfg: str) -> list[str]:
    return [p["role"] for p in as_json("workers", "-c", cfg)["processes"] if p["alive"]]


def _sent(cfg: str) -> int:
    """What the live processes report they sent (claimed is at least as much)."""
    live = [p for p in as_json("workers", "-c", cfg)["processes"] if p["state"] == "live"]
    assert all(p["claimed"] >= p["sent"] for p in live)
    return sum(p["sent"] for p in live)
