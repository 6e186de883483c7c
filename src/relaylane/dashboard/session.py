"""Dashboard sessions and CSRF tokens. Pure: a KeyRing and a clock value in, strings out.

Logging in takes an API key of scope `admin` or `read`. The session cookie then carries
that key's id, when it was issued and an HMAC over both (the store's token keys, purpose
``relaylane-session\\0``), never the key's secret. Every request looks the key up again,
so revoking the key ends its sessions at once; a session also ends `SESSION_TTL` after
login.

State-changing dashboard requests carry a CSRF token: an HMAC of the session cookie's
value (purpose ``relaylane-csrf\\0``). A cross-site page can neither read the cookie
(HttpOnly, SameSite=Strict) nor compute the token. The RFC 8058 one-click endpoint is
deliberately not a dashboard route and needs no token.
"""

from __future__ import annotations

import base64
import hmac
import re

from relaylane.bounces.tokens import MAC_BYTES, KeyRing

COOKIE = "relaylane_session"
CSRF_FIELD = "csrf"
SESSION_TTL = 12 * 3600.0  # seconds a login lasts
_SESSION = b"relaylane-session\0"
_CSRF = b"relaylane-csrf\0"
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")


def session_cookie(ring: KeyRing, key_id: str, now: float) -> str:
    """The cookie value for an API key id logged in at `now`."""
    if not _KEY_ID.fullmatch(key_id):
        raise ValueError(f"{key_id!r} is not an API key id")
    key = ring.signing_key
    body = f"{key.id}.{key_id}.{int(now)}"
    return f"{body}.{_mac(key.secret, _SESSION, body)}"


def session_key_id(ring: KeyRing, cookie: str, now: float) -> str | None:
    """The API key id of a valid, unexpired session cookie, else None."""
    parts = cookie.split(".")
    if len(parts) != 4 or not parts[0].isdigit() or not parts[2].isdigit():
        return None
    ring_key, key_id, issued, mac = parts
    key = ring.key(int(ring_key))
    body = f"{ring_key}.{key_id}.{issued}"
    if key is None or not hmac.compare_digest(mac, _mac(key.secret, _SESSION, body)):
        return None
    if not 0 <= now - int(issued) < SESSION_TTL:
        return None
    return key_id


def csrf_token(ring: KeyRing, cookie: str) -> str:
    return _mac(ring.signing_key.secret, _CSRF, cookie)


def csrf_ok(ring: KeyRing, cookie: str, token: str) -> bool:
    """The token was made for this session (by any key the ring holds)."""
    return any(hmac.compare_digest(token, _mac(k.secret, _CSRF, cookie)) for k in ring.keys)


def _mac(secret: bytes, purpose: bytes, body: str) -> str:
    digest = hmac.digest(secret, purpose + body.encode(), "sha256")[: 2 * MAC_BYTES]
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")
