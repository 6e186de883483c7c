"""Plain records that cross the seams between store, policy and delivery. No I/O here."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from relaylane.policy.vocabulary import BounceClass, DeliveryState, Outcome, Stage


@dataclass(frozen=True, slots=True)
class NewDelivery:
    recipient: str
    header_message_id: str  # the Message-ID this delivery carries
    header_prefix: bytes  # header lines prepended at send time (Message-ID, Date, To when missing)


@dataclass(frozen=True, slots=True)
class NewMessage:
    """One stored body and the deliveries (one per recipient) that share it."""

    lane: str
    mail_from: str
    from_domain: str
    body: bytes
    smtputf8: bool
    created_at: float
    expires_at: float
    deliveries: tuple[NewDelivery, ...]
    due_at: float | None = None  # defaults to created_at
    source: str = "cli"  # "cli", "api", "smtp" or "dsn"
    submitter: str | None = None  # the API key id or SMTP user that sent it
    notify: str | None = None  # "dsn": report a permanent failure to the envelope sender
    tags: tuple[str, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()
    held: bool = False  # waits as `held` until due_at (a send window or not-before time)
    not_before: float | None = None  # this send's own timing, kept for its retries
    send_window: str | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery claimed by a worker under a lease. `token` fences its result."""

    id: int
    token: int
    message_id: int
    lane: str
    recipient: str
    created_at: float
    expires_at: float
    retries: int
    relay: str | None
    pinned: bool
    prefix: bytes  # this delivery's own header lines, made once at intake
    avoid: str | None = None  # a relay an operator drained it away from
    campaign_id: int | None = None  # a campaign's delivery: rendered at send time
    contact_id: int | None = None


@dataclass(frozen=True, slots=True)
class StoredBody:
    mail_from: str
    body: bytes
    smtputf8: bool
    from_domain: str = ""  # the From header's domain: picks the return path
    not_before: float | None = None
    send_window: str | None = None
    campaign: str = ""  # its metadata's "campaign", for per-campaign metrics
    list_name: str = ""  # its metadata's "list" (list_of): List-Id, unsubscribe scope


LIST_KEY = "list"  # the message metadata key that names the list it was sent to
_LIST_NAME_MAX = 128  # longer names are cut (List-Id display name)


def list_of(meta: str | None) -> str:
    """The list a message was sent to: its metadata's "list" value (`meta` is the stored
    JSON object), else "". Never raises."""
    if not meta:
        return ""
    try:
        value = json.loads(meta).get(LIST_KEY)
    except (ValueError, AttributeError):
        return ""
    return value[:_LIST_NAME_MAX] if isinstance(value, str) else ""


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    """One conversation with a relay about one delivery (or a local decision)."""

    at: float
    relay: str | None
    stage: Stage
    code: int | None
    reply: str
    outcome: Outcome
    bounce_class: BounceClass
    duration_ms: float
    failover: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """The new state of a claimed delivery and the attempts that led to it."""

    id: int
    token: int
    state: DeliveryState
    due_at: float | None
    relay: str | None
    pinned: bool
    retries: int
    attempts: tuple[AttemptRecord, ...] = field(default=())
    relay_queue_id: str | None = None
    sent_at: float | None = None
    provider: str | None = None  # the recipient's provider group, when routed

    @property
    def last(self) -> AttemptRecord | None:
        return self.attempts[-1] if self.attempts else None


@dataclass(frozen=True, slots=True)
class Step:
    """What one worker tick did in its single transaction."""

    applied: int  # results applied (the others had lost their lease: stale)
    claims: dict[str, list[Claimed]]  # newly claimed, by lane
    bodies: dict[int, StoredBody]  # bodies of claimed messages the worker did not hold
    contacts: dict[int, tuple[str, str]] = field(default_factory=dict)  # id: email, attrs JSON
