"""`plan`: when will N deliveries finish under today's limits? A fluid forecast.

Messages are treated as a fluid flowing at constant rates between events: an hour or a
day begins (caps and warm-up allowances renew), a cap, a warm-up allowance or a queue runs
out, a warm-up step falls due, a send window opens or closes. Between events each relay
shares its rate fairly among the providers waiting for it, each limited to its relay ×
provider rate (max-min fair water-filling: what the simulation's round robin converges
to). The result is hour by hour, in the pacing time zone, with each provider's share.
`simulate.simulate` runs the same limits message by message; tests keep the two within 5%.

It assumes delivery goes well: no new deferrals or blocks, so warm-up steps advance as soon
as volume and time allow, and rates stay where they are now.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from relaylane.policy.pacing.caps import Period, period_end, period_start
from relaylane.policy.pacing.warmup import WarmupPolicy, update
from relaylane.policy.pacing.windows import earliest_start, open_until
from relaylane.policy.pacing.workload import ALL_RELAYS, Queue, RelayFacts, WarmupPath, Workload

__all__ = ["DEFAULT_HORIZON_DAYS", "UNLIMITED", "Forecast", "HourRow", "forecast", "water_fill"]

DEFAULT_HORIZON_DAYS = 366.0
UNLIMITED = 1e9  # messages/s standing in for "no rate limit"
_EPS = 1e-6  # messages: less than this is nothing


@dataclass(frozen=True, slots=True)
class HourRow:
    """One local hour: what each provider is expected to receive, and the running total."""

    hour_start: float
    sent_by_provider: Mapping[str, float]
    cumulative: float

    @property
    def sent(self) -> float:
        return sum(self.sent_by_provider.values())


@dataclass(frozen=True, slots=True)
class Forecast:
    """Hour rows from the start's hour to the finish (or the horizon); finish_time is None
    when the deliveries cannot all be sent within the horizon."""

    rows: tuple[HourRow, ...]
    finish_time: float | None
    count: int


def water_fill(capacity: float, limits: list[float]) -> list[float]:
    """Share `capacity` max-min fairly among claimants each limited to `limits[i]`."""
    shares = [0.0] * len(limits)
    left = max(0.0, capacity)
    order = sorted(range(len(limits)), key=limits.__getitem__)
    for position, index in enumerate(order):
        give = min(max(0.0, limits[index]), left / (len(order) - position))
        shares[index] = give
        left -= give
    return shares


class _Path:
    """A warm-up path with fractional counts (the fluid twin of WarmupState)."""

    def __init__(self, path: WarmupPath, start: float) -> None:
        state, _ = update(path.state, path.policy, start)
        self.policy: WarmupPolicy = path.policy
        self.step = min(state.step, path.policy.last_step)
        self.sent = float(state.sent_in_step)
        self.deferrals, self.blocks = state.deferrals, state.blocks
        self.started = state.step_started_at
        self.last = state.last_sent_at
        self.day = state.day_start
        self.offered = float(state.offered_today)
        self.today = self.day_end = start  # the local day (in the policy's zone) being counted
        self.roll(start)

    def roll(self, now: float) -> None:
        """Follow the local day in the path's own time zone."""
        if now >= self.day_end:
            self.today = period_start(now, self.policy.timezone, Period.DAY)
            self.day_end = period_end(now, self.policy.timezone, Period.DAY)
        if self.day != self.today:
            self.day, self.offered = self.today, 0.0

    def volume(self) -> float:
        return float(self.policy.schedule[self.step])

    def room(self) -> float:
        return max(0.0, self.volume() - self.offered)

    def needed(self) -> float:
        """Accepted messages needed in this step before it may advance (inf: never)."""
        if self.step >= self.policy.last_step:
            return math.inf
        need = self.policy.min_sent_ratio * self.volume()
        for bad, limit in (
            (self.deferrals, self.policy.max_deferral_rate),
            (self.blocks, self.policy.max_block_rate),
        ):
            if bad > 0:
                need = max(
                    need, bad / limit - self.deferrals - self.blocks if limit > 0 else math.inf
                )
        return need

    def due(self) -> float | None:
        return None if self.started is None else self.started + self.policy.step_period

    def try_advance(self, now: float) -> None:
        """Step back after an idle period, else advance if due (as `warmup.update`)."""
        anchors = [t for t in (self.last, self.started) if t is not None]
        idle = self.policy.step_back_after_idle
        periods = math.floor((now - max(anchors)) / idle) if anchors else 0
        if self.step > 0 and periods >= 1:
            self.step = max(0, self.step - periods)
            self.sent, self.deferrals, self.blocks = 0.0, 0, 0
            self.started = max(anchors) + periods * idle
            return
        due = self.due()
        if due is not None and now >= due and self.sent >= self.needed() - _EPS:
            self.step, self.sent, self.deferrals, self.blocks = self.step + 1, 0.0, 0, 0
            self.started = now

    def events(self, now: float, flow: float) -> list[float]:
        """Times (> now) at which this path's advance may happen."""
        due = self.due()
        if due is None or self.step >= self.policy.last_step:
            return []
        if due > now:
            return [due]
        gap = self.needed() - self.sent
        return [now + gap / flow] if flow > 0 and 0 < gap < math.inf else []

    def add(self, now: float, end: float, amount: float) -> None:
        """`amount` sent between `now` and `end`."""
        self.offered += amount
        self.sent += amount
        if amount > 0:
            self.last = end
            self.started = now if self.started is None else self.started


class _Relay:
    """A relay's fluid counters: sent this hour and today, and its warm-up paths."""

    def __init__(self, facts: RelayFacts, start: float, hour: float, day: float) -> None:
        self.facts = facts
        self.rate = UNLIMITED if facts.rate is None else facts.rate
        self.hour, self.in_hour = hour, float(facts.sent_this_hour)
        self.day, self.in_day = day, float(facts.sent_today)
        self.path = None if facts.warmup is None else _Path(facts.warmup, start)
        self.pairs = {p: _Path(w, start) for p, w in facts.provider_warmups.items()}

    def roll(self, hour: float, day: float) -> None:
        if hour != self.hour:
            self.hour, self.in_hour = hour, 0.0
        if day != self.day:
            self.day, self.in_day = day, 0.0

    def room(self) -> float:
        left = math.inf
        for cap, used in (
            (self.facts.hourly_cap, self.in_hour),
            (self.facts.daily_cap, self.in_day),
        ):
            if cap is not None:
                left = min(left, cap - used)
        if self.path is not None:
            left = min(left, self.path.room())
        return max(0.0, left)

    def pair_room(self, provider: str) -> float:
        path = self.pairs.get(provider)
        return math.inf if path is None else path.room()

    def paths(self) -> list[_Path]:
        return ([self.path] if self.path is not None else []) + list(self.pairs.values())


_Flows = dict[tuple[int, Queue], float]  # (relay index, queue) → messages/s


def forecast(workload: Workload, horizon_days: float = DEFAULT_HORIZON_DAYS) -> Forecast:
    """Hour by hour, when `workload.count` deliveries are sent (see the module doc)."""
    return _Fluid(workload, horizon_days).run()


class _Fluid:
    def __init__(self, workload: Workload, horizon_days: float) -> None:
        self.w = workload
        self.t = workload.start
        self.end = workload.start + max(0.0, horizon_days) * 86_400.0
        self._periods()
        self.relays = [_Relay(f, self.t, self.hour, self.day) for f in workload.relays]
        self.rem: dict[Queue, float] = {q: float(n) for q, n in workload.queues().items()}
        self.sent: dict[float, dict[str, float]] = {}

    def _periods(self) -> None:
        tz = self.w.timezone
        self.hour = period_start(self.t, tz, Period.HOUR)
        self.hour_end = period_end(self.t, tz, Period.HOUR)
        self.day = period_start(self.t, tz, Period.DAY)
        self.day_end = period_end(self.t, tz, Period.DAY)

    def run(self) -> Forecast:
        finish = self.t if self._left() <= _EPS else None
        while finish is None and self.relays and self.t < self.end:
            if not self._segment():
                break
            if self._left() <= _EPS:
                finish = self.t
        return Forecast(self._rows(finish), finish, self.w.count)

    def _left(self) -> float:
        return sum(self.rem.values())

    def _segment(self) -> bool:
        """Advance to the next event; False when nothing can ever be sent again."""
        self._periods()
        for relay in self.relays:
            relay.roll(self.hour, self.day)
            for path in relay.paths():
                path.roll(self.t)
                path.try_advance(self.t)
        gate = earliest_start(self.t, [self.w.not_before], self.w.windows)
        if gate is None:
            return False
        if gate > self.t:
            self.t = gate
            return True
        flows = self._allocate()
        if not flows:
            self.t = self._wake()
            return True
        length = self._length(flows)
        self._apply(flows, length)
        self.t += length
        return True

    def _allocate(self) -> _Flows:
        flows: _Flows = {}
        for index, relay in enumerate(self.relays):
            if relay.room() <= _EPS:
                continue
            claims = [
                q
                for q, left in self.rem.items()
                if left > _EPS
                and q[0] in (ALL_RELAYS, relay.facts.name)
                and relay.pair_room(q[1]) > _EPS
            ]
            limits = [_rate(self.w.pair_rate(q[1])) for q in claims]
            for q, share in zip(claims, water_fill(relay.rate, limits), strict=True):
                if share > 0:
                    flows[(index, q)] = share
        return flows

    def _wake(self) -> float:
        """The next moment anything can change when nothing flows."""
        times = [self.hour_end, self.day_end]
        for relay in self.relays:
            for path in relay.paths():
                due = path.due()
                times += [path.day_end] + ([due] if due is not None and due > self.t else [])
        return min(times)

    def _length(self, flows: _Flows) -> float:
        """Seconds until the next event while `flows` hold."""
        ends = [self.hour_end, self.day_end, open_until(self.t, self.w.windows)]
        ends += [path.day_end for relay in self.relays for path in relay.paths()]
        lengths: list[float] = []
        for index, relay in enumerate(self.relays):
            total = sum(x for (i, _), x in flows.items() if i == index)
            if total > 0:
                lengths.append(relay.room() / total)
                ends += relay.path.events(self.t, total) if relay.path else []
            for provider, path in relay.pairs.items():
                pair = sum(x for (i, q), x in flows.items() if i == index and q[1] == provider)
                if pair > 0:
                    lengths.append(path.room() / pair)
                    ends += path.events(self.t, pair)
        for queue, left in self.rem.items():
            total = sum(x for (_, q), x in flows.items() if q == queue)
            if total > 0:
                lengths.append(left / total)
        lengths += [end - self.t for end in ends]
        return min(length for length in lengths if length > 0)

    def _apply(self, flows: _Flows, length: float) -> None:
        row = self.sent.setdefault(self.hour, {})
        for (index, queue), rate in flows.items():
            amount = min(rate * length, self.rem[queue])
            relay = self.relays[index]
            self.rem[queue] -= amount
            relay.in_hour += amount
            relay.in_day += amount
            for path in [relay.path, relay.pairs.get(queue[1])]:
                if path is not None:
                    path.add(self.t, self.t + length, amount)
            row[queue[1]] = row.get(queue[1], 0.0) + amount
        for queue, left in self.rem.items():
            if left <= _EPS:
                self.rem[queue] = 0.0

    def _rows(self, finish: float | None) -> tuple[HourRow, ...]:
        tz = self.w.timezone
        last = finish if finish is not None else max(self.sent, default=self.w.start) + 1.0
        providers = sorted({q[1] for q in self.rem})
        rows: list[HourRow] = []
        total = 0.0
        hour = period_start(self.w.start, tz, Period.HOUR)
        while hour < last or not rows:
            sent = self.sent.get(hour, {})
            by_provider = {p: sent.get(p, 0.0) for p in providers}
            total += sum(by_provider.values())
            rows.append(HourRow(hour, by_provider, total))
            hour = period_end(hour, tz, Period.HOUR)
        return tuple(rows)


def _rate(rate: float | None) -> float:
    return UNLIMITED if rate is None else rate
