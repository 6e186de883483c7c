"""Queue control, the pure half: which deliveries an operator's filter selects, and which
states each queue action may change. Shared by `relaylane queue`, `/v1/queue` and the
store (`relaylane.store.queue_control`), which turns a `QueueFilter` into SQL.

A filter is validated here, against the configuration's lanes and relays, with errors
that name the option and say how to fix it. A delivery in `sending` (claimed, in flight
under a lease) is never selected by an action, whatever the filter says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from relaylane.config.durations import DurationError, parse_duration
from relaylane.errors import InputError
from relaylane.policy.vocabulary import DeliveryState

__all__ = [
    "ACTION_STATES",
    "CONFIRM_OVER",
    "DEAD_LETTER_STATES",
    "LISTED_STATES",
    "WAITING_STATES",
    "QueueAction",
    "QueueFilter",
    "action_states",
    "parse_filter",
]

# Above this many deliveries, an action asks for confirmation (`--yes` skips it).
CONFIRM_OVER = 1000

# Deliveries that wait to be sent (claimable now or later, or held).
WAITING_STATES = (
    DeliveryState.QUEUED,
    DeliveryState.DEFERRED,
    DeliveryState.BLOCKED,
    DeliveryState.HELD,
)
# What `queue list` shows without --state: everything not final, in flight included.
LISTED_STATES = (*WAITING_STATES, DeliveryState.SENDING)
# The dead letters: failed deliveries (expired, unclassified permanent refusals, relay
# and protocol errors). "unclassified" is a bounce class of `failed`, not a state.
DEAD_LETTER_STATES = (DeliveryState.FAILED,)


class QueueAction(StrEnum):
    """What an operator does to the deliveries a filter selects."""

    HOLD = "hold"  # waiting -> held by the operator (no due time: never claimed)
    RELEASE = "release"  # held by an operator -> queued, due now
    REQUEUE = "requeue"  # deferred or blocked -> due now, on their own relay
    CANCEL = "cancel"  # waiting -> cancelled (final)
    RETRY = "retry"  # failed (not a campaign's) -> queued, due now

    @property
    def past(self) -> str:
        """The effect's name in counts and the audit log: "held", "released", ..."""
        return _PAST[self]


_PAST = {
    QueueAction.HOLD: "held",
    QueueAction.RELEASE: "released",
    QueueAction.REQUEUE: "requeued",
    QueueAction.CANCEL: "cancelled",
    QueueAction.RETRY: "retried",
}

# The states each action may change (a filter's --state narrows them, never widens).
ACTION_STATES: dict[QueueAction, tuple[DeliveryState, ...]] = {
    # `held` here: what health, a window or a campaign holds becomes the operator's hold
    QueueAction.HOLD: WAITING_STATES,
    QueueAction.RELEASE: (DeliveryState.HELD,),
    QueueAction.REQUEUE: (DeliveryState.DEFERRED, DeliveryState.BLOCKED),
    QueueAction.CANCEL: WAITING_STATES,
    QueueAction.RETRY: DEAD_LETTER_STATES,
}


@dataclass(frozen=True, slots=True)
class QueueFilter:
    """Deliveries matching every given part (None/empty: any)."""

    lane: str | None = None
    relay: str | None = None
    provider: str | None = None  # the provider group the delivery was last routed to
    domain: str | None = None  # the recipient's domain, lower case
    campaign: str | None = None  # a campaign's name
    states: tuple[DeliveryState, ...] = ()
    older_than: float | None = None  # seconds since created_at

    def as_args(self) -> dict[str, Any]:
        """The filter as the audit log records it (JSON-ready, only what was given)."""
        out: dict[str, Any] = {}
        for name in ("lane", "relay", "provider", "domain", "campaign", "older_than"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        if self.states:
            out["state"] = ",".join(s.value for s in self.states)
        return out

    @property
    def empty(self) -> bool:
        return not self.as_args()


def _option(name: str, cli: bool) -> str:
    return f"--{name.replace('_', '-')}" if cli else name


def _check_name(option: str, what: str, value: str | None, known: Sequence[str]) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if value not in known:
        listed = ", ".join(known) or "none are configured"
        raise InputError(option, f'no {what} named "{value}"', f"use one of the {what}s: {listed}")
    return value


def _states(option: str, value: str | Sequence[str] | None) -> tuple[DeliveryState, ...]:
    if value is None:
        return ()
    parts = value.split(",") if isinstance(value, str) else [p for v in value for p in v.split(",")]
    out: list[DeliveryState] = []
    for part in parts:
        name = part.strip().lower()
        if not name:
            continue
        try:
            state = DeliveryState(name)
        except ValueError:
            known = ", ".join(s.value for s in DeliveryState)
            raise InputError(
                option,
                f'unknown delivery state "{part.strip()}"',
                f"use one or more of {known}, separated by commas",
            ) from None
        if state not in out:
            out.append(state)
    return tuple(out)


def _older_than(option: str, value: str | float | None) -> float | None:
    if value is None or value == "":
        return None
    try:
        seconds = parse_duration(value)
    except DurationError as exc:
        raise InputError(
            option, f"{value!r} is not a duration", 'use a duration like "30m", "1h" or "2d"'
        ) from exc
    return seconds


def _domain(option: str, value: str | None) -> str | None:
    if value is None:
        return None
    domain = value.strip().lower().lstrip("@")
    if not domain or any(c in domain for c in " @%_*\\") or "." not in domain.strip("."):
        raise InputError(
            option,
            f'"{value}" is not a domain',
            'give the recipient domain alone, like "example.com" (no "@", no wildcards)',
        )
    return domain


def _plain(option: str, value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        raise InputError(option, "is empty", f"leave {option} out, or give a value")
    return text


def parse_filter(
    *,
    lanes: Sequence[str],
    relays: Sequence[str],
    lane: str | None = None,
    relay: str | None = None,
    provider: str | None = None,
    domain: str | None = None,
    campaign: str | None = None,
    state: str | Sequence[str] | None = None,
    older_than: str | float | None = None,
    cli: bool = True,
) -> QueueFilter:
    """A validated filter. `lanes` and `relays` are the configured names; `cli` names
    options as the command line spells them (--older-than), else as the API does."""
    return QueueFilter(
        lane=_check_name(_option("lane", cli), "lane", lane, lanes),
        relay=_check_name(_option("relay", cli), "relay", relay, relays),
        provider=_plain(_option("provider", cli), provider),
        domain=_domain(_option("domain", cli), domain),
        campaign=_plain(_option("campaign", cli), campaign),
        states=_states(_option("state", cli), state),
        older_than=_older_than(_option("older_than", cli), older_than),
    )


def action_states(
    action: QueueAction, where: QueueFilter, cli: bool = True
) -> tuple[DeliveryState, ...]:
    """The states `action` changes under `where`: its own, narrowed by --state. A --state
    the action never changes is an error (it would silently change nothing)."""
    own = ACTION_STATES[action]
    if not where.states:
        return own
    outside = [s.value for s in where.states if s not in own]
    if outside:
        allowed = ", ".join(s.value for s in own)
        raise InputError(
            _option("state", cli),
            f"{action.value} never changes deliveries that are {', '.join(outside)}",
            f"leave {_option('state', cli)} out, or use only {allowed}",
        )
    return tuple(s for s in own if s in where.states)
