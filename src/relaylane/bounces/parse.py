"""Reading an inbound report: bytes in, a `ParsedReport` out. Pure and total: never raises.

Dispatch, first answer wins:
1. a delivery-status part (RFC 3464) with recipient blocks -> DSN;
2. a feedback-report part (RFC 5965) -> ARF;
3. a read receipt (RFC 8098) -> AUTO_REPLY;
4. clear automatic-answer evidence (X-Autoreply, out-of-office subject or text), unless a
   mail system sent a bounce text -> AUTO_REPLY;
5. bounce wording -> PLAIN, read with heuristics;
6. Auto-Submitted alone -> AUTO_REPLY;
7. anything else -> UNKNOWN, with one finding that says so.

Whatever the kind, `ids` holds the X-Relaylane-ID values found (returned headers, decoded
texts, then the raw bytes) and `addresses` where the report was addressed.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message

from relaylane.bounces import arf_parse, auto_reply, dsn_parse, plain_bounce
from relaylane.bounces.mailparts import (
    clip,
    content_type,
    decode_bytes,
    decoded_header,
    domain_of,
    from_address,
    header_addresses,
    header_all,
    part_text,
    returned_headers,
    walk,
)
from relaylane.bounces.report import Event, Finding, ParsedReport, ReportKind

__all__ = ["ADDRESS_HEADERS", "UNREADABLE", "find_ids", "parse_report", "report_addresses"]

UNREADABLE = Finding(Event.UNKNOWN, None)
ADDRESS_HEADERS = ("To", "Delivered-To", "X-Original-To", "Envelope-To")
ID_HEADER = "X-Relaylane-ID"
MAX_RAW = 8 * 1024 * 1024  # characters of a report scanned for X-Relaylane-ID lines
MAX_IDS = 20  # tokens kept from one report

_TOKEN = re.compile(r"[a-z2-7]{20,60}")
_ID_LINE = re.compile(
    r"(?im)^[ \t>|]*X-Relaylane-ID[ \t]*:[ \t]*(?:\r?\n[ \t]+)?<?[ \t]*([a-z2-7]{20,60})"
    r"(?![A-Za-z0-9])"
)


@dataclass(slots=True)
class _Reading:
    kind: ReportKind
    findings: list[Finding]
    feedback_type: str | None = None
    reporter: str | None = None


def parse_report(raw: bytes) -> ParsedReport:
    """Read one inbound message. Total: garbage gives ReportKind.UNKNOWN, never an error."""
    try:
        return _parse(raw)
    except Exception:
        return _unreadable(raw)


def _unreadable(raw: object) -> ParsedReport:
    try:
        ids = find_ids(None, bytes(raw)) if isinstance(raw, bytes | bytearray) else ()
    except Exception:
        ids = ()
    return ParsedReport(ReportKind.UNKNOWN, (UNREADABLE,), ids=ids)


def _parse(raw: bytes) -> ParsedReport:
    msg = email.message_from_bytes(bytes(raw))
    subject = decoded_header(msg, "Subject")
    reading = _read(msg, subject)
    return ParsedReport(
        kind=reading.kind,
        findings=tuple(reading.findings) or (UNREADABLE,),
        ids=find_ids(msg, raw),
        addresses=report_addresses(msg),
        feedback_type=reading.feedback_type,
        reporter=reading.reporter or domain_of(from_address(msg)),
        subject=subject,
    )


def _read(msg: Message, subject: str) -> _Reading:
    status = dsn_parse.status_parts(msg)
    if status:
        findings, reporter = dsn_parse.read_dsn(status)
        if findings:
            return _Reading(ReportKind.DSN, findings, reporter=reporter)
    feedback = arf_parse.feedback_parts(msg)
    if feedback:
        arf = arf_parse.read_arf(msg, feedback)
        return _Reading(ReportKind.ARF, arf.findings, arf.feedback_type, arf.reporter)
    receipts = auto_reply.mdn_fields(msg)
    if receipts:
        return _Reading(ReportKind.AUTO_REPLY, [auto_reply.mdn_finding(msg, receipts)])
    return _read_text(msg, subject)


def _read_text(msg: Message, subject: str) -> _Reading:
    text = plain_bounce.body_text(msg)
    bounce = plain_bounce.looks_like_bounce(subject, text)
    evidence = auto_reply.strong_signal(msg, subject, text)
    if evidence and not (bounce and plain_bounce.from_daemon(msg)):
        return _auto(msg, evidence)
    if bounce:
        return _Reading(ReportKind.PLAIN, plain_bounce.read_plain(msg, subject, text))
    evidence = auto_reply.weak_signal(msg)
    if evidence:
        return _auto(msg, evidence)
    return _Reading(ReportKind.UNKNOWN, [UNREADABLE])


def _auto(msg: Message, evidence: str) -> _Reading:
    return _Reading(ReportKind.AUTO_REPLY, [auto_reply.auto_reply_finding(msg, evidence)])


def report_addresses(msg: Message) -> tuple[str, ...]:
    """Where the report was addressed: To, Delivered-To, X-Original-To, Envelope-To."""
    found: list[str] = []
    for name in ADDRESS_HEADERS:
        found.extend(a for a in header_addresses(msg, name) if a not in found)
    return tuple(found)


def find_ids(msg: Message | None, raw: bytes) -> tuple[str, ...]:
    """X-Relaylane-ID tokens: returned messages' headers, decoded part texts, raw lines."""
    found: list[str] = []
    if msg is not None:
        for returned in returned_headers(msg):
            _add_tokens(found, header_all(returned, ID_HEADER))
        for part in walk(msg):
            if not content_type(part).startswith("multipart/"):
                _add_tokens(found, _ID_LINE.findall(part_text(part)))
    _add_tokens(
        found,
        _ID_LINE.findall(clip(decode_bytes(raw[:MAX_RAW], "latin-1"), MAX_RAW, len(raw) > MAX_RAW)),
    )
    return tuple(found)


def _add_tokens(found: list[str], values: Iterable[str]) -> None:
    for value in values:
        token = value.strip().strip("<>").strip().lower()
        if _TOKEN.fullmatch(token) and token not in found and len(found) < MAX_IDS:
            found.append(token)
