"""Plain-text bounces without a delivery-status part, read with heuristics.

qmail ("Hi. This is the qmail-send program"), older Exim ("Mail delivery failed"),
Sendmail ("The following addresses had permanent fatal errors"), old Exchange NDRs,
Gmail's and Yahoo's texts, Postfix without a DSN part. The text is cut where the returned
message starts; recipients are the addresses the text lists on lines of their own (or in
"<a@b>: host ... said: ..." and "'a@b' on <date>" lines, or "wasn't delivered to a@b"),
each with the paragraph that follows it as evidence. The SMTP reply is looked for in that
paragraph, then anywhere in the text.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from email.message import Message

from relaylane.bounces.dsn_parse import join_reply_lines, normalise_status
from relaylane.bounces.mailparts import (
    MAX_TEXT,
    content_type,
    header,
    header_addresses,
    normalise_address,
    part_text,
    unfold,
    walk,
)
from relaylane.bounces.report import Event, Finding

MAX_DIAGNOSTIC = 500
MAX_RECIPIENTS = 50
MAX_EVIDENCE = 4000  # characters of text kept per recipient

_BOUNCE_SUBJECT = re.compile(
    r"(?i)undeliver(?:ed|able)|delivery (?:status notification|failure|failed|has failed|problem)"
    r"|mail delivery (?:failed|failure|system|subsystem)|returned mail|failure notice"
    r"|non[- ]?deliver|could not be delivered|delayed mail|mail system error"
    r"|warning: (?:could not send|message \S+ delayed)"
)
_BOUNCE_BODY = re.compile(
    r"(?i)this is the qmail-send program|created automatically by mail delivery software"
    r"|could(?: not|n't) be delivered|permanent fatal errors|transient non-fatal errors"
    r"|delivery to the following recipients? (?:failed|has been delayed)"
    r"|did not reach some or all of the intended recipients|delivery has failed to these"
    r"|unable to deliver (?:your|the) message|wasn't delivered to|was not delivered to"
    r"|this is the mail system at host|undelivered mail returned to sender"
    r"|has not yet been delivered|following address\(es\) failed|i'm sorry to have to inform"
    r"|the following recipient\(s\) cannot be reached|message could not be sent"
)
_DELAYED = re.compile(
    r"(?i)\bdelayed\b|will (?:keep|continue) (?:trying|to try)|still (?:being )?(?:retried|trying)"
    r"|warning message only|has not yet been delivered|transient non-fatal"
    r"|will be retried|will retry|delivery attempts will continue|no action is required"
)
_CUT = re.compile(
    r"(?im)^[ \t>-]*(?:this is a copy of the message|below this line is a copy of the message"
    r"|(?:original|unsent|returned) message (?:follows|below|headers)|original message headers"
    r"|original message ?-|message headers follow|header of the original message)"
)
_DAEMON = re.compile(
    r"(?i)mailer-?daemon|mail-daemon|postmaster|\bmicrosoftexchange|mail delivery"
    r"|mail administrator"
)

_ADDR = r"[^\s<>()\[\]\\,;:@\"']{1,64}@[A-Za-z0-9][A-Za-z0-9.-]{0,252}"
_LINE_ADDRESS = re.compile(rf"[ \t]*[<'\"]?({_ADDR})[>'\"]?[ \t]*:?[ \t]*")
_LEADING_ADDRESS = re.compile(rf"[ \t]*<({_ADDR})>:[ \t]+(\S.*)")
_EXCHANGE_ON = re.compile(rf"[ \t]*'({_ADDR})' on \d")
_DELIVERED_TO = re.compile(
    rf"(?i)(?:(?:was not|wasn't|couldn't be|could not be) delivered to|message to)"
    rf"[ \t]+<?({_ADDR})>?(.*)"
)
_RCPT_TO = re.compile(rf"(?i)rcpt to:?[ \t]*<({_ADDR})>")
_REPLY = re.compile(
    r"(?im)(?:^[ \t>#(]*|(?:said|reason|was|error|response)[ \t]*:[ \t]*|<<<[ \t]*|smtp;[ \t]*"
    r"|\]:[ \t]*)"
    r"#?([45]\d\d)(?:[ \t-]+#?([245]\.\d{1,3}\.\d{1,3}))?(?=[\s:,;.)-]|$)"
)
_HASH_STATUS = re.compile(r"#([245]\.\d{1,3}\.\d{1,3})(?!\d)")


@dataclass(frozen=True, slots=True)
class _Reply:
    code: int | None
    status: str | None
    text: str


def body_text(msg: Message) -> str:
    """The report's own text (text/plain parts, else text/html without tags), cut where the
    returned message starts."""
    texts = [part_text(p) for p in walk(msg) if content_type(p) == "text/plain"]
    if not any(t.strip() for t in texts):
        texts = [_untag(part_text(p)) for p in walk(msg) if content_type(p) == "text/html"]
    text = "\n\n".join(texts).replace("\r\n", "\n").replace("\r", "\n")[:MAX_TEXT]
    cut = _CUT.search(text)
    return text[: cut.start()] if cut else text


def _untag(markup: str) -> str:
    text = re.sub(r"(?i)<br\s*/?>|</(?:p|div|tr|li|h\d)>", "\n", markup)
    text = re.sub(r"<[^<>]*>", " ", text)
    return html.unescape(text)


def looks_like_bounce(subject: str, text: str) -> bool:
    return bool(_BOUNCE_SUBJECT.search(subject) or _BOUNCE_BODY.search(text))


def from_daemon(msg: Message) -> bool:
    """Sent by a mail system (MAILER-DAEMON, postmaster, "Mail Delivery System")."""
    return bool(_DAEMON.search(header(msg, "From")))


def read_plain(msg: Message, subject: str, text: str) -> list[Finding]:
    """One finding per recipient the text names (one without a recipient if it names none)."""
    own = set(header_addresses(msg, "From"))
    for name in ("To", "Delivered-To", "X-Original-To", "Envelope-To", "Return-Path"):
        own.update(header_addresses(msg, name))
    event = Event.DELAYED if _DELAYED.search(f"{subject}\n{text}") else Event.BOUNCED
    blocks = _recipient_blocks(text, own)
    fallback = _reply_in(text)
    if not blocks:
        failed = [a for a in header_addresses(msg, "X-Failed-Recipients") if a not in own]
        recipient = failed[0] if failed else _rcpt_to(text, own)
        return [_finding(event, recipient, fallback or _evidence(text))]
    findings = []
    for recipient, block in blocks.items():
        reply = _reply_in(block) or fallback or _evidence(block)
        findings.append(_finding(event, recipient, reply))
    return findings


def _finding(event: Event, recipient: str | None, reply: _Reply) -> Finding:
    return Finding(event, recipient, reply.code, reply.status, reply.text[:MAX_DIAGNOSTIC])


def _recipient_blocks(text: str, own: set[str]) -> dict[str, str]:
    """Recipients in order of appearance, each with its evidence (paragraphs joined)."""
    blocks: dict[str, str] = {}
    lines = text.split("\n")
    for index, line in enumerate(lines):
        hit = _recipient_on(line)
        if hit is None:
            continue
        address = normalise_address(hit[0])
        if address is None or address in own or _DAEMON.search(address.partition("@")[0]):
            continue
        if address not in blocks and len(blocks) >= MAX_RECIPIENTS:
            break
        block = f"{hit[1]}\n{_paragraph_after(lines, index)}".strip()
        known = blocks.get(address, "")
        if len(known) < MAX_EVIDENCE:
            blocks[address] = f"{known}\n{block}".strip()
    return blocks


def _recipient_on(line: str) -> tuple[str, str] | None:
    """The recipient a line names, with the rest of the line as evidence."""
    if len(line) > 1000:
        return None
    found = _LINE_ADDRESS.fullmatch(line)
    if found:
        return found[1], ""
    found = _LEADING_ADDRESS.fullmatch(line) or _DELIVERED_TO.search(line)
    if found:
        return found[1], found[2]
    found = _EXCHANGE_ON.match(line)
    if found:
        return found[1], ""
    return None


def _paragraph_after(lines: list[str], index: int) -> str:
    """The lines after a recipient line, up to a blank line or the next recipient."""
    taken: list[str] = []
    for line in lines[index + 1 : index + 40]:
        if not line.strip() or _recipient_on(line) is not None:
            break
        taken.append(line)
    return "\n".join(taken)


def _reply_in(text: str) -> _Reply | None:
    """The first SMTP reply in a text, as code, status and the text from the code on."""
    found = _REPLY.search(text)
    if found is not None:
        rest = text[found.start(1) :]
        rest = rest.split("\n\n", 1)[0]
        status = normalise_status(found[2]) if found[2] else None
        return _Reply(int(found[1]), status, join_reply_lines(rest))
    hashed = _HASH_STATUS.search(text)
    if hashed is not None:
        return _Reply(None, normalise_status(hashed[1]), unfold(text))
    return None


def _evidence(text: str) -> _Reply:
    return _Reply(None, None, unfold(text))


def _rcpt_to(text: str, own: set[str]) -> str | None:
    for found in _RCPT_TO.finditer(text):
        address = normalise_address(found[1])
        if address is not None and address not in own:
            return address
    return None
