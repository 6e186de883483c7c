"""The same limits as `plan`, message by message on a fake clock.

Each message is sent at the earliest moment some (relay, queue) pair allows it: the relay's
token bucket, its relay × provider bucket, its hourly and daily caps, its warm-up paths and
the send windows all agree. Ties go round robin: on each relay, the queue it served longest
ago first (each relay shares itself fairly, as `plan` assumes), then the relay used longest
ago. Every message is assumed accepted. It uses the real `TokenBucket`, `CapState`
and warm-up functions, so it checks `plan.forecast` against the policy itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from relaylane.policy.pacing.bucket import TokenBucket
from relaylane.policy.pacing.caps import CapState
from relaylane.policy.pacing.plan import DEFAULT_HORIZON_DAYS, forecast
from relaylane.policy.pacing.warmup import WarmupState, next_open, record, update
from relaylane.policy.pacing.windows import earliest_start
from relaylane.policy.pacing.workload import ALL_RELAYS, Queue, RelayFacts, WarmupPath, Workload
from relaylane.policy.vocabulary import Outcome

__all__ = ["SimResult", "forecast_error", "simulate"]


@dataclass(frozen=True, slots=True)
class SimResult:
    """When the last message went (None: not within the horizon) and how many went."""

    finish_time: float | None
    sent: int


class _Path:
    """A warm-up path with its state, updated as the simulation sends."""

    def __init__(self, path: WarmupPath) -> None:
        self.policy = path.policy
        self.state: WarmupState = path.state

    def ready(self, now: float) -> float:
        self.state, _ = update(self.state, self.policy, now)
        return next_open(self.state, self.policy, now)

    def send(self, now: float) -> None:
        self.state = record(self.state, self.policy, now, Outcome.SENT)


class _Relay:
    def __init__(self, facts: RelayFacts, workload: Workload) -> None:
        self.name = facts.name
        self.bucket = None if facts.rate is None else TokenBucket(facts.rate)
        self.caps = CapState(facts.hourly_cap, facts.daily_cap, workload.timezone)
        self.caps.restore(workload.start, facts.sent_this_hour, facts.sent_today)
        self.path = None if facts.warmup is None else _Path(facts.warmup)
        self.pairs = {p: _Path(w) for p, w in facts.provider_warmups.items()}
        self.buckets: dict[str, TokenBucket] = {}
        for provider in {p for _, p in workload.queues()}:
            rate = workload.pair_rate(provider)
            if rate is not None:
                self.buckets[provider] = TokenBucket(rate)

    def ready(self, now: float) -> float:
        """When the relay itself (bucket, caps, own warm-up path) allows a message."""
        times = [self.caps.next_open(now)]
        if self.bucket is not None:
            times.append(self.bucket.ready_at(now))
        if self.path is not None:
            times.append(self.path.ready(now))
        return max(times)

    def pair_ready(self, provider: str, now: float) -> float:
        times = [now]
        if provider in self.buckets:
            times.append(self.buckets[provider].ready_at(now))
        if provider in self.pairs:
            times.append(self.pairs[provider].ready(now))
        return max(times)

    def send(self, provider: str, now: float) -> None:
        for bucket in (self.bucket, self.buckets.get(provider)):
            if bucket is not None and not bucket.take(now):
                raise AssertionError(f"{self.name}: a bucket refused a message it allowed")
        self.caps.record(now)
        for path in (self.path, self.pairs.get(provider)):
            if path is not None:
                path.send(now)


def simulate(workload: Workload, horizon_days: float = DEFAULT_HORIZON_DAYS) -> SimResult:
    """Send every delivery of `workload` as early as its limits allow."""
    return _Simulation(workload, horizon_days).run()


class _Simulation:
    def __init__(self, workload: Workload, horizon_days: float) -> None:
        self.w = workload
        self.t = workload.start
        self.end = workload.start + max(0.0, horizon_days) * 86_400.0
        self.relays = [_Relay(facts, workload) for facts in workload.relays]
        self.rem = workload.queues()
        self.relay_ready = [relay.ready(self.t) for relay in self.relays]
        self.pair_ready = {
            (i, p): relay.pair_ready(p, self.t)
            for i, relay in enumerate(self.relays)
            for p in {q[1] for q in self.rem}
        }
        # (relay index, queue) or relay index → the sequence number it was last served at
        self.served: dict[object, int] = {}
        self.sequence = 0
        self.sent = 0

    def run(self) -> SimResult:
        last = self.t if not self.rem else None
        while self.rem:
            choice = self._choose()
            if choice is None:
                return SimResult(None, self.sent)
            moment, index, queue = choice
            if moment > self.end:
                return SimResult(None, self.sent)
            gate = earliest_start(moment, [self.w.not_before], self.w.windows)
            if gate is None:
                return SimResult(None, self.sent)
            self.t = max(self.t, gate)
            if gate > moment:
                continue
            if self._send(index, queue):
                last = self.t
        return SimResult(last, self.sent)

    def _choose(self) -> tuple[float, int, Queue] | None:
        best: tuple[float, int, int, int, Queue] | None = None
        for queue in self.rem:
            for index, relay in enumerate(self.relays):
                if queue[0] not in (ALL_RELAYS, relay.name):
                    continue
                ready = max(self.t, self.relay_ready[index], self.pair_ready[(index, queue[1])])
                turn = self.served.get((index, queue), -1)
                key = (ready, turn, self.served.get(index, -1), index, queue)
                if best is None or key < best:
                    best = key
        if best is None or math.isinf(best[0]):
            return None
        return best[0], best[3], best[4]

    def _send(self, index: int, queue: Queue) -> bool:
        relay, provider = self.relays[index], queue[1]
        self.relay_ready[index] = relay.ready(self.t)
        self.pair_ready[(index, provider)] = relay.pair_ready(provider, self.t)
        if max(self.relay_ready[index], self.pair_ready[(index, provider)]) > self.t:
            return False  # a cached moment was stale (e.g. a step that added no room)
        relay.send(provider, self.t)
        self.sent += 1
        self.sequence += 1
        self.served[(index, queue)] = self.served[index] = self.sequence
        self.rem[queue] -= 1
        if self.rem[queue] <= 0:
            del self.rem[queue]
        self.relay_ready[index] = relay.ready(self.t)
        self.pair_ready[(index, provider)] = relay.pair_ready(provider, self.t)
        return True


def forecast_error(workload: Workload, horizon_days: float = DEFAULT_HORIZON_DAYS) -> float:
    """|forecast − simulation| / simulated duration for the finish time (0 when both say
    never; inf when only one does)."""
    planned = forecast(workload, horizon_days).finish_time
    simulated = simulate(workload, horizon_days).finish_time
    if planned is None or simulated is None:
        return 0.0 if planned is simulated else math.inf
    duration = max(simulated - workload.start, 1.0)
    return abs(planned - simulated) / duration
