"""bench/latency: transactional latency under a marketing flood, relaylane against Postfix.

What is measured: for each transactional "probe" message, the time from its submission to
its acceptance at the transactional relay (the moment the relay reads the final dot of
DATA), while a marketing flood of FLOOD messages of about 4 KB (one recipient each) drains
through the same system to smtp-sink. PROBES probes, one every INTERVAL seconds; p50, p95
and max in milliseconds (nearest rank: p95 of 40 is the 38th smallest), overall and per
submission path, plus the same figures for IDLE probes sent before the flood (no load).

The transactional relay is a small asyncio SMTP server inside this process (EHLO advertises
PIPELINING and 8BITMIME, nothing else; several messages per connection). It notes
time.monotonic() when DATA ends, for the id in the message's `X-Probe` header. Probes are
sent from the same process and event loop, so both times come from one clock. A probe is
about 300 bytes, from alerts@tx.acme.test to one recipient.

relaylane: `relaylane serve` (API, SMTP submission and the delivery worker in one process)
on a temporary SQLite store. Lane `marketing` (round robin over four relays, each to its
own smtp-sink, 4 connections, 1,000 messages per connection) and lane `transactional`
(one relay: the probe receiver); no DKIM; provider pacing lifted (100000/s). A separate
process submits the flood through POST /v1/messages/batch, 100 messages per request,
FLOOD_CONCURRENCY requests in flight. Probes start once 2,000 flood messages (a tenth of
a smaller flood) are queued, and alternate between SMTP submission (one session opened
beforehand with STARTTLS + AUTH PLAIN; timing starts when MAIL FROM is written, MAIL, RCPT
and DATA pipelined) and POST /v1/messages (one keep-alive httpx client opened beforehand;
timing starts before the request is sent). The flood counts as drained when every flood
message is queued and none of the marketing lane's deliveries is still queued, sending,
deferred, blocked or held (read from the store every 0.1 s); at the end
`relaylane status --json` must show nothing left to send.

Postfix: a private instance (bench/postfix_peer.py) relaying to one smtp-sink, with
`sender_dependent_relayhost_maps` sending mail from @tx.acme.test to the probe receiver
instead: how a Postfix site keeps transactional mail apart from a bulk stream. The flood
is `smtp-source -s 10 -m FLOOD -l 4096 -d` from news@news.acme.test; probes start 1 s
after smtp-source starts, plain SMTP (no TLS, no AUTH) over one connection kept open (as
an application would), timed from writing MAIL FROM. The flood counts as drained once
smtp-source has exited and Postfix has logged `status=sent` for every flood message.

A probe sent before its side's flood drained counts in `probes_during_flood`;
`flood_left_min` is the fewest flood messages not yet delivered when a probe was sent.
`accept_p50_ms`/`accept_p95_ms`: the part of the latency until the submission itself was
answered (SMTP 250 after DATA, HTTP 202). `series_ms`: every probe's latency, in order.
Every probe must arrive within 60 s: a missing or refused probe is reported and the exit
status is 1.

`--worker-process` runs `serve --no-worker` and a `relaylane worker` process instead (two
interpreters; on SQLite the worker then finds new mail by its idle poll).

    python bench/latency.py [--flood 20000] [--probes 40] [--interval 0.25]
                            [--worker-process] [--skip-postfix] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from intake import PASSWORD, Client, launch_serve, relaylane, stop
from postfix_peer import PrivatePostfix, free_port, start_sink, which
from scale import relay_toml

CONNECTIONS = "max_connections = 4"  # per relay (scale.relay_toml sets 1,000 per connection)

PY = sys.executable
TX_FROM = "alerts@tx.acme.test"
NEWS_FROM = "news@news.acme.test"
TOKEN_ENV = "RELAYLANE_BENCH_TOKEN"  # the flood client's API key (kept off the command line)
BATCH = 100  # flood messages per POST /v1/messages/batch
RL_LEAD_QUEUED = 2000  # relaylane probes start once this many flood messages are queued
PF_LEAD_SECONDS = 1.0  # Postfix probes start this long after smtp-source starts
ARRIVAL_TIMEOUT = 60.0  # seconds every probe has to arrive after the last one is sent
POLL = 0.1  # seconds between looks at the flood's progress
PENDING = ("queued", "sending", "deferred", "blocked", "held")  # not final, not done
EHLO_REPLY = b"250-probe.test\r\n250-PIPELINING\r\n250 8BITMIME\r\n"


# ---------------------------------------------------------------------------------------------
# the transactional relay: a cheap SMTP server that notes when each probe's DATA ends


class Receiver:
    """Answers 220/250/354/250; `arrived` maps each probe id to when its DATA ended."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.messages = 0  # every message received, probe or not
        self.duplicates = 0
        self.port = 0
        self._server: asyncio.Server | None = None
        self._arrival = asyncio.Event()  # set on every probe's arrival
        self._sessions: dict[asyncio.Task[Any], asyncio.StreamWriter] = {}

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._session, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for writer in self._sessions.values():
                writer.close()  # each session then reads EOF and ends by itself
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await asyncio.gather(*self._sessions, return_exceptions=True)
            await self._server.wait_closed()
            self._server = None

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._sessions[task] = writer
        writer.write(b"220 probe.test ESMTP\r\n")
        try:
            while line := await reader.readline():
                if not self._command(line[:4].upper(), writer):
                    break
                if line[:4].upper() == b"DATA":
                    self._note(*await self._data(reader))
                    writer.write(b"250 2.0.0 Ok: queued\r\n")
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._sessions.pop(task, None)
            writer.close()

    @staticmethod
    def _command(verb: bytes, writer: asyncio.StreamWriter) -> bool:
        """Answer one command (DATA: its 354); False after QUIT."""
        if verb == b"EHLO":
            writer.write(EHLO_REPLY)
        elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
            writer.write(b"250 2.0.0 Ok\r\n")
        elif verb == b"DATA":
            writer.write(b"354 End data with <CR><LF>.<CR><LF>\r\n")
        elif verb == b"QUIT":
            writer.write(b"221 2.0.0 Bye\r\n")
            return False
        else:
            writer.write(b"502 5.5.2 Command not recognized\r\n")
        return True

    @staticmethod
    async def _data(reader: asyncio.StreamReader) -> tuple[str | None, float]:
        """Read to the final dot; the probe id (X-Probe header) and when the dot came."""
        probe: str | None = None
        in_head = True
        while True:
            line = await reader.readline()
            if not line:
                raise ConnectionResetError("connection closed in DATA")
            if line in (b".\r\n", b".\n"):
                return probe, time.monotonic()
            if in_head:
                if line in (b"\r\n", b"\n"):
                    in_head = False
                elif line[:8].lower() == b"x-probe:":
                    probe = line[8:].strip().decode()

    def _note(self, probe: str | None, at: float) -> None:
        self.messages += 1
        if probe is None:
            return
        if probe in self.arrived:
            self.duplicates += 1
        else:
            self.arrived[probe] = at
            self._arrival.set()

    async def wait_for(self, probes: set[str]) -> None:
        """Return once every one of these probe ids has arrived (wrap in a timeout)."""
        while not probes <= self.arrived.keys():
            self._arrival.clear()
            await self._arrival.wait()


# ---------------------------------------------------------------------------------------------
# probes


@dataclass
class Probe:
    pid: str
    path: str  # "smtp" or "http"
    planned: float  # when it was due to be sent (monotonic)
    sent: float | None = None  # when its timing started (monotonic)
    accepted: float | None = None  # when the submission was answered (SMTP 250, HTTP 202)
    arrived: float | None = None  # when the receiver read its final dot (monotonic)
    flood_left: int | None = None  # flood messages not yet delivered when it was sent
    error: str | None = None

    @property
    def ms(self) -> float | None:
        if self.sent is None or self.arrived is None:
            return None
        return (self.arrived - self.sent) * 1000

    @property
    def accept_ms(self) -> float | None:
        if self.sent is None or self.accepted is None:
            return None
        return (self.accepted - self.sent) * 1000


def probe_text(pid: str) -> str:
    return f"Your sign-in code for {pid} is 493027.\r\nIt expires in 10 minutes.\r\n"


def probe_message(pid: str) -> bytes:
    head = (
        f"From: Acme Alerts <{TX_FROM}>\r\nTo: ops-{pid}@probe.test\r\n"
        f"Subject: Sign-in code ({pid})\r\nX-Probe: {pid}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
    )
    return (head + probe_text(pid)).encode()


def probe_json(pid: str) -> dict[str, object]:
    return {"from": f"Acme Alerts <{TX_FROM}>", "to": [f"ops-{pid}@probe.test"],
            "subject": f"Sign-in code ({pid})", "text": probe_text(pid),
            "headers": {"X-Probe": pid}, "lane": "transactional"}  # fmt: skip


class Prober:
    """Sends one probe by SMTP (one kept-open session, one probe at a time) or HTTP."""

    def __init__(self, smtp: Client, http: httpx.AsyncClient | None = None) -> None:
        self.smtp, self.http = smtp, http
        self._lock = asyncio.Lock()

    async def send(self, probe: Probe) -> None:
        if probe.path == "http":
            assert self.http is not None
            probe.sent = time.monotonic()
            r = await self.http.post("/v1/messages", json=probe_json(probe.pid))
            if r.status_code != 202:
                raise RuntimeError(f"HTTP {r.status_code}: {r.text[:200]}")
            probe.accepted = time.monotonic()
            return
        async with self._lock:
            probe.sent = time.monotonic()  # no await before MAIL FROM is written
            await self.smtp.send(f"ops-{probe.pid}@probe.test", probe_message(probe.pid), TX_FROM)
            probe.accepted = time.monotonic()


async def run_probes(
    prefix: str,
    count: int,
    interval: float,
    paths: tuple[str, ...],
    send: Callable[[Probe], Awaitable[None]],
    flood_left: Callable[[], int | None] = lambda: None,
) -> list[Probe]:
    """Send `count` probes on a fixed schedule, each in its own task (a slow one does not
    hold back the next); errors are kept on the probe, never raised."""
    t0 = time.monotonic()
    probes = [Probe(f"{prefix}{i}", paths[i % len(paths)], t0 + i * interval) for i in range(count)]

    async def one(probe: Probe) -> None:
        probe.flood_left = flood_left()
        try:
            await send(probe)
        except Exception as exc:  # a refused or failed probe is reported, not dropped
            probe.error = f"{exc.__class__.__name__}: {exc}"

    tasks = []
    for probe in probes:
        await asyncio.sleep(max(0.0, probe.planned - time.monotonic()))
        tasks.append(asyncio.create_task(one(probe)))
    await asyncio.gather(*tasks)
    return probes


async def await_arrivals(receiver: Receiver, probes: list[Probe]) -> None:
    """Wait up to ARRIVAL_TIMEOUT for every probe that was sent, then note arrivals (a
    probe still missing stays without one: it is reported, never dropped)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(ARRIVAL_TIMEOUT):
            await receiver.wait_for({p.pid for p in probes if p.error is None})
    for probe in probes:
        probe.arrived = receiver.arrived.get(probe.pid)


# ---------------------------------------------------------------------------------------------
# figures


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least q of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


def figures(probes: list[Probe], prefix: str = "") -> dict[str, Any]:
    ms = [p.ms for p in probes if p.ms is not None]
    out: dict[str, Any] = {f"{prefix}probes": len(probes), f"{prefix}arrived": len(ms)}
    for name, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("max_ms", 1.0)):
        out[prefix + name] = round(percentile(ms, q), 1) if ms else None
    return out


def side_result(probes: list[Probe], idle: list[Probe], drained_at: float | None) -> dict[str, Any]:
    out = figures(probes)
    out["probes_during_flood"] = sum(
        1 for p in probes if p.sent is not None and (drained_at is None or p.sent < drained_at)
    )
    lefts = [p.flood_left for p in probes if p.flood_left is not None]
    out["flood_left_min"] = min(lefts) if lefts else None
    for path in ("smtp", "http"):
        subset = [p for p in probes if p.path == path]
        out[path] = figures(subset) if subset else None
    out.update(figures(idle, "idle_"))
    accepts = [p.accept_ms for p in probes if p.accept_ms is not None]
    if accepts:  # how much of the latency is the submission's own answer
        out["accept_p50_ms"] = round(percentile(accepts, 0.5), 1)
        out["accept_p95_ms"] = round(percentile(accepts, 0.95), 1)
    out["series_ms"] = [None if p.ms is None else round(p.ms) for p in probes]
    out["idle_series_ms"] = [None if p.ms is None else round(p.ms) for p in idle]
    bad = [p for p in [*idle, *probes] if p.ms is None]
    out["missing"] = [{"probe": p.pid, "path": p.path, "error": p.error} for p in bad]
    return out


# ---------------------------------------------------------------------------------------------
# relaylane

CONFIG_HEAD = """
[store]
url = "sqlite:///relaylane.db"
[http]
listen = "127.0.0.1:0"
[submission]
listen = "127.0.0.1:0"
[bounces]
enabled = false
[provider.default]
rate = "100000/s"
"""

LANES = """
[[lane]]
name = "transactional"
purpose = "transactional"
relays = ["tx"]

[[lane]]
name = "marketing"
purpose = "marketing"
strategy = "round_robin"
relays = ["bulk1", "bulk2", "bulk3", "bulk4"]
"""


def write_config(tmp: Path, sink_ports: list[int], receiver_port: int) -> None:
    relays = [relay_toml(f"bulk{i + 1}", p, CONNECTIONS) for i, p in enumerate(sink_ports)]
    relays.append(relay_toml("tx", receiver_port, CONNECTIONS))
    (tmp / "relaylane.toml").write_text(CONFIG_HEAD + "".join(relays) + LANES)


def start_worker(tmp: Path) -> subprocess.Popen[bytes]:
    """`relaylane worker` in a process of its own, logging to worker.log."""
    with (tmp / "worker.log").open("wb") as out:
        command = [PY, "-m", "relaylane", "worker", "-c", str(tmp / "relaylane.toml")]
        return subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)


def end_serve(proc: subprocess.Popen[bytes]) -> None:
    try:
        stop(proc)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def end_process(proc: subprocess.Popen[bytes]) -> None:
    """Stop a helper process started in a session of its own, with its group."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@dataclass
class Flood:
    """A flood's progress, as seen by its watcher."""

    size: int
    started: float = 0.0
    delivered: int = 0  # flood messages the relays accepted (as far as the watcher knows)
    queued: int = 0  # relaylane: flood messages in the store
    submitted_at: float | None = None  # the submitter (flood client, smtp-source) exited
    drained_at: float | None = None
    lead_at: int = 0  # relaylane: `lead` is set once this many flood messages are queued
    lead: asyncio.Event = field(default_factory=asyncio.Event)
    notes: list[str] = field(default_factory=list)

    def left(self) -> int:
        return self.size - self.delivered


class Backlog:
    """The marketing lane in relaylane's store, read with plain sqlite3 (WAL: readers do
    not block the writer). Each query is its own short read transaction."""

    def __init__(self, db: Path) -> None:
        self._db = db
        self._conn: sqlite3.Connection | None = None

    def sample(self) -> tuple[int, int]:
        """(marketing deliveries in the store, those not yet final)."""
        if self._conn is None:
            self._conn = sqlite3.connect(
                self._db, timeout=10, isolation_level=None, check_same_thread=False
            )
        marks = ",".join("?" * len(PENDING))
        total = self._conn.execute(
            "SELECT count(*) FROM deliveries WHERE lane = 'marketing'"
        ).fetchone()[0]
        pending = self._conn.execute(
            f"SELECT count(*) FROM deliveries WHERE state IN ({marks}) AND lane = 'marketing'",
            PENDING,
        ).fetchone()[0]
        return int(total), int(pending)

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


async def watch_relaylane(flood: Flood, backlog: Backlog, client: subprocess.Popen[bytes]) -> None:
    try:
        await _watch_relaylane(flood, backlog, client)
    finally:
        flood.lead.set()  # a watcher that ended early (an error) must not leave it waiting


async def _watch_relaylane(flood: Flood, backlog: Backlog, client: subprocess.Popen[bytes]) -> None:
    while flood.drained_at is None:
        total, pending = await asyncio.to_thread(backlog.sample)
        now = time.monotonic()
        flood.queued, flood.delivered = total, total - pending
        if total >= flood.lead_at:
            flood.lead.set()
        if flood.submitted_at is None and client.poll() is not None:
            flood.submitted_at = now
            if client.returncode != 0:
                raise RuntimeError(f"flood client exited with status {client.returncode}")
        if total >= flood.size and pending == 0:
            flood.drained_at = now
            return
        await asyncio.sleep(POLL)


def start_flood_client(tmp: Path, port: int, token: str, size: int, concurrency: int
                       ) -> subprocess.Popen[bytes]:  # fmt: skip
    with (tmp / "flood-client.log").open("wb") as err:
        return subprocess.Popen(
            [PY, str(Path(__file__).resolve()), "--flood-client", f"http://127.0.0.1:{port}",
             "--flood", str(size), "--flood-concurrency", str(concurrency)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
            env={**os.environ, TOKEN_ENV: token}, start_new_session=True,
        )  # fmt: skip


async def relaylane_run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Set up (sinks, receiver, store, serve), measure, and tear everything down."""
    sink_ports = [free_port() for _ in range(4)]
    sinks: list[subprocess.Popen[bytes]] = []
    receiver = Receiver()
    serve: subprocess.Popen[bytes] | None = None
    worker: subprocess.Popen[bytes] | None = None
    try:
        sinks.extend(start_sink(port) for port in sink_ports)
        await receiver.start()
        write_config(tmp, sink_ports, receiver.port)
        relaylane(tmp, "smtp-users", "create", "alerts", "--lanes", "transactional",
                  "--password", PASSWORD)  # fmt: skip
        token = relaylane(tmp, "keys", "create", "--scope", "send",
                          "--lanes", "marketing,transactional").split()[0]  # fmt: skip
        if args.worker_process:
            serve, ports = launch_serve(tmp, "--no-worker")
            worker = start_worker(tmp)
        else:
            serve, ports = launch_serve(tmp)
        out = await relaylane_measure(args, tmp, receiver, ports, token)
        out["worker_process"] = args.worker_process
        status = json.loads(relaylane(tmp, "status", "--json"))
        out["final_states"] = status.get("by_state", status)
        out["receiver_duplicates"] = receiver.duplicates
        return out
    finally:
        if serve is not None:
            await asyncio.to_thread(end_serve, serve)  # the receiver must keep answering
        if worker is not None:
            await asyncio.to_thread(end_serve, worker)
        await receiver.close()
        for sink in sinks:
            sink.terminate()
            sink.wait()


async def relaylane_measure(args: argparse.Namespace, tmp: Path, receiver: Receiver,
                            ports: dict[str, int], token: str) -> dict[str, Any]:  # fmt: skip
    """Idle probes, then the flood (its own process) with probes while it drains."""
    smtp = await Client.open(ports["smtp (starttls)"], True, "alerts")
    headers = {"Authorization": f"Bearer {token}"}
    backlog = Backlog(tmp / "relaylane.db")
    flood_client: subprocess.Popen[bytes] | None = None
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{ports['http']}",
                                     headers=headers, timeout=60) as http:  # fmt: skip
            prober = Prober(smtp, http)
            paths = ("smtp", "http")
            idle = await run_probes("rl-idle-", args.idle_probes, args.interval, paths, prober.send)
            await await_arrivals(receiver, idle)

            lead = min(RL_LEAD_QUEUED, args.flood // 10)
            flood = Flood(args.flood, started=time.monotonic(), lead_at=lead)
            flood_client = start_flood_client(tmp, ports["http"], token, args.flood,
                                              args.flood_concurrency)  # fmt: skip
            watcher = asyncio.create_task(watch_relaylane(flood, backlog, flood_client))
            async with asyncio.timeout(120):
                await flood.lead.wait()
            first = time.monotonic()
            probes = await run_probes("rl-", args.probes, args.interval, paths, prober.send,
                                      flood.left)  # fmt: skip
            await await_arrivals(receiver, probes)
            await finish_watch(watcher, flood, max(120.0, args.flood / 50))
        await smtp.quit()
    finally:
        backlog.close()
        if flood_client is not None:
            end_process(flood_client)
    out = side_result(probes, idle, flood.drained_at)
    out.update(flood_summary(flood, first))
    return out


async def finish_watch(watcher: asyncio.Task[None], flood: Flood, seconds: float) -> None:
    """Wait for the flood to drain; a flood that does not is noted as a failure."""
    try:
        async with asyncio.timeout(seconds):
            await watcher
    except TimeoutError:
        flood.notes.append(f"flood not drained {seconds:.0f}s after the probes")


def _since(t: float | None, t0: float) -> float | None:
    return None if t is None else round(t - t0, 2)


def flood_summary(flood: Flood, first_probe: float) -> dict[str, Any]:
    return {
        "flood": flood.size,
        "first_probe_after_s": _since(first_probe, flood.started),
        "flood_submit_s": _since(flood.submitted_at, flood.started),
        "flood_drain_s": _since(flood.drained_at, flood.started),
        "notes": flood.notes,
    }


# ---------------------------------------------------------------------------------------------
# the flood client (its own process, so its CPU does not disturb the probe loop)


def flood_payloads(size: int) -> list[bytes]:
    line = "Spring sale: everything must go, twenty percent off all week long. Hurry!!\n"
    text = line * (4096 // len(line))

    def one(i: int) -> dict[str, object]:
        return {"from": f"Acme News <{NEWS_FROM}>", "to": [f"user{i}@sink.test"],
                "subject": f"Spring sale {i}", "text": text, "lane": "marketing"}  # fmt: skip

    return [
        json.dumps({"messages": [one(i) for i in range(s, min(size, s + BATCH))]}).encode()
        for s in range(0, size, BATCH)
    ]


async def flood_post(url: str, token: str, bodies: list[bytes], concurrency: int) -> None:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120,
                                 limits=limits) as client:  # fmt: skip

        async def worker() -> None:
            while not queue.empty():
                body = queue.get_nowait()
                r = await client.post("/v1/messages/batch", content=body)
                if r.status_code != 202 or r.json()["rejected"]:
                    raise RuntimeError(f"batch refused: {r.status_code}: {r.text[:300]}")

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def flood_client_main(url: str, size: int, concurrency: int) -> int:
    bodies = flood_payloads(size)  # composed before the first request
    asyncio.run(flood_post(url, os.environ[TOKEN_ENV], bodies, concurrency))
    return 0


# ---------------------------------------------------------------------------------------------
# Postfix


def start_smtp_source(port: int, size: int, tmp: Path) -> subprocess.Popen[bytes]:
    cmd = [which("smtp-source"), *("-s", "10", "-m", str(size), "-l", "4096", "-d"),
           *("-f", NEWS_FROM, "-t", "user@sink.test"), f"127.0.0.1:{port}"]  # fmt: skip
    with (tmp / "smtp-source.log").open("wb") as err:
        return subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True)  # fmt: skip


async def watch_postfix(flood: Flood, pf: PrivatePostfix, receiver: Receiver,
                        source: subprocess.Popen[bytes]) -> None:  # fmt: skip
    """Flood delivered = `status=sent` lines minus messages the receiver got (it sees each
    probe before Postfix logs it, so this never runs ahead)."""
    while flood.drained_at is None:
        now = time.monotonic()
        if flood.submitted_at is None and source.poll() is not None:
            flood.submitted_at = now
            if source.returncode != 0:
                raise RuntimeError(f"smtp-source exited with status {source.returncode}")
        flood.delivered = max(0, min(flood.size, pf.sent - receiver.messages))
        if flood.submitted_at is not None and flood.delivered >= flood.size:
            flood.drained_at = now
            return
        await asyncio.sleep(POLL)


async def postfix_run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Set up (sink, receiver, private Postfix), measure, and tear everything down."""
    sink_port = free_port()
    sink = start_sink(sink_port)
    receiver = Receiver()
    try:
        await receiver.start()
        relay = {"@tx.acme.test": f"[127.0.0.1]:{receiver.port}"}
        with PrivatePostfix(sink_port, sender_relay=relay) as pf:
            out = await postfix_measure(args, tmp, pf, receiver)
            out["postfix_sent_lines"] = pf.sent
            out["receiver_duplicates"] = receiver.duplicates
            return out
    finally:
        await receiver.close()
        sink.terminate()
        sink.wait()


async def postfix_measure(args: argparse.Namespace, tmp: Path, pf: PrivatePostfix,
                          receiver: Receiver) -> dict[str, Any]:  # fmt: skip
    """Idle probes, then smtp-source's flood with probes while it drains."""
    smtp = await Client.open(pf.port, False, None)
    prober = Prober(smtp)
    source: subprocess.Popen[bytes] | None = None
    try:
        idle = await run_probes("pf-idle-", args.idle_probes, args.interval, ("smtp",),
                                prober.send)  # fmt: skip
        await await_arrivals(receiver, idle)

        flood = Flood(args.flood, started=time.monotonic())
        source = start_smtp_source(pf.port, args.flood, tmp)
        watcher = asyncio.create_task(watch_postfix(flood, pf, receiver, source))
        await asyncio.sleep(PF_LEAD_SECONDS)
        first = time.monotonic()
        probes = await run_probes("pf-", args.probes, args.interval, ("smtp",), prober.send,
                                  flood.left)  # fmt: skip
        await await_arrivals(receiver, probes)
        await finish_watch(watcher, flood, max(120.0, args.flood / 50))
        await smtp.quit()
    finally:
        if source is not None:
            end_process(source)
    try:
        await asyncio.to_thread(pf.wait_empty, 60.0)
    except (TimeoutError, RuntimeError) as exc:
        flood.notes.append(f"Postfix queue: {exc}")
    out = side_result(probes, idle, flood.drained_at)
    out.update(flood_summary(flood, first))
    return out


# ---------------------------------------------------------------------------------------------


def problems(name: str, side: dict[str, Any]) -> list[str]:
    out = [f"{name}: probe {m['probe']} ({m['path']}) did not arrive" + (f": {m['error']}"
           if m["error"] else "") for m in side["missing"]]  # fmt: skip
    left = {k: v for k, v in side.get("final_states", {}).items() if k in PENDING and v}
    if left:
        out.append(f"{name}: deliveries left at the end: {left}")
    out += [f"{name}: {note}" for note in side.get("notes", [])]
    if side.get("receiver_duplicates"):
        out.append(f"{name}: {side['receiver_duplicates']} probe(s) arrived twice")
    return out


def summary(result: dict[str, Any]) -> str:
    lines = []
    for name in ("relaylane", "postfix"):
        side = result.get(name)
        if side is None:
            continue
        lines.append(
            f"{name:9s} under flood: p50 {side['p50_ms']} ms, p95 {side['p95_ms']} ms, "
            f"max {side['max_ms']} ms ({side['arrived']}/{side['probes']} probes, "
            f"{side['probes_during_flood']} during the flood, fewest flood messages left "
            f"at a probe {side['flood_left_min']}); idle p50 {side['idle_p50_ms']} ms"
        )
        if "accept_p50_ms" in side:
            lines.append(f"  submission answered: p50 {side['accept_p50_ms']} ms, "
                         f"p95 {side['accept_p95_ms']} ms")  # fmt: skip
        for path in ("smtp", "http"):
            if side[path]:
                p = side[path]
                lines.append(f"  {path}: p50 {p['p50_ms']} ms, p95 {p['p95_ms']} ms, "
                             f"max {p['max_ms']} ms ({p['arrived']}/{p['probes']})")  # fmt: skip
        lines.append(
            f"  flood of {side['flood']}: submitted in {side['flood_submit_s']} s, drained "
            f"in {side['flood_drain_s']} s; first probe {side['first_probe_after_s']} s in"
        )
    if result.get("ratio_p95") is not None:
        lines.append(f"p95 relaylane / Postfix: {result['ratio_p95']:.2f}x")
    return "\n".join(lines)


def run_both(args: argparse.Namespace) -> dict[str, Any]:
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="rl-latency-") as tmp:
        result["relaylane"] = asyncio.run(relaylane_run(args, Path(tmp)))
    if not args.skip_postfix:
        with tempfile.TemporaryDirectory(prefix="rl-latency-pf-") as tmp:
            result["postfix"] = asyncio.run(postfix_run(args, Path(tmp)))
        rl, pf = result["relaylane"]["p95_ms"], result["postfix"]["p95_ms"]
        result["ratio_p95"] = round(rl / pf, 3) if rl is not None and pf else None
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--flood", type=int, default=20_000, help="marketing messages")
    ap.add_argument("--probes", type=int, default=40, help="transactional probes")
    ap.add_argument("--idle-probes", type=int, default=10, help="probes before the flood")
    ap.add_argument("--interval", type=float, default=0.25, help="seconds between probes")
    ap.add_argument("--flood-concurrency", type=int, default=2,
                    help="batch requests in flight (relaylane flood)")  # fmt: skip
    ap.add_argument("--worker-process", action="store_true",
                    help="serve --no-worker plus a `relaylane worker` process")  # fmt: skip
    ap.add_argument("--skip-postfix", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--flood-client", metavar="URL", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.flood_client:
        return flood_client_main(args.flood_client, args.flood, args.flood_concurrency)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # the same cleanup as Ctrl-C

    signal.signal(signal.SIGTERM, on_term)
    try:
        result = run_both(args)
    except KeyboardInterrupt:
        print("latency: interrupted; everything it started is stopped and removed",
              file=sys.stderr)  # fmt: skip
        return 130
    print(json.dumps(result, indent=2) if args.json else summary(result))
    failures = [line for name, side in result.items() if isinstance(side, dict)
                for line in problems(name, side)]  # fmt: skip
    for line in failures:
        print(f"FAILED: {line}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
