"""`relaylane relays`: each relay's limits and how much of them is used, its deliveries,
and the adaptive-backoff changes recorded for it (each with its cause, the reply text)."""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
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
from relaylane.config.pacing import format_rate
from relaylane.policy.pacing.caps import Period, period_start
from relaylane.policy.pacing.zones import local_time
from relaylane.policy.vocabulary import DeliveryState
from relaylane.store import Store
from relaylane.store.pacing import PacingEvent, SentCount

__all__ = ["SHOWN_EVENTS", "current_counts", "local_text", "rate_text", "relays"]

SHOWN_EVENTS = 5  # changes per relay in the table
JSON_EVENTS = 100  # changes per relay in --json
_STATES = [s.value for s in DeliveryState]


def rate_text(rate: float | None) -> str:
    """A rate for people: "10/s", "600/min"; "-" for none, "0" while suspended."""
    if rate is None:
        return "-"
    if not (math.isfinite(rate) and rate > 0):
        return "0"
    text = format_rate(rate)
    return text if len(text) <= 12 else f"{rate:.3g}/s"


def local_text(moment: float | None, tz: str, seconds: bool = False) -> str:
    """`moment` as local wall time in `tz` ("-" for none)."""
    if moment is None or not math.isfinite(moment):
        return "-"
    return local_time(moment, tz).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


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


def _latest_by_provider(events: Sequence[PacingEvent]) -> dict[str, PacingEvent]:
    """Each provider's newest change (`events` are newest first)."""
    latest: dict[str, PacingEvent] = {}
    for event in events:
        latest.setdefault(event.provider, event)
    return latest


def _used(sent: int, cap: int | None) -> str:
    return f"{sent:,}" if cap is None else f"{sent:,} / {cap:,}"


def _report(cfg: Config, store: Store, now: float) -> dict[str, Any]:
    tz = cfg.pacing.timezone
    counts = read_counts(store, tz, now)
    by_relay = store.reads.status(now).by_relay
    relays: list[dict[str, Any]] = []
    for relay in cfg.relay:
        this_hour, today = counts.get(relay.name, (0, 0))
        events = store.pacing.events(relay.name, limit=JSON_EVENTS)
        latest = _latest_by_provider(events)
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
                "deliveries": dict(sorted(by_relay.get(relay.name, {}).items())),
                "latest_by_provider": {p: _event(e, tz) for p, e in sorted(latest.items())},
                "events": [_event(e, tz) for e in events],
            }
        )
    return {"now": now, "timezone": tz, "relays": relays}


def relays(config: Path | None = ConfigOption, json: bool = JsonOption) -> None:
    """Show each relay: its rate, caps and what is used of them this hour and today, its
    warm-up, its deliveries by state and the latest adaptive-backoff changes."""
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
    table = Table(title=f"relaylane relays (hours and days in {tz})")
    for name in ("relay", "kind", "lanes", "rate", "this hour", "today", "warm-up"):
        table.add_column(name, justify="right" if name in ("this hour", "today") else "left")
    table.add_column("deliveries")
    for relay in report["relays"]:
        deliveries = relay["deliveries"]
        states = [s for s in _STATES if deliveries.get(s)]
        table.add_row(
            escape(relay["name"]),
            relay["kind"],
            escape(", ".join(relay["lanes"]) or "-"),
            relay["rate_text"],
            _used(relay["sent_this_hour"], relay["hourly_cap"]),
            _used(relay["sent_today"], relay["daily_cap"]),
            escape(relay["warmup"] or "-"),
            ", ".join(f"{s} {deliveries[s]:,}" for s in states) or "-",
        )
    console.print(table)
    changes = [(r["name"], e) for r in report["relays"] for e in r["events"][:SHOWN_EVENTS]]
    if not changes:
        console.print("no adaptive-backoff changes recorded", highlight=False)
        return
    recent = Table(title=f"latest adaptive-backoff changes (up to {SHOWN_EVENTS} per relay)")
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
    console.print("every change with its cause: relaylane relays --json", highlight=False)
