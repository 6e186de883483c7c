"""`relaylane relays`: each relay's limits and how much of them is used, its warm-up
progress, its health and held deliveries, its deliveries, and the pacing changes recorded
for it (adaptive backoff, each with its cause, the reply text; warm-up steps).

Subcommands (relays_show, relays_health): `show R`, `pause R`, `resume R`, `drain R`."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

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
from relaylane.cli.relays_health import (
    SUMMARY_WINDOWS,
    drain,
    empty_rates,
    local_text,
    pause,
    relay_health,
    relay_rates,
    resume,
)
from relaylane.cli.relays_show import show
from relaylane.config import Config
from relaylane.config.pacing import format_rate
from relaylane.policy.pacing.aimd import ChangeAction
from relaylane.policy.pacing.caps import Period, period_start
from relaylane.policy.pacing.warmup import (
    RELAY_PATH,
    WarmupState,
    offered_today,
    update,
    volume,
)
from relaylane.policy.vocabulary import DeliveryState
from relaylane.store import Store
from relaylane.store.pacing import PacingEvent, SentCount, WarmupRow

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

SHOWN_EVENTS = 5  # changes per relay in the table
JSON_EVENTS = 100  # changes per relay in --json
_STATES = [s.value for s in DeliveryState]
BACKOFF_ACTIONS = frozenset(action.value for action in ChangeAction)
_INTS = ("step", "sent_in_step", "deferrals", "blocks", "offered_today")
_TIMES = ("last_sent_at", "step_started_at", "day_start")


def rate_text(rate: float | None) -> str:
    """A rate for people: "10/s", "600/min"; "-" for none, "0" while suspended."""
    if rate is None:
        return "-"
    if not (math.isfinite(rate) and rate > 0):
        return "0"
    text = format_rate(rate)
    return text if len(text) <= 12 else f"{rate:.3g}/s"


def current_counts(counts: Sequence[SentCount], tz: str, now: float) -> dict[str, tuple[int, int]]:
    """Per relay, (sent in the hour containing `now`, sent in that day): the relay's own
    counts (path ""), the ones its caps are checked against."""
    hour = period_start(now, tz, Period.HOUR)
    day = period_start(now, tz, Period.DAY)
    out: dict[str, tuple[int, int]] = {}
    for count in counts:
        if count.path != "":
            continue
        this_hour, today = out.get(count.relay, (0, 0))
        if count.period == Period.HOUR.value and count.period_start == hour:
            this_hour += count.sent
        elif count.period == Period.DAY.value and count.period_start == day:
            today += count.sent
        out[count.relay] = (this_hour, today)
    return out


def read_counts(store: Store, tz: str, now: float) -> dict[str, tuple[int, int]]:
    """`current_counts` from the store."""
    return current_counts(store.pacing.counts_since(period_start(now, tz, Period.DAY)), tz, now)


def stored_warmups(rows: Sequence[WarmupRow]) -> dict[tuple[str, str], WarmupState]:
    """The worker's stored warm-up progress by (relay, path); unreadable rows are left out
    (the worker starts those paths again too)."""
    states: dict[tuple[str, str], WarmupState] = {}
    for row in rows:
        raw = row.state
        ints = all(isinstance(raw.get(k), int) and not isinstance(raw.get(k), bool) for k in _INTS)
        times = all(raw.get(k) is None or isinstance(raw.get(k), (int, float)) for k in _TIMES)
        if set(raw) != set(_INTS + _TIMES) or not ints or not times:
            continue
        states[(row.relay, row.path)] = WarmupState(**cast(dict[str, Any], raw))
    return states


def _warmup_paths(
    cfg: Config,
    relay: str,
    name: str | None,
    stored: dict[tuple[str, str], WarmupState],
    now: float,
) -> list[dict[str, Any]]:
    """A warming relay's stored paths as they stand at `now` (after idle step-backs)."""
    if name is None:
        return []
    policy = cfg.warmup[name].policy(cfg.pacing.timezone)
    paths: list[dict[str, Any]] = []
    for (owner, path), state in sorted(stored.items()):
        if owner != relay:
            continue
        state, _ = update(state, policy, now)
        paths.append(
            {
                "path": "relay" if path == RELAY_PATH else path,
                "step": state.step + 1,
                "steps": len(policy.schedule),
                "volume": volume(state, policy),
                "offered_today": offered_today(state, policy, now),
                "sent_in_step": state.sent_in_step,
                "deferrals": state.deferrals,
                "blocks": state.blocks,
                "step_started_at": state.step_started_at,
                "last_sent_at": state.last_sent_at,
            }
        )
    return paths


def _event(event: PacingEvent, tz: str) -> dict[str, Any]:
    return {
        "at": event.at,
        "at_local": local_text(event.at, tz, seconds=True),
        "relay": event.relay,
        "provider": event.provider,
        "action": event.action,
        "rate": event.rate,
        "rate_text": rate_text(event.rate) if event.rate is not None else None,
        "until": event.until,
        "until_local": None if event.until is None else local_text(event.until, tz, seconds=True),
        "cause": event.cause,
    }


def latest_backoff(events: Sequence[PacingEvent]) -> dict[str, PacingEvent]:
    """Each provider's newest rate change, slow, suspend or recover (`events` are newest
    first; warm-up events leave the rate alone)."""
    latest: dict[str, PacingEvent] = {}
    for event in events:
        if event.action in BACKOFF_ACTIONS:
            latest.setdefault(event.provider, event)
    return latest


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


def _report(cfg: Config, store: Store, now: float) -> dict[str, Any]:
    tz = cfg.pacing.timezone
    counts = read_counts(store, tz, now)
    by_relay = store.reads.status(now).by_relay
    stored = stored_warmups(store.pacing.warmups())
    paths = store.health.paths()
    held = store.health.held_counts()
    windows = relay_rates(store, now, SUMMARY_WINDOWS)
    relays: list[dict[str, Any]] = []
    for relay in cfg.relay:
        this_hour, today = counts.get(relay.name, (0, 0))
        events = store.pacing.events(relay.name, limit=JSON_EVENTS)
        latest = latest_backoff(events)
        relays.append(
            {
                "name": relay.name,
                "kind": relay.kind.value,
                "lanes": [lane.name for lane in cfg.lane if relay.name in lane.relay_names],
                "rate": relay.rate,
                "rate_text": rate_text(relay.rate),
                "hourly_cap": relay.hourly_cap,
                "daily_cap": relay.daily_cap,
                "sent_this_hour": this_hour,
                "sent_today": today,
                "warmup": relay.warmup,
                "warmup_paths": _warmup_paths(cfg, relay.name, relay.warmup, stored, now),
                "deliveries": dict(sorted(by_relay.get(relay.name, {}).items())),
                "latest_by_provider": {p: _event(e, tz) for p, e in sorted(latest.items())},
                "events": [_event(e, tz) for e in events],
                **relay_health(relay.name, paths, held, tz),
                "rates": {**empty_rates(SUMMARY_WINDOWS), **windows.get(relay.name, {})},
            }
        )
    return {"now": now, "timezone": tz, "relays": relays}


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
            report = _report(cfg, store, now)
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
