"""The closed set of event kinds an endpoint can receive."""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    """What happened. Delivery kinds are about one delivery (one message to one recipient)."""

    SENT = "sent"  # the relay accepted the delivery (2xx after DATA)
    DELIVERED = "delivered"  # a DSN or a provider event reports final delivery
    DEFERRED = "deferred"  # temporarily refused, retried later; once per delivery
    BLOCKED = "blocked"  # held for reputation or policy on its relay; once per delivery
    BOUNCED = "bounced"  # refused for an address-level reason, at send time or by report
    FAILED = "failed"  # given up for a reason not about the address (expired, too large)
    SUPPRESSED = "suppressed"  # not sent: the address is on the suppression ledger
    COMPLAINED = "complained"  # the recipient reported the mail as spam; once per delivery
    OPENED = "opened"  # the recipient opened the message (tracking)
    CLICKED = "clicked"  # the recipient followed a tracked link
    UNSUBSCRIBED = "unsubscribed"  # the recipient unsubscribed; once per delivery
    RELAY_STATE_CHANGED = "relay_state_changed"  # a relay's (x provider's) health changed


# Kinds emitted at most once per delivery and endpoint, however often the fact recurs
# (each retry that defers again, a complaint reported by both an ARF report and a webhook).
ONCE_PER_DELIVERY = frozenset(
    {
        EventKind.DEFERRED,
        EventKind.BLOCKED,
        EventKind.COMPLAINED,
        EventKind.UNSUBSCRIBED,
    }
)
