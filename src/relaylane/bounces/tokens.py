"""Signed delivery tokens: the VERP local part and the X-Relaylane-ID header value.

A token is the lower-case base32 (no padding) of 20 bytes: a 2-byte key id, the 8-byte
delivery id, and the first 10 bytes of HMAC-SHA256(key, purpose | key id | delivery id).
It names no address, and nobody without the key can make one that verifies: a forged
bounce maps to no delivery and is acted on by nothing.

Keys rotate: the newest key signs; a key stays accepted for `RETIRED_KEY_GRACE` (30 days)
after a newer one replaced it, so bounces of mail sent before a rotation still match.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

RETIRED_KEY_GRACE = 30 * 86400.0  # seconds a replaced key stays accepted
KEY_BYTES = 32
MAC_BYTES = 10
TOKEN_CHARS = 32  # base32 of 2 + 8 + 10 bytes
VERP_PREFIX = "b-"
_PURPOSE = b"relaylane-delivery\0"
_TOKEN = re.compile(r"[a-z2-7]{32}")
_VERP_LOCAL = re.compile(r"b-([a-z2-7]{32})", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class TokenKey:
    id: int  # 1..65535
    secret: bytes
    created_at: float
    retired_at: float | None = None  # when a newer key replaced it

    def accepted(self, now: float) -> bool:
        return self.retired_at is None or now < self.retired_at + RETIRED_KEY_GRACE


def new_secret() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


class KeyRing:
    """The keys a process signs and verifies with. Pure: no storage, no clock of its own."""

    def __init__(self, keys: Sequence[TokenKey]) -> None:
        if not keys:
            raise ValueError("a key ring needs at least one key")
        self._by_id = {k.id: k for k in keys}
        self._signer = max(keys, key=lambda k: (k.created_at, k.id))

    def key(self, key_id: int) -> TokenKey | None:
        """The key with this id, retired or not (every purpose's tokens verify with it)."""
        return self._by_id.get(key_id)

    @property
    def keys(self) -> tuple[TokenKey, ...]:
        return tuple(self._by_id.values())

    @property
    def signing_key(self) -> TokenKey:
        return self._signer

    def token(self, delivery_id: int) -> str:
        """The token for a delivery, signed with the newest key."""
        key = self._signer
        head = key.id.to_bytes(2, "big") + delivery_id.to_bytes(8, "big")
        raw = head + _mac(key.secret, head)
        return base64.b32encode(raw).decode("ascii").lower()

    def delivery_of(self, token: str, now: float) -> int | None:
        """The delivery id a token was made for, or None: malformed, unknown or expired
        key, or a MAC that does not verify."""
        token = token.strip().strip("<>").lower()
        if not _TOKEN.fullmatch(token):
            return None
        try:
            raw = base64.b32decode(token.upper())
        except (binascii.Error, ValueError):
            return None
        head, mac = raw[:10], raw[10:]
        key = self._by_id.get(int.from_bytes(head[:2], "big"))
        if key is None or not key.accepted(now):
            return None
        if not hmac.compare_digest(mac, _mac(key.secret, head)):
            return None
        return int.from_bytes(head[2:], "big")


def _mac(secret: bytes, head: bytes) -> bytes:
    return hmac.digest(secret, _PURPOSE + head, "sha256")[:MAC_BYTES]  # OpenSSL one-shot


def verp_address(token: str, return_path_domain: str) -> str:
    """The envelope sender for one delivery: b-<token>@<return-path domain> (34-octet
    local part, within RFC 5321's 64)."""
    return f"{VERP_PREFIX}{token}@{return_path_domain}"


def verp_token(address: str) -> str | None:
    """The token in a VERP address, or None when the address is not one of ours."""
    local = address.strip().strip("<>").rpartition("@")[0]
    found = _VERP_LOCAL.fullmatch(local)
    return found[1].lower() if found else None
