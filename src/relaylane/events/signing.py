"""The `Relaylane-Signature` header: HMAC-SHA256 over the timestamp and the body. Pure.

    Relaylane-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, b"<t>." + body)>

A receiver recomputes the HMAC over the exact bytes it received, compares in constant
time, and refuses timestamps further than `tolerance` seconds from its clock (replays).
Several `v1=` values may appear (one per secret while a secret is being rotated); any
one that matches is enough. Unknown keys are ignored, so later schemes can be added.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["DEFAULT_TOLERANCE", "SIGNATURE_HEADER", "signature_header", "verify_signature"]

SIGNATURE_HEADER = "Relaylane-Signature"
DEFAULT_TOLERANCE = 300  # seconds between the signature's time and the receiver's clock


def _digest(secret: str | bytes, timestamp: int, body: bytes) -> str:
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    signed = f"{timestamp}.".encode("ascii") + body
    return hmac.new(key, signed, hashlib.sha256).hexdigest()


def signature_header(secret: str | bytes, body: bytes, timestamp: int) -> str:
    """The header value for `body` signed at `timestamp` (unix seconds)."""
    return f"t={timestamp},v1={_digest(secret, timestamp, body)}"


def verify_signature(
    secret: str | bytes,
    header: str,
    body: bytes,
    now: float,
    tolerance: float = DEFAULT_TOLERANCE,
) -> bool:
    """True when `header` signs exactly `body` with `secret`, at a time within
    `tolerance` seconds of `now`. False for anything else, including a malformed header."""
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep:
            return False
        if key == "t":
            if timestamp is not None or not value.isascii() or not value.isdigit():
                return False
            timestamp = int(value)
        elif key == "v1":
            candidates.append(value)
    if timestamp is None or not candidates or abs(now - timestamp) > tolerance:
        return False
    expected = _digest(secret, timestamp, body).encode("ascii")
    return any(hmac.compare_digest(expected, c.encode("utf-8")) for c in candidates)
