"""RFC 3464 delivery status notifications: one finding per recipient block.

The machine-readable part is message/delivery-status (or message/global-delivery-status,
RFC 6533), wherever it sits: in a multipart/report as RFC 3464 says, or in another
multipart as some Exchange versions send it. A few MTAs type it text/plain; a text part
whose fields name a recipient and an action or status is read the same way.
"""

from __future__ import annotations

import re
from email.message import Message

from relaylane.bounces.mailparts import (
    Fields,
    address_of,
    content_type,
    field,
    field_blocks,
    part_text,
    text_blocks,
    unfold,
    walk,
)
from relaylane.bounces.report import Event, Finding

_STATUS_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_TEXT_RECIPIENT = re.compile(r"(?im)^[ \t]*(?:final|original)-recipient[ \t]*:")
_TEXT_ACTION = re.compile(r"(?im)^[ \t]*(?:action|status)[ \t]*:")

_ACTIONS = {
    "failed": Event.BOUNCED,
    "delayed": Event.DELAYED,
    "delivered": Event.DELIVERED,
    "relayed": Event.DELIVERED,
    "expanded": Event.DELIVERED,
}
_BY_STATUS_CLASS = {"5": Event.BOUNCED, "4": Event.DELAYED, "2": Event.DELIVERED}

_STATUS = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\d)")
_TYPE_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,30}[ \t]*;[ \t]*")
_LEADING_CODE = re.compile(r"#?([2-5]\d\d)(?=[\s:;,.-]|$)")
_MULTILINE_LEAD = re.compile(r"([2-5]\d\d)-(?:#?([245]\.\d{1,3}\.\d{1,3})(?=\s|$))?")


def normalise_status(value: str) -> str | None:
    """The first RFC 3463 status in a value, without leading zeros ("5.01.001" -> "5.1.1")."""
    found = _STATUS.search(value)
    if found is None:
        return None
    return f"{found[1]}.{int(found[2])}.{int(found[3])}"


def leading_code(text: str) -> int | None:
    """The SMTP reply code a diagnostic starts with ("550 5.1.1 ..." -> 550)."""
    found = _LEADING_CODE.match(text.strip())
    return int(found[1]) if found else None


def join_reply_lines(text: str) -> str:
    """A multi-line SMTP reply read as one line: the repeated codes of its continuation
    lines dropped ("550-5.1.1 a 550-5.1.1 b 550 5.1.1 c" -> "550 5.1.1 a b c")."""
    text = unfold(text)
    lead = _MULTILINE_LEAD.match(text)
    if lead is None:
        return text
    code, enhanced = lead[1], lead[2]
    if enhanced:
        repeated = re.compile(rf"\s#?{code}[ -]#?{re.escape(enhanced)}(?=\s|$)")
        rest = repeated.sub("", text[lead.end() :])
    else:
        rest = re.sub(rf"\s{code}[ -](?=\S)", " ", text[lead.end() :])
    head = f"{code} {enhanced}" if enhanced else code
    return unfold(f"{head} {rest}")


def strip_type(value: str) -> str:
    """A typed field's value without its type ("smtp; 550 ..." -> "550 ...")."""
    return _TYPE_PREFIX.sub("", value.strip(), count=1).strip()


def status_parts(msg: Message) -> list[Message]:
    """The parts of a message that carry delivery-status fields."""
    found: list[Message] = []
    for part in walk(msg):
        kind = content_type(part)
        if kind in _STATUS_TYPES or (kind == "text/plain" and _text_has_status(part)):
            found.append(part)
    return found


def _text_has_status(part: Message) -> bool:
    text = part_text(part)
    return bool(_TEXT_RECIPIENT.search(text) and _TEXT_ACTION.search(text))


def read_dsn(parts: list[Message]) -> tuple[list[Finding], str | None]:
    """The findings of the delivery-status parts, and the Reporting-MTA when named."""
    findings: list[Finding] = []
    reporter: str | None = None
    for part in parts:
        blocks = _blocks(part)
        for block in blocks:
            mta = strip_type(field(block, "reporting-mta"))
            if mta and reporter is None:
                reporter = mta.lower()
            if field(block, "final-recipient") or field(block, "original-recipient"):
                findings.append(_finding(block))
    return findings, reporter


def _blocks(part: Message) -> list[Fields]:
    if content_type(part) in _STATUS_TYPES:
        return field_blocks(part)
    return text_blocks(part_text(part))


def _finding(block: Fields) -> Finding:
    recipient = address_of(field(block, "original-recipient"))
    if recipient is None:
        recipient = address_of(field(block, "final-recipient"))
    status = normalise_status(field(block, "status"))
    diagnostic = join_reply_lines(strip_type(field(block, "diagnostic-code")))
    return Finding(
        event=_event(field(block, "action"), status),
        recipient=recipient,
        code=leading_code(diagnostic),
        status=status,
        diagnostic=diagnostic,
    )


def _event(action: str, status: str | None) -> Event:
    words = action.lower().split()
    event = _ACTIONS.get(words[0].strip(";,.()")) if words else None
    if event is None and status is not None:
        event = _BY_STATUS_CLASS.get(status[0])
    return event or Event.UNKNOWN
