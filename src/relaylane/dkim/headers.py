"""Which header fields a signature covers: parse a header block and build ``h=``.

RFC 6376 section 5.4.2: when a field occurs several times, the first ``h=`` entry
names the bottom-most occurrence, the next one the occurrence above it, and so on; an
entry with no occurrence left (over-signing) stands for a field that does not exist,
so none can be added later without breaking the signature.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from relaylane.dkim.canon import relaxed_header_value

SIGNED_HEADERS: tuple[str, ...] = (
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "Reply-To",
    "Sender",
    "In-Reply-To",
    "References",
    "MIME-Version",
    "Content-Type",
    "Content-Transfer-Encoding",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "List-Id",
    "Feedback-ID",
)
"""Signed when present, in this ``h=`` order."""

OVERSIGNED_HEADERS: frozenset[str] = frozenset(
    name.lower()
    for name in (
        "From",
        "To",
        "Cc",
        "Subject",
        "Date",
        "Reply-To",
        "Message-ID",
        "Content-Type",
        "List-Unsubscribe",
        "List-Unsubscribe-Post",
    )
)
"""Listed in ``h=`` once more than they occur (once when absent): none can be added."""

_CRLF = b"\r\n"


@dataclass(frozen=True)
class HeaderPolicy:
    """The fields to sign, in order, as (lower-case name, name as written in ``h=``)."""

    fields: tuple[tuple[bytes, str], ...]
    oversigned: frozenset[bytes]
    wanted: frozenset[bytes]

    @classmethod
    def build(cls, skip_headers: Iterable[str] = ()) -> HeaderPolicy:
        """The standard policy minus `skip_headers` (names compared case-insensitively)."""
        skip = {name.strip().lower() for name in skip_headers}
        fields = tuple(
            (name.lower().encode("ascii"), name)
            for name in SIGNED_HEADERS
            if name.lower() not in skip
        )
        oversigned = frozenset(name.encode("ascii") for name in OVERSIGNED_HEADERS - skip)
        return cls(fields, oversigned, frozenset(lname for lname, _ in fields))


def parse_header_block(block: bytes, wanted: frozenset[bytes]) -> dict[bytes, list[bytes]]:
    """The raw values (after the colon, folds kept) of the fields named in `wanted`.

    `block` holds CRLF-terminated header lines, folded continuation lines allowed,
    without the blank line that ends a header (one trailing blank line is tolerated).
    Keys are lower-case names; each list is in top-to-bottom order. Raises ValueError on
    a bare CR or LF, a line without a colon, a continuation line with nothing to
    continue, or an empty line inside the block.
    """
    found: dict[bytes, list[bytes]] = {}
    current: list[bytes] | None = None  # values of the field being continued, if wanted
    started = False
    for line in _lines(block):
        first = line[:1]
        if first == b" " or first == b"\t":
            if not started:
                raise ValueError("header block starts with a continuation line")
            if current is not None:
                current[-1] += _CRLF + line
            continue
        name, colon, value = line.partition(b":")
        if not colon:
            what = "an empty line" if not line else "a line without a colon"
            raise ValueError(f"header block has {what}: {line[:40]!r}")
        started = True
        key = name.rstrip(b" \t").lower()
        current = found.setdefault(key, []) if key in wanted else None
        if current is not None:
            current.append(value)
    return found


def _lines(block: bytes) -> list[bytes]:
    """The lines of `block` without their CRLFs; ValueError on a bare CR or LF."""
    if block.endswith(b"\r\n\r\n"):
        block = block[:-2]
    crlf = block.count(_CRLF)
    if block.count(b"\n") != crlf or block.count(b"\r") != crlf:
        raise ValueError("header block has a bare CR or LF; lines must end with CRLF")
    lines = block.split(_CRLF)
    if lines[-1] == b"":
        lines.pop()
    return lines


def signed_fields(policy: HeaderPolicy, found: dict[bytes, list[bytes]]) -> tuple[list[str], bytes]:
    """The ``h=`` names and the canonicalized header data they cover, in hash order."""
    names: list[str] = []
    data: list[bytes] = []
    oversigned = policy.oversigned
    for lname, name in policy.fields:
        values = found.get(lname)
        if values is not None:
            names += [name] * len(values)
            prefix = lname + b":"
            for value in reversed(values):
                data += (prefix, relaxed_header_value(value), _CRLF)
        if lname in oversigned:
            names.append(name)
    return names, b"".join(data)
