"""`relaylane plan`: when would N deliveries in a lane finish under today's limits?

A forecast before anything is sent (`relaylane.policy.pacing.plan.forecast`): the lane's
relays with their rates, hourly and daily caps (less what the store says was already sent
in the starting hour and day) and warm-up schedules (from the progress the worker stored),
the per relay × provider rates of the provider table, the lane's send window and
not-before time, and the recipients split across providers. Hour by hour, in the [pacing]
time zone. It assumes clean delivery: no new deferrals or blocks.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
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
    latest_backoff,
    local_text,
    rate_text,
    read_counts,
    stored_warmups,
)
from relaylane.config import Config, LaneConfig, RelayConfig
from relaylane.errors import InputError
from relaylane.policy.pacing.plan import DEFAULT_HORIZON_DAYS, Forecast, HourRow, forecast
from relaylane.policy.pacing.providers import DEFAULT_PROVIDER
from relaylane.policy.pacing.warmup import (
    RELAY_PATH,
    Spill,
    WarmupPolicy,
    WarmupScope,
    WarmupState,
    path_key,
    update,
    volume,
)
from relaylane.policy.pacing.workload import (
    OTHER,
    SPLIT_FORMS,
    RelayFacts,
    WarmupPath,
    Workload,
    parse_split,
)
from relaylane.policy.pacing.zones import wall_time
from relaylane.policy.vocabulary import FINAL_STATES
from relaylane.store import Store
from relaylane.store.pacing import PacingEvent

__all__ = ["Plan", "duration_text", "make_plan", "plan"]

_FINAL = {state.value for state in FINAL_STATES}
_BACKOFF_EVENTS = 100  # recent changes per relay looked at for pairs still slowed
_SHOWN_HEAD, _SHOWN_TAIL = 48, 24  # busy hours printed when there are many
_CLEAN = (
    "assumes clean delivery: no new deferrals or blocks, so warm-up steps advance as soon "
    "as volume and time allow and provider rates stay as configured"
)


@dataclass(frozen=True, slots=True)
class Plan:
    """A forecast with what it was made from and what the user should know about it."""

    lane: str
    workload: Workload
    forecast: Forecast
    warmups: Mapping[str, str | None]  # relay → [warmup.NAME]
    notes: tuple[str, ...]
    binding: str | None  # what holds the lane back when it does not finish
    from_domain: str | None = None  # whose domain × provider warm-up paths were used
    send_window: str | None = None  # the lane's, as written
    horizon_days: float = DEFAULT_HORIZON_DAYS


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


# --- the forecast -------------------------------------------------------------------------


def make_plan(
    cfg: Config,
    lane: LaneConfig,
    count: int,
    split: Mapping[str, float],
    start: float,
    store: Store,
    now: float,
    from_domain: str | None = None,
) -> Plan:
    """Build the workload from the config and the store, and forecast it."""
    tz = cfg.pacing.timezone
    relays = [relay for relay, _ in cfg.relays_of(lane)]
    counts = read_counts(store, tz, start)
    providers = cfg.providers()
    rates = {name: table.rate for name, table in providers.items()}
    if from_domain is None and len(lane.from_domains) == 1:
        from_domain = lane.from_domains[0]
    domain = None if from_domain is None else from_domain.strip().rstrip(".").lower()
    stored = stored_warmups(store.pacing.warmups())
    facts = tuple(
        _facts(cfg, relay, counts.get(relay.name, (0, 0)), split, stored, domain)
        for relay in relays
    )
    spills = [cfg.warmup[r.warmup].spill for r in relays if r.warmup is not None]
    windows = cfg.windows_of(lane)
    workload = Workload(
        count=count,
        relays=facts,
        start=start,
        split=dict(split),
        provider_rates=rates,
        timezone=tz,
        spill=Spill.HOLD if Spill.HOLD in spills else Spill.LANE,
        windows=windows,
        not_before=lane.not_before,
    )
    result = forecast(workload)
    notes = [f"the forecast {_CLEAN}"]
    if lane.send_window is not None:
        notes.append(f'lane {lane.name} sends only in its send window "{lane.send_window}"')
    if lane.not_before is not None and lane.not_before > start:
        notes.append(f"lane {lane.name} sends nothing before {local_text(lane.not_before, tz)}")
    notes += _warmup_notes(facts, start, domain)
    unknown = [p for p in split if p not in providers and p != OTHER]
    if unknown:
        notes.append(
            f"{', '.join(unknown)}: no such provider in the provider table, paced like "
            f'"{DEFAULT_PROVIDER}"'
        )
    events = {r.name: store.pacing.events(r.name, limit=_BACKOFF_EVENTS) for r in relays}
    notes += _backoff_notes(events, rates, now, tz)
    waiting = _waiting(store, lane.name, now)
    if waiting:
        notes.append(
            f"lane {lane.name} already has {waiting:,} "
            f"{'delivery' if waiting == 1 else 'deliveries'} waiting or in flight; the "
            f"forecast counts only the {count:,} new ones (add them to --count to include them)"
        )
    binding = None if result.finish_time is not None else _binding(workload)
    return Plan(
        lane=lane.name,
        workload=workload,
        forecast=result,
        warmups={r.name: r.warmup for r in relays},
        notes=tuple(notes),
        binding=binding,
        from_domain=domain,
        send_window=lane.send_window,
    )


def _facts(
    cfg: Config,
    relay: RelayConfig,
    sent: tuple[int, int],
    split: Mapping[str, float],
    stored: Mapping[tuple[str, str], WarmupState],
    domain: str | None,
) -> RelayFacts:
    warmup: WarmupPath | None = None
    pairs: dict[str, WarmupPath] = {}
    if relay.warmup is not None:
        table = cfg.warmup[relay.warmup]
        policy = table.policy(cfg.pacing.timezone)
        fresh = WarmupState()
        warmup = WarmupPath(policy, stored.get((relay.name, RELAY_PATH), fresh))
        if table.scope is WarmupScope.RELAY_AND_DOMAIN:
            for provider in split:
                # "other" is every provider not named; its path is the catch-all's
                group = DEFAULT_PROVIDER if provider == OTHER else provider
                key = (relay.name, path_key(domain, group)) if domain else None
                pairs[provider] = WarmupPath(policy, stored.get(key, fresh) if key else fresh)
    return RelayFacts(
        name=relay.name,
        rate=relay.rate,
        hourly_cap=relay.hourly_cap,
        daily_cap=relay.daily_cap,
        sent_this_hour=sent[0],
        sent_today=sent[1],
        warmup=warmup,
        provider_warmups=pairs,
    )


def _step(policy: WarmupPolicy, state: WarmupState, start: float) -> str:
    state, _ = update(state, policy, start)
    return f"step {state.step + 1} of {len(policy.schedule)} ({volume(state, policy):,}/day)"


def _warmup_notes(facts: Sequence[RelayFacts], start: float, domain: str | None) -> list[str]:
    """Where each warming relay (and its domain × provider paths) stands at the start."""
    notes: list[str] = []
    for relay in facts:
        if relay.warmup is None:
            continue
        policy = relay.warmup.policy
        line = f"relay {relay.name} warms up: {_step(policy, relay.warmup.state, start)}"
        if relay.warmup.state == WarmupState():
            line += ", not started yet"
        if relay.provider_warmups:
            paths = ", ".join(
                f"{p} {_step(policy, path.state, start)}"
                for p, path in sorted(relay.provider_warmups.items())
            )
            line += f"; per {domain or 'sending domain'} × provider: {paths}"
            if domain is None:
                line += " (as for a new sending domain: give --from-domain for a known one)"
        notes.append(line)
    return notes


def _backoff_notes(
    events: Mapping[str, Sequence[PacingEvent]],
    rates: Mapping[str, float | None],
    now: float,
    tz: str,
) -> list[str]:
    """Pairs whose latest recorded change leaves them below their configured rate."""
    notes: list[str] = []
    for relay, recent in events.items():
        for provider, event in sorted(latest_backoff(recent).items()):
            base = rates.get(provider, rates.get(DEFAULT_PROVIDER))
            if event.action == "suspend" and event.until is not None and event.until > now:
                state = f"suspended until {local_text(event.until, tz)}"
            elif event.action in ("slow", "recover") and (
                event.rate is not None and base is not None and event.rate < base * (1 - 1e-9)
            ):
                state = f"slowed to {rate_text(event.rate)} (configured {rate_text(base)})"
            else:
                continue
            notes.append(
                f"relay {relay} × provider {provider} was {state} by adaptive backoff "
                f"({event.cause[:80]}); the forecast uses the configured rate"
            )
    return notes


def _waiting(store: Store, lane: str, now: float) -> int:
    by_state = store.reads.status(now).by_lane.get(lane, {})
    return sum(n for state, n in by_state.items() if state not in _FINAL)


def _binding(workload: Workload) -> str:
    """The limit that caps the lane's daily throughput (when it cannot finish in time)."""
    per_day: list[tuple[float, str]] = []
    total = 0.0
    for relay in workload.relays:
        limits: list[tuple[float, str]] = []
        if relay.rate is not None:
            limits.append((relay.rate * 86_400.0, f"rate {rate_text(relay.rate)}"))
        if relay.hourly_cap is not None:
            limits.append((relay.hourly_cap * 24.0, f"hourly_cap {relay.hourly_cap:,}"))
        if relay.daily_cap is not None:
            limits.append((float(relay.daily_cap), f"daily_cap {relay.daily_cap:,}"))
        if relay.warmup is not None:
            top = relay.warmup.policy.schedule[-1]
            limits.append((float(top), f"warm-up at most {top:,}/day"))
        amount, why = min(limits, default=(math.inf, "no limit"))
        total += amount
        per_day.append((amount, f"{why} on {relay.name}"))
    candidates = [(total, "; ".join(why for _, why in per_day))]
    for provider, share in workload.split.items():
        rate = workload.pair_rate(provider)
        if rate is not None and share > 0:
            reach = len(workload.relays) * rate * 86_400.0 / share
            candidates.append(
                (
                    reach,
                    f"the {provider} rate {rate_text(rate)} per relay ({share:.0%} of the mail)",
                )
            )
    amount, why = min(candidates)
    if not math.isfinite(amount):
        return why
    return f"{why} (about {amount:,.0f} deliveries a day at most)"


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
