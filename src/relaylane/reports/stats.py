"""Sending statistics over a window: counts, rates and latency from the stored metric
buckets, per provider and per relay, and what waits in the lanes now. What `relaylane
stats --json` prints and the dashboard shows. JSON-ready dicts; reads the store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from relaylane.config import Config
from relaylane.config.durations import DurationError, parse_duration
from relaylane.errors import InputError
from relaylane.monitor.metrics import Metric
from relaylane.monitor.rates import WINDOWS, bounces_by_class, latency, rates
from relaylane.store.metrics import SqlMetrics

__all__ = ["COUNTS", "Scope", "build_report", "parse_since", "scope_of", "summary"]

# The counts every window shows, in this order (the latency histogram is summarised).
COUNTS: tuple[str, ...] = tuple(
    m.value for m in Metric if m not in (Metric.LATENCY_COUNT, Metric.LATENCY_SUM_MS)
)
SINCE_FORMS = 'a duration such as "15m", "1h", "24h", "7d" or "30d"'


@dataclass(frozen=True, slots=True)
class Scope:
    """What the report is about: filters (None: all) and the lanes whose queue it shows."""

    relay: str | None
    lane: str | None
    provider: str | None
    campaign: str | None
    lanes: tuple[str, ...]

    def filters(self) -> dict[str, str | None]:
        return {
            "relay": self.relay,
            "lane": self.lane,
            "provider": self.provider,
            "campaign": self.campaign,
        }


def parse_since(text: str) -> tuple[str, float]:
    """--since as (its name, seconds): a standard window keeps its name ("24h")."""
    try:
        seconds = parse_duration(text.strip())
    except DurationError:
        raise InputError("--since", f"{text!r} is not a duration", f"use {SINCE_FORMS}") from None
    if seconds <= 0:
        raise InputError("--since", f"{text!r} is an empty window", f"use {SINCE_FORMS}")
    for name, size in WINDOWS.items():
        if size == seconds:
            return name, seconds
    return text.strip(), seconds


def _known(option: str, what: str, name: str, known: list[str]) -> None:
    if name not in known:
        listed = ", ".join(known) or f"none: add a [[{what}]] table"
        raise InputError(option, f'no {what} named "{name}"', f"use one of the {what}s: {listed}")


def scope_of(
    cfg: Config, relay: str | None, lane: str | None, provider: str | None, campaign: str | None
) -> Scope:
    """Check the names against the configuration; the queue shows the asked lane, else
    the relay's lanes, else every lane."""
    if relay is not None:
        _known("--relay", "relay", relay, [r.name for r in cfg.relay])
    if lane is not None:
        _known("--lane", "lane", lane, [ln.name for ln in cfg.lane])
    lanes = [ln.name for ln in cfg.lanes_by_priority()]
    if lane is not None:
        lanes = [lane]
    elif relay is not None:
        lanes = [ln.name for ln in cfg.lanes_by_priority() if relay in ln.relay_names]
    return Scope(relay, lane, provider, campaign, tuple(lanes))


def summary(totals: Mapping[str, int]) -> dict[str, Any]:
    """One window's (or one provider's) counts, bounces by class, rates and latency."""
    counts = {name: totals.get(name, 0) for name in COUNTS}
    by_class = bounces_by_class(totals)
    counts["bounced"] = sum(by_class.values())
    return {
        "counts": counts,
        "bounces": by_class,
        "rates": rates(totals).as_dict(),
        "latency": latency(totals).as_dict(),
    }


def _windows(name: str, seconds: float) -> dict[str, float]:
    """The standard windows and the asked one, shortest first."""
    return dict(sorted({**WINDOWS, name: seconds}.items(), key=lambda item: item[1]))


def build_report(
    metrics: SqlMetrics, scope: Scope, since: tuple[str, float], now: float
) -> dict[str, Any]:
    """The whole report as a JSON-ready document (what --json prints)."""
    name, seconds = since
    filters = scope.filters()
    windows: dict[str, Any] = {}
    for window, size in _windows(name, seconds).items():
        totals = metrics.window(now - size, now, **filters)
        windows[window] = {"seconds": size, "since": now - size, "until": now, **summary(totals)}
    start = now - seconds
    by_provider = metrics.breakdown("provider", start, now, **filters)
    by_relay = metrics.breakdown("relay", start, now, **filters)
    backlog = metrics.backlog(scope.lanes)
    return {
        "now": now,
        "since": name,
        "since_seconds": seconds,
        "filters": filters,
        "window": windows[name],
        "windows": windows,
        "by_provider": _split(by_provider),
        "by_relay": _split(by_relay),
        "queue": [backlog[lane].as_dict(now) for lane in scope.lanes if lane in backlog],
    }


def _split(groups: Mapping[str, Counter[str]]) -> dict[str, Any]:
    return {key: summary(totals) for key, totals in groups.items()}
