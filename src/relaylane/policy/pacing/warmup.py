"""Warm-up: each warming path may send at most its current step's volume per day.

A path is a relay (store path "") or, with scope "relay_and_domain", also one sending
domain × provider on that relay (store path "domain|provider"). Step i allows
`schedule[i]` messages per local day (every attempt offered to the receiver counts).
The step advances only when, since it started,

- at least `step_period` (one day) has passed (the calendar alone is not enough),
- at least `min_sent_ratio` × the step's volume was actually accepted, and
- the deferral and block rates (over accepted + deferred + blocked) are at most
  `max_deferral_rate` and `max_block_rate`.

A path that sent nothing for `step_back_after_idle` steps back one step per idle period.
The last step is the ceiling. Every function is pure and returns a new state; the
transitions also return a reason sentence for the pacing event log (action "warmup").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from enum import StrEnum

from relaylane.policy.pacing.caps import Period, period_end, period_start
from relaylane.policy.pacing.zones import UTC_NAME, check_time, zone
from relaylane.policy.vocabulary import Outcome

__all__ = [
    "DEFAULT_STEP_PERIOD",
    "RELAY_PATH",
    "Spill",
    "WarmupPolicy",
    "WarmupScope",
    "WarmupState",
    "advance_at",
    "choose_relay",
    "maybe_advance",
    "next_open",
    "offered_today",
    "path_key",
    "record",
    "room",
    "step_back",
    "update",
    "volume",
    "warmup_paths",
]

DEFAULT_STEP_PERIOD = 86_400.0  # one step ≈ one day
RELAY_PATH = ""  # the store's path for the relay itself


class WarmupScope(StrEnum):
    """What is warmed separately."""

    RELAY = "relay"  # each relay (its IPs)
    RELAY_AND_DOMAIN = "relay_and_domain"  # each relay, and each sending domain × provider on it


class Spill(StrEnum):
    """Where mail goes when a path has no warm-up room left today."""

    LANE = "lane"  # to the lane's other relays that send for the same domain
    HOLD = "hold"  # it waits for its own path's room


def path_key(domain: str, provider: str) -> str:
    """The store's path for a sending domain × provider: "news.acme.test|google"."""
    return f"{domain}|{provider}"


def warmup_paths(scope: WarmupScope | str, domain: str, provider: str) -> tuple[str, ...]:
    """The paths (on one relay) a delivery from `domain` to `provider` must have room on."""
    if WarmupScope(scope) is WarmupScope.RELAY:
        return (RELAY_PATH,)
    return (RELAY_PATH, path_key(domain, provider))


@dataclass(frozen=True, slots=True)
class WarmupPolicy:
    """A warm-up schedule and when its steps move (times in seconds)."""

    schedule: tuple[int, ...]
    min_sent_ratio: float = 0.8
    max_deferral_rate: float = 0.05
    max_block_rate: float = 0.01
    step_back_after_idle: float = 3 * 86_400.0
    step_period: float = DEFAULT_STEP_PERIOD
    timezone: str = UTC_NAME  # where days begin

    def __post_init__(self) -> None:
        problems = []
        if not self.schedule or any(
            isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in self.schedule
        ):
            problems.append(f"schedule must list whole numbers >= 1, got {self.schedule!r}")
        elif any(b < a for a, b in zip(self.schedule, self.schedule[1:], strict=False)):
            problems.append(f"schedule must never decrease, got {self.schedule!r}")
        for name in ("min_sent_ratio", "max_deferral_rate", "max_block_rate"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and 0 <= value <= 1):
                problems.append(f"{name} must be between 0 and 1, got {value!r}")
        for name in ("step_back_after_idle", "step_period"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                problems.append(f"{name} must be a positive number of seconds, got {value!r}")
        if problems:
            raise ValueError("; ".join(problems))
        zone(self.timezone)

    @property
    def last_step(self) -> int:
        return len(self.schedule) - 1


@dataclass(frozen=True, slots=True)
class WarmupState:
    """One path's progress. Counts since the step started, and attempts in the local day
    that began at `day_start`."""

    step: int = 0
    sent_in_step: int = 0  # accepted by the receiver
    deferrals: int = 0
    blocks: int = 0
    last_sent_at: float | None = None  # the last attempt of any kind
    step_started_at: float | None = None  # None: never used; starts at its first attempt
    day_start: float | None = None
    offered_today: int = 0  # every attempt today counts against the day's volume


def volume(state: WarmupState, policy: WarmupPolicy) -> int:
    """Messages per day the current step allows."""
    return policy.schedule[min(max(state.step, 0), policy.last_step)]


def offered_today(state: WarmupState, policy: WarmupPolicy, now: float) -> int:
    """Attempts counted in the local day containing `now`."""
    day = period_start(now, policy.timezone, Period.DAY)
    return state.offered_today if state.day_start == day else 0


def room(state: WarmupState, policy: WarmupPolicy, now: float) -> int:
    """How many more attempts the path may make today."""
    return max(0, volume(state, policy) - offered_today(state, policy, now))


def record(
    state: WarmupState, policy: WarmupPolicy, now: float, outcome: Outcome, n: int = 1
) -> WarmupState:
    """Count `n` attempts with `outcome` at `now`. SENT counts toward advancing; DEFERRED
    and BLOCKED toward the rates; every outcome that reached the receiver counts against
    today's volume. RELAY_FAULT and SUPPRESSED never reached it and change nothing."""
    now = check_time(now)
    if n <= 0 or outcome in (Outcome.RELAY_FAULT, Outcome.SUPPRESSED):
        return state
    day = period_start(now, policy.timezone, Period.DAY)
    return replace(
        state,
        sent_in_step=state.sent_in_step + (n if outcome is Outcome.SENT else 0),
        deferrals=state.deferrals + (n if outcome is Outcome.DEFERRED else 0),
        blocks=state.blocks + (n if outcome is Outcome.BLOCKED else 0),
        last_sent_at=now if state.last_sent_at is None else max(state.last_sent_at, now),
        step_started_at=now if state.step_started_at is None else state.step_started_at,
        day_start=day,
        offered_today=offered_today(state, policy, now) + n,
    )


def _rates(state: WarmupState) -> tuple[float, float]:
    attempts = state.sent_in_step + state.deferrals + state.blocks
    if attempts <= 0:
        return 0.0, 0.0
    return state.deferrals / attempts, state.blocks / attempts


def _held_by(state: WarmupState, policy: WarmupPolicy) -> str | None:
    """Why the step cannot advance on volume and rates (None: it can, once due)."""
    if state.step >= policy.last_step:
        return f"at the last step ({volume(state, policy)}/day)"
    needed = policy.min_sent_ratio * volume(state, policy)
    if state.sent_in_step < needed:
        return f"sent {state.sent_in_step} of the {math.ceil(needed)} needed to advance"
    deferral_rate, block_rate = _rates(state)
    if deferral_rate > policy.max_deferral_rate:
        return (
            f"deferral rate {deferral_rate:.1%} is above max_deferral_rate "
            f"{policy.max_deferral_rate:.1%}"
        )
    if block_rate > policy.max_block_rate:
        return f"block rate {block_rate:.1%} is above max_block_rate {policy.max_block_rate:.1%}"
    return None


def advance_at(state: WarmupState, policy: WarmupPolicy) -> float | None:
    """When the step will advance if nothing else changes (None: not on volume and rates)."""
    if state.step_started_at is None or _held_by(state, policy) is not None:
        return None
    return state.step_started_at + policy.step_period


def maybe_advance(state: WarmupState, policy: WarmupPolicy, now: float) -> tuple[WarmupState, str]:
    """Advance one step if due; the reason says what happened or what holds it."""
    now = check_time(now)
    held = _held_by(state, policy)
    if held is not None:
        return state, f"holding at step {state.step + 1}: {held}"
    due = advance_at(state, policy)
    if due is None or now < due:
        return state, f"holding at step {state.step + 1}: the step has not lasted a day yet"
    deferral_rate, block_rate = _rates(state)
    new = replace(
        state, step=state.step + 1, sent_in_step=0, deferrals=0, blocks=0, step_started_at=now
    )
    return new, (
        f"advanced to step {new.step + 1} ({volume(new, policy)}/day): sent "
        f"{state.sent_in_step}, deferrals {deferral_rate:.1%}, blocks {block_rate:.1%}"
    )


def step_back(state: WarmupState, policy: WarmupPolicy, now: float) -> tuple[WarmupState, str]:
    """Step back one step per full `step_back_after_idle` without any attempt."""
    now = check_time(now)
    anchors = [t for t in (state.last_sent_at, state.step_started_at) if t is not None]
    if state.step <= 0 or not anchors:
        return state, ""
    since = max(anchors)
    periods = math.floor((now - since) / policy.step_back_after_idle)
    if periods < 1:
        return state, ""
    step = max(0, min(state.step, policy.last_step) - periods)
    new = replace(
        state,
        step=step,
        sent_in_step=0,
        deferrals=0,
        blocks=0,
        step_started_at=since + periods * policy.step_back_after_idle,
    )
    return new, (
        f"stepped back to step {step + 1} ({volume(new, policy)}/day) after "
        f"{(now - since) / 86400:.1f} idle days"
    )


def update(state: WarmupState, policy: WarmupPolicy, now: float) -> tuple[WarmupState, str]:
    """Step back after idleness, then advance if due: call before using a path."""
    state, back = step_back(state, policy, now)
    if back:
        return state, back
    new, reason = maybe_advance(state, policy, now)
    return new, reason if new is not state else ""


def next_open(state: WarmupState, policy: WarmupPolicy, now: float) -> float:
    """`now` if the path has room (after `update`), else when it may next: the next local
    day or the moment the step advances, whichever comes first."""
    state, _ = update(state, policy, now)
    if room(state, policy, now) > 0:
        return float(now)
    day_end = period_end(now, policy.timezone, Period.DAY)
    due = advance_at(state, policy)
    return min(day_end, due) if due is not None and due > now else day_end


def choose_relay(spill: Spill | str, preferred: str, rooms: dict[str, int]) -> str | None:
    """Which relay takes a delivery: `preferred` while it has room; otherwise, with spill
    "lane", the first other relay (in `rooms` order) with room; None: it waits."""
    if rooms.get(preferred, 0) > 0:
        return preferred
    if Spill(spill) is Spill.HOLD:
        return None
    return next((name for name, left in rooms.items() if left > 0), None)
