"""Double opt-in: the signed confirmation link of one list membership, and its message.

A confirmation token is lower-case base32 of a 2-byte key id, the 8-byte list id, the
8-byte contact id and a 10-byte truncated HMAC-SHA256 over them, made with the same
`KeyRing` as delivery, unsubscribe and tracking tokens. Its purpose prefix,
``relaylane-confirm\\0``, differs from theirs before the NUL, so no token of another kind
verifies as a confirmation (and the reverse), save by a 2**-80 chance. Tokens do not
expire: a late confirmation is still a confirmation, and nothing but a pending
membership can be confirmed (an unsubscribed member stays unsubscribed).

The link is ``<public_url>/c/<token>``: a GET shows a page with a button, the button POSTs
(mail scanners fetch every link in a message; a GET never confirms).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import html
import re
from collections.abc import Sequence

from relaylane.bounces.tokens import MAC_BYTES, KeyRing
from relaylane.config.models import Config
from relaylane.delivery.addresses import parse_address
from relaylane.delivery.compose import Composed, compose
from relaylane.delivery.submit import Origin, build_message
from relaylane.errors import InputError
from relaylane.policy.vocabulary import LanePurpose
from relaylane.records import NewMessage

URL_PATH = "/c/"
_PURPOSE = b"relaylane-confirm\0"
_HEAD = 2 + 8 + 8
_TOKEN = re.compile(r"[a-z2-7]{45}")  # 28 bytes of base32, unpadded: 45 characters


def confirm_token(ring: KeyRing, list_id: int, contact_id: int) -> str:
    key = ring.signing_key
    head = key.id.to_bytes(2, "big") + list_id.to_bytes(8, "big") + contact_id.to_bytes(8, "big")
    raw = head + _mac(key.secret, head)
    return base64.b32encode(raw).decode("ascii").rstrip("=").lower()


def verify_confirm_token(ring: KeyRing, token: str) -> tuple[int, int] | None:
    """(list id, contact id) of a valid token, else None."""
    token = token.strip().lower()
    if not _TOKEN.fullmatch(token):
        return None
    try:
        raw = base64.b32decode(token.upper() + "===")
    except (binascii.Error, ValueError):
        return None
    if base64.b32encode(raw).decode("ascii").rstrip("=").lower() != token:
        return None  # the unused low bit of the last character must be 0: one spelling
    head, mac = raw[:_HEAD], raw[_HEAD:]
    key = ring.key(int.from_bytes(head[:2], "big"))
    if key is None or not hmac.compare_digest(mac, _mac(key.secret, head)):
        return None
    return int.from_bytes(head[2:10], "big"), int.from_bytes(head[10:], "big")


def _mac(secret: bytes, head: bytes) -> bytes:
    return hmac.digest(secret, _PURPOSE + head, "sha256")[:MAC_BYTES]


def confirm_url(base_url: str, token: str) -> str:
    return f"{base_url.rstrip('/')}{URL_PATH}{token}"


def confirmation_message(from_: str, list_name: str, url: str, subject: str | None) -> Composed:
    """The confirmation request: plain, short, one link, no tracking."""
    text = (
        f"Please confirm that you want to receive mail from the list {list_name}:\n\n"
        f"{url}\n\nIf you did not ask for this, ignore this message: you will not be "
        "added.\n"
    )
    html = (
        f"<p>Please confirm that you want to receive mail from the list "
        f'<b>{_escape(list_name)}</b>.</p>\n<p><a href="{_escape(url)}">Confirm my '
        "subscription</a></p>\n<p>If you did not ask for this, ignore this message: you "
        "will not be added.</p>\n"
    )
    return compose(
        from_=from_, subject=subject or f"Please confirm your subscription to {list_name}",
        text=text, html=html,
    )  # fmt: skip


def _escape(text: str) -> str:
    return html.escape(text, quote=True)


def confirmations(
    config: Config,
    ring: KeyRing,
    list_id: int,
    list_name: str,
    pending: Sequence[tuple[int, str]],
    *,
    from_: str,
    lane: str | None,
    subject: str | None,
    now: float,
) -> list[NewMessage]:
    """One confirmation request per pending member, through `lane` (default: the first
    transactional lane): one message each, since each link is the member's own."""
    name = lane or _transactional(config)
    base = config.http.base_url
    out = []
    for contact_id, email in pending:
        url = confirm_url(base, confirm_token(ring, list_id, contact_id))
        composed = confirmation_message(from_, list_name, url, subject)
        origin = Origin(source="cli", metadata=(("double_opt_in", list_name),))
        rcpt = parse_address(email, field="email", allow_display_name=False)
        out.append(
            build_message(
                config, name, composed, [rcpt], now, origin=origin, lane_field="--confirm-lane"
            )
        )
    return out


def _transactional(config: Config) -> str:
    for lane in config.lane:
        if lane.purpose is LanePurpose.TRANSACTIONAL:
            return lane.name
    raise InputError(
        "--confirm-lane",
        "double opt-in sends its confirmations through a transactional lane, and there is none",
        "add a transactional [[lane]] or name one with --confirm-lane",
    )
