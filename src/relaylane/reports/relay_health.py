"""Relay health as the CLI, the API and the dashboard report it: each path's state, held
deliveries, rates over the standard windows and the events with their evidence.
JSON-ready dicts; reads the store, decides nothing."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from relaylane.monitor.metrics import Metric
from relaylane.monitor.rates import WINDOWS, rates
from relaylane.policy.health import RELAY_WIDE, HealthState, PathHealth
from relaylane.policy.pacing.zones import local_time
from relaylane.store import Store
from relaylane.store.health import HealthEvent, StoredPath

__all__ = [
    "SUMMARY_WINDOWS",
    "empty_rates",
    "event_dict",
    "health_dict",
    "local_text",
    "path_label",
    "rate_summary",
    "relay_health",
    "relay_rates",
]

SUMMARY_WINDOWS = ("15m", "1h", "24h")  # `relays --json`; `relays show` has every window


def local_text(moment: float | None, tz: str, seconds: bool = False) -> str:
    """`moment` as local wall time in `tz` ("-" for none)."""
    if moment is None or not math.isfinite(moment):
        return "-"
    return local_time(moment, tz).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def path_label(provider: str) -> str:
    return "relay" if provider == RELAY_WIDE else provider


def health_dict(h: PathHealth | None, tz: str) -> dict[str, Any]:
    """A path's state for JSON (None: never stored, so healthy since always)."""
    if h is None:
        return {
            "state": HealthState.HEALTHY.value,
            "cause": "none",
            "since": None,
            "since_local": None,
            "until": None,
            "until_local": None,
            "cool_down": 0.0,
            "reason": "",
        }
    return {
        "state": h.state.value,
        "cause": h.cause.value,
        "since": h.since,
        "since_local": local_text(h.since, tz, seconds=True),
        "until": h.until,
        "until_local": None if h.until is None else local_text(h.until, tz, seconds=True),
        "cool_down": h.cool_down,
        "reason": h.reason,
    }


def relay_health(
    relay: str,
    paths: list[StoredPath],
    held: Mapping[tuple[str, str], int],
    tz: str,
    every_path: bool = False,
) -> dict[str, Any]:
    """The relay-wide state, its relay x provider paths (only the non-healthy ones unless
    `every_path`) with their held counts, and the relay's held total."""
    own = {p.provider: p.health for p in paths if p.relay == relay}
    providers: list[dict[str, Any]] = []
    names = sorted((set(own) | {p for (r, p) in held if r == relay}) - {RELAY_WIDE})
    for provider in names:
        h = own.get(provider)
        if not every_path and (h is None or h.state is HealthState.HEALTHY):
            continue
        providers.append(
            {"provider": provider, **health_dict(h, tz), "held": held.get((relay, provider), 0)}
        )
    return {
        "health": {**health_dict(own.get(RELAY_WIDE), tz), "held": held.get((relay, ""), 0)},
        "providers": providers,
        "held": sum(n for (r, _), n in held.items() if r == relay),
    }


def rate_summary(totals: Mapping[str, int]) -> dict[str, Any]:
    """Attempts and the rates relay health judges by, over one window."""
    r = rates(totals)
    return {
        "attempts": totals.get(Metric.ATTEMPTS.value, 0),
        "answered": totals.get(Metric.ANSWERED.value, 0),
        "block_rate": r.block_rate,
        "deferral_rate": r.deferral_rate,
        "relay_fault_rate": r.relay_fault_rate,
    }


def relay_rates(store: Store, now: float, windows: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    """Per relay, per window: `rate_summary` (one query per window for every relay)."""
    out: dict[str, dict[str, Any]] = {}
    for window in windows:
        seconds = WINDOWS[window]
        for relay, totals in store.metrics.breakdown("relay", now - seconds, now).items():
            out.setdefault(relay, {})[window] = rate_summary(totals)
    return out


def empty_rates(windows: tuple[str, ...]) -> dict[str, Any]:
    return {window: rate_summary({}) for window in windows}


def _evidence_text(evidence: Mapping[str, Any]) -> str:
    """The evidence's numbers in a line ("attempts=312 blocks=22 block_rate=0.0705")."""
    parts = []
    for key, value in sorted(evidence.items()):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        parts.append(f"{key}={value:.4g}" if isinstance(value, float) else f"{key}={value}")
    return " ".join(parts)


def event_dict(event: HealthEvent, tz: str) -> dict[str, Any]:
    return {
        "at": event.at,
        "at_local": local_text(event.at, tz, seconds=True),
        "provider": event.provider,
        "path": path_label(event.provider),
        "from": event.from_state,
        "to": event.to_state,
        "cause": event.cause,
        "actor": event.actor,
        "reason": event.reason,
        "evidence": event.evidence,
        "evidence_text": _evidence_text(event.evidence),
    }
