"""Health of each path (a relay as a whole, or a relay x provider pair) as pure decisions.

    healthy --deferrals--> degraded --recovers--> healthy
    healthy|degraded --blocks, complaints, infrastructure faults--> paused
    paused --cool-down over--> probing --canaries answer well--> healthy
    probing --a canary fails--> paused (cool-down doubled)

Relay health is judged on relay-level signals only: deferrals, blocks (reputation and
policy), infrastructure faults (connection, TLS, AUTH, relay configuration) and
complaints. Address bounces measure the list, not the relay, and never count here.

What a pause does depends on its cause (`Cause.moves_traffic`): an infrastructure pause
fails the relay's deliveries over to the lane's other relays; a reputation or complaint
pause holds them on the path, since moving them would spread the damage.

Damping: a rate is judged only over a minimum number of attempts, a degraded path
recovers only once its rate is well under the threshold (hysteresis), and infrastructure
faults must be consecutive. Every transition carries its evidence and a readable reason.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from relaylane.policy.vocabulary import RELAY_LEVEL_CLASSES, BounceClass, Outcome

__all__ = [
    "RELAY_WIDE",
    "Cause",
    "HealthRules",
    "HealthState",
    "PathCounts",
    "PathHealth",
    "Signal",
    "Transition",
    "after_canary",
    "after_complaints",
    "after_observation",
    "cool_down_over",
    "healthy",
    "operator_pause",
    "operator_resume",
    "pause",
    "signal_of",
]

RELAY_WIDE = ""  # the provider of a relay-wide path
MAX_SAMPLES = 3  # sample replies kept as evidence
MINUTE = 60.0


class HealthState(StrEnum):
    """Where a path stands."""

    HEALTHY = "healthy"  # used normally
    DEGRADED = "degraded"  # used, slowed by the pacing AIMD (deferrals or a complaint review)
    PAUSED = "paused"  # not used until `until` (or an operator resumes it)
    PROBING = "probing"  # a few canary deliveries go through; the rest wait


class Cause(StrEnum):
    """Why a path left `healthy`."""

    NONE = "none"
    DEFERRALS = "deferrals"  # too many temporary refusals: slowed
    INFRASTRUCTURE = "infrastructure"  # connection, TLS, AUTH, relay configuration faults
    REPUTATION = "reputation"  # blocks for reputation or policy
    COMPLAINTS = "complaints"  # complaint rate over the review or pause threshold
    OPERATOR = "operator"  # `relaylane relays pause`: held where they are
    MAINTENANCE = "maintenance"  # `relaylane relays pause --failover`: moved in the lane

    @property
    def moves_traffic(self) -> bool:
        """Infrastructure causes fail over within the lane; every other pause holds."""
        return self in (Cause.INFRASTRUCTURE, Cause.MAINTENANCE)


class Signal(StrEnum):
    """What one answer from a relay says about the path."""

    OK = "ok"  # answered with no relay-level problem (accepted, address bounce, ...)
    DEFERRAL = "deferral"  # a temporary refusal or throttling
    BLOCK = "block"  # refused for reputation or policy
    INFRA = "infra"  # an infrastructure fault


def signal_of(outcome: Outcome, bounce_class: BounceClass) -> Signal | None:
    """The health signal of one attempt's verdict (None: not an answer from the relay)."""
    if outcome is Outcome.SUPPRESSED:
        return None
    if outcome is Outcome.RELAY_FAULT or bounce_class is BounceClass.RELAY_CONFIG:
        return Signal.INFRA
    if bounce_class is BounceClass.RATE_LIMITED or outcome is Outcome.DEFERRED:
        return Signal.DEFERRAL
    if outcome is Outcome.BLOCKED or bounce_class in RELAY_LEVEL_CLASSES:
        return Signal.BLOCK
    return Signal.OK


@dataclass(frozen=True, slots=True)
class HealthRules:
    """The thresholds ([health] in the configuration; these are the defaults)."""

    window: float = 3600.0  # blocks and deferrals are judged over this rolling window
    block_rate: float = 0.02  # over this share of blocks: paused (reputation)
    block_min_attempts: int = 200
    deferral_rate: float = 0.30  # over this share of deferrals: degraded
    deferral_min_attempts: int = 100
    recover_below: float = 0.5  # a degraded path recovers under threshold x this
    infrastructure_failures: int = 5  # consecutive faults that pause the relay
    complaint_review_rate: float = 0.001  # SES reviews at 0.1%: degraded
    complaint_pause_rate: float = 0.005  # SES may pause at 0.5%: paused
    complaint_min_deliveries: int = 1000  # to feedback-loop providers, within the window
    complaint_window: float = 86400.0
    infrastructure_cool_down: float = 30.0
    reputation_cool_down: float = 900.0
    max_cool_down: float = 21600.0
    canary: int = 5  # deliveries let through while probing

    def base_cool_down(self, cause: Cause) -> float:
        if cause.moves_traffic:
            return self.infrastructure_cool_down
        return self.reputation_cool_down


@dataclass(frozen=True, slots=True)
class PathHealth:
    """One path's state. `until` is when a pause may start probing (None: an operator
    pause, which waits for `relays resume`); `cool_down` is the length of the current or
    last pause (it doubles while pauses follow each other)."""

    state: HealthState
    cause: Cause
    since: float
    until: float | None = None
    cool_down: float = 0.0
    reason: str = ""
    canaries_ok: int = 0

    @property
    def holds(self) -> bool:
        """Deliveries of this path wait on it (paused or probing for a holding cause)."""
        return self.state in (HealthState.PAUSED, HealthState.PROBING) and (
            not self.cause.moves_traffic
        )

    @property
    def avoided(self) -> bool:
        """Deliveries go to the lane's other relays (an infrastructure pause)."""
        return self.state in (HealthState.PAUSED, HealthState.PROBING) and (
            self.cause.moves_traffic
        )


@dataclass(frozen=True, slots=True)
class Transition:
    """A change of one path's state, with its evidence."""

    relay: str
    provider: str
    before: PathHealth
    after: PathHealth
    evidence: dict[str, Any]
    actor: str = "auto"


def healthy(now: float, cool_down: float = 0.0) -> PathHealth:
    return PathHealth(HealthState.HEALTHY, Cause.NONE, now, cool_down=cool_down)


@dataclass
class _Minute:
    start: float
    attempts: int = 0
    blocks: int = 0
    deferrals: int = 0


@dataclass
class PathCounts:
    """Rolling counts of one path over the rules' window, in one-minute slices (adding
    and expiring are O(1)), the run of consecutive infrastructure faults, and the last
    few sample replies of each kind."""

    window: float
    attempts: int = 0
    blocks: int = 0
    deferrals: int = 0
    consecutive_faults: int = 0
    samples: dict[Signal, deque[str]] = field(default_factory=dict)
    _minutes: deque[_Minute] = field(default_factory=deque)

    def add(self, signal: Signal, now: float, reply: str = "") -> None:
        if signal is Signal.INFRA:
            self.consecutive_faults += 1
        else:
            self.consecutive_faults = 0
            self._expire(now)
            minute = self._current(now)
            minute.attempts += 1
            self.attempts += 1
            if signal is Signal.BLOCK:
                minute.blocks += 1
                self.blocks += 1
            elif signal is Signal.DEFERRAL:
                minute.deferrals += 1
                self.deferrals += 1
        if signal is not Signal.OK and reply:
            self.samples.setdefault(signal, deque(maxlen=MAX_SAMPLES)).append(reply[:300])

    def reset(self) -> None:
        """Forget the window (after a recovery, old blocks must not pause it again)."""
        self.attempts = self.blocks = self.deferrals = self.consecutive_faults = 0
        self._minutes.clear()
        self.samples.clear()

    def expire(self, now: float) -> None:
        self._expire(now)

    def _current(self, now: float) -> _Minute:
        start = now - now % MINUTE
        if not self._minutes or self._minutes[-1].start < start:
            self._minutes.append(_Minute(start))
        return self._minutes[-1]

    def _expire(self, now: float) -> None:
        while self._minutes and self._minutes[0].start + MINUTE <= now - self.window:
            old = self._minutes.popleft()
            self.attempts -= old.attempts
            self.blocks -= old.blocks
            self.deferrals -= old.deferrals


# -- decisions --------------------------------------------------------------------------
def after_observation(
    h: PathHealth, c: PathCounts, rules: HealthRules, now: float, provider: str
) -> tuple[PathHealth, dict[str, Any]] | None:
    """Judge a healthy or degraded path after an answer was added to its counts: the
    relay as a whole on consecutive infrastructure faults, a relay x provider pair on its
    block and deferral rates. Paused and probing paths are judged by `cool_down_over` and
    `after_canary` instead."""
    if h.state not in (HealthState.HEALTHY, HealthState.DEGRADED):
        return None
    if provider != RELAY_WIDE:
        return _judge_pair(h, c, rules, now, provider)
    if c.consecutive_faults >= rules.infrastructure_failures:
        ev = _evidence(c, rules)
        why = (
            f"paused the relay: {c.consecutive_faults} infrastructure failures in a row"
            f"{_sample(c, Signal.INFRA)}"
        )
        return pause(h, Cause.INFRASTRUCTURE, rules, now, why), ev
    return None


def _judge_pair(
    h: PathHealth, c: PathCounts, rules: HealthRules, now: float, label: str
) -> tuple[PathHealth, dict[str, Any]] | None:
    """A relay x provider pair: blocks pause it, deferrals degrade it."""
    block_rate = _rate(c.blocks, c.attempts, rules.block_min_attempts)
    if block_rate is not None and block_rate > rules.block_rate:
        why = (
            f"paused {label}: {block_rate:.1%} blocks over the last {c.attempts} attempts"
            f"{_sample(c, Signal.BLOCK)}"
        )
        return pause(h, Cause.REPUTATION, rules, now, why), _evidence(c, rules)
    return _judge_deferrals(h, c, rules, now, label)


def _judge_deferrals(
    h: PathHealth, c: PathCounts, rules: HealthRules, now: float, label: str
) -> tuple[PathHealth, dict[str, Any]] | None:
    rate = _rate(c.deferrals, c.attempts, rules.deferral_min_attempts)
    if rate is None:
        return None
    over = f"{rate:.1%} deferrals over the last {c.attempts} attempts"
    if h.state is HealthState.HEALTHY and rate > rules.deferral_rate:
        why = f"degraded {label}: {over}{_sample(c, Signal.DEFERRAL)}"
        after = PathHealth(HealthState.DEGRADED, Cause.DEFERRALS, now, None, h.cool_down, why)
        return after, _evidence(c, rules)
    if (
        h.state is HealthState.DEGRADED
        and h.cause is Cause.DEFERRALS
        and rate < rules.deferral_rate * rules.recover_below
    ):
        why = f"recovered {label}: {over}"
        return replace(healthy(now, h.cool_down), reason=why), _evidence(c, rules)
    return None


def after_complaints(
    h: PathHealth,
    complaints: int,
    deliveries: int,
    rules: HealthRules,
    now: float,
    provider: str,
) -> tuple[PathHealth, dict[str, Any]] | None:
    """Judge a path's complaint rate: complaints over deliveries to feedback-loop
    providers in the complaint window, only once there are enough deliveries (one
    complaint out of 200 is noise)."""
    if deliveries < rules.complaint_min_deliveries:
        return None
    rate = complaints / deliveries
    hours = rules.complaint_window / 3600
    over = f"{rate:.2%} complaints over {deliveries} deliveries in {hours:g}h"
    ev = {"complaints": complaints, "deliveries": deliveries, "complaint_rate": round(rate, 6),
          "window_seconds": rules.complaint_window}  # fmt: skip
    active = h.state in (HealthState.HEALTHY, HealthState.DEGRADED)
    if active and rate > rules.complaint_pause_rate:
        return pause(h, Cause.COMPLAINTS, rules, now, f"paused {provider}: {over}"), ev
    if h.state is HealthState.HEALTHY and rate > rules.complaint_review_rate:
        why = f"degraded {provider}: {over} (review threshold {rules.complaint_review_rate:.1%})"
        return PathHealth(HealthState.DEGRADED, Cause.COMPLAINTS, now, None, h.cool_down, why), ev
    if (
        h.state is HealthState.DEGRADED
        and h.cause is Cause.COMPLAINTS
        and rate < rules.complaint_review_rate * rules.recover_below
    ):
        return replace(healthy(now, h.cool_down), reason=f"recovered {provider}: {over}"), ev
    return None


def cool_down_over(h: PathHealth, now: float) -> PathHealth | None:
    """A pause whose cool-down has passed starts probing."""
    if h.state is not HealthState.PAUSED or h.until is None or now < h.until:
        return None
    why = f"probing after {h.cool_down:g}s: a few canary deliveries go through"
    return replace(h, state=HealthState.PROBING, since=now, until=None, reason=why,
                   canaries_ok=0)  # fmt: skip


def after_canary(
    h: PathHealth, signal: Signal, rules: HealthRules, now: float, reply: str = ""
) -> PathHealth | None:
    """A canary's answer: a failure of the kind that paused the path pauses it again for
    twice as long; `rules.canary` good answers make it healthy (it then resumes
    gradually through AIMD)."""
    if h.state is not HealthState.PROBING:
        return None
    failed = signal is Signal.INFRA if h.cause.moves_traffic else signal is Signal.BLOCK
    if failed:
        cool_down = min(h.cool_down * 2, rules.max_cool_down)
        why = f"paused again: a canary failed ({reply[:200]}); next probe in {cool_down:g}s"
        return PathHealth(HealthState.PAUSED, h.cause, now, now + cool_down, cool_down, why)
    ok = h.canaries_ok + 1
    if ok < rules.canary:
        return replace(h, canaries_ok=ok)
    why = f"healthy: {ok} canary deliveries answered well after a {h.cause.value} pause"
    return replace(healthy(now, h.cool_down), reason=why)


def operator_pause(h: PathHealth, now: float, who: str, note: str, failover: bool) -> PathHealth:
    cause = Cause.MAINTENANCE if failover else Cause.OPERATOR
    action = "moved to the lane's other relays" if failover else "held"
    why = f"paused by {who}: {note or 'no reason given'}; deliveries are {action}"
    return PathHealth(HealthState.PAUSED, cause, now, None, h.cool_down, why)


def operator_resume(h: PathHealth, now: float, who: str) -> PathHealth:
    return replace(healthy(now, h.cool_down), reason=f"resumed by {who}")


# -- helpers ------------------------------------------------------------------------------
def pause(h: PathHealth, cause: Cause, rules: HealthRules, now: float, why: str) -> PathHealth:
    """A new pause: the cause's base cool-down, or twice the last one when the path paused
    again soon after recovering (within the longest cool-down)."""
    base = rules.base_cool_down(cause)
    recent = h.cool_down >= base and now - h.since < rules.max_cool_down
    cool_down = min(h.cool_down * 2, rules.max_cool_down) if recent else base
    why = f"{why}; probing in {cool_down:g}s"
    return PathHealth(HealthState.PAUSED, cause, now, now + cool_down, cool_down, why)


def _rate(part: int, total: int, minimum: int) -> float | None:
    return part / total if total >= minimum and total > 0 else None


def _sample(c: PathCounts, signal: Signal) -> str:
    found = c.samples.get(signal)
    return f"; sample: {found[-1]}" if found else ""


def _evidence(c: PathCounts, rules: HealthRules) -> dict[str, Any]:
    return {
        "window_seconds": rules.window,
        "attempts": c.attempts,
        "blocks": c.blocks,
        "block_rate": round(c.blocks / c.attempts, 6) if c.attempts else 0.0,
        "deferrals": c.deferrals,
        "deferral_rate": round(c.deferrals / c.attempts, 6) if c.attempts else 0.0,
        "consecutive_failures": c.consecutive_faults,
        "samples": {s.value: list(r) for s, r in c.samples.items()},
    }
