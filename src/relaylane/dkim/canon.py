"""Relaxed canonicalization (RFC 6376 section 3.4.2 and 3.4.4) and the body hash."""

from __future__ import annotations

import hashlib
import re

_WSP_RUN = re.compile(rb"[ \t]+")
_WSP_BEFORE_CRLF = re.compile(rb"[ \t]+\r\n")
_CRLF = b"\r\n"


def relaxed_header_value(value: bytes) -> bytes:
    """A header field's value (what follows its colon, folds included), canonicalized.

    Unfolds (drops every CRLF), turns each run of spaces and tabs into one space and
    strips the whitespace at both ends.
    """
    if b"\r" in value or b"\n" in value:
        value = value.replace(b"\r", b"").replace(b"\n", b"")
    if b"\t" in value or b"  " in value:
        value = _WSP_RUN.sub(b" ", value)
    return value.strip(b" \t")


def relaxed_header(name: bytes, value: bytes) -> bytes:
    """``name:value`` in relaxed canonical form, CRLF-terminated."""
    return name.strip(b" \t").lower() + b":" + relaxed_header_value(value) + _CRLF


def relaxed_body(body: bytes) -> bytes:
    """A message body in relaxed canonical form.

    Whitespace at the ends of lines goes, other runs of spaces and tabs become one space,
    empty lines at the end go; a non-empty body ends with exactly one CRLF (one is added
    when missing, as SMTP will add it on the wire) and an empty body stays empty.
    """
    if body and not body.endswith(_CRLF):
        body += _CRLF
    if b" \r\n" in body or b"\t" in body:
        body = _WSP_BEFORE_CRLF.sub(_CRLF, body)
    if b"\t" in body or b"  " in body:
        body = _WSP_RUN.sub(b" ", body)
    end = len(body)
    while body.endswith(_CRLF, 0, end):
        end -= 2
    return body[: end + 2] if end > 0 else b""


def body_hash(body: bytes) -> bytes:
    """SHA-256 of the relaxed canonical body: the raw 32-byte digest behind ``bh=``.

    Compute it once per message body and reuse it for every delivery of that body.
    """
    return hashlib.sha256(relaxed_body(body)).digest()
