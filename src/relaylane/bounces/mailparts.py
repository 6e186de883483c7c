"""Reading an inbound message safely: headers, part texts, report fields, returned messages.

Every helper here tolerates whatever the `email` package (compat32 policy) makes of a broken
message: values may be `Header` objects, payloads may be missing, lists or undecodable.
The callers still wrap everything; these helpers just keep the common paths quiet.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses

MAX_PARTS = 200  # parts visited in one message
MAX_DEPTH = 12  # multipart nesting followed
MAX_TEXT = 256 * 1024  # characters of one part's text that heuristics read
MAX_HEADER = 4000  # characters of a header value decoded or parsed for addresses
MAX_ADDRESSES = 50  # addresses read from one header

# The original message (or its headers) returned inside a report.
RETURNED_TYPES = frozenset(
    {
        "message/rfc822",
        "message/global",
        "text/rfc822-headers",
        "message/rfc822-headers",
        "message/global-headers",
    }
)

Fields = list[tuple[str, str]]  # one block of "Name: value" fields, names lower-cased

_FIELD_LINE = re.compile(r"([A-Za-z][A-Za-z0-9-]{0,60})[ \t]*:[ \t]*(.*)")
_BLANK_LINES = re.compile(r"\n[ \t]*\n")
_ADDR_TYPE = re.compile(r"^[A-Za-z0-9_.-]{1,20}[ \t]*;")
_ADDRESS = re.compile(r"[^\s<>()\[\]\\,;:@\"]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})")


def unfold(value: str) -> str:
    """Whitespace runs (folded lines included) collapsed to single spaces."""
    return " ".join(value.split())


def header(msg: Message, name: str) -> str:
    """A header's value, unfolded; "" when absent or unreadable."""
    values = header_all(msg, name)
    return values[0] if values else ""


def header_all(msg: Message, name: str) -> list[str]:
    """Every value of a header, unfolded."""
    try:
        found = msg.get_all(name) or []
        return [unfold(str(value)) for value in found]
    except Exception:
        return []


def decoded_header(msg: Message, name: str) -> str:
    """A header with its RFC 2047 encoded words decoded (Subject)."""
    try:
        value = msg.get(name)
        if value is None:
            return ""
        return unfold(str(make_header(decode_header(str(value)[:MAX_HEADER]))))
    except Exception:
        return header(msg, name)[:MAX_HEADER]


def content_type(part: Message) -> str:
    try:
        return part.get_content_type()
    except Exception:
        return "text/plain"


def report_type(part: Message) -> str:
    """The report-type parameter of a multipart/report, lower-cased; "" when absent."""
    try:
        value = part.get_param("report-type")
    except Exception:
        return ""
    if isinstance(value, tuple):
        value = value[2]
    return str(value or "").strip().lower()


def walk(msg: Message) -> Iterator[Message]:
    """The parts of a message, depth first, not entering returned messages.

    Bounded in depth and count, so a hostile message cannot make it run away.
    """
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    while stack and seen < MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        yield part
        if depth >= MAX_DEPTH or content_type(part) in RETURNED_TYPES:
            continue
        children = _children(part)
        stack.extend((child, depth + 1) for child in reversed(children))


def _children(part: Message) -> list[Message]:
    if not part.is_multipart():
        return []
    payload = part.get_payload()
    if not isinstance(payload, list):
        return []
    return [child for child in payload if isinstance(child, Message)]


def part_text(part: Message) -> str:
    """A leaf part's text, decoded from its transfer encoding and charset ("" if none)."""
    try:
        if part.is_multipart():
            return ""
        data = part.get_payload(decode=True)
    except Exception:
        return ""
    if not isinstance(data, bytes):
        return ""
    text = decode_bytes(data[: MAX_TEXT * 4], _charset(part))
    return clip(text, MAX_TEXT, sliced=len(data) > MAX_TEXT * 4)


def clip(text: str, limit: int, sliced: bool = False) -> str:
    """At most `limit` characters of a text (that may itself be a slice of a longer one),
    cut after whitespace so that no word, and no token, is read half."""
    if len(text) <= limit and not sliced:
        return text
    end = min(limit, len(text))
    cut = max(text.rfind(space, 0, end) for space in (" ", "\t", "\n", "\r"))
    return text[: cut + 1] if cut >= 0 else ""


def _charset(part: Message) -> str:
    try:
        return str(part.get_content_charset() or "utf-8")
    except Exception:
        return "utf-8"


def decode_bytes(data: bytes, charset: str = "utf-8") -> str:
    try:
        return data.decode(charset, errors="replace")
    except (LookupError, ValueError):
        return data.decode("utf-8", errors="replace")


def field_blocks(part: Message) -> list[Fields]:
    """The blocks of "Name: value" fields of a report part (delivery-status, feedback).

    The `email` package parses message/delivery-status into one sub-message per block and
    other message/* types into one sub-message; text-typed parts arrive as text.
    """
    try:
        payload = part.get_payload()
    except Exception:
        return []
    if isinstance(payload, list):
        blocks: list[Fields] = []
        for sub in payload:
            if isinstance(sub, Message):
                blocks.extend(_message_blocks(sub))
        return blocks
    return text_blocks(part_text(part))


def _message_blocks(sub: Message) -> list[Fields]:
    try:
        fields = [(name.strip().lower(), unfold(str(value))) for name, value in sub.items()]
        rest = None if sub.is_multipart() else sub.get_payload()
    except Exception:
        return []
    blocks = [fields] if fields else []
    if isinstance(rest, str) and rest.strip():
        blocks.extend(text_blocks(rest))  # fields the parser left in the "body"
    return blocks


def text_blocks(text: str) -> list[Fields]:
    """Blank-line separated blocks of fields in plain text, continuation lines unfolded."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks: list[Fields] = []
    for chunk in _BLANK_LINES.split(text[:MAX_TEXT]):
        fields = _fields_of(chunk)
        if fields:
            blocks.append(fields)
    return blocks


def _fields_of(chunk: str) -> Fields:
    pieces: list[tuple[str, list[str]]] = []
    for line in chunk.split("\n"):
        if line[:1] in (" ", "\t") and pieces:
            pieces[-1][1].append(line)  # a continuation line
            continue
        found = _FIELD_LINE.fullmatch(line.strip())
        if found:
            pieces.append((found[1].lower(), [found[2]]))
    return [(name, unfold(" ".join(lines))) for name, lines in pieces]


def field(fields: Fields, name: str) -> str:
    """The first value of a field in a block; "" when absent."""
    for key, value in fields:
        if key == name:
            return value
    return ""


def returned_headers(msg: Message) -> list[Message]:
    """The headers of the original messages a report returns (message/rfc822 or headers)."""
    found: list[Message] = []
    for part in walk(msg):
        kind = content_type(part)
        if kind not in RETURNED_TYPES:
            continue
        inner = _returned_message(part)
        if inner is not None:
            found.append(inner)
    return found


def _returned_message(part: Message) -> Message | None:
    try:
        payload = part.get_payload()
    except Exception:
        return None
    if isinstance(payload, list):
        first = payload[0] if payload else None
        return first if isinstance(first, Message) else None
    text = part_text(part)
    if not text.strip():
        return None
    try:
        return HeaderParser().parsestr(text.lstrip(), headersonly=True)
    except Exception:
        return None


def address_of(value: str) -> str | None:
    """The mailbox in a report field or header value ("rfc822; <a@B.test>" -> "a@b.test")."""
    value = _ADDR_TYPE.sub("", value.strip(), count=1).strip()
    found = _ADDRESS.search(value)
    if found is None:
        return None
    return normalise_address(found[0])


def normalise_address(address: str) -> str | None:
    """An address with its domain lower-cased; None when it is not one."""
    local, at, domain = address.strip().strip("<>").rpartition("@")
    domain = domain.strip().rstrip(".").lower()
    if not at or not local or not domain or any(c.isspace() for c in local + domain):
        return None
    return f"{local}@{domain}"


def header_addresses(msg: Message, name: str) -> list[str]:
    """The addresses in every value of a header (To, Delivered-To, ...), normalised."""
    found: list[str] = []
    for value in header_all(msg, name)[:MAX_ADDRESSES]:
        try:
            pairs = getaddresses([value[:MAX_HEADER]])[:MAX_ADDRESSES]
        except Exception:
            pairs = []
        for _, address in pairs:
            normal = normalise_address(address) if address else None
            if normal is None:
                normal = address_of(value)
            if normal is not None and normal not in found:
                found.append(normal)
    return found


def from_address(msg: Message) -> str | None:
    addresses = header_addresses(msg, "From")
    return addresses[0] if addresses else None


def domain_of(address: str | None) -> str | None:
    if not address or "@" not in address:
        return None
    return address.rpartition("@")[2] or None
