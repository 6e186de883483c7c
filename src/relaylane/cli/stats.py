"""`relaylane stats`: counts, rates and latency from the stored metric buckets over a
window and, for context, the standard ones (15m, 1h, 24h, 7d); per provider and per
relay; and what waits in the lanes now."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from relaylane.cli.common import ConfigOption, JsonOption, load, print_json, store_for, user_errors
from relaylane.cli.stats_tables import print_report
from relaylane.reports.stats import Scope, build_report, parse_since, scope_of

__all__ = ["Scope", "build_report", "parse_since", "scope_of", "stats"]


def stats(
    relay: str | None = typer.Option(None, "--relay", help="Only this relay (default: all)."),
    lane: str | None = typer.Option(None, "--lane", help="Only this lane."),
    provider: str | None = typer.Option(
        None,
        "--provider",
        help="Only this provider group (google, microsoft, mx:example.net, ...).",
    ),
    campaign: str | None = typer.Option(
        None, "--campaign", help='Only messages whose metadata "campaign" is this.'
    ),
    since: str = typer.Option("24h", "--since", help="The window: 15m, 1h, 24h, 7d, 30d, ..."),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Show sending statistics: counts, rates (block, deferral, bounce, complaint, ...),
    delivery latency p50/p95/p99 per window and per provider, and the lanes' queues."""
    now = time.time()
    with user_errors():
        window = parse_since(since)
        cfg = load(config)
        scope = scope_of(cfg, relay, lane, provider, campaign)
        with store_for(cfg) as store:
            report = build_report(store.metrics, scope, window, now)
    if json:
        print_json(report)
        return
    print_report(report)
