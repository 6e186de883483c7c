"""RFC 5965 feedback reports (ARF): a recipient complained, or said "not spam".

The recipient is the report's Original-Rcpt-To (one finding per value); reporters that
leave it out (most of them redact it) are read through the returned message's headers:
X-HmXmrOriginalRecipient (Microsoft JMRP), then To.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import Message

from relaylane.bounces.dsn_parse import strip_type
from relaylane.bounces.mailparts import (
    Fields,
    address_of,
    content_type,
    field,
    field_blocks,
    header_addresses,
    part_text,
    report_type,
    returned_headers,
    text_blocks,
    walk,
)
from relaylane.bounces.report import Event, Finding

_FEEDBACK_TYPES = frozenset({"message/feedback-report"})
_TEXT_FEEDBACK = re.compile(r"(?im)^[ \t]*feedback-type[ \t]*:")

# Feedback types that are not a complaint about the mail: recorded, acted on by nothing.
# auth-failure (RFC 6591) is a DMARC/SPF/DKIM failure report, not the recipient's opinion.
_NOT_COMPLAINTS = frozenset({"not-spam", "auth-failure"})

# Headers of the returned message that name its recipient, best first.
_RETURNED_RECIPIENT = ("X-HmXmrOriginalRecipient", "To")


@dataclass(frozen=True, slots=True)
class Feedback:
    findings: list[Finding]
    feedback_type: str | None
    reporter: str | None


def feedback_parts(msg: Message) -> list[Message]:
    """The parts that carry feedback-report fields (typed, or text inside an ARF report)."""
    arf = content_type(msg) == "multipart/report" and report_type(msg) == "feedback-report"
    return [part for part in walk(msg) if _is_feedback(part, arf)]


def _is_feedback(part: Message, in_arf: bool) -> bool:
    kind = content_type(part)
    if kind in _FEEDBACK_TYPES:
        return True
    return in_arf and kind == "text/plain" and bool(_TEXT_FEEDBACK.search(part_text(part)))


def read_arf(msg: Message, parts: list[Message]) -> Feedback:
    fields = _fields(parts)
    feedback_type = field(fields, "feedback-type").lower().split(" ")[0] or None
    event = Event.UNKNOWN if feedback_type in _NOT_COMPLAINTS else Event.COMPLAINED
    evidence = f"feedback-type: {feedback_type or 'missing'}"
    agent = field(fields, "user-agent")
    if agent:
        evidence += f"; user-agent: {agent}"
    recipients = _recipients(msg, fields) or [None]
    findings = [Finding(event, recipient, diagnostic=evidence) for recipient in recipients]
    return Feedback(findings, feedback_type, _reporter(fields))


def _fields(parts: list[Message]) -> Fields:
    merged: Fields = []
    for part in parts:
        if content_type(part) in _FEEDBACK_TYPES:
            blocks = field_blocks(part)
        else:
            blocks = text_blocks(part_text(part))
        for block in blocks:
            merged.extend(block)
    return merged


def _recipients(msg: Message, fields: Fields) -> list[str | None]:
    found: list[str | None] = []
    for key, value in fields:
        address = address_of(value) if key == "original-rcpt-to" else None
        if address is not None and address not in found:
            found.append(address)
    if found:
        return found
    for returned in returned_headers(msg):
        for name in _RETURNED_RECIPIENT:
            addresses = header_addresses(returned, name)
            if addresses:
                return [addresses[0]]
    return []


def _reporter(fields: Fields) -> str | None:
    mta = strip_type(field(fields, "reporting-mta"))
    if mta:
        return mta.lower()
    return field(fields, "user-agent") or None
