"""Prepare an existing RFC 5322 message (CLI --eml, API `raw`, SMTP submission).

The result obeys the same wire rules as `compose` (see `relaylane.delivery.wire`).
A message that already does, and needs no change (no Bcc, 7-bit, no 8bit/binary
Content-Transfer-Encoding, no control characters), takes a fast path that checks it and
keeps it byte for byte without building an email object: the common case for
applications, at a small fraction of the cost of a full parse. Everything else is
parsed, cleaned and re-serialised by the email package.
"""

from __future__ import annotations

import base64
import email
import email.policy
import re
from email import quoprimime
from email.headerregistry import AddressHeader, BaseHeader
from email.message import Message

from relaylane.delivery.addresses import Address, parse_address, refuse_unsafe_chars
from relaylane.delivery.compose import Composed, replace_headers
from relaylane.delivery.headers import MAX_LINE, POLICY, encode_value, parse_header
from relaylane.delivery.wire import LINE_BREAK, is_7bit, is_7bit_text, is_utf8, wire_problem
from relaylane.errors import InputError

__all__ = ["compose_eml"]

_POLICY_UTF8 = POLICY.clone(utf8=True)
# Headers compose_eml removes from a message before sending it.
_DROPPED_FROM_EML = frozenset({"bcc", "resent-bcc"})
# What keeps a message off the fast path.
_UNSAFE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # controls other than TAB, CR, LF
_CTE_8BIT = re.compile(rb"(?im)^content-transfer-encoding:[ \t]*(?:8bit|binary)")
_FIELD = re.compile(rb"([!-9;-~]+):")  # a header field name (RFC 5322 2.2)
_OBSOLETE_FIELD = re.compile(rb"([!-9;-~]+)[ \t]+:")  # obs-optional: blanks before ':'


def compose_eml(raw: bytes, *, from_override: str | None = None) -> Composed:
    """Prepare an existing RFC 5322 message (--eml) for sending.

    Bcc and Resent-Bcc are removed. 8bit/binary parts are re-encoded (quoted-printable for
    text/*, base64 otherwise); 8-bit header text must be UTF-8 and is RFC 2047-encoded
    (kept UTF-8 only for an address whose local part needs SMTPUTF8). Headers that need
    no change are kept byte for byte, line endings aside. A Message-ID, Date or To the
    message has is kept, and the flags say so. `from_override` replaces the From header.
    """
    _refuse_obsolete_fields(raw)
    if from_override is None:
        kept = _as_is(raw)
        if kept is not None:
            return kept
    try:
        return _reparse(raw, from_override)
    except InputError:
        raise
    except Exception as exc:  # the email package raises assorted errors on broken MIME
        raise InputError(
            "--eml",
            f"the message's MIME structure cannot be parsed ({exc.__class__.__name__}: "
            f"{str(exc)[:80]})",
            "check its Content-Type and Content-Transfer-Encoding headers, or re-save it "
            "from a mail client",
        ) from exc


def _refuse_obsolete_fields(raw: bytes) -> None:
    """Refuse a header written with blanks before its colon ("Bcc : x", RFC 5322's
    obsolete syntax). Parsers disagree about it: Python's ends the header block there,
    others read it as a header. Such a line could carry a Bcc or a forbidden header past
    the checks, so it is refused rather than guessed at."""
    for line in raw.split(b"\n", 200)[:200]:
        line = line.rstrip(b"\r")
        if not line:
            return  # the end of the header block
        if line[:1] in (b" ", b"\t"):
            continue
        obsolete = _OBSOLETE_FIELD.match(line)
        if obsolete is not None:
            name = obsolete.group(1).decode("ascii")
            raise InputError(
                "--eml",
                f"the header line {name + ' :'!r} has blanks before its colon",
                f"write it as '{name}: ...'",
            )
        if _FIELD.match(line) is None:
            return  # not a header line: the body starts here


def _as_is(raw: bytes) -> Composed | None:
    """The message unchanged, when it already is what `_reparse` would make of it (7-bit,
    CRLF, short lines, no Bcc, no control characters, no 8bit/binary transfer encoding,
    one parsable From); None when it needs the full treatment (which also words errors)."""
    if not raw.isascii() or _UNSAFE.search(raw) or _CTE_8BIT.search(raw):
        return None
    end = raw.find(b"\r\n\r\n")
    if end < 0 or wire_problem(raw, utf8_headers=False) is not None:
        return None
    names: list[str] = []
    sender = b""
    for line in raw[: end + 2].split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t"):
            if not names:
                return None
            if names[-1] == "from":
                sender += line
            continue
        found = _FIELD.match(line)
        if found is None:
            return None
        name = found.group(1).decode("ascii").lower()
        if name in _DROPPED_FROM_EML or (name == "from" and "from" in names):
            return None
        names.append(name)
        if name == "from":
            sender = line[found.end() :]
    if not sender:
        return None
    try:
        from_addr = parse_address(sender.decode("ascii").strip(), field="--eml From header")
    except InputError:
        return None
    return Composed(
        body=raw,
        from_addr=from_addr,
        has_message_id="message-id" in names,
        has_date="date" in names,
        has_to="to" in names,
        needs_smtputf8=False,
        size=len(raw),
    )


def _reparse(raw: bytes, from_override: str | None) -> Composed:
    """Parse, clean and re-serialise the message with the email package."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    override = None
    if from_override is not None:
        override = parse_address(from_override, field="--from")
        _replace_all(msg, "From", override.header())

    utf8 = False
    reencoded = False
    for part in msg.walk():
        utf8 |= _clean_headers(part, top=part is msg)
        if part.is_multipart():
            _clean_container(part)
        else:
            reencoded |= _make_7bit(part)
    if reencoded and "MIME-Version" not in msg:
        msg["MIME-Version"] = "1.0"

    sender = override if override is not None else _eml_sender(msg)
    body = msg.as_bytes(policy=_POLICY_UTF8 if utf8 else POLICY)
    problem = wire_problem(body, utf8_headers=utf8)
    if problem is not None:
        raise InputError(
            "--eml",
            f"the message cannot be made safe to send: {problem}",
            "re-save it from a mail client, or compose it with --text/--html-file",
        )
    return Composed(
        body=body,
        from_addr=sender,
        has_message_id="Message-ID" in msg,
        has_date="Date" in msg,
        has_to="To" in msg,
        needs_smtputf8=utf8,
        size=len(body),
    )


def _replace_all(msg: Message, name: str, value: str) -> None:
    """Make `value` the only `name` header, where the first one was (else at the top)."""
    items: list[tuple[str, str]] = []
    placed = False
    for key, old in msg.raw_items():
        if key.lower() != name.lower():
            items.append((key, str(old)))
        elif not placed:
            items.append((name, value))
            placed = True
    if not placed:
        items.insert(0, (name, value))
    replace_headers(msg, items)


def _clean_headers(part: Message, *, top: bool) -> bool:
    """Drop Bcc (top level), fix 8-bit or over-long headers; True if one must be UTF-8."""
    items = [(name, str(value)) for name, value in part.raw_items()]
    kept: list[tuple[str, str]] = []
    utf8 = changed = False
    for name, value in items:
        if top and name.lower() in _DROPPED_FROM_EML:
            changed = True
            continue
        fixed, needs_utf8 = _clean_header_value(name, value)
        utf8 |= needs_utf8
        changed |= fixed != value
        kept.append((name, fixed))
    if changed:
        replace_headers(part, kept)
    return utf8


def _clean_header_value(name: str, raw: str) -> tuple[str, bool]:
    unfolded = LINE_BREAK.sub("", raw)
    text = unfolded
    if not unfolded.isascii():
        # Parsed from bytes: 8-bit octets arrive as surrogate escapes.
        try:
            text = unfolded.encode("ascii", "surrogateescape").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError) as exc:
            raise InputError(
                "--eml",
                f"the {name} header contains 8-bit bytes that are not UTF-8",
                "encode non-ASCII header text as UTF-8 or RFC 2047 (=?utf-8?...?=)",
            ) from exc
    refuse_unsafe_chars("--eml", text, what=f"{name} header")
    if text.isascii():
        first, *rest = raw.splitlines() or [""]
        if len(name) + 2 + len(first) <= MAX_LINE and all(len(x) <= MAX_LINE for x in rest):
            return raw, False
    return encode_value(name, text, field="--eml")


def _clean_container(part: Message) -> None:
    cte = part.get("Content-Transfer-Encoding")
    if cte is not None and str(cte).strip().lower() in ("8bit", "binary"):
        part.replace_header("Content-Transfer-Encoding", "7bit")  # its parts are 7-bit now
    # Preamble and epilogue are not shown; drop them rather than send 8-bit text.
    if part.preamble is not None and not is_7bit_text(part.preamble):
        part.preamble = None
    if part.epilogue is not None and not is_7bit_text(part.epilogue):
        part.epilogue = None


def _make_7bit(part: Message) -> bool:
    """Re-encode a leaf part whose content is not 7-bit safe; True if it was."""
    header = part.get("Content-Transfer-Encoding")
    cte = "7bit" if header is None else str(header).strip().lower()
    if cte in ("7bit", "8bit", "binary"):
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):  # pragma: no cover - a leaf always has a payload
            return False
        if is_7bit(data):
            if cte != "7bit":
                part.replace_header("Content-Transfer-Encoding", "7bit")
            return False
    else:
        payload = part.get_payload()
        if isinstance(payload, str) and is_7bit_text(payload):
            return False
        if cte not in ("quoted-printable", "base64"):
            raise InputError(
                "--eml",
                f"a {part.get_content_type()} part uses Content-Transfer-Encoding {cte!r} "
                "and holds 8-bit data",
                "re-save the message with base64 or quoted-printable attachments",
            )
        data = part.get_payload(decode=True)
        if not isinstance(data, bytes):  # pragma: no cover
            return False
    _reencode(part, data)
    return True


def _reencode(part: Message, data: bytes) -> None:
    charset = (part.get_content_charset() or "").lower()
    if part.get_content_maintype() == "text" and not charset.startswith(("utf-16", "utf-32")):
        if not charset and not data.isascii() and is_utf8(data):
            part.set_param("charset", "utf-8")
        encoded = quoprimime.body_encode(data.decode("latin-1"), maxlinelen=76)
        cte = "quoted-printable"
    else:
        encoded = base64.encodebytes(data).decode("ascii")
        cte = "base64"
    part.set_payload(encoded)
    if "Content-Transfer-Encoding" in part:
        part.replace_header("Content-Transfer-Encoding", cte)
    else:
        part["Content-Transfer-Encoding"] = cte


def _eml_sender(msg: Message) -> Address:
    fix = "add a From header with one address to the message, or pass --from"
    values = [str(value) for name, value in msg.raw_items() if name.lower() == "from"]
    if not values:
        raise InputError("--eml", "the message has no From header", fix)
    if len(values) > 1:
        raise InputError("--eml", f"the message has {len(values)} From headers", fix)
    text = LINE_BREAK.sub("", values[0])
    try:
        header: BaseHeader | None = parse_header("From", text, field="--eml")
    except InputError:  # unparsable: parse_address says why, below
        header = None
    if isinstance(header, AddressHeader) and len(header.addresses) != 1:
        raise InputError("--eml", f"the From header {text!r} must hold exactly one address", fix)
    # Parsed from the header text (not the header object), so encoded-words in the
    # display name are decoded the RFC 2047 way.
    return parse_address(text, field="--eml From header")
