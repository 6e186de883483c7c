"""`relaylane worker`: deliver forever, or until nothing is due (--until-idle)."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import typer

from relaylane import runtime
from relaylane.cli.common import (
    ConfigOption,
    JsonOption,
    console,
    load,
    print_json,
    store_for,
    user_errors,
)
from relaylane.config.feedback import classifier_for
from relaylane.delivery.stats import WorkerStats
from relaylane.delivery.worker import Worker


def worker(
    until_idle: bool = typer.Option(
        False, "--until-idle", help="Deliver what is due now, then exit."
    ),
    report_every: float = typer.Option(
        30.0, "--report-every", min=0, help="Log a summary every N seconds (0: never)."
    ),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Deliver queued mail. SIGTERM or Ctrl-C stops it gracefully: nothing is lost."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            stats = runtime.run(
                _run(
                    Worker(
                        cfg,
                        store.queue,
                        report_every=report_every,
                        classifier=classifier_for(cfg.classification),
                    ),
                    until_idle,
                )
            )
    totals = stats.totals()
    if json:
        print_json({"recorded": stats.recorded, "stale": stats.stale, "by_state": totals})
    elif until_idle or totals:
        summary = ", ".join(f"{n} {s}" for s, n in sorted(totals.items())) or "nothing due"
        console.print(f"worker done: {summary}")


async def _run(w: Worker, until_idle: bool) -> WorkerStats:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, w.request_stop)
    try:
        return await w.run(until_idle=until_idle)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
