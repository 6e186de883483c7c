"""`relaylane doctor`: pass, warn or fail, with the reason and the fix, for each sending
domain (SPF, DKIM, DMARC, return path), relay (FCrDNS, handshake) and bulk lane."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
import typer
from rich.markup import escape
from rich.table import Table

from relaylane.cli.common import (
    ConfigOption,
    JsonOption,
    console,
    fail,
    load,
    print_json,
    user_errors,
)
from relaylane.config import Config
from relaylane.doctor.dns import DnsResolver
from relaylane.doctor.report import Check, counts, exit_code
from relaylane.doctor.run import run_doctor
from relaylane.reports.doctor import doctor_json
from relaylane.store.engine import create_engine
from relaylane.store.schema import metadata

_COLOURS = {"pass": "green", "warn": "yellow", "fail": "bold red"}


def doctor(
    json: bool = JsonOption,
    config: Path | None = ConfigOption,
    dns: str | None = typer.Option(
        None, "--dns", help="Nameserver HOST:PORT to ask instead of the system resolver"
    ),
    no_relays: bool = typer.Option(False, "--no-relays", help="Skip the relay handshakes"),
) -> None:
    """Check DNS (SPF, DKIM, DMARC, MX, FCrDNS), relays and bulk lanes; exit 1 on a fail."""
    with user_errors():
        cfg = load(config)
        try:
            resolver = DnsResolver.from_spec(dns)
        except ValueError as exc:
            fail(f"--dns: {exc}", 2)
        with _engine(cfg) as engine:
            checks = asyncio.run(
                run_doctor(cfg, resolver, engine=engine, check_relays=not no_relays)
            )
    if json:
        print_json(doctor_json(checks))
    else:
        _table(checks)
    raise typer.Exit(exit_code(checks))


@contextmanager
def _engine(cfg: Config) -> Iterator[sa.Engine | None]:
    """The store's engine (no migration, no new SQLite file); None when there is none."""
    if cfg.store.is_sqlite:
        path = cfg.store.url.split(":///", 1)[-1].split("?", 1)[0]
        if "://" in path or not Path(path).is_file():
            # No store yet: nothing was ever sent. An empty one in memory says so.
            empty = sa.create_engine("sqlite://")
            metadata.create_all(empty)
            try:
                yield empty
            finally:
                empty.dispose()
            return
    try:
        engine = create_engine(cfg.store.url, cfg.source_path.parent)
    except Exception:
        yield None
        return
    try:
        yield engine
    finally:
        engine.dispose()


def _table(checks: list[Check]) -> None:
    tally = counts(checks)
    table = Table(
        title=f"relaylane doctor: {tally['pass']} pass, {tally['warn']} warn, {tally['fail']} fail",
        show_lines=True,
    )
    for column in ("subject", "check", "status", "reason", "fix"):
        table.add_column(column, overflow="fold")
    for c in checks:
        colour = _COLOURS[c.status]
        table.add_row(
            escape(c.subject),
            escape(c.name),
            f"[{colour}]{c.status}[/]",
            escape(c.reason),
            escape(c.fix or ""),
        )
    console.print(table)
