"""`relaylane workers`: the running `serve` and `worker` processes (host, pid, since),
their last heartbeat (a process silent for 30 s is shown as lost), the deliveries each
claimed and sent, and the configuration each runs (hash), against this file's."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
from relaylane.config import Config
from relaylane.store import Store

__all__ = ["workers", "workers_report"]

SHORT = 12  # hash characters shown in tables


def workers_report(cfg: Config, store: Store, now: float) -> dict[str, Any]:
    """Every known process, the hashes the live ones run, and whether they agree with
    each other and with this file."""
    rows = [p.as_dict(now) for p in store.processes.all(now)]
    live = [r for r in rows if r["alive"]]
    hashes = Counter(r["config_hash"] for r in live)
    return {
        "now": now,
        "file": str(cfg.source_path),
        "file_hash": cfg.hash,
        "processes": rows,
        "hashes": dict(hashes),
        "agree": len(hashes) <= 1,
        "match_file": set(hashes) <= {cfg.hash},
    }


def workers(config: Path | None = ConfigOption, json: bool = JsonOption) -> None:
    """Show the running serve and worker processes and the configuration each runs:
    a hash that differs between hosts, or from this file, needs a reload (SIGHUP)."""
    now = time.time()
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            report = workers_report(cfg, store, now)
    if json:
        print_json(report)
        return
    _print(report)


def _print(report: dict[str, Any]) -> None:
    table = Table(title="processes (UTC)")
    for column in ("process", "role", "started", "seen", "claimed", "sent", "config", "loaded"):
        table.add_column(column, overflow="fold")
    for p in report["processes"]:
        seen = f"{p['seen_ago']:.0f}s ago" + ("" if p["alive"] else " (lost)")
        table.add_row(
            escape(p["id"]), p["role"], _at(p["started_at"]), seen, f"{p['claimed']:,}",
            f"{p['sent']:,}", p["config_hash"][:SHORT], _at(p["config_loaded_at"]),
        )  # fmt: skip
    console.print(table)
    mine = report["file_hash"][:SHORT]
    if not report["hashes"]:
        console.print(f"no process is running; {escape(report['file'])} is {mine}")
    elif not report["agree"]:
        listed = ", ".join(f"{n} run {h[:SHORT]}" for h, n in report["hashes"].items())
        console.print(
            f"[bold yellow]processes disagree:[/] {listed}; {escape(report['file'])} is {mine}. "
            "Copy the file to every host and send SIGHUP (or restart) to reload it.",
            highlight=False,
        )
    elif not report["match_file"]:
        console.print(
            f"every process runs {next(iter(report['hashes']))[:SHORT]}, but "
            f"{escape(report['file'])} is {mine}: send SIGHUP to reload it",
            highlight=False,
        )
    else:
        console.print(f"every process runs this file's configuration ({mine})", highlight=False)


def _at(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%d %H:%M:%S")
