"""`relaylane audit`: who did what to the system, when, with which arguments and effect."""

from __future__ import annotations

import time
from datetime import UTC, datetime
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
from relaylane.reports.audit import audit_report, parse_since

__all__ = ["audit"]


def audit(
    since: str | None = typer.Option(
        None, "--since", help='Only entries this recent: "1h", "7d", or a date "2026-11-28".'
    ),
    action: str | None = typer.Option(
        None, "--action", help='One action ("relay.pause") or a family ("relay", "queue").'
    ),
    actor: str | None = typer.Option(
        None, "--actor", help='Only this actor ("operator:ann", "dashboard:KEY_ID", "key:ID").'
    ),
    limit: int = typer.Option(100, "--limit", min=1, max=10_000, help="Entries, newest first."),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """List operator actions, newest first: pauses, resumes, drains, queue and lane
    operations, suppressions, keys and SMTP users, campaign control, reloads, pruning."""
    now = time.time()
    with user_errors():
        start = None if since is None else parse_since(since, now, "--since")
        cfg = load(config)
        with store_for(cfg) as store:
            report = audit_report(store, since=start, action=action, actor=actor, limit=limit)
    if json:
        print_json(report)
        return
    _print(report["entries"])


def _print(entries: list[dict[str, Any]]) -> None:
    if not entries:
        console.print("no audit entries match")
        return
    table = Table(title="audit (newest first, UTC)")
    for column in ("when", "actor", "action", "target", "arguments", "effect"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(
            datetime.fromtimestamp(e["at"], UTC).strftime("%Y-%m-%d %H:%M:%S"),
            escape(e["actor"]),
            e["action"],
            escape(e["target"]),
            escape(e["args_text"]),
            escape(e["effect_text"]),
        )
    console.print(table)
