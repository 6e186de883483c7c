"""`relaylane status`: counts by state, lane and relay; the oldest pending age."""

from __future__ import annotations

import time
from pathlib import Path

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

STATES = [s.value for s in DeliveryState]


def status(config: Path | None = ConfigOption, json: bool = JsonOption) -> None:
    """Show the queue: deliveries by state, per lane and per relay."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            report = store.reads.status(time.time())
    if json:
        print_json(report.as_dict())
        return
    shown = [s for s in STATES if report.by_state.get(s)] or ["queued", "sent"]
    table = Table(
        title=f"relaylane status: {report.total} deliveries, oldest pending "
        f"{age(report.oldest_pending_age)}"
    )
    table.add_column("")
    for s in shown:
        table.add_column(s, justify="right")
    table.add_row("[bold]all", *[str(report.by_state.get(s, 0)) for s in shown])
    for lane in cfg.lanes_by_priority():
        counts = report.by_lane.get(lane.name, {})
        table.add_row(f"lane {lane.name}", *[str(counts.get(s, 0)) for s in shown])
    for relay in cfg.relay:
        counts = report.by_relay.get(relay.name, {})
        table.add_row(f"relay {relay.name}", *[str(counts.get(s, 0)) for s in shown])
    console.print(table)
