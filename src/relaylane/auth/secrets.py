"""Secrets at rest: API keys (high-entropy, stored as SHA-256) and SMTP passwords
(chosen by people, stored with scrypt). Pure functions; no I/O.

An API key reads `rl_<key id>_<secret>`. The key id is public (it names the key in
`keys list` and logs); only the SHA-256 of the whole key is stored, so a copy of the
database does not let anyone send.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "rl"
KEY_ID_BYTES = 6  # 12 hex characters
KEY_SECRET_BYTES = 24  # 192 bits
PASSWORD_BYTES = 18  # generated SMTP passwords: 24 URL-safe characters
# scrypt cost (RFC 7914): 2^15 * 8 * 128 bytes = 32 MiB and ~0.1 s per check; a verified
# credential is remembered by the submission server, so clients don't pay it per message.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1
SCRYPT_MAXMEM = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class NewApiKey:
    key_id: str
    token: str  # shown once, never stored
    secret_hash: str


def new_api_key() -> NewApiKey:
    key_id = secrets.token_hex(KEY_ID_BYTES)
    token = f"{KEY_PREFIX}_{key_id}_{secrets.token_urlsafe(KEY_SECRET_BYTES)}"
    return NewApiKey(key_id=key_id, token=token, secret_hash=hash_api_key(token))


def hash_api_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def api_key_id(token: str) -> str | None:
    """The key id inside a well-formed token, else None."""
    prefix, sep, rest = token.partition("_")
    key_id, sep2, secret = rest.partition("_")
    if prefix != KEY_PREFIX or not sep or not sep2 or not secret:
        return None
    if len(key_id) != 2 * KEY_ID_BYTES or not all(c in "0123456789abcdef" for c in key_id):
        return None
    return key_id


def api_key_matches(token: str, secret_hash: str) -> bool:
    return hmac.compare_digest(hash_api_key(token), secret_hash)


def new_password() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = _scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P)
    return "$".join(
        ("scrypt", str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P), _b64(salt), _b64(digest))
    )


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(digest)
        got = _scrypt(password, base64.b64decode(salt), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password.encode("utf-8", "surrogateescape"),
        salt=salt,
        n=n,
        r=r,
        p=p,
        maxmem=SCRYPT_MAXMEM,
        dklen=32,
    )


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
