"""The worker's pacing gate: one in-process view of every limit, over the pure policy in
`relaylane.policy.pacing`.

Before a delivery is handed to its relay, `admit` checks, without taking anything, when
every limit that applies would allow it: the relay × provider pair's suspension, the
relay's hourly and daily caps, the relay's token bucket and the pair's token bucket. Only
when all allow it now are the tokens taken and the caps counted, so limits hold exactly
whatever the number of connection tasks. Otherwise the caller waits until the returned
time (never spinning).

Answers feed adaptive backoff (`on_answer`): a rule of the recipient's provider matching
the reply slows (x factor, down to the floor) or suspends that pair only; recovery is
additive, step by step (`tick`). Sent counts and every change are collected for the store
(`drain`), and caps are restored from it at start (`restore`).

With `shared` (every worker on one store), each send also needs a grant of every limit it
touches from the store (relaylane.delivery.limits): the relay's and the pair's rate, the
relay's hourly and daily caps and each warm-up path's daily volume, so the limits count
all workers together. Each pair's adaptive rate is then stored as it changes and adopted
from the store (`drain_rates`, `adopt_rates`), and warm-up progress is added up in the
store from every worker's attempts (`drain_warmups`, `merge_warmup`, `adopt_warmups`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace

from relaylane.config.models import Config, RelayConfig
from relaylane.config.pacing import ProviderConfig, WarmupConfig
from relaylane.delivery.limits import SharedLimits
from relaylane.policy.pacing import aimd, warmup
from relaylane.policy.pacing.allotment import Ask, Slot, cap_chunk, rate_chunk, rate_slot
from relaylane.policy.pacing.bucket import TokenBucket
from relaylane.policy.pacing.caps import CapState, Period, period_end, period_start
from relaylane.policy.pacing.providers import rules_for
from relaylane.policy.vocabulary import RELAY_LEVEL_CLASSES, Outcome
from relaylane.store.feedback import FeedbackRow
from relaylane.store.limits import RateRow
from relaylane.store.pacing import PacingEvent, SentCount, WarmupDelta, WarmupRow

DEFAULT_PROVIDER = "default"


@dataclass
class _Pair:
    """A relay × provider pair: its bucket (None: no rate) and adaptive state."""

    bucket: TokenBucket | None
    rate: aimd.PathRate | None
    rules: tuple[aimd.Rule, ...]


@dataclass
class Pacer:
    config: Config
    providers: Mapping[str, ProviderConfig]
    timezone: str = "UTC"
    _relay_buckets: dict[str, TokenBucket | None] = field(default_factory=dict)
    _caps: dict[str, CapState] = field(default_factory=dict)
    _pairs: dict[tuple[str, str], _Pair] = field(default_factory=dict)
    _counts: dict[tuple[str, str, str, float], int] = field(default_factory=dict)
    _periods: dict[Period, tuple[float, float]] = field(default_factory=dict)
    _events: list[PacingEvent] = field(default_factory=list)
    _rules: dict[str, tuple[aimd.Rule, ...]] = field(default_factory=dict)
    _warm_policy: dict[str, tuple[warmup.WarmupPolicy, WarmupConfig]] = field(default_factory=dict)
    _warm: dict[tuple[str, str], warmup.WarmupState] = field(default_factory=dict)
    _reserved: dict[tuple[str, str], int] = field(default_factory=dict)
    _warm_dirty: set[tuple[str, str]] = field(default_factory=set)
    shared: SharedLimits | None = None
    _rates_dirty: set[tuple[str, str]] = field(default_factory=set)
    _rate_seen: dict[tuple[str, str], float] = field(default_factory=dict)
    _warm_deltas: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)
    _warm_delta_at: dict[tuple[str, str], float] = field(default_factory=dict)
    _merged: list[PacingEvent] = field(default_factory=list)
    _asks: dict[tuple[str, str, str], tuple[float, int, list[Ask]]] = field(default_factory=dict)
    _asks_made: int = 0  # bumped when a rate or a warm-up step changes: asks are made again

    def __post_init__(self) -> None:
        self._rules = {name: p.rules() for name, p in self.providers.items()}
        for relay in self.config.relay:
            rate = relay.rate
            self._relay_buckets[relay.name] = TokenBucket(rate) if rate else None
            self._caps[relay.name] = CapState(relay.hourly_cap, relay.daily_cap, self.timezone)
            if relay.warmup is not None:
                cfg = self.config.warmup[relay.warmup]
                self._warm_policy[relay.name] = (cfg.policy(self.timezone), cfg)

    # -- the gate -----------------------------------------------------------------------
    def admit(self, relay: RelayConfig, group: str, now: float, domain: str = "") -> float:
        """0.0 when the delivery may go now (its tokens are taken, it is counted, and a
        warming path reserves its place); otherwise the earliest time at which it may
        (math.inf: never, e.g. a cap of 0). `domain` is the sending (From) domain."""
        pair = self._pair(relay.name, group)
        limits = self._ready_at(relay.name, pair, now)
        ready = max(limits, self._warm_ready(relay.name, group, domain, now))
        if ready > now:
            return ready
        if self.shared is not None:
            asks = self._shared_asks(relay, group, pair, domain, now)
            wait = self.shared.ready(asks, now)
            if wait > 0:
                return max(wait, now)
            self.shared.take(asks)
        for key in self._paths(relay.name, group, domain):
            self._reserved[key] = self._reserved.get(key, 0) + 1
        bucket = self._relay_buckets[relay.name]
        if bucket is not None:
            bucket.take(now)
        if pair.bucket is not None:
            pair.bucket.take(now)
        self._caps[relay.name].record(now)
        self._count(relay.name, now)
        return 0.0

    def _ready_at(self, relay: str, pair: _Pair, now: float) -> float:
        times = [now]
        if pair.rate is not None and pair.rate.suspended_until is not None:
            times.append(pair.rate.suspended_until)
        times.append(self._caps[relay].next_open(now))
        bucket = self._relay_buckets[relay]
        if bucket is not None:
            times.append(bucket.ready_at(now))
        if pair.bucket is not None:
            times.append(pair.bucket.ready_at(now))
        return max(times)

    def _shared_asks(
        self, relay: RelayConfig, group: str, pair: _Pair, domain: str, now: float
    ) -> list[Ask]:
        """A grant of every shared limit this send touches: worked out once per path and
        slot, again when the first of its slots ends or a rate or warm-up step changes."""
        key = (relay.name, group, domain)
        cached = self._asks.get(key)
        if cached is not None and now < cached[0] and cached[1] == self._asks_made:
            return cached[2]
        asks = self._new_asks(relay, group, pair, domain, now)
        until = min((a.slot.end for a in asks), default=math.inf)
        self._asks[key] = (until, self._asks_made, asks)
        return asks

    def _new_asks(
        self, relay: RelayConfig, group: str, pair: _Pair, domain: str, now: float
    ) -> list[Ask]:
        name = relay.name
        asks = []
        bucket = self._relay_buckets[name]
        if bucket is not None:
            asks.append(_rate_ask(f"rate|{name}", bucket.rate, now))
        if pair.bucket is not None:
            asks.append(_rate_ask(f"rate|{name}|{group}", pair.bucket.rate, now))
        hour_sent, day_sent = self._caps[name].sent(now)
        for period, cap, sent in (
            (Period.HOUR, relay.hourly_cap, hour_sent),
            (Period.DAY, relay.daily_cap, day_sent),
        ):
            if cap is not None:
                start, end = self._period(now, period)
                slot = Slot(start, end, cap)
                asks.append(Ask(f"{period.value}|{name}", slot, cap_chunk(cap), seed=sent))
        found = self._warm_policy.get(name)
        if found is not None:
            start, end = self._period(now, Period.DAY)
            for key in self._paths(name, group, domain):
                state = self._warm.get(key, warmup.WarmupState())
                cap = warmup.volume(state, found[0])
                used = warmup.offered_today(state, found[0], now)
                slot = Slot(start, end, cap)
                asks.append(Ask(f"warm|{name}|{key[1]}", slot, cap_chunk(cap), seed=used))
        return asks

    def interval(self, relay: str, group: str, now: float) -> float:
        """Seconds between two sends under the tightest rate on this pair (0: no rate)."""
        rates = []
        bucket = self._relay_buckets.get(relay)
        if bucket is not None and bucket.rate > 0:
            rates.append(bucket.rate)
        pair = self._pairs.get((relay, group))
        if pair is not None and pair.bucket is not None and pair.bucket.rate > 0:
            rates.append(pair.bucket.rate)
        return 1.0 / min(rates) if rates else 0.0

    def spills(self, relay: str) -> bool:
        """Does a warming relay's overflow go to the lane's other relays?"""
        found = self._warm_policy.get(relay)
        return found is None or found[1].spill is warmup.Spill.LANE

    # -- warm-up ----------------------------------------------------------------------------
    def _paths(self, relay: str, group: str, domain: str) -> list[tuple[str, str]]:
        found = self._warm_policy.get(relay)
        if found is None:
            return []
        return [(relay, p) for p in warmup.warmup_paths(found[1].scope, domain, group)]

    def _warm_ready(self, relay: str, group: str, domain: str, now: float) -> float:
        found = self._warm_policy.get(relay)
        if found is None:
            return now
        policy = found[0]
        ready = now
        for key in self._paths(relay, group, domain):
            state, reason = warmup.update(self._warm.get(key, warmup.WarmupState()), policy, now)
            self._set_warm(key, state, reason, group, now)
            left = warmup.room(state, policy, now) - self._reserved.get(key, 0)
            if left < 1:
                ready = max(ready, warmup.next_open(state, policy, now), now + 1.0)
        return ready

    def _warm_answer(
        self, relay: str, group: str, domain: str, outcome: Outcome, now: float
    ) -> None:
        found = self._warm_policy.get(relay)
        for key in self._paths(relay, group, domain):
            self._reserved[key] = max(0, self._reserved.get(key, 0) - 1)
            if found is None:
                continue
            state = self._warm.get(key, warmup.WarmupState())
            self._set_warm(key, warmup.record(state, found[0], now, outcome), "", group, now)
            if self.shared is not None:
                counts = self._warm_deltas.setdefault(key, {})
                counts[outcome.value] = counts.get(outcome.value, 0) + 1
                self._warm_delta_at[key] = max(now, self._warm_delta_at.get(key, now))

    def _set_warm(
        self, key: tuple[str, str], state: warmup.WarmupState, reason: str, group: str, now: float
    ) -> None:
        if self._warm.get(key) != state:
            if self._warm.get(key, warmup.WarmupState()).step != state.step:
                self._asks_made += 1
            self._warm[key] = state
            self._warm_dirty.add(key)
        if reason and self.shared is None:  # shared: logged once, by the store's merge
            self._events.append(_warm_event(key, reason, group, now))

    # -- adaptive backoff ---------------------------------------------------------------
    def on_answer(
        self,
        relay: str,
        group: str,
        outcome: Outcome,
        reply: str,
        now: float,
        domain: str = "",
    ) -> aimd.Change | None:
        """Count the attempt for warm-up, and hold a refusal's text against the provider's
        rules (deferrals, blocks and relay throttling only: acceptances and address
        bounces say nothing about pace)."""
        self._warm_answer(relay, group, domain, outcome, now)
        if outcome not in (Outcome.DEFERRED, Outcome.BLOCKED, Outcome.RELAY_FAULT):
            return None
        pair = self._pair(relay, group)
        if pair.rate is None or not pair.rules:
            return None
        pair.rate, change = aimd.on_reply(pair.rate, reply, pair.rules, now)
        if change is not None:
            self._apply(relay, group, pair, now)
            self._event(relay, group, change)
        return change

    def on_event(
        self, relay: str, group: str, outcome: Outcome, text: str, now: float
    ) -> aimd.Change | None:
        """An asynchronous deferral or block (a DSN `delayed`, an ESP event) against the
        provider's rules: adaptive backoff only (it was no attempt of this worker)."""
        pair = self._pair(relay, group)
        if outcome not in (Outcome.DEFERRED, Outcome.BLOCKED) or pair.rate is None:
            return None
        pair.rate, change = aimd.on_reply(pair.rate, text, pair.rules, now)
        if change is not None:
            self._apply(relay, group, pair, now)
            self._event(relay, group, change)
        return change

    def on_feedback(
        self,
        rows: Sequence[FeedbackRow],
        group_of: Callable[[str], str | None],
        now: float,
    ) -> None:
        """Reported deferrals and relay-level bounces against their pair's rules."""
        for row in rows:
            outcome = signal_outcome(row)
            if outcome is None or row.relay is None or row.recipient is None:
                continue
            group = group_of(row.recipient.rpartition("@")[2]) or DEFAULT_PROVIDER
            text = " ".join(x for x in (str(row.code or ""), row.status or "", row.diagnostic) if x)
            self.on_event(row.relay, group, outcome, text, now)

    def throttle(self, relay: str, group: str, factor: float, now: float, cause: str) -> None:
        """Slow the pair to `factor` of its rate (a degraded path, or one back from a
        pause); additive recovery then brings it back step by step."""
        pair = self._pair(relay, group)
        if pair.rate is None:
            return
        rule = aimd.Rule.of("", aimd.RuleAction.SLOW, factor, duration=0.0)
        pair.rate, change = aimd.on_reply(pair.rate, f"health: {cause}", (rule,), now)
        if change is not None:
            self._apply(relay, group, pair, now)
            self._event(relay, group, change)

    def tick(self, now: float) -> None:
        """Additive recovery of slowed pairs, step by step."""
        for (relay, group), pair in self._pairs.items():
            if pair.rate is None or (pair.rate.next_step_at is None and not _suspended(pair.rate)):
                continue  # at its base rate
            before = {id(c) for c in pair.rate.changes}
            recovered = aimd.recover(pair.rate, now)
            fresh = [c for c in recovered.changes if id(c) not in before]
            if not fresh:
                continue  # no step due yet
            pair.rate = recovered
            self._apply(relay, group, pair, now)
            for change in fresh:
                self._event(relay, group, change)

    def rate_of(self, relay: str, group: str, now: float) -> float | None:
        pair = self._pairs.get((relay, group))
        if pair is None or pair.rate is None:
            return None
        return aimd.effective_rate(pair.rate, now)

    # -- the store ------------------------------------------------------------------------
    def restore(
        self, counts: Sequence[SentCount], now: float, warmups: Sequence[WarmupRow] = ()
    ) -> None:
        """Seed the caps with what the store says was sent this hour and today, and the
        warm-up paths with their stored progress."""
        for row in warmups:
            try:
                self._warm[(row.relay, row.path)] = warmup.WarmupState(**row.state)  # type: ignore[arg-type]
            except (TypeError, ValueError):
                continue  # a state from another version: that path starts again
        hour = period_start(now, self.timezone, Period.HOUR)
        day = period_start(now, self.timezone, Period.DAY)
        for relay, caps in self._caps.items():
            mine = [c for c in counts if c.relay == relay and c.path == ""]
            this_hour = sum(c.sent for c in mine if c.period == "hour" and c.period_start == hour)
            today = sum(c.sent for c in mine if c.period == "day" and c.period_start == day)
            caps.restore(now, this_hour, today)

    def give_back(self, counts: list[SentCount], events: list[PacingEvent]) -> None:
        """A flush that failed: its counts and events go out with the next one (warm-up
        states are re-marked dirty as they change, and written whole)."""
        for c in counts:
            key = (c.relay, c.path, c.period, c.period_start)
            self._counts[key] = self._counts.get(key, 0) + c.sent
        self._events = [*events, *self._events]

    def drain(self) -> tuple[list[SentCount], list[PacingEvent], list[WarmupRow]]:
        counts = [SentCount(r, p, k, s, n) for (r, p, k, s), n in self._counts.items()]
        events, self._events = self._events, []
        self._counts.clear()
        rows = [WarmupRow(r, p, asdict(self._warm[(r, p)])) for r, p in sorted(self._warm_dirty)]
        self._warm_dirty.clear()
        if self.shared is not None:  # progress is added up in the store (drain_warmups)
            rows = []
        return counts, events, rows

    # -- shared with the other workers ----------------------------------------------------
    def drain_rates(self) -> list[RateRow]:
        """The adaptive rates this worker changed since the last drain, to store."""
        rows = []
        for key in sorted(self._rates_dirty):
            pair = self._pairs.get(key)
            if pair is None or pair.rate is None:
                continue
            at = self._rate_seen.get(key, 0.0)
            rows.append(RateRow(key[0], key[1], _rate_fields(pair.rate), at))
        self._rates_dirty.clear()
        return rows

    def requeue_rates(self, rows: Sequence[RateRow]) -> None:
        """Rates that could not be stored: stored with the next drain."""
        self._rates_dirty.update((r.relay, r.provider) for r in rows)

    @property
    def warming(self) -> bool:
        """Does any relay warm up?"""
        return bool(self._warm_policy)

    def adopt_rates(self, rows: Sequence[RateRow], now: float) -> None:
        """Take the stored rates that changed after what this worker last made or saw."""
        for row in rows:
            key = (row.relay, row.provider)
            if row.changed_at <= self._rate_seen.get(key, -math.inf):
                continue
            pair = self._pair(*key)
            if pair.rate is None:
                continue
            try:
                pair.rate = _adopted(pair.rate, row.state)
            except (TypeError, ValueError):
                continue  # a state from another version: keep this worker's
            self._rate_seen[key] = row.changed_at
            self._apply(row.relay, row.provider, pair, now)

    def drain_warmups(self) -> list[WarmupDelta]:
        """This worker's warm-up attempts since the last drain, per path."""
        deltas = [
            WarmupDelta(r, p, counts, self._warm_delta_at[(r, p)])
            for (r, p), counts in sorted(self._warm_deltas.items())
        ]
        self._warm_deltas.clear()
        self._warm_delta_at.clear()
        return deltas

    def give_back_warmups(self, deltas: Sequence[WarmupDelta]) -> None:
        """A merge that failed: its attempts go out with the next one."""
        for d in deltas:
            counts = self._warm_deltas.setdefault((d.relay, d.path), {})
            for outcome, n in d.outcomes.items():
                counts[outcome] = counts.get(outcome, 0) + n
            self._warm_delta_at[(d.relay, d.path)] = d.at

    def merge_warmup(
        self, delta: WarmupDelta, stored: dict[str, object] | None
    ) -> dict[str, object]:
        """The stored progress of a path with one worker's attempts added (the pure
        warm-up policy, run by the store under the path's lock). A step it advances or
        steps back is noted for `take_merged_events`: logged once, whatever the workers."""
        found = self._warm_policy.get(delta.relay)
        state = _warm_state(stored)
        if found is None:
            return asdict(state)
        policy = found[0]
        state, reason = warmup.update(state, policy, delta.at)
        if reason:
            provider = delta.path.rpartition("|")[2]
            self._merged.append(_warm_event((delta.relay, delta.path), reason, provider, delta.at))
        for outcome, n in delta.outcomes.items():
            state = warmup.record(state, policy, delta.at, Outcome(outcome), n)
        return asdict(state)

    def take_merged_events(self) -> list[PacingEvent]:
        """Warm-up steps the store's last merge moved (empty them: a failed merge's are
        dropped, its attempts are merged again)."""
        events, self._merged = self._merged, []
        return events

    def adopt_warmups(self, rows: Sequence[WarmupRow]) -> None:
        """Every path's progress as the store adds it up across workers."""
        for row in rows:
            if row.relay in self._warm_policy:
                state = _warm_state(row.state)
                before = self._warm.get((row.relay, row.path), warmup.WarmupState())
                if before.step != state.step:
                    self._asks_made += 1
                self._warm[(row.relay, row.path)] = state

    # -- internals ------------------------------------------------------------------------
    def _pair(self, relay: str, group: str) -> _Pair:
        key = (relay, group)
        pair = self._pairs.get(key)
        if pair is None:
            pair = self._pairs[key] = self._new_pair(group)
        return pair

    def _new_pair(self, group: str) -> _Pair:
        provider = self.providers.get(group) or self.providers.get(DEFAULT_PROVIDER)
        if provider is None:
            return _Pair(None, None, ())
        name = group if group in self.providers else DEFAULT_PROVIDER
        rules = rules_for(name, self._rules)
        if provider.rate is None:
            return _Pair(None, None, rules)
        backoff = aimd.Backoff(
            floor=min(provider.floor, provider.rate),
            recover_step=provider.recover_step,
            recover_every=provider.recover_every,
        )
        return _Pair(TokenBucket(provider.rate), aimd.PathRate(provider.rate, backoff), rules)

    def _apply(self, relay: str, group: str, pair: _Pair, now: float) -> None:
        if pair.bucket is None or pair.rate is None:
            return
        self._asks_made += 1
        rate = aimd.effective_rate(pair.rate, now)
        pair.bucket.set_rate(now, rate if rate > 0 else pair.rate.base * pair.rate.factor)

    def _count(self, relay: str, now: float) -> None:
        for period in (Period.HOUR, Period.DAY):
            key = (relay, "", period.value, self._period_start(now, period))
            self._counts[key] = self._counts.get(key, 0) + 1

    def _period_start(self, now: float, period: Period) -> float:
        return self._period(now, period)[0]

    def _period(self, now: float, period: Period) -> tuple[float, float]:
        """The period containing `now`, worked out through the time zone once per period,
        not once per send."""
        start, end = self._periods.get(period, (math.inf, -math.inf))
        if not start <= now < end:
            start = period_start(now, self.timezone, period)
            end = period_end(now, self.timezone, period)
            self._periods[period] = (start, end)
        return start, end

    def _event(self, relay: str, group: str, change: aimd.Change) -> None:
        key = (relay, group)
        self._rate_seen[key] = max(change.at, self._rate_seen.get(key, -math.inf))
        if self.shared is not None:
            self._rates_dirty.add(key)
        until = change.until if change.until is not None and math.isfinite(change.until) else None
        self._events.append(
            PacingEvent(
                change.at, relay, group, change.action.value, change.rate, until, change.cause
            )
        )


_RATE_FIELDS = ("factor", "held_until", "suspended_until", "last_decrease", "next_step_at")


def _rate_fields(rate: aimd.PathRate) -> dict[str, object]:
    return {name: getattr(rate, name) for name in _RATE_FIELDS}


def _adopted(rate: aimd.PathRate, state: dict[str, object]) -> aimd.PathRate:
    """This worker's rate with a stored rate's fields (a bad one raises ValueError)."""
    fields: dict[str, float | None] = {}
    for name in _RATE_FIELDS:
        value = state.get(name)
        if value is not None and not isinstance(value, (int, float)):
            raise ValueError(f"{name} is not a number: {value!r}")
        fields[name] = None if value is None else float(value)
    factor = fields["factor"]
    if factor is None:
        raise ValueError("factor is missing")
    return replace(
        rate,
        factor=factor,
        held_until=fields["held_until"],
        suspended_until=fields["suspended_until"],
        last_decrease=fields["last_decrease"],
        next_step_at=fields["next_step_at"],
    )


def _warm_state(stored: dict[str, object] | None) -> warmup.WarmupState:
    if not stored:
        return warmup.WarmupState()
    try:
        return warmup.WarmupState(**stored)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return warmup.WarmupState()  # a state from another version: the path starts again


def _suspended(rate: aimd.PathRate) -> bool:
    return rate.suspended_until is not None


def _warm_event(key: tuple[str, str], reason: str, provider: str, at: float) -> PacingEvent:
    cause = f"warm-up {key[1] or 'relay'}: {reason}"
    return PacingEvent(at, key[0], provider, "warmup", None, None, cause)


def _rate_ask(key: str, rate: float, now: float) -> Ask:
    slot = rate_slot(rate, now)
    return Ask(key, slot, rate_chunk(slot))


def signal_outcome(row: FeedbackRow) -> Outcome | None:
    """What a reported event means for pacing: a deferral, a block, or nothing."""
    if row.event == "delayed":
        return Outcome.DEFERRED
    if row.bounce_class in _RELAY_LEVEL:
        return Outcome.BLOCKED
    return None


_RELAY_LEVEL = frozenset(c.value for c in RELAY_LEVEL_CLASSES)
