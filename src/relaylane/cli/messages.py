"""`relaylane messages list|show`: deliveries and every attempt with the relay's reply."""

from __future__ import annotations

import time
from datetime import UTC, datetime
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
from relaylane.policy.vocabulary import DeliveryState
from relaylane.reports.messages import list_deliveries, parse_state, show_report

app = typer.Typer(help="Inspect deliveries.", no_args_is_help=True)


def _ts(t: float | None) -> str:
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _state(value: str | None) -> DeliveryState | None:
    return parse_state("--state", value)


@app.command("list")
def list_(
    state: str | None = typer.Option(None, "--state", help="Only this state."),
    lane: str | None = typer.Option(None, "--lane", help="Only this lane."),
    relay: str | None = typer.Option(None, "--relay", help="Only this relay."),
    limit: int = typer.Option(50, "--limit", min=1, help="At most this many, newest first."),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """List deliveries, newest first."""
    with user_errors():
        cfg = load(config)
        wanted = _state(state)
        with store_for(cfg) as store:
            rows = list_deliveries(store, state=wanted, lane=lane, relay=relay, limit=limit)
    if json:
        print_json(rows)
        return
    now = time.time()
    table = Table(title=f"{len(rows)} deliveries")
    for col in ("id", "lane", "recipient", "state", "relay", "tries", "age", "last reply"):
        table.add_column(col)
    for r in rows:
        reply = r.last_reply or ""
        table.add_row(
            str(r.id),
            r.lane,
            r.recipient,
            r.state,
            r.relay or "-",
            str(r.attempts),
            age(now - r.created_at),
            escape(reply[:60]),  # replies carry brackets ("[TSS04]"), not markup
        )
    console.print(table)


@app.command("show")
def show(
    delivery_id: int = typer.Argument(..., metavar="ID", help="A delivery id."),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Show one delivery: lane, relay, and every attempt with the SMTP reply."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            report = show_report(store, delivery_id)
    if json:
        print_json(report.as_dict())
        return
    detail, changes = report.detail, report.pacing_changes
    d = detail.delivery
    console.print(
        f"[bold]delivery {d.id}[/] (message {d.message_id}) to {escape(d.recipient)}",
        highlight=False,
    )
    for label, value in (
        ("state", d.state),
        ("lane", d.lane),
        ("relay", d.relay or "-"),
        ("from", detail.mail_from),
        ("size", f"{detail.size} bytes"),
        ("message-id", d.header_message_id),
        ("queued", _ts(d.created_at)),
        ("next try", _ts(d.due_at)),
        ("sent", _ts(d.sent_at)),
        ("relay queue id", d.relay_queue_id or "-"),
    ):
        console.print(f"  {label:15} {escape(str(value))}", highlight=False)
    table = Table(title="attempts")
    for col in ("at", "relay", "stage", "reply", "outcome", "class", "ms", "note"):
        table.add_column(col)
    for a in detail.attempts:
        note = ", ".join(n for n, on in (("failed over", a.failover), ("stale", a.stale)) if on)
        table.add_row(
            _ts(a.at),
            a.relay or "-",
            a.stage,
            escape(a.reply),
            a.outcome,
            a.bounce_class,
            f"{a.duration_ms:.0f}",
            note,
        )
    console.print(table)
    for change in changes:
        rate = f" to {change.rate:.3g} msg/s" if change.rate is not None else ""
        console.print(
            f"  pacing {_ts(change.at)} {change.relay}/{change.provider}: "
            f"{change.action}{rate} ({escape(change.cause[:160])})",
            highlight=False,
        )
