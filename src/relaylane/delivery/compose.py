"""Build the one stored body a message's deliveries share.

`compose` (from --text/--html) and `eml.compose_eml` (from an existing message) return the
header block + CRLF + body as bytes that are ready for SMTP DATA: CRLF line endings
only, no line over 998 octets, and 7-bit (bodies quoted-printable or base64, non-ASCII
header text RFC 2047-encoded), so a DKIM signature added later survives relays that
would otherwise re-encode 8-bit content. The one exception is a header address whose
local part is not ASCII: that needs SMTPUTF8 anyway, so its header is left in UTF-8 and
`Composed.needs_smtputf8` says so.

Message-ID, Date and To differ per delivery, so `compose` never writes them: at send
time `headers.delivery_headers(...)` is prepended to `Composed.body`.

Header values are encoded and folded by `relaylane.delivery.headers`, not by the email
package (see there why).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage, Message

from relaylane.delivery import mime_text
from relaylane.delivery.addresses import Address, parse_address, refuse_unsafe_chars
from relaylane.delivery.headers import (
    POLICY,
    check_header_value,
    encode_value,
)
from relaylane.delivery.wire import wire_problem
from relaylane.errors import InputError

__all__ = [
    "API_FORBIDDEN_HEADERS",
    "OWNED_HEADERS",
    "Attachment",
    "Composed",
    "Letterhead",
    "compose",
    "compose_letter",
    "forbidden_header",
    "letterhead",
]

# SMTP line endings; headers we did not touch are written as they came (refold_source
# "none"); 76 keeps quoted-printable and base64 lines within RFC 2045's limit.
_POLICY_UTF8 = POLICY.clone(utf8=True)

# A line a 7bit text part can carry as is: printable ASCII or TAB, no trailing blank
# (relays may strip it), not too long.
# What keeps a body from being sent as 7bit, besides a line of more than 998 characters:
# a character other than printable ASCII, TAB and line breaks, or a blank at the end of
# a line (transports may strip it).
_NOT_PLAIN = re.compile(r"[^\t\x20-\x7e\r\n]|[\t ](?=\r|\n|\Z)")
_MAX_PLAIN_LINE = 998

_MIME_FIX = (
    "relaylane builds the MIME structure from --text/--text-file/--html-file; "
    "to send a prebuilt message use --eml"
)
_PER_DELIVERY_FIX = (
    "relaylane writes a fresh one for every delivery; to send a message's own, use --eml"
)
# Headers the `headers` mapping may not set, and what to do instead.
OWNED_HEADERS: Mapping[str, str] = {
    "message-id": _PER_DELIVERY_FIX,
    "date": _PER_DELIVERY_FIX,
    "to": "add recipients with --to or --to-file; relaylane writes each delivery's To",
    "from": "set the sender with --from",
    "subject": "set the subject with --subject",
    "reply-to": "set it with --reply-to",
    "cc": "add the addresses as recipients with --to; each recipient gets its own copy",
    "bcc": "add the addresses as recipients with --to; a Bcc header would be shown to everyone",
    "mime-version": _MIME_FIX,
    "content-type": _MIME_FIX,
    "content-transfer-encoding": _MIME_FIX,
    "content-disposition": _MIME_FIX,
    "content-id": _MIME_FIX,
}
# Headers an API client may not set (nor X-Relaylane-*): why, and what to do instead.
_FORBIDDEN: Mapping[str, tuple[str, str]] = {
    "return-path": (
        "the receiving server writes Return-Path from the envelope sender",
        "leave it out; the envelope sender (MAIL FROM) decides where bounces go",
    ),
    "dkim-signature": (
        "relaylane adds the DKIM signature when it sends the message",
        "leave it out; a signature made now would not match the message as sent",
    ),
    "received": (
        "Received is trace information that each mail server adds itself",
        "leave it out",
    ),
}
API_FORBIDDEN_HEADERS = frozenset(_FORBIDDEN)
_RELAYLANE_PREFIX = "x-relaylane-"
_RELAYLANE_HEADER = (
    "X-Relaylane-* headers are relaylane's own control headers",
    "use another name for your own header, e.g. X-Campaign",
)

_HEADER_NAME = re.compile(r"[!-9;-~]+")  # printable ASCII except ':' (RFC 5322 2.2)
# A MIME type without parameters: token "/" token (RFC 2045 5.1).
_TOKEN = r"[!#$%&'*+\-.^_`{|}~0-9A-Za-z]+"
_CONTENT_TYPE = re.compile(f"{_TOKEN}/{_TOKEN}")
_CONTENT_ID = re.compile(r"[!-;=?-~]+")  # printable ASCII without space, '<' or '>'
_ATTACHMENT_FIELD = "attachments"


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file to attach, sent base64-encoded. With `content_id` it is shown inline
    (Content-Disposition: inline, Content-ID: <content_id>), e.g. an image the HTML body
    shows as <img src="cid:...">."""

    filename: str  # leading and trailing blanks are dropped
    content: bytes
    content_type: str = "application/octet-stream"
    content_id: str | None = None  # without the angle brackets (given ones are dropped)


@dataclass(frozen=True, slots=True)
class Composed:
    """A message ready to store: prepend delivery_headers(...) and send."""

    body: bytes  # header block + CRLF + body; CRLF only, 7-bit (see needs_smtputf8)
    from_addr: Address  # the From header address (the envelope sender defaults to it)
    has_message_id: bool  # the body already holds a Message-ID (only from compose_eml)
    has_date: bool
    has_to: bool
    needs_smtputf8: bool  # some header address has a non-ASCII local part (UTF-8 header)
    size: int  # len(body)
    to_addrs: tuple[Address, ...] = ()  # the To header's addresses (when has_to from `to`)
    cc_addrs: tuple[Address, ...] = ()  # the Cc header's addresses: add them as recipients


def compose(
    *,
    from_: str,
    subject: str,
    text: str | None = None,
    html: str | None = None,
    headers: Mapping[str, str] | None = None,
    reply_to: str | None = None,
    to: Sequence[str] = (),
    cc: Sequence[str] = (),
    attachments: Sequence[Attachment] = (),
) -> Composed:
    """Build a message from parts: text only -> text/plain, html only -> text/html, both
    -> multipart/alternative; with attachments, that part and then each attachment
    (base64) in a multipart/mixed. Bodies are UTF-8; a body that is not plain
    short-lined ASCII is sent quoted-printable. Line endings (LF, CRLF or CR) become CRLF
    and the body ends with a line break. Leading and trailing blanks of header values are
    dropped.

    `to` writes one To header with these addresses (then has_to is True and no
    per-delivery To is added); `cc` writes one Cc header. Neither adds recipients: the
    caller does that with Composed.to_addrs and Composed.cc_addrs.
    """
    if text is None and html is None:
        raise InputError(
            "body", "the message has no body", "pass --text, --text-file, --html-file or --eml"
        )
    sender = parse_address(from_, field="--from")
    reply = None if reply_to is None else parse_address(reply_to, field="--reply-to")
    to_addrs = tuple(parse_address(value, field="to") for value in to)
    cc_addrs = tuple(parse_address(value, field="cc") for value in cc)
    check_header_value("Subject", subject)
    extra = dict(headers or {})
    for name, value in extra.items():
        _check_extra_header(name, value)
    for field, content in (("--text", text), ("--html-file", html)):
        if content is not None:
            _refuse_undecodable(field, content)
    for attachment in attachments:
        _check_attachment(attachment)

    named = [("From", sender.header())]
    named += [(name, ", ".join(a.header() for a in addrs)) for name, addrs in (
        ("To", to_addrs), ("Cc", cc_addrs)) if addrs]  # fmt: skip
    if reply is not None:
        named.append(("Reply-To", reply.header()))
    named.append(("Subject", subject))
    head, utf8 = _encoded(named)
    tail, utf8_tail = _encoded(list(extra.items()))
    utf8 |= utf8_tail
    if attachments:
        body = _with_attachments(head, tail, text, html, attachments, utf8)
    else:  # the common case, written directly (same bytes as the email package's)
        parts = [
            (sub, c, _text_cte(c)) for sub, c in (("plain", text), ("html", html)) if c is not None
        ]
        body = mime_text.render(head, tail, parts)
    problem = wire_problem(body, utf8_headers=utf8)
    if problem is not None:  # pragma: no cover - a bug in compose, not in the input
        raise RuntimeError(f"compose built an invalid message: {problem}")
    return Composed(
        body=body,
        from_addr=sender,
        has_message_id=False,
        has_date=False,
        has_to=bool(to_addrs),
        needs_smtputf8=utf8,
        size=len(body),
        to_addrs=to_addrs,
        cc_addrs=cc_addrs,
    )


@dataclass(frozen=True, slots=True)
class Letterhead:
    """From and Reply-To checked and encoded once, for many messages that differ only in
    subject and body (a campaign's, rendered per contact): `compose_letter`."""

    from_addr: Address
    head: tuple[tuple[str, str], ...]  # encoded (From, Reply-To)
    utf8: bool


def letterhead(from_: str, reply_to: str | None = None) -> Letterhead:
    sender = parse_address(from_, field="--from")
    named = [("From", sender.header())]
    if reply_to is not None:
        named.append(("Reply-To", parse_address(reply_to, field="--reply-to").header()))
    head, utf8 = _encoded(named)
    return Letterhead(sender, tuple(head), utf8)


def compose_letter(head: Letterhead, subject: str, text: str, html: str) -> bytes:
    """The stored-body bytes of one letter: `compose(...).body` for the same From,
    Reply-To, subject, text and HTML, without parsing the addresses again."""
    check_header_value("Subject", subject)
    encoded, _ = _encoded([("Subject", subject)])
    parts = [(sub, c, _text_cte(c)) for sub, c in (("plain", text), ("html", html))]
    return mime_text.render([*head.head, *encoded], [], parts)


def forbidden_header(name: str) -> str | None:
    """Why an API client may not set header `name` and what to do instead, or None.

    Refused: Return-Path, DKIM-Signature, Received and any X-Relaylane-* (any case).
    """
    reason = _forbidden_reason(name)
    return None if reason is None else f"{reason[0]}; {reason[1]}"


# --- compose ---------------------------------------------------------------------------


def _forbidden_reason(name: str) -> tuple[str, str] | None:
    key = name.strip().lower()
    if key.startswith(_RELAYLANE_PREFIX):
        return _RELAYLANE_HEADER
    return _FORBIDDEN.get(key)


def _check_extra_header(name: str, value: str) -> None:
    """Refuse an extra header with a bad name or value, or one relaylane writes itself."""
    if not _HEADER_NAME.fullmatch(name):
        raise InputError(
            "headers",
            f"{name!r} is not a valid header name (printable ASCII without ':' or spaces)",
            "use letters, digits and '-', e.g. X-Campaign",
        )
    forbidden = _forbidden_reason(name)
    if forbidden is not None:
        reason, fix = forbidden
        raise InputError("headers", f"the header {name!r} cannot be set: {reason}", fix)
    check_header_value(name, value)
    owned_fix = OWNED_HEADERS.get(name.lower())
    if owned_fix is not None:
        raise InputError(
            "--header", f"{name!r} cannot be set as an extra header: relaylane sets it", owned_fix
        )


def _check_attachment(attachment: Attachment) -> None:
    name = attachment.filename
    if not name.strip():
        raise InputError(
            _ATTACHMENT_FIELD, "an attachment has an empty filename", "give every attachment a name"
        )
    refuse_unsafe_chars(_ATTACHMENT_FIELD, name, what="attachment filename")
    kind = attachment.content_type
    if not _CONTENT_TYPE.fullmatch(kind):
        raise InputError(
            _ATTACHMENT_FIELD,
            f"the content type {kind!r} of attachment {name!r} is not a MIME type (type/subtype)",
            "give a type without parameters, e.g. application/pdf or image/png "
            "(application/octet-stream when unsure)",
        )
    if kind.split("/", 1)[0].lower() in ("multipart", "message"):
        raise InputError(
            _ATTACHMENT_FIELD,
            f"attachment {name!r} has the content type {kind!r}, which cannot be sent base64",
            "attach it as application/octet-stream (or a forwarded message as a .eml file "
            "with application/octet-stream)",
        )
    cid = attachment.content_id
    if cid is not None and not _CONTENT_ID.fullmatch(_strip_brackets(cid)):
        raise InputError(
            _ATTACHMENT_FIELD,
            f"the content id {cid!r} of attachment {name!r} is not valid",
            "use printable ASCII without spaces or angle brackets, e.g. logo@example.com",
        )


def _attach(msg: EmailMessage, attachment: Attachment) -> None:
    maintype, subtype = attachment.content_type.lower().split("/", 1)
    cid = attachment.content_id
    msg.add_attachment(
        attachment.content,
        maintype=maintype,
        subtype=subtype,
        filename=attachment.filename.strip(),  # receivers drop outer blanks anyway
        disposition="attachment" if cid is None else "inline",
        cid=None if cid is None else f"<{_strip_brackets(cid)}>",
        cte="base64",
    )
    part = list(msg.iter_parts())[-1]
    # Rendered now with the 7-bit policy: a UTF-8 top level (SMTPUTF8) would otherwise
    # write a non-ASCII filename as raw UTF-8 instead of RFC 2231-encoded.
    replace_headers(part, [(name, _folded_value(name, value)) for name, value in part.items()])


def _folded_value(name: str, value: str) -> str:
    """A header's value as POLICY folds it (RFC 2231/2047-encoded, CRLF-folded)."""
    folded: str = POLICY.fold(name, value)
    return folded.split(":", 1)[1].removeprefix(" ").removesuffix("\r\n")


def _strip_brackets(content_id: str) -> str:
    if content_id.startswith("<") and content_id.endswith(">"):
        return content_id[1:-1]
    return content_id


def _encoded(named: list[tuple[str, str]]) -> tuple[list[tuple[str, str]], bool]:
    """Each (name, value) encoded and folded; True if some value must stay UTF-8."""
    out: list[tuple[str, str]] = []
    utf8 = False
    for name, value in named:
        encoded, needs = encode_value(name, value)
        out.append((name, encoded))
        utf8 |= needs
    return out, utf8


def _with_attachments(
    head: list[tuple[str, str]],
    tail: list[tuple[str, str]],
    text: str | None,
    html: str | None,
    attachments: Sequence[Attachment],
    utf8: bool,
) -> bytes:
    """Built with the email package: the text part(s), then each attachment."""
    msg = EmailMessage(policy=POLICY)
    for name, value in head:
        msg.set_raw(name, value)
    if text is not None:
        msg.set_content(text, subtype="plain", charset="utf-8", cte=_text_cte(text))
        if html is not None:
            msg.add_alternative(html, subtype="html", charset="utf-8", cte=_text_cte(html))
    elif html is not None:
        msg.set_content(html, subtype="html", charset="utf-8", cte=_text_cte(html))
    for attachment in attachments:
        _attach(msg, attachment)
    for part in msg.walk():
        if part is not msg:
            del part["MIME-Version"]  # set_content puts one on each part; the top one counts
    # After the body: set_content drops Content-* headers (e.g. Content-Language).
    for name, value in tail:
        msg.set_raw(name, value)
    return msg.as_bytes(policy=_POLICY_UTF8 if utf8 else POLICY)


def _refuse_undecodable(field: str, content: str) -> None:
    try:
        content.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InputError(
            field, "the body contains bytes that are not valid UTF-8", "save the file as UTF-8"
        ) from exc


def _text_cte(content: str) -> str:
    """7bit when every line is plain short ASCII, else quoted-printable."""
    if _NOT_PLAIN.search(content):
        return "quoted-printable"
    # Only CR and LF break lines now, so splitlines() splits where the wire does.
    if max(map(len, content.splitlines()), default=0) > _MAX_PLAIN_LINE:
        return "quoted-printable"
    return "7bit"


def replace_headers(part: Message, items: list[tuple[str, str]]) -> None:
    """Replace all of `part`'s headers by `items` (raw values, kept as they are)."""
    for key in {key.lower() for key in part}:
        del part[key]
    for key, value in items:
        part.set_raw(key, value)
