"""`relaylane relays show R`: one relay's configuration, its health (relay-wide and per
provider), held deliveries, rates over the standard windows and its history of state
changes with their causes, actors and evidence."""

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
from relaylane.cli.relays_health import check_relay
from relaylane.reports.relay_detail import show_report

__all__ = ["show", "show_report"]


def show(
    relay: str = typer.Argument(..., help="The relay to show."),
    limit: int = typer.Option(50, "--limit", min=1, help="State changes to show, newest first."),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Show one relay's health, held deliveries, rates and state changes.

    Its configuration, its health (relay-wide and per provider) with held deliveries,
    rates over 15m/1h/24h/7d and its state changes (newest first) with their causes."""
    now = time.time()
    with user_errors():
        cfg = load(config)
        check_relay(cfg, relay)
        with store_for(cfg) as store:
            report = show_report(cfg, store, relay, now, limit)
    if json:
        print_json(report)
        return
    _print(report)


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.2%}"


def _state(path: dict[str, Any]) -> str:
    if path["state"] == "healthy":
        return "healthy"
    return f"{path['state']} ({path['cause']})"


def _print(report: dict[str, Any]) -> None:
    c = report["config"]
    name = escape(report["name"])
    caps = f"hourly cap {c['hourly_cap'] or '-'}, daily cap {c['daily_cap'] or '-'}"
    console.print(
        f"[bold]relay {name}[/] ({c['kind']}) {escape(c['host'])}:{c['port']} tls={c['tls']}; "
        f"lanes: {escape(', '.join(c['lanes']) or '-')}; rate {c['rate_text'] or '-'}; {caps}; "
        f"warm-up {escape(c['warmup'] or '-')}",
        highlight=False,
    )
    paths = Table(title=f"health (times in {report['timezone']})")
    for column in ("path", "state", "since", "until", "held", "reason"):
        paths.add_column(column, overflow="fold")
    rows = [{"provider": "relay", **report["health"]}, *report["providers"]]
    for path in rows:
        paths.add_row(
            escape(path["provider"]),
            _state(path),
            path["since_local"] or "-",
            path["until_local"] or "-",
            f"{path['held']:,}",
            escape(path["reason"] or "-"),
        )
    console.print(paths)
    console.print(f"held deliveries: {report['held']:,}", highlight=False)
    windows = Table(title="rates")
    for column in ("window", "attempts", "block rate", "deferral rate", "relay fault rate"):
        windows.add_column(column, justify="right")
    for window, r in report["rates"].items():
        windows.add_row(
            window,
            f"{r['attempts']:,}",
            _pct(r["block_rate"]),
            _pct(r["deferral_rate"]),
            _pct(r["relay_fault_rate"]),
        )
    console.print(windows)
    if not report["history"]:
        console.print("no state changes recorded", highlight=False)
        return
    console.print("[bold]state changes, newest first[/]")
    for e in report["history"]:
        console.print(
            f"{e['at_local']}  {escape(e['path'])}  {e['from']} -> {e['to']}  "
            f"({escape(e['cause'])}) by {escape(e['actor'])}",
            highlight=False,
        )
        detail = e["reason"] or "-"
        if e["evidence_text"]:
            detail += f" [{e['evidence_text']}]"
        console.print(f"    {escape(detail)}", highlight=False)
