"""Each relay's limits and how much of them is used this hour and today, its warm-up
progress, its health, held deliveries and rates, and its latest pacing changes: what
`relaylane relays` prints and the dashboard's overview shows. JSON-ready dicts; reads the
store, decides nothing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

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
from relaylane.reports.relay_health import (
    SUMMARY_WINDOWS,
    empty_rates,
    local_text,
    relay_health,
    relay_rates,
)
from relaylane.store import Store
from relaylane.store.pacing import PacingEvent, SentCount, WarmupRow

__all__ = [
    "BACKOFF_ACTIONS",
    "JSON_EVENTS",
    "SHOWN_EVENTS",
    "current_counts",
    "latest_backoff",
    "rate_text",
    "read_counts",
    "relays_report",
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


def relays_report(cfg: Config, store: Store, now: float) -> dict[str, Any]:
    """Every relay as `relaylane relays --json` prints it."""
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
