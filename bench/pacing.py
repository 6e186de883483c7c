"""bench/pacing: how exactly relaylane holds a relay's rate, and what pacing costs in CPU.

Pacing accuracy: for each requested rate R (10, 100 and 1,000 msg/s) one relay with
`rate = "R/s"` sends to a loopback smtp-sink (a SimRelay in a child process when
smtp-sink is missing). The deliveries are queued first (SQLite in a temporary directory),
then one worker runs until idle. The relay's bucket starts full (a burst of
max(2, R) tokens), so the first sends go faster than R: the steady state starts at the
first send at which the bucket was empty (cumulative sends reached burst + R x elapsed).
From there, achieved rate = sends after it / time from it to the last send, from the
worker's own record of each send (`deliveries.sent_at`: when the relay answered DATA).
The deviation is (achieved - requested) / requested. The least-squares slope over the same
sends ("fitted") is shown too: it is less swayed by the jitter of the two end points.

Scheduler overhead: CPU seconds of this process (the worker: event loop and store thread;
the sink is another process) for 10,000 deliveries paced at 1,000 msg/s, against the same
deliveries unpaced (no relay rate). The difference is what pacing costs.

The recipients' provider group ("default", shipped rate 100/s per relay x provider) is
lifted to 100,000/s, so the relay's rate is the only limit. Messages are unsigned (an
ungated lane) so that signing does not swamp the scheduler's share of the CPU.

    python bench/pacing.py [--quick] [--sim] [--json]
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from postfix_peer import free_port, start_sink
from relaylane import runtime
from relaylane.config import Config, load_config_data
from relaylane.delivery.addresses import parse_address
from relaylane.delivery.compose import compose
from relaylane.delivery.submit import build_message
from relaylane.delivery.worker import Worker
from relaylane.policy.pacing.bucket import default_burst
from relaylane.store import open_store
from relaylane.store.schema import deliveries

RATES = (10, 100, 1000)
BATCH = 1000
CONNECTIONS = 4  # per relay: enough that the rate, not the sessions, is the limit
OVERHEAD_RATE = 1000
PER = 10_000  # CPU seconds are given per this many deliveries

# A SimRelay in its own process, so its CPU is not counted as the worker's.
_SIM = """
import asyncio, sys
from relaylane.sim import SimRelay
async def main():
    async with SimRelay() as sim:
        print(sim.port, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
asyncio.run(main())
"""


@dataclass
class Accuracy:
    requested: float  # msg/s
    messages: int
    sent: int
    burst: int  # sends before the steady state (the bucket's initial tokens and refill)
    steady_sends: int  # sends counted after the first steady-state send
    steady_seconds: float
    achieved: float  # msg/s
    deviation_pct: float
    fitted: float  # msg/s: least-squares slope of sends over time in the steady state
    wall_seconds: float  # first send to last
    cpu_seconds: float  # this process, whole worker run


@dataclass
class Overhead:
    rate: float
    messages: int
    paced_cpu: float  # CPU seconds per PER deliveries
    unpaced_cpu: float
    overhead_cpu: float
    paced_wall: float
    unpaced_wall: float


def pacing_config(workdir: Path, port: int, rate: float | None) -> Config:
    relay: dict[str, object] = {
        "name": "sink",
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "helo": "bench.relaylane.test",
        "max_connections": CONNECTIONS,
        "max_messages_per_connection": 1000,
    }
    if rate is not None:
        relay["rate"] = f"{rate:g}/s"
    data: dict[str, object] = {
        "store": {"url": f"sqlite:///{workdir / 'bench.db'}"},
        "worker": {"claim_batch": 256, "idle_poll": "50ms"},
        "relay": [relay],
        "lane": [{"name": "bulk", "purpose": "marketing", "relays": ["sink"]}],
        # The recipients' group ("default") would cap the pair at its shipped 100/s:
        # lifted, so the relay's rate under test is the only limit.
        "provider": {"default": {"rate": "100000/s"}},
    }
    return load_config_data(data, source="<bench>", base_dir=workdir, env={})


def queue_messages(config: Config, messages: int) -> None:
    """`messages` deliveries of about 1 KB, each its own message, due now."""
    store = open_store(config.store.url)
    try:
        text = "relaylane pacing benchmark, a line of plain text to fill the body.\n" * 15
        now = time.time()
        for start in range(0, messages, BATCH):
            batch = []
            for i in range(start, min(messages, start + BATCH)):
                composed = compose(from_="Bench <bench@news.acme.test>", subject=f"P{i}", text=text)
                rcpt = parse_address(f"user{i}@sink.test")
                batch.append(build_message(config, "bulk", composed, [rcpt], now))
            store.queue.enqueue(batch)
    finally:
        store.close()


async def deliver(config: Config) -> tuple[float, float, list[float]]:
    """One worker run until idle: (CPU seconds, wall seconds, sorted send times)."""
    store = open_store(config.store.url)
    try:
        worker = Worker(config, store.queue, idle_quit=2.0)
        cpu, wall = time.process_time(), time.perf_counter()
        await worker.run(until_idle=True)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        with store.engine.connect() as conn:
            query = sa.select(deliveries.c.sent_at).where(deliveries.c.state == "sent")
            stamps = sorted(t for (t,) in conn.execute(query) if t is not None)
    finally:
        store.close()
    return cpu, wall, stamps


def run_once(
    workdir: Path, port: int, rate: float | None, messages: int
) -> tuple[float, float, list[float]]:
    workdir.mkdir(parents=True)
    config = pacing_config(workdir, port, rate)
    queue_messages(config, messages)
    return runtime.run(deliver(config))


def steady_start(stamps: list[float], rate: float) -> int:
    """Index of the first send at which the bucket was empty: the cumulative count had
    reached burst + rate x elapsed (less one token of slack for the time between the
    admission and the relay's answer that `sent_at` records)."""
    burst = default_burst(rate)
    first = stamps[0]
    for i, t in enumerate(stamps):
        if i + 1 >= burst + rate * (t - first) - 1:
            return i
    return len(stamps) - 1


def slope(stamps: list[float]) -> float:
    """Least-squares sends per second through (time, index): less swayed than the two
    endpoints by the jitter of single answers."""
    n = len(stamps)
    if n < 3:
        return math.nan
    mean_t, mean_i = sum(stamps) / n, (n - 1) / 2
    cov = sum((t - mean_t) * (i - mean_i) for i, t in enumerate(stamps))
    var = sum((t - mean_t) ** 2 for t in stamps)
    return cov / var if var > 0 else math.nan


def accuracy(workdir: Path, port: int, rate: float, messages: int) -> Accuracy:
    cpu, _, stamps = run_once(workdir, port, rate, messages)
    start = steady_start(stamps, rate)
    sends = len(stamps) - 1 - start
    seconds = stamps[-1] - stamps[start]
    achieved = sends / seconds if seconds > 0 else math.nan
    return Accuracy(
        requested=rate,
        messages=messages,
        sent=len(stamps),
        burst=start,
        steady_sends=sends,
        steady_seconds=seconds,
        achieved=achieved,
        deviation_pct=(achieved - rate) / rate * 100,
        fitted=slope(stamps[start:]),
        wall_seconds=stamps[-1] - stamps[0],
        cpu_seconds=cpu,
    )


def overhead(workdir: Path, port: int, messages: int, paced: Accuracy | None) -> Overhead:
    """The paced figures come from the accuracy run at the same rate when it had the same
    number of messages; otherwise it is run here. Wall times: first send to last."""
    if paced is not None and paced.messages == messages:
        paced_cpu, paced_wall = paced.cpu_seconds, paced.wall_seconds
    else:
        paced_cpu, _, stamps = run_once(workdir / "paced", port, OVERHEAD_RATE, messages)
        complete(stamps, messages, "paced")
        paced_wall = stamps[-1] - stamps[0]
    unpaced_cpu, _, stamps = run_once(workdir / "unpaced", port, None, messages)
    complete(stamps, messages, "unpaced")
    scale = PER / messages
    return Overhead(
        rate=OVERHEAD_RATE,
        messages=messages,
        paced_cpu=paced_cpu * scale,
        unpaced_cpu=unpaced_cpu * scale,
        overhead_cpu=(paced_cpu - unpaced_cpu) * scale,
        paced_wall=paced_wall,
        unpaced_wall=stamps[-1] - stamps[0],
    )


def complete(stamps: list[float], messages: int, what: str) -> None:
    if len(stamps) != messages:
        raise RuntimeError(f"{what} run: {len(stamps)} of {messages} deliveries sent")


def start_relay(stack: ExitStack, sim: bool = False) -> tuple[int, str]:
    """smtp-sink when installed (bash bench/ensure-postfix.sh), else a SimRelay process."""
    if not sim and (shutil.which("smtp-sink") or Path("/usr/sbin/smtp-sink").exists()):
        port = free_port()
        sink = start_sink(port)
        stack.callback(sink.wait)
        stack.callback(sink.terminate)
        return port, "smtp-sink"
    proc = subprocess.Popen(
        [sys.executable, "-c", _SIM], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    stack.callback(proc.wait)
    stack.callback(lambda: proc.stdin and proc.stdin.close())
    assert proc.stdout is not None
    why = "asked for" if sim else "smtp-sink not installed"
    return int(proc.stdout.readline()), f"a SimRelay process ({why})"


def messages_for(rate: int, quick: bool) -> int:
    if quick:
        return {10: 40, 100: 300, 1000: 3000}[rate]
    return {10: 100, 100: 1000, 1000: 10_000}[rate]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer messages (about 15 s)")
    parser.add_argument("--sim", action="store_true", help="a SimRelay even with smtp-sink")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="rl-pacing-") as tmp:
        port, sink = start_relay(stack, args.sim)
        results = []
        for rate in RATES:
            results.append(
                accuracy(Path(tmp) / f"r{rate}", port, rate, messages_for(rate, args.quick))
            )
        at_rate = next(r for r in results if r.requested == OVERHEAD_RATE)
        cost = overhead(
            Path(tmp) / "overhead", port, messages_for(OVERHEAD_RATE, args.quick), at_rate
        )

    if args.json:
        out = {"sink": sink, "accuracy": [asdict(r) for r in results], "overhead": asdict(cost)}
        print(json.dumps(out, indent=2))
    else:
        report(results, cost, sink)
    return 0 if all(r.sent == r.messages for r in results) else 1


def report(results: list[Accuracy], cost: Overhead, sink: str) -> None:
    print(f"Pacing accuracy: one relay, {CONNECTIONS} connections, to {sink} on loopback.")
    print("  The bucket starts full, so the first sends outrun the rate: 'burst' counts the")
    print("  sends before the bucket first ran dry. achieved = sends after that one / time")
    print("  from it to the last send; fitted = least-squares slope over the same sends.")
    print("  Send times are the worker's own record (deliveries.sent_at, the DATA answer).")
    head = ("requested", "messages", "burst", "achieved", "deviation", "fitted", "deviation")
    print("  {:>10} {:>9} {:>6} {:>11} {:>10} {:>11} {:>10}".format(*head))
    for r in results:
        fit_dev = (r.fitted - r.requested) / r.requested * 100
        print(
            f"  {r.requested:>8.0f}/s {r.messages:>9} {r.burst:>6} {r.achieved:>9.2f}/s "
            f"{r.deviation_pct:>+9.2f}% {r.fitted:>9.2f}/s {fit_dev:>+9.2f}%"
        )
    print(
        f"Scheduler overhead: CPU seconds of the worker process per {PER:,} deliveries "
        f"({cost.messages:,} sent in each run; wall = first send to last)."
    )
    print(f"  paced at {cost.rate:.0f}/s  {cost.paced_cpu:6.2f} s  ({cost.paced_wall:.1f} s wall)")
    print(f"  unpaced           {cost.unpaced_cpu:6.2f} s  ({cost.unpaced_wall:.1f} s wall)")
    print(f"  pacing overhead   {cost.overhead_cpu:+6.2f} s")


if __name__ == "__main__":
    sys.exit(main())
