"""`relaylane events`: the outgoing webhook outbox: what was sent, what waits, what was
given up, and sending given-up events again."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

import typer
from rich.markup import escape
from rich.table import Table

from relaylane.cli.common import (
    ConfigOption,
    JsonOption,
    age,
    console,
    load,
    print_json,
    store_for,
    user_errors,
)
from relaylane.clock import SystemClock
from relaylane.errors import InputError, NotFoundError
from relaylane.store.outbox import OutboxEntry, SqlOutbox

app = typer.Typer(
    help="Outgoing webhook events ([[events.webhook]]): list them, send given-up ones again.",
    no_args_is_help=True,
)


@app.command("list")
def list_(
    pending: bool = typer.Option(
        False, "--pending", help="Only events not yet delivered nor given up."
    ),
    limit: int = typer.Option(50, "--limit", min=1, help="How many, newest first."),
    as_json: bool = JsonOption,
    config: Path | None = ConfigOption,
) -> None:
    """Events in the outbox, newest first: endpoint, kind, status, attempts, last error."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            entries = SqlOutbox(store.engine).list(pending=pending, limit=limit)
    if as_json:
        print_json([asdict(e) | {"status": e.status} for e in entries])
        return
    console.print(_table(entries, SystemClock().now()))


def _table(entries: list[OutboxEntry], now: float) -> Table:
    table = Table("id", "event id", "endpoint", "kind", "age", "status", "tries", "next", "error")
    for e in entries:
        table.add_row(
            str(e.id),
            e.event_id,
            escape(e.endpoint),
            e.kind,
            age(now - e.created_at),
            e.status,
            str(e.attempts),
            _next(e, now),
            escape((e.last_error or "-")[:80]),
        )
    return table


def _next(entry: OutboxEntry, now: float) -> str:
    if entry.due_at is None:
        return "-"
    if entry.lease_owner is not None:
        return "sending"
    return "now" if entry.due_at <= now else f"in {age(entry.due_at - now)}"


@app.command("retry")
def retry(
    event: str | None = typer.Argument(
        None, help="The outbox id (from `events list`) or the event id (a UUID)."
    ),
    all_given_up: bool = typer.Option(
        False, "--all-given-up", help="Every event that was given up."
    ),
    config: Path | None = ConfigOption,
) -> None:
    """Send an event again now, with a fresh give_up_after window. Its id and body are
    unchanged, so a receiver that already has it drops the copy."""
    with user_errors():
        if (event is None) == (not all_given_up):
            raise InputError(
                "events retry",
                "give either one event id or --all-given-up",
                "run `relaylane events retry 42` or `relaylane events retry --all-given-up`",
            )
        cfg = load(config)
        with store_for(cfg) as store:
            outbox = SqlOutbox(store.engine)
            now = SystemClock().now()
            count = outbox.retry_given_up(now) if event is None else outbox.retry(event, now)
        if event is not None and count == 0:
            raise NotFoundError(
                f"no undelivered event {event!r} in the outbox; `relaylane events list` "
                "shows the ids (delivered events are not sent again)"
            )
    console.print(f"{count} event(s) due again now", highlight=False)
