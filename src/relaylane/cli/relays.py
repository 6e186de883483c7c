"""`relaylane relays`: each relay's limits and how much of them is used, its warm-up
progress, its health and held deliveries, its deliveries, and the pacing changes recorded
for it (adaptive backoff, each with its cause, the reply text; warm-up steps).

Subcommands (relays_show, relays_health): `show R`, `pause R`, `resume R`, `drain R`."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape
from rich.table import Table

from relaylane.cli.common import (
    ConfigOption,
    JsonOption,
    console,
    load,
    print_json,
    store_for,
    user_errors,
)
from relaylane.cli.relays_health import drain, pause, resume
from relaylane.cli.relays_show import show
from relaylane.policy.vocabulary import DeliveryState
from relaylane.reports.relay_health import local_text
from relaylane.reports.relays import (
    SHOWN_EVENTS,
    current_counts,
    latest_backoff,
    rate_text,
    read_counts,
    relays_report,
    stored_warmups,
)

__all__ = [
    "SHOWN_EVENTS",
    "app",
    "current_counts",
    "latest_backoff",
    "local_text",
    "rate_text",
    "read_counts",
    "relays",
    "stored_warmups",
]
_STATES = [s.value for s in DeliveryState]


def _warmup_text(relay: dict[str, Any]) -> str:
    """ "slow 3/5 400/day" (step 3 of 5) from the relay's own path, or "slow not started"."""
    if relay["warmup"] is None:
        return "-"
    own = [p for p in relay["warmup_paths"] if p["path"] == "relay"]
    if not own:
        return f"{relay['warmup']} not started"
    p = own[0]
    return f"{relay['warmup']} {p['step']}/{p['steps']} {p['volume']:,}/day"


def _health_text(relay: dict[str, Any]) -> str:
    """ "healthy", "paused (reputation)", then each non-healthy provider path."""
    h = relay["health"]
    text = h["state"] if h["state"] == "healthy" else f"{h['state']} ({h['cause']})"
    for p in relay["providers"]:
        text += f"\n{p['provider']}: {p['state']} ({p['cause']})"
    return text


def _used(sent: int, cap: int | None) -> str:
    return f"{sent:,}" if cap is None else f"{sent:,}/{cap:,}"


app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
    help="Relays: limits, use, warm-up, health and held deliveries; show, pause, resume, drain.",
)


@app.callback()
def relays(ctx: typer.Context, config: Path | None = ConfigOption, json: bool = JsonOption) -> None:
    """Show each relay: its rate, caps and what is used of them this hour and today, its
    warm-up, its health and held deliveries, its deliveries by state and the latest
    adaptive-backoff changes. Subcommands: show, pause, resume, drain."""
    if ctx.invoked_subcommand is not None:
        return
    now = time.time()
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            report = relays_report(cfg, store, now)
    if json:
        print_json(report)
        return
    _print(report)


def _print(report: dict[str, Any]) -> None:
    tz = report["timezone"]
    table = Table(
        title=f"relaylane relays (hours and days in {tz})",
        caption="this hour and today: sent/cap; warm-up: step/steps and today's volume",
    )
    table.add_column("relay", no_wrap=True)
    table.add_column("kind")
    table.add_column("lanes", overflow="fold")
    table.add_column("rate", no_wrap=True)
    table.add_column("this hour", justify="right", no_wrap=True)
    table.add_column("today", justify="right", no_wrap=True)
    table.add_column("warm-up", no_wrap=True)
    table.add_column("health", overflow="fold")
    table.add_column("held", justify="right", no_wrap=True)
    for relay in report["relays"]:
        table.add_row(
            escape(relay["name"]),
            relay["kind"],
            escape(", ".join(relay["lanes"]) or "-"),
            relay["rate_text"],
            _used(relay["sent_this_hour"], relay["hourly_cap"]),
            _used(relay["sent_today"], relay["daily_cap"]),
            escape(_warmup_text(relay)),
            escape(_health_text(relay)),
            f"{relay['held']:,}",
        )
    console.print(table)
    shown = [s for s in _STATES if any(r["deliveries"].get(s) for r in report["relays"])]
    if shown:
        counts = Table(title="deliveries by state")
        counts.add_column("relay", no_wrap=True)
        for state in shown:
            counts.add_column(state, justify="right")
        for relay in report["relays"]:
            row = [f"{relay['deliveries'].get(state, 0):,}" for state in shown]
            counts.add_row(escape(relay["name"]), *row)
        console.print(counts)
    changes = [(r["name"], e) for r in report["relays"] for e in r["events"][:SHOWN_EVENTS]]
    if not changes:
        console.print("no pacing changes recorded", highlight=False)
        return
    recent = Table(
        title=f"latest pacing changes: adaptive backoff and warm-up (up to {SHOWN_EVENTS} "
        "per relay)"
    )
    for name in ("relay", "when", "provider", "action", "rate", "until", "cause"):
        recent.add_column(name)
    for name, event in changes:
        recent.add_row(
            escape(name),
            event["at_local"],
            escape(event["provider"]),
            event["action"],
            event["rate_text"] or "-",
            event["until_local"] or "-",
            escape(event["cause"]),
        )
    console.print(recent)
    console.print(
        "every change with its cause: relaylane relays --json; health history: "
        "relaylane relays show RELAY",
        highlight=False,
    )


app.command("show")(show)
app.command("pause")(pause)
app.command("resume")(resume)
app.command("drain")(drain)
