"""Every lane and relay at a glance: what the dashboard's overview shows. Each relay is
`relays_report`'s entry (limits, use, warm-up, health) with its recent rate, its counts,
rates and latency over the last hour and day, and what waits on it; each lane likewise.
JSON-ready dicts; reads the store, decides nothing."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from relaylane.config import Config
from relaylane.monitor.metrics import Metric
from relaylane.monitor.rates import WINDOWS
from relaylane.reports.relays import relays_report
from relaylane.reports.stats import summary
from relaylane.store import Store
from relaylane.store.backlog import LaneBacklog
from relaylane.store.queue_control import LaneState, SqlQueueControl

__all__ = ["GLANCE_WINDOWS", "RECENT_SECONDS", "overview_report"]

GLANCE_WINDOWS = ("1h", "24h")  # the windows of each card's counts, rates and latency
RECENT_SECONDS = 300.0  # the "current rate" is what was sent over the last five minutes


def overview_report(cfg: Config, store: Store, now: float) -> dict[str, Any]:
    """Relays and lanes, each with `windows` (1h, 24h: `reports.stats.summary`),
    `recent_rate` (messages per second sent over the last `RECENT_SECONDS`) and `queue`
    (waiting deliveries by state and the oldest one's age)."""
    relays = relays_report(cfg, store, now)["relays"]
    lane_names = [lane.name for lane in cfg.lanes_by_priority()]
    by_relay = _windows(store, "relay", now)
    by_lane = _windows(store, "lane", now)
    recent_relay = store.metrics.breakdown("relay", now - RECENT_SECONDS, now)
    recent_lane = store.metrics.breakdown("lane", now - RECENT_SECONDS, now)
    relay_queue = store.metrics.relay_backlog([r["name"] for r in relays])
    lane_queue = store.metrics.backlog(lane_names)
    for relay in relays:
        name = relay["name"]
        relay["windows"] = {w: summary(by_relay[w].get(name, {})) for w in GLANCE_WINDOWS}
        relay["recent_rate"] = _rate(recent_relay.get(name))
        relay["queue"] = _queue(relay_queue, name, now)
    status = store.reads.status(now)
    paused = SqlQueueControl(store.engine).lanes()  # `relaylane lanes pause`
    lanes = []
    for lane in cfg.lanes_by_priority():
        lanes.append(
            {
                "name": lane.name,
                "purpose": lane.purpose.value,
                "strategy": lane.strategy.value,
                "relays": lane.relay_names,
                "deliveries": dict(sorted(status.by_lane.get(lane.name, {}).items())),
                "windows": {w: summary(by_lane[w].get(lane.name, {})) for w in GLANCE_WINDOWS},
                "recent_rate": _rate(recent_lane.get(lane.name)),
                "queue": _queue(lane_queue, lane.name, now),
                "paused": _paused(paused.get(lane.name)),
            }
        )
    return {"now": now, "timezone": cfg.pacing.timezone, "relays": relays, "lanes": lanes}


def _windows(store: Store, dimension: str, now: float) -> dict[str, dict[str, Counter[str]]]:
    return {w: store.metrics.breakdown(dimension, now - WINDOWS[w], now) for w in GLANCE_WINDOWS}


def _rate(totals: Mapping[str, int] | None) -> float:
    return (totals or {}).get(Metric.SENT.value, 0) / RECENT_SECONDS


def _queue(backlogs: Mapping[str, LaneBacklog], name: str, now: float) -> dict[str, Any]:
    found = backlogs.get(name)
    if found is None:
        return {"depth": 0, "by_state": {}, "oldest_age": None}
    shown = found.as_dict(now)
    shown.pop("lane")
    return shown


def _paused(state: LaneState | None) -> dict[str, Any] | None:
    """An operator's pause of the lane (who, when, why), or None while it runs."""
    return state.as_dict() if state is not None and state.paused else None
