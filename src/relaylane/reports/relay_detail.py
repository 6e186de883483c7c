"""One relay in detail, as `relaylane relays show R --json` prints it and the dashboard's
relay page shows it: configuration, health per path, held deliveries, rates over every
standard window and the history of state changes with their evidence."""

from __future__ import annotations

from typing import Any

from relaylane.config import Config
from relaylane.config.pacing import format_rate
from relaylane.monitor.rates import WINDOWS
from relaylane.reports.relay_health import event_dict, rate_summary, relay_health
from relaylane.store import Store

__all__ = ["show_report"]


def _config_summary(cfg: Config, name: str) -> dict[str, Any]:
    relay = next(r for r in cfg.relay if r.name == name)
    return {
        "kind": relay.kind.value,
        "host": relay.host,
        "port": relay.port,
        "tls": relay.tls.value,
        "lanes": [lane.name for lane in cfg.lane if name in lane.relay_names],
        "rate": relay.rate,
        "rate_text": None if relay.rate is None else format_rate(relay.rate),
        "hourly_cap": relay.hourly_cap,
        "daily_cap": relay.daily_cap,
        "warmup": relay.warmup,
        "max_connections": relay.max_connections,
    }


def show_report(cfg: Config, store: Store, name: str, now: float, limit: int) -> dict[str, Any]:
    """The whole of `relays show` as a JSON-ready document (what --json prints)."""
    tz = cfg.pacing.timezone
    health = relay_health(
        name, store.health.paths(), store.health.held_counts(), tz, every_path=True
    )
    windows = {
        window: {
            "seconds": seconds,
            **rate_summary(store.metrics.window(now - seconds, now, relay=name)),
        }
        for window, seconds in WINDOWS.items()
    }
    return {
        "now": now,
        "timezone": tz,
        "name": name,
        "config": _config_summary(cfg, name),
        **health,
        "rates": windows,
        "history": [event_dict(e, tz) for e in store.health.events(name, limit=limit)],
    }
