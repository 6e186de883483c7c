"""Mailgun webhooks: verify the HMAC-SHA256 signature inside the body, refuse stale and
replayed tokens, read ``event-data``.

relaylane_id comes back in ``event-data.user-variables`` when the message carried it as
``X-Mailgun-Variables: {"relaylane_id": "..."}``.
"""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from relaylane.bounces.report import Event, Finding
from relaylane.bounces.webhooks.common import (
    ProviderEvent,
    WebhookRejected,
    check_fresh,
    enhanced,
    guarded,
    load_json,
    malformed,
    mapping,
    number,
    reply_code,
    reported,
    suppressed,
    text,
)
from relaylane.config.webhooks import MailgunWebhookConfig

PROVIDER = "mailgun"
RELAYLANE_ID_VARIABLE = "relaylane_id"
DEFAULT_TOKEN_MEMORY = 10_000  # tokens remembered per process to refuse replays

_SKIPPED = frozenset({"accepted", "opened", "clicked", "stored"})
_PLAIN = {
    "delivered": Event.DELIVERED,
    "complained": Event.COMPLAINED,
    "unsubscribed": Event.UNSUBSCRIBED,
}
_SEVERITY = {"permanent": Event.BOUNCED, "temporary": Event.DELAYED}


class RecentTokens:
    """Tokens of recently accepted requests, so a replay within max_age is refused.

    Bounded (the oldest are forgotten first) and per process; thread-safe. A token older
    than max_age may be forgotten safely: its timestamp is refused as stale anyway.
    """

    def __init__(self, capacity: int = DEFAULT_TOKEN_MEMORY) -> None:
        self._capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()  # token -> signed timestamp
        self._lock = threading.Lock()

    def admit(self, token: str, timestamp: float, now: float, max_age: float) -> bool:
        """Remember `token`; False when it was already seen (a replay)."""
        with self._lock:
            while self._seen and next(iter(self._seen.values())) < now - max_age:
                self._seen.popitem(last=False)
            if token in self._seen:
                return False
            self._seen[token] = timestamp
            while len(self._seen) > self._capacity:
                self._seen.popitem(last=False)
            return True


RECENT_TOKENS = RecentTokens()  # the default memory, shared by the process


def verify(
    payload: Mapping[str, Any], config: MailgunWebhookConfig, now: float, tokens: RecentTokens
) -> None:
    """Refuse a payload whose signature is missing, wrong, stale or replayed."""
    signature = mapping(payload.get("signature"))
    timestamp = signature.get("timestamp")
    stamp = str(timestamp) if isinstance(timestamp, (str, int)) else ""
    token = text(signature.get("token")) or ""
    given = text(signature.get("signature")) or ""
    if not (stamp and token and given):
        raise WebhookRejected(
            "mailgun: the request is not signed (no signature.timestamp, .token, .signature)"
        )
    if not (stamp.isascii() and stamp.isdigit() and token.isascii() and given.isascii()):
        raise WebhookRejected("mailgun: the signature fields are not what Mailgun sends")
    check_fresh(float(stamp), now, config.max_age, PROVIDER)
    expected = hmac.new(
        config.signing_key().encode("utf-8"), (stamp + token).encode("ascii"), hashlib.sha256
    ).hexdigest()
    if not hmac.compare_digest(expected.encode("ascii"), given.lower().encode("ascii")):
        raise WebhookRejected(
            "mailgun: the signature does not verify with the key in [webhooks.mailgun] "
            "signing_key_env"
        )
    if not tokens.admit(token, float(stamp), now, config.max_age):
        raise WebhookRejected("mailgun: this signature token was already used (replay)")


@guarded(PROVIDER)
def verify_and_parse(
    headers: Mapping[str, str],
    body: bytes,
    config: MailgunWebhookConfig,
    now: float,
    *,
    tokens: RecentTokens | None = None,
) -> list[ProviderEvent]:
    """Verify a Mailgun webhook POST (JSON) and return its event, if relaylane acts on it.

    `headers` is unused (Mailgun signs inside the body). `tokens` remembers accepted
    tokens; the process-wide RECENT_TOKENS when None.
    """
    del headers
    payload = load_json(body, "mailgun: the body")
    if not isinstance(payload, dict):
        raise malformed("mailgun: the body is not a JSON object")
    verify(payload, config, now, RECENT_TOKENS if tokens is None else tokens)
    data = payload.get("event-data")
    if not isinstance(data, dict):
        raise malformed("mailgun: the body has no event-data object")
    return mailgun_events(data)


def mailgun_events(data: Mapping[str, Any]) -> list[ProviderEvent]:
    """Read one Mailgun event-data object: zero or one event."""
    finding = _finding(data)
    if finding is None:
        return []
    variables = mapping(data.get("user-variables"))  # [] when there are none
    headers = mapping(mapping(data.get("message")).get("headers"))
    return [
        ProviderEvent(
            PROVIDER,
            finding,
            text(variables.get(RELAYLANE_ID_VARIABLE)),
            text(headers.get("message-id")),
            number(data.get("timestamp")),
        )
    ]


def _finding(data: Mapping[str, Any]) -> Finding | None:
    kind = text(data.get("event"))
    recipient = text(data.get("recipient"))
    status = mapping(data.get("delivery-status"))
    if kind in _SKIPPED:
        return None
    if kind == "failed":
        return _failed(data, recipient, status)
    if kind in _PLAIN:
        return reported(
            _PLAIN[kind], recipient, _status_text(status), code=reply_code(status.get("code"))
        )
    return Finding(Event.UNKNOWN, recipient, diagnostic=f"Mailgun event {kind!r}")


def _failed(data: Mapping[str, Any], recipient: str | None, status: Mapping[str, Any]) -> Finding:
    severity = text(data.get("severity"))
    reason = text(data.get("reason")) or ""
    diagnostic = _status_text(status) or f"Mailgun failed ({reason or 'no reason given'})"
    if reason.startswith("suppress-"):  # Mailgun's own bounce/unsubscribe/complaint lists
        return suppressed(recipient, f"Mailgun {reason}: {diagnostic}")
    event = _SEVERITY.get(severity or "")
    if event is None:
        return Finding(
            Event.UNKNOWN,
            recipient,
            diagnostic=f"Mailgun failed, severity {severity!r}: {diagnostic}",
        )
    return reported(
        event,
        recipient,
        diagnostic,
        status=enhanced(status.get("enhanced-code")),
        code=reply_code(status.get("code")),
    )


def _status_text(status: Mapping[str, Any]) -> str:
    """delivery-status.message, then .description when it adds something."""
    parts: list[str] = []
    for key in ("message", "description"):
        value = text(status.get(key))
        if value and value.strip() and value.strip() not in parts:
            parts.append(value.strip())
    return "; ".join(parts)
