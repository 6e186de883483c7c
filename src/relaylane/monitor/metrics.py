"""The closed vocabulary of metric names, and what one attempt counts as. Pure.

Every count relaylane keeps is one of the `Metric` members, or one of two parametrised
families: `bounced:<bounce class>` (one per `BounceClass`) and `latency_le:<bound>` (the
delivery latency histogram, one per `LATENCY_BOUNDS` entry). `is_metric` says whether a
name belongs to the vocabulary; the store refuses any other.
"""

from __future__ import annotations

import functools
import math
from enum import StrEnum

from relaylane.policy.vocabulary import BounceClass, Outcome, Stage

__all__ = [
    "BOUNCED_PREFIX",
    "LATENCY_BOUNDS",
    "LATENCY_PREFIX",
    "Metric",
    "bounced",
    "is_metric",
    "latency_bucket",
    "latency_bucket_bound",
    "metrics_of_attempt",
]


class Metric(StrEnum):
    """A count kept per minute and per relay, provider, lane and campaign."""

    # -- attempts at a relay (one SMTP transaction about one delivery) ------------------
    ATTEMPTS = "attempts"  # every attempt that talked to (or tried to reach) a relay
    ANSWERED = "answered"  # attempts the relay judged the message: not a relay fault
    SENT = "sent"  # the relay accepted the message (2xx after the final dot)
    DEFERRED = "deferred"  # a temporary refusal (4xx at RCPT/DATA): retried on the same relay
    BLOCKED = "blocked"  # a reputation or policy refusal: held on the same relay
    FAILED = "failed"  # permanent, not about the address (too large, expired, protocol, ...)
    SUPPRESSED = "suppressed"  # not sent: the address is suppressed (a local decision)
    # -- relay faults (the relay failed, not the message): exactly one kind each --------
    RELAY_FAULTS = "relay_faults"  # every attempt ending in a relay fault (failover)
    CONN_FAILURES = "conn_failures"  # refused, timed out, dropped, 421 closing, no reply
    TLS_FAILURES = "tls_failures"  # STARTTLS refused or the TLS handshake failed
    AUTH_FAILURES = "auth_failures"  # AUTH refused, or no usable AUTH mechanism
    THROTTLED = "throttled"  # the relay or receiver throttles us (class rate_limited)
    RELAY_CONFIG = "relay_config"  # relay account/config error (relay denied, sender refused)
    # -- what comes back later (DSNs, ARF reports, provider webhooks) -------------------
    DELIVERED = "delivered"  # a DSN or a provider event reports final delivery
    COMPLAINTS = "complaints"  # the recipient reported the message as spam
    UNSUBSCRIBES = "unsubscribes"  # the recipient unsubscribed through the provider
    # -- engagement (tracking is not built yet: the names are reserved) ------------------
    OPENS = "opens"  # opens by people
    OPENS_MACHINE = "opens_machine"  # opens by machines (privacy proxies): kept out of health
    CLICKS = "clicks"  # clicks by people
    CLICKS_SCANNER = "clicks_scanner"  # clicks by link scanners: kept out of health
    # -- delivery latency: submit -> relay accepted (see LATENCY_BOUNDS) ------------------
    LATENCY_COUNT = "latency_count"  # accepted deliveries measured
    LATENCY_SUM_MS = "latency_sum_ms"  # their summed latency, whole milliseconds


BOUNCED_PREFIX = "bounced:"  # bounced:<BounceClass>: refused for the address, by class
LATENCY_PREFIX = "latency_le:"  # latency_le:<bound>: latencies in (previous bound, bound]

# Upper bounds (seconds) of the latency histogram's buckets; the last one is unbounded.
# Latency runs from submission to the relay's acceptance, so it includes queueing and
# retries: the bounds reach from 50 ms to three days.
LATENCY_BOUNDS: tuple[float, ...] = (
    0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200,
    21600, 86400, 259200, math.inf,
)  # fmt: skip


def _bound_name(bound: float) -> str:
    return LATENCY_PREFIX + ("inf" if math.isinf(bound) else format(bound, "g"))


_LATENCY_NAMES: tuple[str, ...] = tuple(_bound_name(b) for b in LATENCY_BOUNDS)
_BOUND_OF_NAME: dict[str, float] = dict(zip(_LATENCY_NAMES, LATENCY_BOUNDS, strict=True))
_BOUNCED_NAMES: dict[BounceClass, str] = {c: BOUNCED_PREFIX + c.value for c in BounceClass}
_KNOWN: frozenset[str] = frozenset(
    {m.value for m in Metric} | set(_LATENCY_NAMES) | set(_BOUNCED_NAMES.values())
)


def bounced(bounce_class: BounceClass) -> str:
    """The metric for a bounce of `bounce_class`: "bounced:invalid_recipient"."""
    return _BOUNCED_NAMES[bounce_class]


def latency_bucket(seconds: float) -> str:
    """The histogram bucket a latency of `seconds` falls in: the first bound >= it
    (negative latencies, from clock steps, count as 0)."""
    for name, bound in zip(_LATENCY_NAMES, LATENCY_BOUNDS, strict=True):
        if seconds <= bound:
            return name
    return _LATENCY_NAMES[-1]  # NaN


def latency_bucket_bound(name: str) -> float | None:
    """The upper bound of a `latency_le:` bucket, None for any other name."""
    return _BOUND_OF_NAME.get(name)


def is_metric(name: str) -> bool:
    """True for a name of the vocabulary (the members and both families)."""
    return name in _KNOWN


# Attempts that never reached a relay: a local decision, or a later report.
_NOT_AT_A_RELAY = frozenset({Stage.LOCAL, Stage.REPORT})

_OUTCOME_METRIC: dict[Outcome, Metric] = {
    Outcome.SENT: Metric.SENT,
    Outcome.DEFERRED: Metric.DEFERRED,
    Outcome.BLOCKED: Metric.BLOCKED,
    Outcome.FAILED: Metric.FAILED,
    Outcome.SUPPRESSED: Metric.SUPPRESSED,
    Outcome.RELAY_FAULT: Metric.RELAY_FAULTS,
}


def _fault_kind(stage: Stage, bounce_class: BounceClass) -> Metric:
    """Which kind of relay fault an attempt had (one kind per fault)."""
    if bounce_class is BounceClass.RATE_LIMITED:
        return Metric.THROTTLED
    if stage is Stage.STARTTLS:
        return Metric.TLS_FAILURES
    if stage is Stage.AUTH:
        return Metric.AUTH_FAILURES
    if bounce_class is BounceClass.RELAY_CONFIG:
        return Metric.RELAY_CONFIG
    return Metric.CONN_FAILURES


def _class_metric(bounce_class: BounceClass) -> Metric | None:
    """Throttling and relay configuration counted from an answer that was no fault (a
    4.2.1 "receiving too fast" deferral, a held "sending paused" from a text rule)."""
    if bounce_class is BounceClass.RATE_LIMITED:
        return Metric.THROTTLED
    if bounce_class is BounceClass.RELAY_CONFIG:
        return Metric.RELAY_CONFIG
    return None


@functools.cache  # a small closed domain, asked once per attempt on the hot path
def metrics_of_attempt(
    stage: Stage, outcome: Outcome, bounce_class: BounceClass
) -> tuple[str, ...]:
    """The metric names one attempt increments by one.

    - `attempts` for every attempt at a relay (not LOCAL decisions nor REPORTs), and
      `answered` when it was not a relay fault;
    - the outcome's own metric: sent, deferred, blocked, failed, suppressed,
      `bounced:<class>`, or `relay_faults`;
    - a relay fault also counts exactly one kind: `throttled` (class rate_limited),
      `tls_failures` (at STARTTLS), `auth_failures` (at AUTH), `relay_config` (class
      relay_config) or else `conn_failures`;
    - any other answer of class rate_limited or relay_config also counts `throttled` or
      `relay_config`.
    """
    names: list[str] = []
    if stage not in _NOT_AT_A_RELAY:
        names.append(Metric.ATTEMPTS.value)
        if outcome is not Outcome.RELAY_FAULT:
            names.append(Metric.ANSWERED.value)
    if outcome is Outcome.BOUNCED:
        names.append(bounced(bounce_class))
    else:
        names.append(_OUTCOME_METRIC[outcome].value)
    if outcome is Outcome.RELAY_FAULT:
        names.append(_fault_kind(stage, bounce_class).value)
    else:
        extra = _class_metric(bounce_class)
        if extra is not None:
            names.append(extra.value)
    return tuple(names)
