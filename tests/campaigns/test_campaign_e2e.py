"""A campaign as an operator runs it: the CLI imports a CSV with good and bad rows, adds a
template, creates, proofs and starts a campaign; `relaylane serve` (a separate process)
sends it over three real loopback relays; it is paused and resumed in the middle, and
the process is stopped with a signal and started again. Then every contact has exactly
one message, rendered for it and DKIM-valid; each provider saw one relay; and the
tracking and unsubscribe links work over HTTP."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import signal
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path

import httpx

import dkim
from relaylane.sim.behaviour import Behaviour
from relaylane.sim.relay import SimRelay
from tests.campaigns.flow import DOMAINS, HTML
from tests.cli_run import as_json, run
from tests.delivery.test_signing import dnsfunc
from tests.helpers import dkim_key_file
from tests.serve.test_serve import start_serve

CONTACTS = 240
PUBLIC = "https://mail.acme.test"


def write_config(tmp_path: Path, store_url: str, ports: list[int], http_port: int) -> str:
    relays = "".join(
        f"""
[[relay]]
name = "r{i + 1}"
host = "127.0.0.1"
port = {port}
tls = "none"
max_connections = 2
timeouts = {{ connect = 5, command = 10, data_end = 10 }}
"""
        for i, port in enumerate(ports)
    )
    providers = "".join(f'\n[provider.{d.split(".")[0]}]\ndomains = ["{d}"]\n' for d in DOMAINS)
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
public_url = "{PUBLIC}"

[submission]
listen = "127.0.0.1:0"
hostname = "mail.relaylane.test"

[bounces]
listen = "127.0.0.1:0"

[domain."acme.test"]
dkim = [{{ selector = "rltest", key_file = "{dkim_key_file()}" }}]
{providers}
{relays}
[[lane]]
name = "news"
purpose = "marketing"
relays = ["r1", "r2", "r3"]
"""
    )
    return str(path)


def write_csv(tmp_path: Path) -> Path:
    lines = ["Email,First,country,subscribed_at"]
    for i in range(CONTACTS):
        lines.append(f"user{i}@{DOMAINS[i % len(DOMAINS)]},Name{i},{'DE' if i % 2 else 'FR'},"
                     "2026-01-05T10:00:00Z")  # fmt: skip
        if i == 10:
            lines.append("not-an-address,Bad,DE,")  # line 13
        if i == 20:
            lines.append(f"user3@{DOMAINS[3]},Dup,DE,")  # a duplicate: kept once
    path = tmp_path / "contacts.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def _parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)  # type: ignore[return-value]


async def _until(
    check: Callable[[], bool], proc: asyncio.subprocess.Process, cfg: str, seconds: float = 60
) -> None:
    """Wait for `check`; on a timeout, fail with the campaign's status and serve's output."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            status = await asyncio.to_thread(run, "campaign", "status", "dec", "-c", cfg)
            proc.kill()
            out, _ = await proc.communicate()
            raise AssertionError(f"timed out; status:\n{status[1]}\nserve:\n{out.decode()}")
        await asyncio.sleep(0.05)


async def _stop(proc: asyncio.subprocess.Process) -> str:
    os.kill(proc.pid, signal.SIGTERM)
    output, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, output.decode()
    return output.decode()


async def test_a_campaign_survives_pause_resume_and_a_restart_and_its_links_work(
    tmp_path: Path, store_url: str, unused_tcp_port: int
) -> None:
    relays = [SimRelay(Behaviour(delay=0.1)) for _ in range(3)]
    for sim in relays:
        await sim.__aenter__()
    servers: list[asyncio.subprocess.Process] = []  # killed at the end, whatever happens
    try:
        cfg = write_config(tmp_path, store_url, [s.port for s in relays], unused_tcp_port)
        code, out = await asyncio.to_thread(
            run, "contacts", "import", str(write_csv(tmp_path)), "--list", "news",
            "--map", "email=Email,first_name=First,country=country,subscribed_at=subscribed_at",
            "-c", cfg,
        )  # fmt: skip
        assert code == 0, out
        assert "line 13" in out and "not-an-address" in out
        html = tmp_path / "offer.html"
        html.write_text(HTML)
        for args in (
            ("template", "add", "offer", "--subject", "Hello {{ first_name }}", "--html-file",
             str(html)),
            ("campaign", "create", "--name", "dec", "--list", "news", "--template", "offer",
             "--lane", "news", "--from", "Acme News <news@news.acme.test>"),
            ("campaign", "test", "dec", "--to", "me@acme.test"),
            ("campaign", "start", "dec"),
        ):  # fmt: skip
            code, out = await asyncio.to_thread(run, *args, "-c", cfg)
            assert code == 0, out
        received = lambda: sum(len(s.received) for s in relays)  # noqa: E731

        proc, ports, _ = await start_serve(cfg)
        servers.append(proc)
        await _until(lambda: received() >= 40, proc, cfg)
        code, out = await asyncio.to_thread(run, "campaign", "pause", "dec", "-c", cfg)
        assert code == 0, out
        await asyncio.sleep(
            2.0
        )  # the worker learns within a feeding round (1 s); in flight finishes
        paused_at = received()
        await asyncio.sleep(2.5)  # more than two feeding rounds: nothing more goes out
        assert received() == paused_at < CONTACTS + 1
        status = await asyncio.to_thread(as_json, "campaign", "status", "dec", "-c", cfg)
        assert status["state"] == "paused"
        code, out = await asyncio.to_thread(run, "campaign", "resume", "dec", "-c", cfg)
        assert code == 0, out
        await _until(lambda: received() >= paused_at + 30, proc, cfg)
        await _stop(proc)  # a worker stopped mid-campaign, with deliveries in flight
        stopped_at = received()
        assert stopped_at < CONTACTS + 1

        proc, ports, _ = await start_serve(cfg)
        servers.append(proc)
        await _until(lambda: received() >= CONTACTS + 1, proc, cfg)  # + the proof

        def finished() -> bool:
            return as_json("campaign", "status", "dec", "-c", cfg)["state"] == "finished"

        deadline = time.monotonic() + 30
        while not await asyncio.to_thread(finished):
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        api = f"http://127.0.0.1:{ports['http']}"
        await _check_links(api, relays, cfg)
        await _stop(proc)
    finally:
        for proc in servers:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        for sim in relays:
            await sim.__aexit__(None, None, None)
    _check_messages(relays)


def _check_messages(relays: list[SimRelay]) -> None:
    per_contact: Counter[str] = Counter()
    relays_of: dict[str, set[int]] = defaultdict(set)
    proofs = 0
    for n, sim in enumerate(relays):
        for m in sim.received:
            msg = _parse(m.data)
            assert dkim.verify(m.data, dnsfunc=dnsfunc)
            to = str(msg["To"])
            if to == "me@acme.test":
                proofs += 1
                assert str(msg["Subject"]) == "[TEST] Hello Name0"
                continue
            per_contact[to] += 1
            relays_of[to.rpartition("@")[2]].add(n)
            index = int(re.search(r"user(\d+)@", to).group(1))  # type: ignore[union-attr]
            assert str(msg["Subject"]) == f"Hello Name{index}"
            assert msg["List-Unsubscribe"] is not None
            assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert proofs == 1
    assert len(per_contact) == CONTACTS and set(per_contact.values()) == {1}
    assert all(len(r) == 1 for r in relays_of.values()), relays_of


async def _check_links(api: str, relays: list[SimRelay], cfg: str) -> None:
    messages = [_parse(m.data) for s in relays for m in s.received]
    campaign = [m for m in messages if str(m["To"]) != "me@acme.test"]
    local = lambda url: url.replace(PUBLIC, api)  # noqa: E731
    async with httpx.AsyncClient(timeout=10) as client:
        first = campaign[0].get_body(("html",))
        assert first is not None
        body = first.get_content()
        click = re.search(r'href="(https://mail\.acme\.test/t/c/[^"]+)"', body)
        pixel = re.search(r'src="(https://mail\.acme\.test/t/o/[^"]+)"', body)
        assert click is not None and pixel is not None
        r = await client.get(local(pixel.group(1)))
        assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
        r = await client.get(local(click.group(1).replace("&amp;", "&")))
        assert r.status_code == 302
        assert r.headers["location"] == "https://acme.test/offer?x=1&y=2"
        forged = click.group(1)[:-3] + ("aaa" if not click.group(1).endswith("aaa") else "bbb")
        r = await client.get(local(forged))
        assert r.status_code == 404 and "location" not in r.headers
        # one-click unsubscribe, both encodings, no cookie, no redirect
        for i, message in enumerate(campaign[1:3]):
            url = re.search(r"<(https://[^>]+)>", str(message["List-Unsubscribe"]))
            assert url is not None
            if i == 0:
                r = await client.post(local(url.group(1)), data={"List-Unsubscribe": "One-Click"})
            else:
                r = await client.post(
                    local(url.group(1)), files={"List-Unsubscribe": (None, "One-Click")}
                )
            assert r.status_code == 200 and "location" not in r.headers, r.text
        page = await client.get(local(url.group(1)))
        assert page.status_code == 200 and "<form" in page.text
    status = await asyncio.to_thread(as_json, "campaign", "status", "dec", "-c", cfg)
    assert status["engagement"]["opened"] == 1 and status["engagement"]["clicked"] == 1
    assert status["engagement"]["unsubscribed"] == 2
    assert status["totals"]["sent"] + status["totals"]["delivered"] == CONTACTS  # a click proves it
    unsubscribed = [str(m["To"]) for m in campaign[1:3]]
    listed = await asyncio.to_thread(as_json, "suppress", "list", "-c", cfg)
    entries = listed if isinstance(listed, list) else listed.get("entries", listed)
    found = {(e["address"], e["scope"]) for e in entries}
    assert {(a, "list:news") for a in unsubscribed} <= found
