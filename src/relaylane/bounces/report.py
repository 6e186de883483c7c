"""What a bounce, complaint or provider event says, as plain records. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ReportKind(StrEnum):
    """The shape of an inbound report."""

    DSN = "dsn"  # RFC 3464 multipart/report; report-type=delivery-status
    ARF = "arf"  # RFC 5965 multipart/report; report-type=feedback-report
    PLAIN = "plain"  # an older MTA's plain-text bounce, read with heuristics
    AUTO_REPLY = "auto_reply"  # out-of-office, vacation, other automatic answers
    WEBHOOK = "webhook"  # a provider's event (SES, SendGrid, Mailgun, Postmark)
    ONE_CLICK = "oneclick"  # a one-click unsubscribe POST to relaylane's own /u/ URL
    UNKNOWN = "unknown"  # nothing recognisable: kept raw, acted on by nothing


class Event(StrEnum):
    """What happened to one recipient, according to a report."""

    BOUNCED = "bounced"  # permanent failure (DSN Action: failed, a provider bounce)
    DELAYED = "delayed"  # temporary failure, still being retried downstream
    DELIVERED = "delivered"  # DSN delivered/relayed/expanded, a provider's delivery event
    COMPLAINED = "complained"  # the recipient reported the mail as spam (ARF, provider)
    UNSUBSCRIBED = "unsubscribed"  # the recipient unsubscribed through the provider
    AUTO_REPLY = "auto_reply"  # an automatic answer: never a bounce
    UNKNOWN = "unknown"  # a report we could not read


@dataclass(frozen=True, slots=True)
class Finding:
    """One recipient's outcome in a report."""

    event: Event
    recipient: str | None  # the original (or final) recipient, when the report names it
    code: int | None = None  # the SMTP reply code from the diagnostic, when there is one
    status: str | None = None  # the RFC 3463 enhanced status, "5.1.1"
    diagnostic: str = ""  # the diagnostic text without its type ("smtp;"), or the evidence


@dataclass(frozen=True, slots=True)
class ParsedReport:
    """An inbound message, read. `ids` and `addresses` are what matching may use."""

    kind: ReportKind
    findings: tuple[Finding, ...]
    # X-Relaylane-ID values found in the returned message or headers
    ids: tuple[str, ...] = ()
    # where the report was addressed (To, Delivered-To, X-Original-To, Envelope-To): the
    # VERP address when the envelope recipient is not known (imported mailboxes)
    addresses: tuple[str, ...] = ()
    feedback_type: str | None = None  # ARF Feedback-Type: abuse, fraud, not-spam, ...
    reporter: str | None = None  # Reporting-MTA, the ARF reporter, or the From domain
    subject: str = ""
