"""`relaylane lanes`: each lane's state (running or paused, by whom and why) and its
deliveries; `lanes pause L` stops every worker claiming the lane's mail (intake still
accepts it: it waits queued), `lanes resume L` lets it flow again. Both are recorded in
the audit log (lane.pause, lane.resume)."""

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
    operator,
    print_json,
    store_for,
    user_errors,
)
from relaylane.config import Config
from relaylane.errors import InputError
from relaylane.store import Store
from relaylane.store.queue_control import SqlQueueControl

__all__ = ["app", "check_lane", "lanes_report"]

app = typer.Typer(
    invoke_without_command=True,
    no_args_is_help=False,
    help="Lanes: each one's state and deliveries; pause and resume a lane.",
)
_WAITING = ("queued", "deferred", "blocked", "held", "sending")


def check_lane(cfg: Config, name: str) -> None:
    known = [lane.name for lane in cfg.lane]
    if name not in known:
        listed = ", ".join(known) or "none: add a [[lane]] table"
        raise InputError("LANE", f'no lane named "{name}"', f"use one of the lanes: {listed}")


def lanes_report(cfg: Config, store: Store, now: float) -> list[dict[str, Any]]:
    """Each configured lane (by priority) with its state and deliveries by state."""
    states = SqlQueueControl(store.engine).lanes()
    counts = store.reads.status(now).by_lane
    out = []
    for lane in cfg.lanes_by_priority():
        st = states.get(lane.name)
        paused = st is not None and st.paused
        out.append(
            {
                "name": lane.name,
                "purpose": lane.purpose.value,
                "relays": list(lane.relay_names),
                "paused": paused,
                "reason": st.reason if st is not None and paused else None,
                "changed_by": st.actor if st is not None else None,
                "changed_at": st.at if st is not None else None,
                "deliveries": counts.get(lane.name, {}),
            }
        )
    return out


@app.callback()
def lanes(ctx: typer.Context, config: Path | None = ConfigOption, json: bool = JsonOption) -> None:
    """Show each lane: running or paused (by whom, why) and its deliveries by state.
    Subcommands: pause, resume."""
    if ctx.invoked_subcommand is not None:
        return
    now = time.time()
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            report = lanes_report(cfg, store, now)
    if json:
        print_json({"lanes": report})
        return
    table = Table(title="relaylane lanes")
    table.add_column("lane", no_wrap=True)
    table.add_column("purpose")
    table.add_column("relays", overflow="fold")
    table.add_column("state", overflow="fold")
    for state in _WAITING:
        table.add_column(state, justify="right")
    for lane in report:
        state = "running"
        if lane["paused"]:
            state = f"[bold yellow]paused[/] by {escape(lane['changed_by'] or '?')}"
            state += f": {escape(lane['reason'])}" if lane["reason"] else ""
        table.add_row(
            escape(lane["name"]),
            lane["purpose"],
            escape(", ".join(lane["relays"])),
            state,
            *(f"{lane['deliveries'].get(s, 0):,}" for s in _WAITING),
        )
    console.print(table)


@app.command("pause")
def pause(
    lane: str = typer.Argument(..., help="The lane to pause."),
    reason: str = typer.Option("", "--reason", help="Why: recorded in the audit log."),
    config: Path | None = ConfigOption,
) -> None:
    """Pause a lane: no worker claims its mail until `lanes resume` (sends in flight
    finish; intake still accepts its mail, which waits queued). Other lanes keep flowing."""
    who = operator()
    with user_errors():
        cfg = load(config)
        check_lane(cfg, lane)
        with store_for(cfg) as store:
            changed = SqlQueueControl(store.engine).pause_lane(lane, time.time(), who, reason)
    if not changed:
        console.print(f"lane {escape(lane)} was already paused.", highlight=False)
        return
    console.print(
        f"paused lane {escape(lane)}: its mail waits until `relaylane lanes resume {escape(lane)}`."
        " Running workers stop claiming it at once (sends in flight finish).",
        highlight=False,
    )


@app.command("resume")
def resume(
    lane: str = typer.Argument(..., help="The lane to resume."),
    config: Path | None = ConfigOption,
) -> None:
    """Resume a paused lane: workers claim its mail again."""
    who = operator()
    with user_errors():
        cfg = load(config)
        check_lane(cfg, lane)
        with store_for(cfg) as store:
            changed = SqlQueueControl(store.engine).resume_lane(lane, time.time(), who)
    if not changed:
        console.print(f"lane {escape(lane)} is not paused: nothing to resume.", highlight=False)
        return
    console.print(
        f"resumed lane {escape(lane)}: running workers claim its mail again.", highlight=False
    )
