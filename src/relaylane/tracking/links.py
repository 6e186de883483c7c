"""Open and click tracking URLs, and their signed tokens. Pure: no storage, no clock.

URLs
----
    open pixel:  {base}/t/o/{open token}.gif
    click:       {base}/t/c/{click token}

`base` is the public root of relaylane's HTTP listener as seen from a mail client
(`Config.tracking_base`: a domain's `tracking_domain`, else `[http] public_url`).

Open tokens
-----------
The layout of a delivery token (`bounces.tokens`): lower-case base32 of a 2-byte key id,
the 8-byte delivery id and a 10-byte truncated HMAC-SHA256, made with the same `KeyRing`.

Click tokens
------------
A click token carries its target, so a click can only ever lead to the URL that was in
the message, and nothing is stored per link: base64url (no padding) of

    key id (2 bytes) | delivery id (8 bytes) | MAC (10 bytes) | target URL (ASCII)

where MAC = HMAC-SHA256(key, purpose | key id | delivery id | target URL)[:10]. The URL is
the only variable-length field and comes last, so the layout is unambiguous. Changing
any byte of the URL (another site: an open redirect) or of the delivery id (another
recipient's click) breaks the MAC; without the key nobody can make a token that
redirects anywhere.

Purposes
--------
    delivery (VERP, X-Relaylane-ID):  b"relaylane-delivery\\0"
    unsubscribe (URL, mailto):        b"relaylane-unsubscribe\\0"
    open pixel:                       b"relaylane-open\\0"
    click:                            b"relaylane-click\\0"

Each prefix ends in NUL and they differ before it, so no MAC input of one purpose equals
one of another. That matters because these tokens travel to different audiences with
different powers: an open pixel URL is fetched by image proxies and survives a forwarded
message, so it must not work as an unsubscribe token (anyone holding it could unsubscribe
the recipient) nor as a delivery token (it would match bounces); and a VERP token, which
every relay and bounce sees, must not record opens or clicks. A token made for one purpose
verifies for another only by a 2**-80 chance.

Like unsubscribe tokens, tracking tokens never expire (a message is read, and its links
followed, years later) and verify with any key the ring holds, retired or not (see the
key rule in `unsubscribe.oneclick`: token keys are never deleted).

Targets
-------
Only absolute http and https URLs with a host are wrapped, at most `MAX_URL` (2,048)
characters after normalisation (`target_url`): surrounding whitespace is dropped, tabs
and line breaks inside are removed (as browsers do), and every other octet outside
printable ASCII (spaces, controls, non-ASCII as UTF-8) is percent-encoded. The resulting
click URL is about 4/3 of the target plus ~30 characters and the base.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re
import urllib.parse

from relaylane.bounces.tokens import MAC_BYTES, TOKEN_CHARS, KeyRing, TokenKey
from relaylane.errors import InputError

__all__ = [
    "CLICK_PATH",
    "MAX_BASE_URL",
    "MAX_URL",
    "OPEN_PATH",
    "OPEN_SUFFIX",
    "TrackingLinks",
    "target_url",
    "verify_click",
    "verify_open",
]

OPEN_PATH = "/t/o/"  # {base}/t/o/{token}.gif
OPEN_SUFFIX = ".gif"
CLICK_PATH = "/t/c/"  # {base}/t/c/{token}
MAX_URL = 2048  # characters of a click target, after normalisation
MAX_BASE_URL = 255  # characters of the tracking base URL

_OPEN_PURPOSE = b"relaylane-open\0"  # see the module docstring
_CLICK_PURPOSE = b"relaylane-click\0"
_HEAD = 10  # key id + delivery id
_OPEN_TOKEN = re.compile(rf"[a-z2-7]{{{TOKEN_CHARS}}}")
_MAX_CLICK_TOKEN = -(-(_HEAD + MAC_BYTES + MAX_URL) * 4 // 3)
_CLICK_TOKEN = re.compile(rf"[A-Za-z0-9_-]{{{TOKEN_CHARS},{_MAX_CLICK_TOKEN}}}")
_DROPPED = str.maketrans("", "", "\t\n\r")  # removed inside URLs, as browsers do
_PRINTABLE = re.compile(r"[\x21-\x7e]+")
_ENCODE = re.compile(r"[^\x21-\x7e]+")  # spaces, controls, non-ASCII
# scheme, optional userinfo, a host (a name, or an IP literal in brackets), optional port
_HTTP_URL = re.compile(
    r"https?://(?:[^/?#@]*@)?(?:\[[0-9A-Za-z:.%_~-]+\]|[^/?#:@\[\]]+)(?::[0-9]*)?(?:[/?#]|\Z)",
    re.IGNORECASE,
)
_BASE_CHARS = re.compile(r"[A-Za-z0-9._~:/@!$&'()*+,;=%-]+")  # RFC 3986 minus ?#[] and <>


def target_url(url: str) -> str | None:
    """`url` as a click target (normalised, see the module docstring), or None when it
    cannot be one: not absolute http(s) with a host, or longer than `MAX_URL`."""
    url = url.strip(" \t\n\r\f")
    if "\t" in url or "\n" in url or "\r" in url:
        url = url.translate(_DROPPED)
    if len(url) > MAX_URL:  # each character encodes to at least one
        return None
    if not _PRINTABLE.fullmatch(url):
        url = _ENCODE.sub(_percent, url)
        if len(url) > MAX_URL:
            return None
    return url if _HTTP_URL.match(url) else None


def _percent(found: re.Match[str]) -> str:
    return urllib.parse.quote(found[0], safe="", errors="surrogatepass")


class TrackingLinks:
    """Makes the open and click URLs of one base URL, signed with the ring's newest key."""

    def __init__(self, ring: KeyRing, base_url: str) -> None:
        self.ring = ring
        self.base = _base(base_url)

    def open_url(self, delivery_id: int) -> str:
        """{base}/t/o/{token}.gif: the open pixel of a delivery."""
        key = self.ring.signing_key
        head = _head(key, delivery_id)
        raw = head + _mac(key.secret, _OPEN_PURPOSE, head)
        token = base64.b32encode(raw).decode("ascii").lower()
        return f"{self.base}{OPEN_PATH}{token}{OPEN_SUFFIX}"

    def click_url(self, delivery_id: int, url: str) -> str:
        """{base}/t/c/{token}: redirects to `url` (normalised by `target_url`) and records a
        click of the delivery. Raises ValueError when `url` cannot be a target."""
        target = target_url(url)
        if target is None:
            raise ValueError(f"{url[:80]!r} is not an http(s) URL of at most {MAX_URL} characters")
        key = self.ring.signing_key
        head = _head(key, delivery_id)
        data = target.encode("ascii")
        raw = head + _mac(key.secret, _CLICK_PURPOSE, head + data) + data
        token = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
        return f"{self.base}{CLICK_PATH}{token}"

    def is_tracking_url(self, url: str) -> bool:
        """Is `url` one of this base's open or click URLs (so never wrapped again)?"""
        return url.startswith((self.base + OPEN_PATH, self.base + CLICK_PATH))


def verify_open(ring: KeyRing, token: str) -> int | None:
    """The delivery id of an open token (without ".gif"), or None: malformed, unknown key
    or a MAC that does not verify (tokens of other purposes are refused). Never expires."""
    token = token.strip().lower()
    if not _OPEN_TOKEN.fullmatch(token):
        return None
    try:
        raw = base64.b32decode(token.upper())
    except (binascii.Error, ValueError):  # pragma: no cover - the pattern admits only base32
        return None
    head, mac = raw[:_HEAD], raw[_HEAD:]
    key = _key(ring, head)
    if key is None or not hmac.compare_digest(mac, _mac(key.secret, _OPEN_PURPOSE, head)):
        return None
    return int.from_bytes(head[2:], "big")


def verify_click(ring: KeyRing, token: str) -> tuple[int, str] | None:
    """(delivery id, target URL) of a click token, or None: malformed, unknown key, a MAC
    that does not verify, or a target that is not one `click_url` would have made.
    Never expires."""
    if not _CLICK_TOKEN.fullmatch(token):
        return None
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):  # a length no encoding has
        return None
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != token:
        return None  # non-canonical spelling (stray low bits): not one we made
    head, mac, data = raw[:_HEAD], raw[_HEAD : _HEAD + MAC_BYTES], raw[_HEAD + MAC_BYTES :]
    key = _key(ring, head)
    if key is None or not hmac.compare_digest(mac, _mac(key.secret, _CLICK_PURPOSE, head + data)):
        return None
    try:
        url = data.decode("ascii")
    except UnicodeDecodeError:
        return None
    if target_url(url) != url:  # only with a leaked key; never redirect to anything odd
        return None
    return int.from_bytes(head[2:], "big"), url


def _head(key: TokenKey, delivery_id: int) -> bytes:
    if not 0 <= delivery_id < 2**64:
        raise ValueError(f"delivery id {delivery_id} does not fit in 8 bytes")
    return key.id.to_bytes(2, "big") + delivery_id.to_bytes(8, "big")


def _key(ring: KeyRing, head: bytes) -> TokenKey | None:
    if len(head) != _HEAD:
        return None
    # KeyRing has no public lookup by id (see unsubscribe.oneclick._key); every key it
    # holds verifies, retired or not.
    return ring.key(int.from_bytes(head[:2], "big"))


def _mac(secret: bytes, purpose: bytes, data: bytes) -> bytes:
    return hmac.digest(secret, purpose + data, "sha256")[:MAC_BYTES]


def _base(base_url: str) -> str:
    fix = "give the public http(s) root of relaylane, e.g. https://track.acme.example"
    base = base_url.rstrip("/")
    if not base.isascii() or not _BASE_CHARS.fullmatch(base):
        raise InputError("base_url", f"{base_url!r} is not a plain http(s) URL", fix)
    if len(base) > MAX_BASE_URL:
        raise InputError(
            "base_url",
            f"the base URL is {len(base)} characters long",
            f"use at most {MAX_BASE_URL}",
        )
    parts = urllib.parse.urlsplit(base)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
        raise InputError("base_url", f"{base_url!r} is not an http(s) URL", fix)
    return base
