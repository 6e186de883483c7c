"""What relaylane does about one finding that matched one of its deliveries. Pure.

- delivered: a `sent` delivery becomes `delivered`.
- delayed: recorded; the relay is still trying, nothing changes here.
- bounced, address-level class (invalid recipient, bad domain, inactive mailbox, full
  mailbox): `bounced`, and the store applies the lane's suppression policy (a full mailbox
  only after its limit).
- bounced, relay-level or content class (reputation, policy, authentication, rate limits,
  relay account, spam content): the delivery is held (`blocked`), pinned to the relay that
  carried it and retried there later, within the lane's max_age. Never suppressed, never
  moved to another relay.
- bounced, expired (4.4.7): `failed`, never about the address, whatever the diagnostic.
- bounced, anything else (too large, routing, unclassified): `failed`.
- complained / unsubscribed: the scopes the suppression policy names.
- auto-replies and unreadable reports: recorded, nothing else.
Only `sent` (or `delivered`) deliveries change state: a late or duplicate report about a
delivery that is already final, or still in relaylane's hands, is recorded only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from relaylane.bounces.classes import FindingClass
from relaylane.bounces.report import Event, Finding
from relaylane.policy.suppression import Reason, Scope, SuppressionPolicy
from relaylane.policy.vocabulary import (
    ADDRESS_LEVEL_CLASSES,
    RELAY_LEVEL_CLASSES,
    BounceClass,
    DeliveryState,
)

# States a report may move a delivery out of: handed to a relay, outcome pending (or
# already reported delivered, for a later failure notice). `sending` too: a fast relay
# can accept, bounce and report before the worker has committed `sent`; the store then
# fences off that late result (store/feedback.py).
REPORTABLE_STATES = frozenset({DeliveryState.SENT, DeliveryState.DELIVERED, DeliveryState.SENDING})
# States a delivery report (delivered) may move to `delivered`.
_ACCEPTED = frozenset({DeliveryState.SENT, DeliveryState.SENDING})
_HELD_CLASSES = RELAY_LEVEL_CLASSES | {BounceClass.SPAM_CONTENT}


class Action(StrEnum):
    """What relaylane did about a finding (the `feedback.action` column)."""

    UNMATCHED = "unmatched"  # no valid token: not our mail as far as we can prove; nothing
    DELIVERED = "delivered"
    BOUNCED = "bounced"  # address-level: the delivery bounced (suppression per policy)
    HELD = "held"  # relay-level: blocked, retried later on the same relay
    FAILED = "failed"
    SUPPRESSED = "suppressed"  # a complaint or unsubscribe
    RECORDED = "recorded"  # kept as a fact; nothing else to do (delays, late reports)
    AUTO_REPLY = "auto_reply"
    UNCLASSIFIED = "unclassified"  # unreadable: kept raw, acted on by nothing


@dataclass(frozen=True, slots=True)
class DeliveryFacts:
    id: int
    lane: str
    relay: str | None
    recipient: str
    state: DeliveryState
    created_at: float
    expires_at: float
    list_name: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    new_state: DeliveryState | None = None  # None: the delivery's state stays
    due_at: float | None = None  # for a held delivery: when its relay may try again
    address_class: BounceClass | None = None  # for the store's address-level policy
    scopes: tuple[tuple[Scope, Reason], ...] = ()  # complaint / unsubscribe entries
    expired: bool = False  # about an expired message: recorded as `expired`, never counted


def decide(
    facts: DeliveryFacts | None,
    finding: Finding,
    found: FindingClass,
    policy: SuppressionPolicy,
    retry_after: float,
    now: float,
) -> Decision:
    """`retry_after`: the lane's first retry delay, for held deliveries."""
    if facts is None:
        return Decision(Action.UNMATCHED)
    event = finding.event
    if event is Event.AUTO_REPLY:
        return Decision(Action.AUTO_REPLY)
    if event is Event.UNKNOWN:
        return Decision(Action.UNCLASSIFIED)
    if event is Event.COMPLAINED:
        scopes = tuple((s, Reason.COMPLAINT) for s in policy.complaint_scopes(facts.lane))
        return Decision(Action.SUPPRESSED, _delivered(facts), scopes=scopes)
    if event is Event.UNSUBSCRIBED:
        scope = policy.unsubscribe_scope(facts.lane, facts.list_name)
        scopes = ((scope, Reason.UNSUBSCRIBE),) if scope is not None else ()
        action = Action.SUPPRESSED if scopes else Action.RECORDED
        return Decision(action, _delivered(facts), scopes=scopes)
    if event is Event.DELIVERED:
        state = _delivered(facts)
        return Decision(Action.DELIVERED if state else Action.RECORDED, state)
    if event is Event.DELAYED:
        return Decision(Action.RECORDED)
    return _bounced(facts, found, retry_after, now)


def _delivered(facts: DeliveryFacts) -> DeliveryState | None:
    return DeliveryState.DELIVERED if facts.state in _ACCEPTED else None


def _bounced(facts: DeliveryFacts, found: FindingClass, retry_after: float, now: float) -> Decision:
    if facts.state not in REPORTABLE_STATES:
        return Decision(Action.RECORDED)
    cls = found.bounce_class
    if found.expired:
        return Decision(Action.FAILED, DeliveryState.FAILED, expired=True)
    if cls in ADDRESS_LEVEL_CLASSES:
        return Decision(Action.BOUNCED, DeliveryState.BOUNCED, address_class=cls)
    if cls in _HELD_CLASSES:
        due = now + retry_after
        if due >= facts.expires_at:
            return Decision(Action.FAILED, DeliveryState.FAILED)
        return Decision(Action.HELD, DeliveryState.BLOCKED, due_at=due)
    return Decision(Action.FAILED, DeliveryState.FAILED)
