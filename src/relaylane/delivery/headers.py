"""Single header values and the per-delivery header lines.

`check_header_value` refuses a header name or value that could inject headers.
`delivery_headers` writes the lines that differ per delivery (Message-ID, Date, To),
prepended at send time to a stored `compose.Composed.body`; `new_message_id` and
`format_date` make their values.

Non-ASCII header text is RFC 2047-encoded: address headers are re-rendered (display
names encoded, domains punycode; UTF-8 kept only for a non-ASCII local part, which needs
SMTPUTF8), other text is encoded by the email package. Header values are folded here (at
whitespace only, never by re-encoding) rather than by the email package, whose folder
turns long ASCII words such as List-Unsubscribe URLs into encoded-words and mis-encodes
non-ASCII address headers.
"""

from __future__ import annotations

import email.policy
import re
import time
from datetime import UTC, datetime
from email.errors import InvalidHeaderDefect
from email.headerregistry import AddressHeader, BaseHeader
from email.utils import format_datetime

import idna

from relaylane.delivery.addresses import Address, encode_phrase, refuse_unsafe_chars
from relaylane.errors import InputError
from relaylane.unique import random_bits

__all__ = [
    "MAX_LINE",
    "check_header_value",
    "delivery_headers",
    "format_date",
    "new_message_id",
]

# How header values are parsed and encoded: CRLF line endings, encoded-words in lines of
# at most 76 octets (the same policy compose writes messages with).
POLICY = email.policy.SMTP.clone(refold_source="none", max_line_length=76)
"""How relaylane renders messages: SMTP line endings, no refolding of given headers."""

MAX_LINE = 998  # octets per line, excluding CRLF (RFC 5322 2.1.1)
_FOLD_AT = 78  # fold header lines longer than this where there is whitespace

_HEADER_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII except ':' (RFC 5322 2.2)
_MESSAGE_ID = re.compile(r"<[!-;=?-~]+@[!-;=?-~]+>")  # no space, '<', '>' inside
_HOSTNAME = re.compile(
    r"(?=.{1,253}\Z)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*"
)
_UNFOLD = re.compile(r"\r\n(?=[ \t])")
_CHUNK = re.compile(r"[ \t]*[^ \t]+|[ \t]+")  # a word with the whitespace before it

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # base32 in ASCII order: sorts like the number


def check_header_value(name: str, value: str) -> None:
    """Raise InputError for a header name that is not printable ASCII without ':' or a
    value holding CR, LF, NUL (header injection) or another control character."""
    if not _HEADER_NAME.fullmatch(name):
        raise InputError(
            "--header",
            f"{name!r} is not a valid header name (printable ASCII without ':' or spaces)",
            "use letters, digits and '-', e.g. X-Campaign",
        )
    refuse_unsafe_chars(name, value, what=f"{name} value")


def delivery_headers(*, message_id: str | None, date: str | None, to: str | None) -> bytes:
    """The per-delivery header lines to prepend to Composed.body, for those not None.

    `to` is header text such as Address.header(); a non-ASCII display name in it is
    RFC 2047-encoded, and a non-ASCII local part is written as UTF-8 (SMTPUTF8).
    """
    lines: list[str] = []
    if message_id is not None:
        check_header_value("Message-ID", message_id)
        if not _MESSAGE_ID.fullmatch(message_id):
            raise InputError(
                "Message-ID",
                f"{message_id!r} is not a message id",
                "write it as <unique@domain>, e.g. from new_message_id()",
            )
        lines.append(f"Message-ID: {message_id}\r\n")
    if date is not None:
        check_header_value("Date", date)
        if not date.isascii() or not date.strip():
            raise InputError(
                "Date", f"{date!r} is not an RFC 5322 date", "make it with format_date()"
            )
        lines.append(f"Date: {date.strip()}\r\n")
    if to is not None:
        check_header_value("To", to)
        value, _ = encode_value("To", to)
        lines.append(f"To: {value}\r\n")
    return "".join(lines).encode("utf-8")


_FEEDBACK_PART = re.compile(r"[^A-Za-z0-9._-]+")


def feedback_id(campaign: str, lane: str, purpose: str, sender: str) -> bytes:
    """`Feedback-ID: campaign:lane:purpose:sender` (Gmail's feedback loop reports
    complaints per stream by these fields; the last is the stable sender id). No
    per-message identifiers; ':' and other separators in a part become '-'."""
    parts = [
        _FEEDBACK_PART.sub("-", p).strip("-") or "-" for p in (campaign, lane, purpose, sender)
    ]
    return f"Feedback-ID: {':'.join(parts)}\r\n".encode("ascii")


def new_message_id(domain: str) -> str:
    """A new `<token@domain>`: the token is 26 base32 characters, 48 bits of milliseconds
    then 80 random bits, so ids sort by creation time (to the millisecond)."""
    token = _token(time.time_ns() // 1_000_000, random_bits(80).to_bytes(10, "big"))
    return f"<{token}@{_message_id_domain(domain)}>"


def format_date(ts: float) -> str:
    """`ts` (seconds since the epoch) as an RFC 5322 date in UTC, e.g.
    'Fri, 15 Jan 2027 08:00:00 +0000'."""
    return format_datetime(datetime.fromtimestamp(ts, tz=UTC))


# --- encoding and folding --------------------------------------------------------------


def encode_value(name: str, text: str, *, field: str | None = None) -> tuple[str, bool]:
    """Header text (one line, checked) as a folded raw value; True if it must be UTF-8.

    ASCII is kept as given. Non-ASCII address headers are re-rendered (display names
    RFC 2047-encoded, domains punycode; UTF-8 kept only for a non-ASCII local part);
    other non-ASCII text is encoded by the email package (RFC 2047, RFC 2231 parameters).
    Errors name `field` (default: the header name).
    """
    field = field or name
    text = text.strip(" \t")
    if text.isascii():
        return _fold(name, text, field), False
    header = parse_header(name, text, field=field)
    if isinstance(header, AddressHeader) and isinstance(header, BaseHeader):
        if any(isinstance(defect, InvalidHeaderDefect) for defect in header.defects):
            raise InputError(
                field,
                f"the {name} header {text!r} is not a valid address list",
                "write addresses as name@domain or Name <name@domain>, separated by commas",
            )
        rendered, utf8 = _render_addresses(name, header, field)
        return _fold(name, rendered, field), utf8
    # Encoded-words in the text were decoded by the parser; what they hide must be safe
    # too, or the email package would write a decoded line break as a real one.
    refuse_unsafe_chars(field, str(header), what=f"{name} value (decoded)")
    folded = header.fold(policy=POLICY)
    value = _UNFOLD.sub("", folded.split(":", 1)[1]).strip(" \t\r\n")
    refuse_unsafe_chars(field, value, what=f"{name} value (encoded)")  # belt and braces
    if not value.isascii():  # pragma: no cover - the email package encodes non-ASCII
        raise InputError(field, f"the {name} header {text!r} cannot be encoded", "use ASCII")
    return _fold(name, value, field), False


def parse_header(name: str, text: str, *, field: str) -> BaseHeader:
    try:
        header: BaseHeader = POLICY.header_factory(name, text)
    except Exception as exc:  # the header parser raises assorted errors on malformed text
        raise InputError(
            field,
            f"the {name} header {text!r} cannot be parsed",
            "check its syntax (addresses as name@domain or Name <name@domain>)",
        ) from exc
    return header


def _render_addresses(name: str, header: AddressHeader, field: str) -> tuple[str, bool]:
    utf8 = False
    parts: list[str] = []
    for group in header.groups:
        mailboxes = []
        for parsed in group.addresses:
            mailbox = Address(
                display_name=parsed.display_name,
                local=parsed.username,
                domain=_ascii_domain(name, parsed.domain, field),
            )
            utf8 |= mailbox.needs_smtputf8
            mailboxes.append(mailbox.header())
        listed = ", ".join(mailboxes)
        if group.display_name is None:
            if listed:
                parts.append(listed)
        else:
            parts.append(f"{encode_phrase(group.display_name)}: {listed};")
    return ", ".join(parts), utf8


def _ascii_domain(name: str, domain: str, field: str) -> str:
    if domain.isascii():
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise InputError(
            field,
            f"the domain {domain!r} in the {name} header is not a valid international name",
            "check the spelling of the domain",
        ) from exc


def _fold(name: str, value: str, field: str) -> str:
    """Fold a one-line value at whitespace so lines stay near 78 octets.

    Only whitespace that is followed by a word becomes a fold point, so unfolding gives
    the value back exactly. A word too long for a 998-octet line raises InputError.
    """
    width = len(name) + 2  # "Name: "
    if width + len(value.encode("utf-8")) <= _FOLD_AT:
        return value
    lines: list[str] = []
    current = ""
    for chunk in _CHUNK.findall(value):
        size = len(chunk.encode("utf-8"))
        if current and width + size > _FOLD_AT and chunk.strip(" \t"):
            lines.append(current)
            current, width = chunk, size
        else:
            current += chunk
            width += size
        if width > MAX_LINE:
            raise InputError(
                field,
                f"the {name} header has a word too long for one line ({size} octets)",
                f"shorten it or add spaces; header lines are limited to {MAX_LINE} octets",
            )
    lines.append(current)
    return "\r\n".join(lines)


# --- message ids -----------------------------------------------------------------------


def _token(ms: int, rand: bytes) -> str:
    """26 Crockford base32 characters of (48-bit ms << 80) | 80 random bits."""
    number = ((ms & (2**48 - 1)) << 80) | int.from_bytes(rand[:10].rjust(10, b"\0"), "big")
    return "".join(_CROCKFORD[(number >> shift) & 31] for shift in range(125, -1, -5))


def _message_id_domain(domain: str) -> str:
    host = domain.strip().rstrip(".").lower()
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except idna.IDNAError:
            host = ""
    if not _HOSTNAME.fullmatch(host):
        raise InputError(
            "Message-ID domain",
            f"{domain!r} is not a host name",
            "use the sending domain, e.g. tx.example.com",
        )
    return host
