"""`relaylane plan`: when would N deliveries in a lane finish under today's limits?

A forecast before anything is sent (`relaylane.policy.pacing.plan.forecast`): the lane's
relays with their rates, hourly and daily caps (less what the store says was already sent
in the starting hour and day) and warm-up schedules (from the progress the worker stored),
the per relay × provider rates of the provider table, the lane's send window and
not-before time, and the recipients split across providers. Hour by hour, in the [pacing]
time zone. It assumes clean delivery: no new deferrals or blocks.
"""

from __future__ import annotations

import time
from datetime import datetime
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
    print_json,
    store_for,
    user_errors,
)
from relaylane.cli.relays import (
    local_text,
)
from relaylane.config import Config, LaneConfig
from relaylane.errors import InputError
from relaylane.policy.pacing.plan import HourRow
from relaylane.policy.pacing.providers import DEFAULT_PROVIDER
from relaylane.policy.pacing.warmup import (
    update,
)
from relaylane.policy.pacing.workload import (
    SPLIT_FORMS,
    parse_split,
)
from relaylane.policy.pacing.zones import wall_time
from relaylane.reports.plan import Plan, make_plan

__all__ = ["Plan", "duration_text", "make_plan", "plan"]


_SHOWN_HEAD, _SHOWN_TAIL = 48, 24  # busy hours printed when there are many


def plan(
    lane: str = typer.Option(..., "--lane", "-l", help="The lane whose relays would send."),
    count: int = typer.Option(..., "--count", "-n", help="How many deliveries."),
    by_provider: str | None = typer.Option(
        None,
        "--by-provider",
        help='How recipients split across providers, e.g. "google=60%,microsoft=25%,'
        'other=15%" (what is left goes to "other"; default: all paced like provider '
        '"default").',
    ),
    start: str | None = typer.Option(
        None,
        "--start",
        help="When sending would start, ISO 8601 (default: now; without an offset, in "
        "[pacing] timezone).",
    ),
    from_domain: str | None = typer.Option(
        None,
        "--from-domain",
        help="The From domain, for warm-ups per sending domain × provider (default: the "
        "lane's only from_domains entry; else each provider's path starts as for a new "
        "domain).",
    ),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Forecast, hour by hour, when N deliveries would finish under today's limits,
    warm-up steps and caps, before anything is sent."""
    now = time.time()
    with user_errors():
        cfg = load(config)
        found = _lane(cfg, lane)
        if count < 1:
            raise InputError(
                "--count",
                f"{count} is not a number of deliveries",
                "give a whole number of 1 or more, e.g. --count 10000",
            )
        split = _split(by_provider)
        begin = _start(start, cfg.pacing.timezone, now)
        with store_for(cfg) as store:
            result = make_plan(cfg, found, count, split, begin, store, now, from_domain)
    if json:
        print_json(_as_json(result, cfg.pacing.timezone))
        return
    _print(result, cfg.pacing.timezone)


# --- input --------------------------------------------------------------------------------


def _lane(cfg: Config, name: str) -> LaneConfig:
    for lane in cfg.lane:
        if lane.name == name:
            return lane
    names = ", ".join(lane.name for lane in cfg.lane)
    raise InputError("--lane", f'no lane named "{name}"', f"use one of the lanes: {names}")


def _split(text: str | None) -> dict[str, float]:
    if text is None:
        return {DEFAULT_PROVIDER: 1.0}
    try:
        return parse_split(text)
    except ValueError as exc:
        problem, _, fix = str(exc).partition("; ")
        if "more than 100%" in problem:
            fix = 'lower the shares to 100% in total (what is left goes to "other"); ' + fix
        raise InputError("--by-provider", problem, fix or SPLIT_FORMS) from None


def _start(text: str | None, tz: str, now: float) -> float:
    if text is None:
        return now
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InputError(
            "--start",
            f"{text!r} is not an ISO 8601 time",
            f"write e.g. 2026-06-01T08:00:00+02:00 (without an offset it is read in {tz})",
        ) from None
    if moment.tzinfo is None:
        return wall_time(moment, tz)
    return moment.timestamp()


# --- output -------------------------------------------------------------------------------


def duration_text(seconds: float) -> str:
    """ "45s", "12m 30s", "3h 20m", "2d 4h 5m"."""
    whole = max(0, round(seconds))
    days, rest = divmod(whole, 86_400)
    hours, rest = divmod(rest, 3_600)
    minutes, secs = divmod(rest, 60)
    if not days and not hours:
        return f"{minutes}m {secs}s" if minutes else f"{secs}s"
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else "", f"{minutes}m"]
    return " ".join(p for p in parts if p)


def summary(result: Plan, tz: str) -> str:
    w, f = result.workload, result.forecast
    head = f"{w.count:,} deliveries in lane {result.lane}"
    if f.finish_time is not None:
        return (
            f"{head} finish at {local_text(f.finish_time, tz)} {tz}, in "
            f"{duration_text(f.finish_time - w.start)}"
        )
    sent = f.rows[-1].cumulative if f.rows else 0.0
    return (
        f"{head} do not finish within the horizon ({result.horizon_days:.0f} days): "
        f"{sent:,.0f} sent by then; the binding limit: {result.binding}"
    )


def _row(row: HourRow, count: int, tz: str) -> dict[str, Any]:
    return {
        "hour_start": row.hour_start,
        "hour_local": local_text(row.hour_start, tz),
        "sent_by_provider": {p: round(n, 3) for p, n in row.sent_by_provider.items()},
        "sent": round(row.sent, 3),
        "cumulative": round(row.cumulative, 3),
        "percent_done": round(100.0 * row.cumulative / count, 3) if count else 100.0,
    }


def _as_json(result: Plan, tz: str) -> dict[str, Any]:
    w, f = result.workload, result.forecast
    return {
        "lane": result.lane,
        "count": w.count,
        "timezone": tz,
        "start": w.start,
        "start_local": local_text(w.start, tz, seconds=True),
        "finish_time": f.finish_time,
        "finish_local": None
        if f.finish_time is None
        else local_text(f.finish_time, tz, seconds=True),
        "duration_seconds": None if f.finish_time is None else f.finish_time - w.start,
        "within_horizon": f.finish_time is not None,
        "horizon_days": result.horizon_days,
        "binding_limit": result.binding,
        "summary": summary(result, tz),
        "split": dict(w.split),
        "provider_rates": {p: w.pair_rate(p) for p in w.split},
        "spill": w.spill.value,
        "from_domain": result.from_domain,
        "send_window": result.send_window,
        "not_before": w.not_before,
        "relays": [
            {
                "name": r.name,
                "rate": r.rate,
                "hourly_cap": r.hourly_cap,
                "daily_cap": r.daily_cap,
                "sent_this_hour": r.sent_this_hour,
                "sent_today": r.sent_today,
                "warmup": result.warmups.get(r.name),
                "warmup_schedule": None if r.warmup is None else list(r.warmup.policy.schedule),
                "warmup_step": None
                if r.warmup is None
                else update(r.warmup.state, r.warmup.policy, w.start)[0].step + 1,
                "warmup_provider_steps": {
                    p: update(path.state, path.policy, w.start)[0].step + 1
                    for p, path in sorted(r.provider_warmups.items())
                },
            }
            for r in w.relays
        ],
        "notes": list(result.notes),
        "rows": [_row(row, w.count, tz) for row in f.rows],
    }


def _print(result: Plan, tz: str) -> None:
    w, f = result.workload, result.forecast
    console.print(escape(summary(result, tz)), highlight=False)
    providers = sorted({p for row in f.rows for p in row.sent_by_provider})
    busy = [row for row in f.rows if row.sent >= 0.5]
    table = Table(
        title=f"from {local_text(w.start, tz)} {tz}, hour by hour",
        caption="hours with nothing sent are left out; --json lists every hour",
    )
    table.add_column("hour")
    for provider in providers:
        table.add_column(escape(provider), justify="right")
    for name in ("sent", "cumulative", "done"):
        table.add_column(name, justify="right")
    shown: list[HourRow | None] = list(busy)
    if len(busy) > _SHOWN_HEAD + _SHOWN_TAIL:
        shown = [*busy[:_SHOWN_HEAD], None, *busy[-_SHOWN_TAIL:]]
    for row in shown:
        if row is None:
            skipped = len(busy) - _SHOWN_HEAD - _SHOWN_TAIL
            table.add_row(f"... {skipped} more hours", *[""] * (len(providers) + 3))
            continue
        done = 100.0 * row.cumulative / w.count if w.count else 100.0
        table.add_row(
            local_text(row.hour_start, tz),
            *[f"{row.sent_by_provider.get(p, 0.0):,.0f}" for p in providers],
            f"{row.sent:,.0f}",
            f"{row.cumulative:,.0f}",
            f"{done:.1f}%",
        )
    console.print(table)
    for note in result.notes:
        console.print(f"note: {escape(note)}", highlight=False)
