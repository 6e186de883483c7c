"""Adaptive backoff per relay × provider: multiplicative decrease, additive increase.

A reply (or provider event) whose text matches a provider rule acts on that pair:

- slow: the rate is multiplied by the rule's `factor` (never below the floor) and held
  there for the rule's `duration`. Replies already in flight when the rate dropped report
  the same congestion, so within `recover_every` of a decrease a further match only
  extends the hold (TCP decreases once per round trip for the same reason).
- suspend: the pair sends nothing until now + `duration` (a later match may extend it).

Recovery is additive and only starts when the hold (and any suspension) is over: every
`recover_every` the rate gains `recover_step` × the base rate, up to the base; it never
snaps back. Every change is recorded as a `Change` with its cause; the actions are the
store's vocabulary: slow, suspend, recover.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from relaylane.policy.pacing.zones import check_time

__all__ = [
    "MAX_CAUSE",
    "MAX_CHANGES",
    "Backoff",
    "Change",
    "ChangeAction",
    "PathRate",
    "Rule",
    "RuleAction",
    "effective_rate",
    "first_rule",
    "next_change_at",
    "on_reply",
    "recover",
]

MAX_CHANGES = 200  # changes kept on a PathRate (the store keeps them all)
MAX_CAUSE = 1000  # characters of reply text kept as a change's cause
_FULL = 1.0 - 1e-9  # a factor this close to 1 is the base rate


class RuleAction(StrEnum):
    """What a matching provider rule does to its relay × provider pair."""

    SLOW = "slow"  # multiply the rate by `factor` and hold it for `duration`
    SUSPEND = "suspend"  # send nothing for `duration`


class ChangeAction(StrEnum):
    """A recorded change (the pacing event log's `action`)."""

    SLOW = "slow"
    SUSPEND = "suspend"
    RECOVER = "recover"


@dataclass(frozen=True, slots=True)
class Rule:
    """One adaptive-backoff rule: `pattern` searched in the reply or event text."""

    pattern: re.Pattern[str]
    action: RuleAction
    factor: float = 0.5
    duration: float = 1800.0

    @classmethod
    def of(
        cls, match: str, action: RuleAction | str, factor: float = 0.5, duration: float = 1800.0
    ) -> Rule:
        """A rule from its configuration: `match` is matched case-insensitively."""
        return cls(re.compile(match, re.IGNORECASE), RuleAction(action), factor, duration)


@dataclass(frozen=True, slots=True)
class Backoff:
    """How low a pair may be slowed (messages/s) and how it recovers."""

    floor: float = 1 / 60
    recover_step: float = 0.1  # fraction of the base rate regained per step
    recover_every: float = 300.0  # seconds between steps

    def __post_init__(self) -> None:
        if not (math.isfinite(self.floor) and self.floor > 0):
            raise ValueError(f"floor must be a positive rate, got {self.floor!r}")
        if not (0 < self.recover_step <= 1):
            raise ValueError(f"recover_step must be in (0, 1], got {self.recover_step!r}")
        if not (math.isfinite(self.recover_every) and self.recover_every > 0):
            raise ValueError(f"recover_every must be positive, got {self.recover_every!r}")


@dataclass(frozen=True, slots=True)
class Change:
    """One change to a pair's rate: when, why (the reply text), what, the rate after it
    (messages/s; 0 while suspended) and until when a slow is held or a suspension lasts."""

    at: float
    cause: str
    action: ChangeAction
    rate: float
    until: float | None = None


@dataclass(frozen=True, slots=True)
class PathRate:
    """A relay × provider pair's rate: `base` (messages/s) × `factor`."""

    base: float
    backoff: Backoff = Backoff()
    factor: float = 1.0
    held_until: float | None = None  # no recovery before this
    suspended_until: float | None = None
    last_decrease: float | None = None
    next_step_at: float | None = None  # the next recovery step; None at the base rate
    changes: tuple[Change, ...] = ()

    def __post_init__(self) -> None:
        if not (math.isfinite(self.base) and self.base > 0):
            raise ValueError(f"base must be a positive, finite rate, got {self.base!r}")
        if not (0 < self.factor <= 1):
            raise ValueError(f"factor must be in (0, 1], got {self.factor!r}")

    @property
    def floor_factor(self) -> float:
        return min(1.0, self.backoff.floor / self.base)


def first_rule(text: str, rules: Sequence[Rule]) -> Rule | None:
    """The first rule whose pattern is found in `text`."""
    return next((rule for rule in rules if rule.pattern.search(text)), None)


def _steps_due(path: PathRate, now: float) -> int:
    if path.next_step_at is None or now < path.next_step_at:
        return 0
    return math.floor((now - path.next_step_at) / path.backoff.recover_every) + 1


def _factor_after(path: PathRate, steps: int) -> float:
    factor = path.factor + steps * path.backoff.recover_step
    return 1.0 if factor >= _FULL else factor


def _steps_to_full(path: PathRate) -> int:
    if path.factor >= 1.0:
        return 0
    steps = max(1, math.ceil((_FULL - path.factor) / path.backoff.recover_step))
    while steps > 1 and _factor_after(path, steps - 1) >= 1.0:
        steps -= 1
    while _factor_after(path, steps) < 1.0:
        steps += 1
    return steps


def effective_rate(path: PathRate, now: float) -> float:
    """Messages per second the pair may send at `now` (0 while suspended)."""
    now = check_time(now)
    if path.suspended_until is not None and now < path.suspended_until:
        return 0.0
    return path.base * _factor_after(path, _steps_due(path, now))


def next_change_at(path: PathRate, now: float) -> float | None:
    """When the effective rate changes next by itself (end of a suspension or the next
    recovery step); None when it stays as it is."""
    now = check_time(now)
    if path.suspended_until is not None and now < path.suspended_until:
        return path.suspended_until
    if path.next_step_at is None:
        return None
    return path.next_step_at + _steps_due(path, now) * path.backoff.recover_every


def recover(path: PathRate, now: float) -> PathRate:
    """Apply the recovery steps (and the end of a suspension) due by `now`, each recorded."""
    now = check_time(now)
    changes = list(path.changes)
    suspended_until = path.suspended_until
    if suspended_until is not None and now >= suspended_until:
        rate = path.base * path.factor
        changes.append(Change(suspended_until, "suspension over", ChangeAction.RECOVER, rate))
        suspended_until = None
    steps = min(_steps_due(path, now), _steps_to_full(path))
    start = path.next_step_at
    for index in range(max(0, steps - MAX_CHANGES), steps):  # older ones would be dropped
        assert start is not None
        at = start + index * path.backoff.recover_every
        cause = f"recovery step {index + 1}: +{path.backoff.recover_step:.0%} of the base rate"
        rate = path.base * _factor_after(path, index + 1)
        changes.append(Change(at, cause, ChangeAction.RECOVER, rate))
    factor = _factor_after(path, steps)
    next_step_at = path.next_step_at
    if factor >= 1.0:
        next_step_at = None
    elif start is not None:
        next_step_at = start + steps * path.backoff.recover_every
    return replace(
        path,
        factor=factor,
        next_step_at=next_step_at,
        suspended_until=suspended_until,
        changes=tuple(changes[-MAX_CHANGES:]),
    )


def on_reply(
    path: PathRate, text: str, rules: Sequence[Rule], now: float
) -> tuple[PathRate, Change | None]:
    """Apply the first rule matching `text`; (path brought up to `now`, None) if none does."""
    path = recover(path, check_time(now))
    rule = first_rule(text, rules)
    if rule is None:
        return path, None
    cause = text[:MAX_CAUSE]
    if rule.action is RuleAction.SUSPEND:
        return _suspend(path, rule, cause, now)
    return _slow(path, rule, cause, now)


def _suspend(path: PathRate, rule: Rule, cause: str, now: float) -> tuple[PathRate, Change]:
    until = _latest(now + rule.duration, path.suspended_until)
    next_step = None if path.next_step_at is None else max(path.next_step_at, until)
    change = Change(now, cause, ChangeAction.SUSPEND, 0.0, until)
    new = replace(path, suspended_until=until, next_step_at=next_step)
    return _with_change(new, change), change


def _slow(path: PathRate, rule: Rule, cause: str, now: float) -> tuple[PathRate, Change]:
    recent = (
        path.last_decrease is not None and now - path.last_decrease < path.backoff.recover_every
    )
    factor = path.factor if recent else max(path.floor_factor, path.factor * rule.factor)
    held = _latest(now + rule.duration, path.held_until, path.suspended_until)
    next_step = held if factor < _FULL else None
    suspended = path.suspended_until is not None and now < path.suspended_until
    change = Change(now, cause, ChangeAction.SLOW, 0.0 if suspended else path.base * factor, held)
    new = replace(
        path,
        factor=1.0 if factor >= _FULL else factor,
        held_until=held,
        last_decrease=path.last_decrease if recent else now,
        next_step_at=next_step,
    )
    return _with_change(new, change), change


def _latest(first: float, *others: float | None) -> float:
    return max([first, *(t for t in others if t is not None)])


def _with_change(path: PathRate, change: Change) -> PathRate:
    return replace(path, changes=(*path.changes, change)[-MAX_CHANGES:])
