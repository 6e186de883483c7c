"""Delivery status notifications (RFC 3464) for mail relaylane could not deliver.

When a message submitted over SMTP fails permanently (or is delayed), relaylane tells
the original envelope sender with a multipart/report; report-type=delivery-status
message (RFC 6522) of three parts: a human-readable explanation (text/plain), the
machine-readable report (message/delivery-status: per-message fields, then one block per
recipient) and the original message's header block (text/rfc822-headers).

`build_dsn` is pure apart from the fresh Message-ID: no I/O. Its output is ready for SMTP
DATA: CRLF line endings only, no line over 998 octets, 7-bit. The one exception is an
envelope sender whose local part is not ASCII: its To header is left in UTF-8, as
sending to it needs SMTPUTF8 anyway. Send a DSN with a null envelope sender
(MAIL FROM:<>) so that it can never cause another DSN (RFC 5321 4.5.5).

Text from relays (diagnostics, host names) is put on one line with control characters
and line breaks turned into spaces; in the report part, non-ASCII characters are written
as \\x{HEX} (RFC 6533 style) and long fields are folded at whitespace.
"""

from __future__ import annotations

import hashlib
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from email import quoprimime

from relaylane.delivery.addresses import Address, parse_address
from relaylane.delivery.headers import encode_value, format_date, new_message_id
from relaylane.delivery.wire import is_7bit, is_utf8
from relaylane.errors import InputError
from relaylane.policy.classify import split_enhanced

__all__ = ["ACTIONS", "FailedRecipient", "build_dsn", "status_from_reply"]

ACTIONS = frozenset({"failed", "delayed", "delivered", "relayed", "expanded"})  # RFC 3464 2.3.3

_FROM_NAME = "Mail Delivery System"
_SUBJECT_FAILED = "Undelivered Mail Returned to Sender"
_SUBJECT_DELAYED = "Delayed Mail"

_STATUS = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})")  # RFC 3463
_REPLY_CODE = re.compile(r"([2-5]\d\d)(?:[ -]|$)")
# Blanks, controls, line breaks and lone surrogates (undecodable bytes).
_BLANKS = re.compile("[\x00-\x20\x7f\x85\u2028\u2029\ud800-\udfff]+")
_LINE_BREAK = re.compile(rb"\r\n|\r|\n")
# RFC 6533 QCHAR: printable ASCII except '+', '=' and '\'; the rest becomes \x{HEX}.
_NOT_QCHAR = re.compile(r"[^!-*,-<>-\[\]-~]")
_NOT_ASCII = re.compile(r"[^\x20-\x7e]")

_FOLD_AT = 78  # fold report fields longer than this where there is whitespace
_MAX_WORD = 900  # a longer word is cut so every line stays within MAX_LINE
_WRAP = 76  # width of the human-readable text


@dataclass(frozen=True, slots=True)
class FailedRecipient:
    """One recipient the report is about."""

    recipient: str  # final recipient address
    action: str  # "failed" (or "delayed"; any RFC 3464 action is accepted)
    status: str  # enhanced status like "5.1.1"; derived from `diagnostic` when not one
    diagnostic: str | None  # the relay's reply text, e.g. "550 5.1.1 user unknown"
    remote_mta: str | None  # relay name/host
    last_attempt: float | None  # unix time


def status_from_reply(code: int | None, reply: str) -> str:
    """The RFC 3463 status for an SMTP reply: its enhanced code ("5.1.1") when it has one
    whose class agrees with the reply code, else "X.0.0" from the reply code (taken from
    the front of `reply` when `code` is None), else "5.0.0".

    status_from_reply(550, "5.1.1 user unknown") -> "5.1.1";
    status_from_reply(None, "452 too many recipients") -> "4.0.0".
    """
    basic = code if code is not None else _reply_code(reply)
    enhanced, _ = split_enhanced(reply)
    if enhanced is not None and (basic is None or str(basic)[0] == enhanced[0]):
        return enhanced
    if basic is not None and basic // 100 in (2, 4, 5):
        return f"{basic // 100}.0.0"
    return "5.0.0"


def build_dsn(
    *,
    reporting_mta: str,
    original_envelope_from: str,
    original_message_id: str,
    original_headers: bytes,
    failed: Sequence[FailedRecipient],
    arrival: float,
    now: float,
    from_domain: str,
) -> bytes:
    """The complete DSN message (headers + body) to send to `original_envelope_from`.

    `original_headers` may be the whole original message: only its header block is
    included. Raises InputError when there is nothing to report, for a null or invalid
    envelope sender (a DSN is never sent to <>), an unknown action, an empty
    `reporting_mta` or a `from_domain` that is not a host name.
    """
    if not failed:
        raise InputError(
            "failed", "there are no recipients to report", "build a DSN only after a failure"
        )
    to = _envelope_sender(original_envelope_from)
    mta = _ascii_line(reporting_mta)
    if not mta:
        raise InputError(
            "reporting_mta",
            "the reporting MTA is empty",
            "pass this host's name, e.g. mx.acme.test",
        )
    message_id = new_message_id(from_domain)  # validates from_domain
    sender = Address(_FROM_NAME, "MAILER-DAEMON", message_id.rsplit("@", 1)[1].rstrip(">"))
    actions = [_action(entry.action) for entry in failed]
    delayed = all(action == "delayed" for action in actions)

    parts = [
        _human_part(mta, original_message_id, failed, actions, delayed=delayed),
        _status_part(mta, arrival, failed, actions),
    ]
    headers_block = _header_block(original_headers)
    if headers_block:
        parts.append(_headers_part(headers_block, delayed=delayed))
    boundary = _boundary(parts)

    to_value, utf8 = encode_value("To", to.header(), field="original_envelope_from")
    head = [
        f"From: {sender.header()}",
        f"To: {to_value}",
        f"Subject: {_SUBJECT_DELAYED if delayed else _SUBJECT_FAILED}",
        f"Date: {format_date(now)}",
        f"Message-ID: {message_id}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status;",
        f' boundary="{boundary}"',
        "",
        "This is a MIME-encapsulated message.",
        "",
    ]
    out = ["\r\n".join(head).encode("utf-8" if utf8 else "ascii")]
    for part in parts:
        out.append(f"\r\n--{boundary}\r\n".encode("ascii") + part)
    out.append(f"\r\n--{boundary}--\r\n".encode("ascii"))
    return b"".join(out)


# --- parts ---------------------------------------------------------------------------------


def _human_part(
    mta: str,
    message_id: str,
    failed: Sequence[FailedRecipient],
    actions: Sequence[str],
    *,
    delayed: bool,
) -> bytes:
    """Part 1: what happened, for a person."""
    if delayed:
        intro = (
            "Your message has not been delivered yet to the recipients below. The mail "
            "system will keep trying; you do not need to send it again."
        )
    else:
        intro = (
            "Your message could not be delivered to one or more recipients. It will not "
            "be retried for the recipients marked as failed below."
        )
    paragraphs = [_wrap(f"This is the mail system at {mta}."), _wrap(intro)]
    shown_id = _one_line(message_id)
    if shown_id:
        paragraphs.append(_wrap(f"Message-ID of your message: {shown_id}"))
    for entry, action in zip(failed, actions, strict=True):
        lines = [_wrap(f"<{_one_line(entry.recipient)}>: {action} ({_status(entry, action)})")]
        relay = _one_line(entry.remote_mta or "")
        reply = _reply_text(entry.diagnostic)
        if reply:
            lines.append(_wrap(f"{relay or 'the remote server'} said: {reply}", indent="    "))
        elif relay:
            lines.append(_wrap(f"remote server: {relay}", indent="    "))
        paragraphs.append("\n".join(lines))
    text = "\r\n\r\n".join(p.replace("\n", "\r\n") for p in paragraphs) + "\r\n"
    if text.isascii():
        return _part("text/plain; charset=us-ascii", "Notification", text.encode("ascii"), "7bit")
    encoded = quoprimime.body_encode(text.encode("utf-8").decode("latin-1"), 76, "\r\n")
    return _part("text/plain; charset=utf-8", "Notification", encoded.encode("ascii"), "qp")


def _status_part(
    mta: str, arrival: float, failed: Sequence[FailedRecipient], actions: Sequence[str]
) -> bytes:
    """Part 2: the machine-readable report (RFC 3464 2.2 and 2.3)."""
    blocks = [_fields([("Reporting-MTA", f"dns; {mta}"), ("Arrival-Date", format_date(arrival))])]
    for entry, action in zip(failed, actions, strict=True):
        fields = [
            ("Final-Recipient", _address_field(entry.recipient)),
            ("Action", action),
            ("Status", _status(entry, action)),
        ]
        remote = _ascii_line(entry.remote_mta or "")
        if remote:
            fields.append(("Remote-MTA", f"dns; {remote}"))
        diagnostic = _escape(_reply_text(entry.diagnostic), _NOT_ASCII)
        if diagnostic:
            kind = "smtp" if _reply_code(diagnostic) is not None else "X-Relaylane"
            fields.append(("Diagnostic-Code", f"{kind}; {diagnostic}"))
        if entry.last_attempt is not None:
            fields.append(("Last-Attempt-Date", format_date(entry.last_attempt)))
        blocks.append(_fields(fields))
    return _part("message/delivery-status", "Delivery report", "\r\n".join(blocks).encode(), None)


def _headers_part(block: bytes, *, delayed: bool) -> bytes:
    """Part 3: the original header block, quoted-printable if it is not 7-bit."""
    what = "Delayed Message Headers" if delayed else "Undelivered Message Headers"
    if is_7bit(block):
        return _part("text/rfc822-headers", what, block, "7bit")
    charset = "; charset=utf-8" if is_utf8(block) else ""
    encoded = quoprimime.body_encode(block.decode("latin-1"), 76, "\r\n")
    return _part(f"text/rfc822-headers{charset}", what, encoded.encode("ascii"), "qp")


def _part(content_type: str, description: str, body: bytes, cte: str | None) -> bytes:
    """A MIME body part: its headers, a blank line and `body` (which ends with CRLF)."""
    lines = [f"Content-Type: {content_type}", f"Content-Description: {description}"]
    if cte is not None:
        lines.append(f"Content-Transfer-Encoding: {'quoted-printable' if cte == 'qp' else cte}")
    if not body.endswith(b"\r\n"):
        body += b"\r\n"
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii") + body


def _boundary(parts: Sequence[bytes]) -> str:
    """A boundary that occurs in no part (derived from the content, so reproducible)."""
    digest = hashlib.sha256(b"".join(parts)).hexdigest()
    for attempt in range(32):
        boundary = f"=_relaylane_dsn_{digest[attempt : attempt + 32]}"
        if not any(boundary.encode("ascii") in part for part in parts):
            return boundary
    raise AssertionError("no free MIME boundary")  # pragma: no cover - sha256 collision


# --- fields and text -----------------------------------------------------------------------


def _fields(fields: Sequence[tuple[str, str]]) -> str:
    """A block of report fields, each folded, each line ending with CRLF."""
    return "".join(f"{_fold(name, value)}\r\n" for name, value in fields)


def _fold(name: str, value: str) -> str:
    """`Name: value` folded at whitespace near _FOLD_AT; words over _MAX_WORD are cut."""
    words = [
        w[i : i + _MAX_WORD] for w in value.split(" ") if w for i in range(0, len(w), _MAX_WORD)
    ]
    lines = [f"{name}:"]
    for word in words:
        if len(lines[-1]) > len(name) + 1 and len(lines[-1]) + 1 + len(word) > _FOLD_AT:
            lines.append("")
        lines[-1] += f" {word}"
    return "\r\n".join(lines)


def _wrap(text: str, *, indent: str = "") -> str:
    return "\n".join(
        textwrap.wrap(
            text,
            width=_WRAP,
            initial_indent=indent,
            subsequent_indent=indent,
            break_on_hyphens=False,
        )
    )


def _one_line(text: str) -> str:
    """`text` on one line: line breaks, controls and runs of blanks become one space."""
    return _BLANKS.sub(" ", text).strip()


def _reply_text(reply: str | None) -> str:
    """A reply on one line; a multi-line reply's repeated codes are given once:
    "550-5.1.1 No such\\r\\n550 5.1.1 user" -> "550 5.1.1 No such user"."""
    lines = [line for line in (reply or "").splitlines() if line.strip()]
    code = _reply_code(lines[0]) if lines else None
    if len(lines) < 2 or code is None:
        return _one_line(reply or "")
    enhanced, rest = split_enhanced("\n".join(lines))
    return _one_line(" ".join(str(x) for x in (code, enhanced, rest) if x))


def _ascii_line(text: str) -> str:
    """One line of ASCII: non-ASCII characters are written \\x{HEX}."""
    return _escape(_one_line(text), _NOT_ASCII)


def _escape(text: str, pattern: re.Pattern[str]) -> str:
    return pattern.sub(lambda m: f"\\x{{{ord(m.group()):X}}}", text)


def _address_field(recipient: str) -> str:
    """Final-Recipient's value: "rfc822; addr", or "utf-8; ..." (RFC 6533) with every
    character outside QCHAR written \\x{HEX} for an address that is not ASCII."""
    addr = _one_line(recipient).replace(" ", "")
    if addr.startswith("<") and addr.endswith(">"):
        addr = addr[1:-1]
    if addr.isascii():
        return f"rfc822; {addr}"
    return f"utf-8; {_escape(addr, _NOT_QCHAR)}"


def _status(entry: FailedRecipient, action: str) -> str:
    """The recipient's status, or one derived from its diagnostic (class from the action
    when the diagnostic says nothing)."""
    given = _STATUS.fullmatch(entry.status.strip())
    if given:
        return f"{given[1]}.{int(given[2])}.{int(given[3])}"
    reply = _reply_text(entry.diagnostic)
    code = _reply_code(reply)
    if code is None:
        code = 450 if action == "delayed" else 550
    return status_from_reply(code, reply)


def _action(action: str) -> str:
    normalized = action.strip().lower()
    if normalized not in ACTIONS:
        raise InputError(
            "failed",
            f"{action!r} is not a DSN action",
            "use one of " + ", ".join(sorted(ACTIONS)) + " (RFC 3464 2.3.3)",
        )
    return normalized


def _reply_code(reply: str) -> int | None:
    found = _REPLY_CODE.match(reply.lstrip())
    return None if found is None else int(found[1])


def _envelope_sender(text: str) -> Address:
    addr = text.strip()
    if addr.startswith("<") and addr.endswith(">"):
        addr = addr[1:-1].strip()
    if not addr:
        raise InputError(
            "original_envelope_from",
            "the message had a null envelope sender (<>)",
            "send no DSN for it: a DSN to <> could start a loop (RFC 5321 4.5.5)",
        )
    return parse_address(addr, field="original_envelope_from", allow_display_name=False)


# --- the original header block ---------------------------------------------------------------


def _header_block(original: bytes) -> bytes:
    """The header block of `original` with CRLF line endings, without the blank line."""
    data = _LINE_BREAK.sub(b"\r\n", original)
    if data.startswith(b"\r\n"):
        return b""
    end = data.find(b"\r\n\r\n")
    head = data if end < 0 else data[: end + 2]
    if not head or head.endswith(b"\r\n"):
        return head
    return head + b"\r\n"
