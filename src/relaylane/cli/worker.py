"""`relaylane worker`: deliver forever, or until nothing is due (--until-idle).

With `--metrics-port N` (or `[worker] metrics_listen`) it also serves the Prometheus
exposition at http://HOST:N/metrics while it runs.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import typer

from relaylane import runtime
from relaylane.campaigns.feeding import CampaignFeeder
from relaylane.cli.common import (
    ConfigOption,
    JsonOption,
    console,
    load,
    print_json,
    store_for,
    user_errors,
)
from relaylane.cli.log_options import LogFormatOption, setup_logging
from relaylane.config import Config
from relaylane.config.feedback import classifier_for
from relaylane.config.logs import LogFormat
from relaylane.config.serving import parse_listen
from relaylane.delivery.stats import WorkerStats
from relaylane.delivery.worker import Worker
from relaylane.events.runner import run_dispatcher
from relaylane.monitor.endpoint import start_metrics
from relaylane.monitor.prometheus import Metrics
from relaylane.serve.reload import WorkerSlot
from relaylane.store import Store


def worker(
    until_idle: bool = typer.Option(
        False, "--until-idle", help="Deliver what is due now, then exit."
    ),
    report_every: float = typer.Option(
        30.0, "--report-every", min=0, help="Log a summary every N seconds (0: never)."
    ),
    metrics_port: int | None = typer.Option(
        None,
        "--metrics-port",
        min=0,
        max=65535,
        show_default=False,
        help="Serve Prometheus metrics on http://HOST:N/metrics (HOST: the one of "
        "metrics_listen in \\[worker], else 127.0.0.1; 0: any free port, logged).",
    ),
    log_format: LogFormat | None = LogFormatOption,
    send_events: bool = typer.Option(
        True,
        "--events/--no-events",
        help="Also send the webhook outbox's events ([[events.webhook]]), as `serve` does.",
    ),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Deliver queued mail. SIGTERM or Ctrl-C stops it gracefully: nothing is lost.
    SIGHUP reloads the configuration (a bad one keeps the running configuration)."""
    with user_errors():
        cfg = load(config)
        setup_logging(cfg, log_format)
        with store_for(cfg) as store:

            def make(config: Config, stats: WorkerStats | None) -> Worker:
                return Worker(
                    config,
                    store.queue,
                    stats=stats,
                    report_every=report_every,
                    classifier=classifier_for(config.classification),
                    feeder=CampaignFeeder(store.campaigns, store.tracking, config),
                    limits=store.limits,
                )

            w = make(cfg, None)
            listen = metrics_listen(cfg, metrics_port)
            metrics = Metrics(cfg, store.engine, w.stats, w.clock.now) if listen else None
            events = (cfg, store) if send_events else None
            slot = WorkerSlot(w, make, store, until_idle)
            stats = runtime.run(_run(slot, metrics, listen, events))
    totals = stats.totals()
    if json:
        print_json({"recorded": stats.recorded, "stale": stats.stale, "by_state": totals})
    elif until_idle or totals:
        summary = ", ".join(f"{n} {s}" for s, n in sorted(totals.items())) or "nothing due"
        console.print(f"worker done: {summary}")


def metrics_listen(config: Config, port: int | None) -> str | None:
    """Where to serve /metrics: `--metrics-port` on [worker] metrics_listen's host (else
    127.0.0.1), else metrics_listen itself; None: nowhere."""
    configured = config.worker.metrics_listen
    if port is None:
        return configured
    host = parse_listen(configured)[0] if configured else "127.0.0.1"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


async def _run(
    slot: WorkerSlot,
    metrics: Metrics | None,
    listen: str | None,
    events: tuple[Config, Store] | None,
) -> WorkerStats:
    server = None
    if metrics is not None and listen is not None:
        server = await start_metrics(metrics, listen, "--metrics-port / [worker] metrics_listen")
    stop_events = asyncio.Event()
    dispatcher = None
    if events is not None:  # returns at once when no webhook is configured
        dispatcher = asyncio.create_task(run_dispatcher(*events, stop_events), name="events")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, slot.request_stop)
    path = slot.worker.config.source_path
    loop.add_signal_handler(signal.SIGHUP, slot.request_reload, lambda: load(path))
    try:
        return await slot.run()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        stop_events.set()  # events not sent yet stay in the outbox for the next run
        if dispatcher is not None:
            await dispatcher
        if server is not None:
            await server.stop()
