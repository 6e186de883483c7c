"""`relaylane demo`: the main job end to end on embedded defaults, in under a minute.

It queues a marketing backlog, then outreach, then trickles password resets in while
the backlog drains, runs a real worker against the simulated relays, shows progress
per lane and relay, and ends with a table per relay and the transactional latency.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from relaylane import runtime
from relaylane.config import Config
from relaylane.delivery.addresses import parse_address
from relaylane.delivery.compose import compose
from relaylane.delivery.stats import WorkerStats
from relaylane.delivery.submit import build_message
from relaylane.delivery.worker import Worker
from relaylane.demo.scenario import FULL, QUICK, DemoSize, build_world
from relaylane.policy.vocabulary import Outcome
from relaylane.records import NewMessage
from relaylane.store import Store, open_store

DOMAINS = ("example.test", "mail.example", "inbox.example", "corp.example", "post.example")
FINAL_COLUMNS = ("sent", "deferred", "blocked", "bounced", "failed")


@dataclass
class RelayRow:
    relay: str
    sent: int
    deferred: int
    blocked: int
    bounced: int
    faults: int
    failovers: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass
class DemoSummary:
    size: DemoSize
    seconds: float
    relays: list[RelayRow]
    lanes: dict[str, dict[str, int]]
    transactional_p95: float | None  # seconds from queued to accepted, during the drain
    transactional_max: float | None
    marketing_drain_seconds: float
    queued: int
    recorded: int
    store_counts: dict[str, int] = field(default_factory=dict)


def _marketing(config: Config, n: int, now: float) -> NewMessage:
    recipients = [
        parse_address(f"{'nobody' if i % 50 == 49 else 'reader'}{i}@{DOMAINS[i % len(DOMAINS)]}")
        for i in range(n)
    ]
    composed = compose(
        from_="Acme News <news@news.acme.test>",
        subject="Acme spring update",
        text="Hello,\n\nHere is what is new at Acme this spring.\n\n" + "Lorem ipsum. " * 200,
        html="<p>Hello,</p><p>Here is what is new at Acme this spring.</p>",
    )
    return build_message(config, "marketing", composed, recipients, now)


def _outreach(config: Config, n: int, now: float) -> list[NewMessage]:
    out = []
    for i in range(n):
        domain = (
            "blocklisted.example"
            if i % 20 == 3
            else "greylist.example"
            if i % 20 == 7
            else DOMAINS[i % len(DOMAINS)]
        )
        composed = compose(
            from_="Dana from Acme <dana@outreach.acme.test>",
            subject=f"Quick question, prospect {i}",
            text=f"Hi prospect {i},\n\nWould a 15 minute call next week work?\n\nDana\n",
        )
        out.append(
            build_message(config, "outreach", composed, [parse_address(f"lead{i}@{domain}")], now)
        )
    return out


def _reset(config: Config, i: int) -> NewMessage:
    composed = compose(
        from_="Acme <no-reply@tx.acme.test>",
        subject="Reset your password",
        text=f"Someone asked to reset the password of account {i}. Code: {100000 + i}\n",
    )
    rcpt = "nobody-tx@example.test" if i == 7 else f"user{i}@{DOMAINS[i % len(DOMAINS)]}"
    return build_message(config, "transactional", composed, [parse_address(rcpt)], time.time())


def _progress(stats: WorkerStats, config: Config, queued: int, started: float) -> Group:
    lanes = Table(
        title=f"relaylane demo: {stats.recorded}/{queued} recorded, {time.time() - started:.1f}s"
    )
    lanes.add_column("lane")
    for col in FINAL_COLUMNS:
        lanes.add_column(col, justify="right")
    for lane in config.lanes_by_priority():
        t = stats.lanes.get(lane.name)
        lanes.add_row(lane.name, *[str(t.states.get(c, 0) if t else 0) for c in FINAL_COLUMNS])
    relays = Table()
    relays.add_column("relay")
    for col in ("sent", "refused", "faults", "failovers"):
        relays.add_column(col, justify="right")
    for relay in config.relay:
        r = stats.relays.get(relay.name)
        if r is None:
            relays.add_row(relay.name, "0", "0", "0", "0")
            continue
        sent = r.outcomes.get(Outcome.SENT.value, 0)
        faults = r.outcomes.get(Outcome.RELAY_FAULT.value, 0)
        refused = sum(r.outcomes.values()) - sent - faults
        relays.add_row(relay.name, str(sent), str(refused), str(faults), str(r.failovers))
    return Group(lanes, relays)


def _summary_rows(stats: WorkerStats, config: Config) -> list[RelayRow]:
    rows = []
    for relay in config.relay:
        r = stats.relays.get(relay.name)
        o = r.outcomes if r else {}
        rows.append(
            RelayRow(
                relay=relay.name,
                sent=o.get("sent", 0),
                deferred=o.get("deferred", 0),
                blocked=o.get("blocked", 0),
                bounced=o.get("bounced", 0),
                faults=o.get("relay_fault", 0),
                failovers=r.failovers if r else 0,
                p50_ms=_as_ms(r.durations.percentile(50)) if r else None,
                p95_ms=_as_ms(r.durations.percentile(95)) if r else None,
            )
        )
    return rows


def _as_ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


async def run_demo(size: DemoSize, workdir: Path, console: Console | None) -> DemoSummary:
    world = await build_world(workdir, throttle_after=max(100, size.marketing // 12))
    config = world.config
    store = open_store(config.store.url)
    try:
        return await _drive(config, store, size, console)
    finally:
        store.close()
        await world.stop()


async def _drive(
    config: Config, store: Store, size: DemoSize, console: Console | None
) -> DemoSummary:
    started = time.time()
    await asyncio.to_thread(store.queue.enqueue, [_marketing(config, size.marketing, started)])
    await asyncio.to_thread(store.queue.enqueue, _outreach(config, size.outreach, started))
    queued = size.marketing + size.outreach + size.transactional
    worker = Worker(config, store.queue, idle_quit=1.0, limits=store.limits)
    intake_done = asyncio.Event()
    marketing_done: list[float] = []

    async def trickle() -> None:
        for i in range(size.transactional):
            await asyncio.to_thread(store.queue.enqueue, [_reset(config, i)])
            await asyncio.sleep(0.02)
        intake_done.set()

    async def watch_marketing() -> None:
        while True:
            lane = worker.stats.lanes.get("marketing")
            if lane and sum(lane.states.values()) >= size.marketing:
                marketing_done.append(time.time() - started)
                return
            await asyncio.sleep(0.05)

    feeder = asyncio.create_task(trickle())
    watcher = asyncio.create_task(watch_marketing())
    run = asyncio.create_task(worker.run(until_idle=True, intake_done=intake_done))
    if console is not None:
        with Live(
            _progress(worker.stats, config, queued, started),
            console=console,
            refresh_per_second=8,
            transient=False,
        ) as live:
            while not run.done():
                live.update(_progress(worker.stats, config, queued, started))
                await asyncio.sleep(0.125)
            live.update(_progress(worker.stats, config, queued, started))
    stats = await run
    await feeder
    watcher.cancel()
    tx = stats.lanes.get("transactional")
    counts = store.reads.status(time.time()).by_state
    return DemoSummary(
        size=size,
        seconds=time.time() - started,
        relays=_summary_rows(stats, config),
        lanes={name: dict(t.states) for name, t in stats.lanes.items()},
        transactional_p95=tx.latencies.percentile(95) if tx else None,
        transactional_max=tx.latencies.max if tx else None,
        marketing_drain_seconds=marketing_done[0] if marketing_done else time.time() - started,
        queued=queued,
        recorded=stats.recorded,
        store_counts=counts,
    )


def print_summary(summary: DemoSummary, console: Console) -> None:
    table = Table(title="per relay (p50/p95: one SMTP transaction, ms)")
    table.add_column("relay", no_wrap=True)
    for col in ("sent", "defer", "block", "bounce", "fault", "failover", "p50", "p95"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in summary.relays:
        table.add_row(
            r.relay,
            str(r.sent),
            str(r.deferred),
            str(r.blocked),
            str(r.bounced),
            str(r.faults),
            str(r.failovers),
            _ms(r.p50_ms),
            _ms(r.p95_ms),
        )
    console.print(table)
    lanes = Table(title="per lane (final or next state of each delivery)")
    lanes.add_column("lane")
    for col in FINAL_COLUMNS:
        lanes.add_column(col, justify="right")
    for name, states in summary.lanes.items():
        lanes.add_row(name, *[str(states.get(c, 0)) for c in FINAL_COLUMNS])
    console.print(lanes)
    p95, worst = summary.transactional_p95, summary.transactional_max
    console.print(
        f"transactional p95 latency (queued -> accepted) while the marketing backlog drained: "
        f"[bold]{_ms(None if p95 is None else p95 * 1000)} ms[/] "
        f"(max {_ms(None if worst is None else worst * 1000)} ms); marketing backlog of "
        f"{summary.size.marketing} drained in {summary.marketing_drain_seconds:.1f}s",
        highlight=False,
    )
    console.print(
        f"{summary.recorded} of {summary.queued} deliveries recorded in {summary.seconds:.1f}s. "
        "tx-primary was down: transactional mail failed over to tx-backup inside its lane; "
        "mkt-c throttled (421): its share moved to mkt-a/mkt-b; blocklisted.example refused "
        "for reputation: held on its relay, never moved.",
        highlight=False,
    )


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}"


def demo_main(quick: bool, keep: Path | None, console: Console | None) -> DemoSummary:
    """Run the demo; with a console, show live progress and the summary tables."""
    size = QUICK if quick else FULL
    if keep is not None:
        keep.mkdir(parents=True, exist_ok=True)
        summary = runtime.run(run_demo(size, keep, console))
    else:
        with tempfile.TemporaryDirectory(prefix="relaylane-demo-") as tmp:
            summary = runtime.run(run_demo(size, Path(tmp), console))
    if console is not None:
        print_summary(summary, console)
    return summary
