"""Byte-level checks and edits of a submitted message, before it is parsed.

- `bare_line_break`: a CR or LF that is not part of CRLF. aiosmtpd ends DATA only at
  <CRLF>.<CRLF>, but a relay further on may also end it at <LF>.<LF> or <CR>.<CR>: a
  message holding such bytes could smuggle a second message past it, so it is refused.
- `strip_control_headers`: removes every X-Relaylane-* header (relaylane's own control
  headers, e.g. X-Relaylane-Lane) and any Return-Path (written by the final receiver
  from the envelope) from the header block, folded continuation lines included, and
  returns what it removed. A header line is recognised exactly as the email package's
  parser does (`name:` with no blank before the colon), so both agree on where the
  header block ends; everything from there on is kept byte for byte.
- `received_header`: the trace line this server adds (RFC 5321 4.4, RFC 3848).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from relaylane.delivery.headers import format_date

_BARE_CR_OR_LF = re.compile(rb"\r(?!\n)|(?<!\r)\n")
_HEADER_LINE = re.compile(rb"([\x21-\x39\x3b-\x7e]+):")  # as email.feedparser.headerRE
_CONTROL_PREFIX = b"x-relaylane-"
_REMOVED_NAMES = frozenset({b"return-path"})
_UNSAFE = re.compile(r"[^\x21-\x7e]")  # trace text: printable ASCII, no blanks
_MAX_HELO = 64


@dataclass(frozen=True, slots=True)
class RemovedHeader:
    name: str  # lower case
    value: str  # unfolded, stripped; undecodable bytes replaced


def bare_line_break(data: bytes) -> bool:
    """True if `data` holds a CR not followed by LF or an LF not preceded by CR."""
    return _BARE_CR_OR_LF.search(data) is not None


def strip_control_headers(raw: bytes) -> tuple[bytes, list[RemovedHeader]]:
    """`raw` without X-Relaylane-* and Return-Path headers, and those headers."""
    lines = raw.splitlines(keepends=True)
    kept: list[bytes] = []
    removed: list[tuple[bytes, list[bytes]]] = []
    dropping = False
    for index, line in enumerate(lines):
        if line[:1] in (b" ", b"\t") and index > 0:
            (removed[-1][1] if dropping else kept).append(line)
            continue
        match = _HEADER_LINE.match(line)
        if match is None:  # the blank line, or a body with no blank line before it
            kept.extend(lines[index:])
            break
        name = match.group(1).lower()
        dropping = name.startswith(_CONTROL_PREFIX) or name in _REMOVED_NAMES
        if dropping:
            removed.append((name, [line[match.end() :]]))
        else:
            kept.append(line)
    return b"".join(kept), [_removed(name, parts) for name, parts in removed]


def _removed(name: bytes, parts: list[bytes]) -> RemovedHeader:
    value = b"".join(parts).replace(b"\r", b"").replace(b"\n", b"")
    return RemovedHeader(name.decode("ascii"), value.decode("utf-8", "replace").strip())


def received_header(*, helo: str | None, ip: str, hostname: str, tls: bool, now: float) -> bytes:
    """`Received: from HELO ([IP]) by HOSTNAME (relaylane) with ESMTPSA; DATE` (folded).

    Only authenticated mail is accepted, hence ESMTPA, or ESMTPSA over TLS (RFC 3848).
    """
    name = _UNSAFE.sub("?", helo or "unknown")[:_MAX_HELO] or "unknown"
    literal = f"IPv6:{ip}" if ":" in ip else ip
    protocol = "ESMTPSA" if tls else "ESMTPA"
    return (
        f"Received: from {name} ([{literal}])\r\n"
        f"\tby {_UNSAFE.sub('?', hostname)} (relaylane) with {protocol};\r\n"
        f"\t{format_date(now)}\r\n"
    ).encode("ascii")
