"""`relaylane serve`: the HTTP API, SMTP submission and delivery workers together."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path

import typer

from relaylane import runtime
from relaylane.cli.common import ConfigOption, console, load, store_for, user_errors
from relaylane.cli.log_options import LogFormatOption, setup_logging
from relaylane.config.logs import LogFormat
from relaylane.errors import InputError
from relaylane.serve.service import ALL_PARTS, Listening, Part, Service


def serve(
    only: list[Part] = typer.Option(
        [], "--only", help="Run only this part: api, smtp, bounces or worker (repeatable)."
    ),
    no_worker: bool = typer.Option(
        False, "--no-worker", help="Leave the delivery workers out (front ends only)."
    ),
    log_format: LogFormat | None = LogFormatOption,
    config: Path | None = ConfigOption,
) -> None:
    """Run relaylane: HTTP API, SMTP submission and delivery workers, in one process.

    SIGTERM or Ctrl-C stops it gracefully: it stops accepting, commits what was
    accepted, finishes or releases deliveries in flight, and exits with nothing lost.
    SIGHUP reloads the configuration file (a bad one keeps the running configuration).
    """
    # aiosmtpd logs every command of every session at INFO: noise (and CPU) at volume.
    logging.getLogger("mail.log").setLevel(logging.WARNING)
    parts = frozenset(only) if only else ALL_PARTS
    if no_worker:
        parts -= {Part.WORKER}
    with user_errors():
        if not parts:
            raise InputError("--no-worker", "nothing left to run", "drop --no-worker or --only")
        cfg = load(config)
        setup_logging(cfg, log_format)
        with store_for(cfg) as store:
            runtime.run(_run(Service(cfg, store, parts)))
    console.print("relaylane serve stopped: nothing accepted was lost")


def _ready(listening: list[Listening]) -> None:
    for item in listening:
        console.print(f"listening {item}", highlight=False)
    console.print("relaylane serve ready", highlight=False)


async def _run(service: Service) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, service.request_stop)
    path = service.config.source_path
    loop.add_signal_handler(signal.SIGHUP, service.request_reload, lambda: load(path))
    try:
        await service.run(_ready)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
