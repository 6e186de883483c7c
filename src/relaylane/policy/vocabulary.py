"""Closed vocabularies shared by policy, store and delivery. Each member is documented."""

from __future__ import annotations

from enum import StrEnum


class DeliveryState(StrEnum):
    """Where one delivery (one message to one recipient) stands."""

    QUEUED = "queued"  # waiting to be claimed, due at `due_at`
    SENDING = "sending"  # claimed by a worker under a lease
    SENT = "sent"  # the relay accepted it with 2xx after DATA
    DELIVERED = "delivered"  # a DSN or provider event reports final delivery
    DEFERRED = "deferred"  # a temporary refusal; retried at `due_at`
    BLOCKED = "blocked"  # refused for reputation or policy; retried later on the same relay
    BOUNCED = "bounced"  # refused for an address-level reason; final
    FAILED = "failed"  # expired or undeliverable for a non-address reason; final
    HELD = "held"  # waiting on an operator or a window; not claimed
    SUPPRESSED = "suppressed"  # not sent: the address is suppressed; final
    CANCELLED = "cancelled"  # cancelled by an operator; final

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset(
    {
        DeliveryState.SENT,
        DeliveryState.DELIVERED,
        DeliveryState.BOUNCED,
        DeliveryState.FAILED,
        DeliveryState.SUPPRESSED,
        DeliveryState.CANCELLED,
    }
)
# States a worker may claim once `due_at` has passed. A `held` delivery with a due_at waits
# for its send window or not-before time; one an operator holds has none, so never comes.
CLAIMABLE_STATES = (
    DeliveryState.QUEUED,
    DeliveryState.DEFERRED,
    DeliveryState.BLOCKED,
    DeliveryState.HELD,
)


class Stage(StrEnum):
    """The step of an SMTP session at which a relay answered (or the connection failed)."""

    CONNECT = "connect"  # TCP connect and the 220 greeting
    EHLO = "ehlo"
    STARTTLS = "starttls"  # STARTTLS command and handshake, or the implicit TLS handshake
    AUTH = "auth"
    MAIL = "mail"
    RCPT = "rcpt"
    DATA = "data"  # the DATA command (354 expected)
    DATA_END = "data_end"  # the reply after the final dot
    LOCAL = "local"  # relaylane refused before talking to the relay
    REPORT = "report"  # an outcome reported later: a DSN, a complaint, a provider event


class Outcome(StrEnum):
    """What policy concludes from one attempt."""

    SENT = "sent"  # 2xx after DATA
    DEFERRED = "deferred"  # temporary, about this message or recipient: retry later, same relay
    BLOCKED = "blocked"  # relay-level reputation or policy refusal: hold, retry on the same relay
    BOUNCED = "bounced"  # permanent, about the address
    FAILED = "failed"  # permanent, not about the address (too large, protocol, ...)
    RELAY_FAULT = "relay_fault"  # infrastructure fault: fail over in the lane (5 in a row pause it)
    SUPPRESSED = "suppressed"  # not sent: the address is suppressed (a local decision)


class BounceClass(StrEnum):
    """Why a relay refused, as a closed set (similar to KumoMTA's and PowerMTA's)."""

    NONE = "none"  # accepted
    INVALID_RECIPIENT = "invalid_recipient"  # 5.1.1 and friends: the mailbox does not exist
    BAD_DOMAIN = "bad_domain"  # 5.1.2 / 5.4.4: the domain does not exist or has no mail host
    INACTIVE_MAILBOX = "inactive_mailbox"  # 5.2.1: disabled mailbox
    MAILBOX_FULL = "mailbox_full"  # 4.2.2 / 5.2.2: over quota
    SPAM_CONTENT = "spam_content"  # content judged as spam: a signal about the message or campaign
    REPUTATION_BLOCK = "reputation_block"  # the sending IP or domain's reputation
    POLICY = "policy"  # other 5.7.x policy refusals: about the path, never the address
    AUTHENTICATION_REQUIRED = "authentication_required"  # the receiver wants SPF/DKIM/DMARC
    RATE_LIMITED = "rate_limited"  # the relay or receiver throttles us
    ROUTING_ERROR = "routing_error"  # 4.4.x / 5.4.x routing problems
    MESSAGE_TOO_LARGE = "message_too_large"  # 5.3.4 / 552
    PROTOCOL_ERROR = "protocol_error"  # 5.5.x syntax or sequence errors
    RELAY_UNAVAILABLE = "relay_unavailable"  # connection refused, timeout, TLS/AUTH failure, 421
    RELAY_CONFIG = "relay_config"  # relay account/config error (5xx to MAIL/AUTH, relay denied)
    TRANSIENT = "transient"  # other temporary failures
    EXPIRED = "expired"  # gave up after the lane's max_age
    UNSUPPORTED = "unsupported"  # the relay lacks a required extension (SMTPUTF8)
    AUTO_REPLY = "auto_reply"  # an out-of-office or other automatic answer: never a bounce
    UNCLASSIFIED = "unclassified"  # a permanent refusal that matched no rule
    RENDER_ERROR = "render_error"  # a campaign message could not be rendered for this contact


# Classes about the address itself: the only ones that may ever suppress it (mailbox_full
# only after its limit).
ADDRESS_LEVEL_CLASSES = frozenset(
    {
        BounceClass.INVALID_RECIPIENT,
        BounceClass.BAD_DOMAIN,
        BounceClass.INACTIVE_MAILBOX,
        BounceClass.MAILBOX_FULL,
    }
)

# Classes about the path (the relay, its IPs, our domain's standing): signals for the
# relay's health, never about the address. The delivery waits, pinned to the same relay.
RELAY_LEVEL_CLASSES = frozenset(
    {
        BounceClass.REPUTATION_BLOCK,
        BounceClass.POLICY,
        BounceClass.AUTHENTICATION_REQUIRED,
        BounceClass.RATE_LIMITED,
        BounceClass.RELAY_CONFIG,
    }
)


class LanePurpose(StrEnum):
    """What a lane carries; transactional lanes are claimed first."""

    TRANSACTIONAL = "transactional"
    MARKETING = "marketing"
    OUTREACH = "outreach"


class Strategy(StrEnum):
    """How a lane picks among its relays. Never random."""

    FAILOVER = "failover"  # the first available relay in order
    WEIGHTED = "weighted"  # smooth weighted round robin (deterministic)
    ROUND_ROBIN = "round_robin"  # each available relay in turn
    STICKY = "sticky"  # each recipient domain stays on one relay


class TlsMode(StrEnum):
    """How relaylane secures the connection to a relay."""

    NONE = "none"  # plaintext (loopback or trusted networks only)
    STARTTLS = "starttls"  # STARTTLS required and the certificate verified
    IMPLICIT = "implicit"  # TLS from the first byte (port 465), verified


class RelayKind(StrEnum):
    """What sort of relay this is."""

    MTA = "mta"  # a smarthost the user runs (Postfix, KumoMTA)
    ESP = "esp"  # a provider's SMTP endpoint (SES, Postmark, SendGrid, Mailgun)


class EspProvider(StrEnum):
    """The provider behind a relay of kind "esp", for matching its webhook events."""

    SES = "ses"  # Amazon SES: X-Relaylane-ID comes back in mail.headers
    SENDGRID = "sendgrid"  # X-SMTPAPI unique_args
    MAILGUN = "mailgun"  # X-Mailgun-Variables
    POSTMARK = "postmark"  # X-PM-Metadata-*
    OTHER = "other"  # only X-Relaylane-ID
