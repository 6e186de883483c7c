"""bench/scale.py: scale-out on PostgreSQL, against one process on SQLite and against
Postfix, in one run; and how exact the limits shared by all workers are under contention.

Throughput: the same workload (N messages of about 4 KB, one recipient each, DKIM-signed
with RSA-2048, one lane over 4 relays, each a loopback `smtp-sink`) is queued first
(untimed), then delivered by `relaylane worker --until-idle` processes: one on SQLite, and
1, 2 and 4 on PostgreSQL (a fresh database each). Timed from starting the workers until
the last one exits with everything recorded. Postfix relays the same volume and size to
`smtp-sink` in the same run (bench/postfix_peer.py).

Limiter accuracy: 4 workers on PostgreSQL deliver 3,000 deliveries over two relays that are
aiosmtpd servers in this process (each acceptance time-stamped): one with `rate = "200/s"`
and `max_connections = 3`, one with `daily_cap = 1000`; once with shared limits (the
default) and once with `[pacing] shared_limits = false` (each process counting only
itself), to show what sharing prevents.

On 2 cores the figures show overhead more than scaling: more worker processes compete for
the same two cores with PostgreSQL and the sinks.

    python bench/scale.py [--messages 10000] [--workers 1,2,4] [--skip-postfix] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from postfix_peer import free_port, run_postfix_peer, start_sink
from relaylane.config import load_config
from relaylane.dkim import generate_key, write_private_key
from relaylane.sim import SimRelay
from relaylane.sim.windows import most_in_window
from relaylane.store import open_store
from relaylane.store.engine import create_engine, upgrade
from throughput import make_batches

PG_ADMIN = os.environ.get("RELAYLANE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")
RATE = 200
CONNECTIONS = 3
CAP = 1000
ACCURACY_DELIVERIES = 3000


@contextmanager
def pg_database() -> Iterator[str]:
    """A fresh PostgreSQL database, migrated, dropped afterwards."""
    name = f"relaylane_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN.replace("postgresql://", "postgresql+psycopg://"),
                             isolation_level="AUTOCOMMIT")  # fmt: skip
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine(url)
    upgrade(engine)
    engine.dispose()
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def relay_toml(name: str, port: int, extra: str = "") -> str:
    return f"""
[[relay]]
name = "{name}"
host = "127.0.0.1"
port = {port}
tls = "none"
helo = "bench.relaylane.test"
max_messages_per_connection = 1000
{extra}"""


def write_config(workdir: Path, url: str, relays: str, names: list[str], top: str = "") -> Path:
    key = workdir / "news-rsa.pem"
    if not key.exists():
        write_private_key(key, generate_key("rsa"))
    path = workdir / f"relaylane-{uuid.uuid4().hex[:6]}.toml"
    path.write_text(
        f"""{top}
[store]
url = "{url}"

[worker]
claim_batch = 256
idle_poll = "50ms"

[domain."news.acme.test"]
dkim = [{{ selector = "bench", key_file = "{key}" }}]

# The sinks stand for many mailbox providers; the recipients all share one .test group,
# so its per relay x provider rate is lifted to measure the pipeline.
[provider.default]
rate = "100000/s"
{relays}
[[lane]]
name = "bulk"
purpose = "marketing"
strategy = "round_robin"
relays = {json.dumps(names)}
from_domains = ["news.acme.test"]
"""
    )
    return path


def queue_workload(cfg: Path, messages: int, size: int) -> None:
    config = load_config(cfg)
    store = open_store(config.store.url)
    try:
        for batch in make_batches(config, messages, size, time.time()):
            store.queue.enqueue(batch)
    finally:
        store.close()


def run_workers(cfg: Path, workers: int, logs: Path) -> float:
    """Start `workers` worker processes and wait for all; seconds taken."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with ExitStack() as stack:
        outs = [stack.enter_context((logs / f"worker{i}.log").open("wb")) for i in range(workers)]
        started = time.perf_counter()
        command = [sys.executable, "-m", "relaylane", "worker", "--config", str(cfg),
                   "--until-idle", "--report-every", "0"]  # fmt: skip
        procs = [
            subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env) for out in outs
        ]
        codes = [p.wait(timeout=900) for p in procs]
        seconds = time.perf_counter() - started
    if any(codes):
        tail = (logs / "worker0.log").read_text()[-2000:]
        raise RuntimeError(f"a worker exited with {codes}: {tail}")
    return seconds


def sent_count(url: str) -> int:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text("SELECT count(*) FROM deliveries WHERE state = 'sent'")
                ).scalar_one()
            )
    finally:
        engine.dispose()


def throughput(workdir: Path, ports: list[int], store: str, workers: int, messages: int,
               size: int) -> dict[str, Any]:  # fmt: skip
    names = [f"sink{i}" for i in range(len(ports))]
    relays = "".join(
        relay_toml(n, p, "max_connections = 4") for n, p in zip(names, ports, strict=True)
    )
    with ExitStack() as stack:
        if store == "sqlite":
            url = f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:6]}.db'}"
        else:
            url = stack.enter_context(pg_database())
        cfg = write_config(workdir, url, relays, names)
        queue_workload(cfg, messages, size)
        seconds = run_workers(cfg, workers, workdir)
        sent = sent_count(url)
    return {"store": store, "workers": workers, "messages": messages, "sent": sent,
            "seconds": round(seconds, 2), "msgs_per_sec": round(messages / seconds, 1)}  # fmt: skip


async def accuracy(workdir: Path, shared: bool, workers: int = 4) -> dict[str, Any]:
    async with SimRelay(name="paced") as paced, SimRelay(name="capped") as capped:
        relays = relay_toml("paced", paced.port, f'rate = "{RATE}/s"\nmax_connections = '
                            f"{CONNECTIONS}") + relay_toml(
            "capped", capped.port, f"daily_cap = {CAP}\nmax_connections = 2"
        )  # fmt: skip
        top = "" if shared else "[pacing]\nshared_limits = false\n"
        with pg_database() as url:
            cfg = write_config(workdir, url, relays, ["paced", "capped"], top)
            await asyncio.to_thread(queue_workload, cfg, ACCURACY_DELIVERIES, 1024)
            seconds = await asyncio.to_thread(run_workers, cfg, workers, workdir)
        stamps = [m.received_at for m in paced.received]
        span = max(stamps) - min(stamps) if len(stamps) > 1 else 0.0
        return {
            "shared_limits": shared,
            "workers": workers,
            "seconds": round(seconds, 2),
            "paced_accepted": paced.accepted,
            "paced_rate_limit": RATE,
            "paced_average_rate": round(len(stamps) / span, 1) if span else None,
            "paced_most_in_1s": most_in_window(stamps, 1.0),
            "paced_most_in_5s": most_in_window(stamps, 5.0),
            "paced_bound_1s": RATE * 2,  # documented: rate x (T + 1 s)
            "paced_bound_5s": RATE * 6,
            "paced_peak_connections": paced.peak_connections,
            "paced_connection_limit": CONNECTIONS,
            "capped_accepted": capped.accepted,
            "capped_limit": CAP,
        }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--workers", default="1,2,4", help="PostgreSQL worker counts")
    parser.add_argument("--skip-postfix", action="store_true")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results: dict[str, Any] = {"throughput": [], "accuracy": []}
    with tempfile.TemporaryDirectory(prefix="relaylane-scale-") as tmp:
        workdir = Path(tmp)
        ports = [free_port() for _ in range(4)]
        sinks = [start_sink(p) for p in ports]
        try:
            runs = [("sqlite", 1)] + [("postgres", int(n)) for n in args.workers.split(",")]
            for store, n in runs:
                row = throughput(workdir, ports, store, n, args.messages, args.size)
                results["throughput"].append(row)
                if not args.json:
                    print(
                        f"relaylane {store:8} {n} worker(s): {row['msgs_per_sec']:7.1f} msg/s "
                        f"({row['sent']}/{row['messages']} sent in {row['seconds']} s)"
                    )
        finally:
            for sink in sinks:
                sink.terminate()
                sink.wait()
        if not args.skip_postfix:
            peer = run_postfix_peer(args.messages, args.size)
            results["postfix"] = {"msgs_per_sec": round(peer.msgs_per_sec, 1),
                                  "seconds": round(peer.seconds, 2), "note": peer.note}  # fmt: skip
            if not args.json:
                print(
                    f"postfix  end to end          : {peer.msgs_per_sec:7.1f} msg/s "
                    f"({peer.delivered}/{args.messages} in {peer.seconds:.1f} s) {peer.note}"
                )
        if not args.skip_accuracy:
            for shared in (True, False):
                row = asyncio.run(accuracy(workdir, shared))
                results["accuracy"].append(row)
                if not args.json:
                    print(
                        f"limits {'shared' if shared else 'per process'}, 4 workers: paced relay "
                        f"{row['paced_accepted']} accepted, average {row['paced_average_rate']}/s "
                        f"(limit {RATE}/s), most in 1 s {row['paced_most_in_1s']} (bound "
                        f"{row['paced_bound_1s']}), in 5 s {row['paced_most_in_5s']} (bound "
                        f"{row['paced_bound_5s']}), peak connections "
                        f"{row['paced_peak_connections']} (limit {CONNECTIONS}); capped relay "
                        f"{row['capped_accepted']} (daily cap {CAP})"
                    )
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
