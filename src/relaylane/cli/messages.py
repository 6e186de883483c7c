"""`relaylane messages list|show`: deliveries and every attempt with the relay's reply."""

from __future__ import annotations

import time
from dataclasses import asdict
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
from relaylane.errors import InputError
from relaylane.policy.vocabulary import DeliveryState
from relaylane.store import Store
from relaylane.store.pacing import PacingEvent
from relaylane.store.reads import DeliveryDetail

app = typer.Typer(help="Inspect deliveries.", no_args_is_help=True)


def _ts(t: float | None) -> str:
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _state(value: str | None) -> DeliveryState | None:
    if value is None:
        return None
    try:
        return DeliveryState(value)
    except ValueError:
        raise InputError(
            "--state",
            f"unknown state {value!r}",
            "use one of: " + ", ".join(s.value for s in DeliveryState),
        ) from None


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
            rows = store.reads.list_deliveries(state=wanted, lane=lane, relay=relay, limit=limit)
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
            detail = store.reads.delivery(delivery_id)
            changes = _pacing_changes(store, detail)
    if json:
        print_json({**detail.as_dict(), "pacing_changes": [asdict(c) for c in changes]})
        return
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


def _pacing_changes(store: Store, detail: DeliveryDetail) -> list[PacingEvent]:
    """Adaptive-backoff and warm-up changes on the relays this delivery used, while it
    was in relaylane's hands: why it may have waited."""
    relays = {a.relay for a in detail.attempts if a.relay} | (
        {detail.delivery.relay} if detail.delivery.relay else set()
    )
    start = detail.delivery.created_at
    end = detail.delivery.updated_at
    found = [
        e
        for relay in sorted(relays)
        for e in store.pacing.events(relay, limit=500)
        if start <= e.at <= end + 1
    ]
    return sorted(found, key=lambda e: e.at)[-20:]
