"""The forecast behind `relaylane plan` and a campaign's estimated finish: the lane's
workload built from the configuration and the store (caps used today, warm-up progress,
provider rates, pairs still slowed by adaptive backoff), forecast by the pure
`policy.pacing.plan.forecast`, with the notes a user should read alongside it."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from relaylane.config import Config, LaneConfig, RelayConfig
from relaylane.policy.pacing.plan import DEFAULT_HORIZON_DAYS, Forecast, forecast
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
    RelayFacts,
    WarmupPath,
    Workload,
)
from relaylane.policy.vocabulary import FINAL_STATES
from relaylane.reports.relay_health import local_text
from relaylane.reports.relays import latest_backoff, rate_text, read_counts, stored_warmups
from relaylane.store import Store
from relaylane.store.pacing import PacingEvent

__all__ = ["Plan", "make_plan"]

_FINAL = {state.value for state in FINAL_STATES}
_BACKOFF_EVENTS = 100  # recent changes per relay looked at for pairs still slowed
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
