"""Postmark webhooks: check HTTP basic auth (Postmark sends the credentials written in the
webhook URL), then read the JSON record by its RecordType.

relaylane_id comes back in ``Metadata.relaylane_id`` when the message carried the header
``X-PM-Metadata-relaylane_id: ...`` (SMTP) or ``"Metadata": {"relaylane_id": ...}`` (API).
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Mapping
from typing import Any

from relaylane.bounces.report import Event, Finding
from relaylane.bounces.webhooks.common import (
    UNAUTHORIZED,
    ProviderEvent,
    WebhookRejected,
    guarded,
    iso_time,
    load_json,
    malformed,
    mapping,
    reported,
    suppressed,
    text,
)
from relaylane.config.webhooks import PostmarkWebhookConfig

PROVIDER = "postmark"
RELAYLANE_ID_KEY = "relaylane_id"  # the Metadata key relaylane's id travels in

# Bounce Type -> (event, words kept in the diagnostic so the classifier reads it right).
# Types not listed are UNKNOWN (AddressChange, OpenRelayTest, Unknown, VirusNotification,
# Unconfirmed, SMTPApiError, InboundError, TemplateRenderingFailed, ...).
_BOUNCE_TYPES: dict[str, tuple[Event, str]] = {
    "HardBounce": (Event.BOUNCED, "hard bounce"),
    "BadEmailAddress": (Event.BOUNCED, "bad email address"),
    "Blocked": (Event.BOUNCED, "blocked"),
    "DMARCPolicy": (Event.BOUNCED, "rejected by DMARC policy"),
    # A receiving spam filter rejected the content: a block, not a recipient's complaint
    # (Postmark does not deactivate the address for it).
    "SpamNotification": (Event.BOUNCED, "spam notification: content rejected as spam"),
    "Transient": (Event.DELAYED, "message delayed"),
    "SoftBounce": (Event.DELAYED, "soft bounce"),
    "DnsError": (Event.DELAYED, "DNS error"),
    "SpamComplaint": (Event.COMPLAINED, "spam complaint"),
    "Unsubscribe": (Event.UNSUBSCRIBED, "unsubscribe request"),
    "AutoResponder": (Event.AUTO_REPLY, "auto responder"),
    "ChallengeVerification": (Event.AUTO_REPLY, "challenge verification"),
}
_SKIPPED_BOUNCE_TYPES = frozenset({"Subscribe"})
_PROVIDER_SUPPRESSION = frozenset({"ManuallyDeactivated"})
_SKIPPED_RECORDS = frozenset({"Open", "Click"})

_Read = tuple[Finding | None, float | None]


def verify(headers: Mapping[str, str], config: PostmarkWebhookConfig) -> None:
    """Refuse a request without the configured basic-auth credentials (compared in
    constant time)."""
    scheme, _, token = (headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() != "basic":
        raise WebhookRejected(
            "postmark: no basic-auth credentials; set the webhook URL to "
            "https://USERNAME:PASSWORD@HOST/...",
            UNAUTHORIZED,
        )
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except ValueError:
        decoded = b""
    user, colon, password = decoded.partition(b":")
    user_ok = hmac.compare_digest(user, config.username.encode("utf-8"))
    password_ok = hmac.compare_digest(password, config.password().encode("utf-8"))
    if not (colon and user_ok and password_ok):
        raise WebhookRejected("postmark: wrong basic-auth credentials", UNAUTHORIZED)


@guarded(PROVIDER)
def verify_and_parse(
    headers: Mapping[str, str], body: bytes, config: PostmarkWebhookConfig, now: float
) -> list[ProviderEvent]:
    """Check a Postmark webhook POST and return its event, if relaylane acts on it.

    `now` is unused (Postmark's requests carry no timestamp to check).
    """
    del now
    verify(headers, config)
    record = load_json(body, "postmark: the body")
    if not isinstance(record, dict):
        raise malformed("postmark: the body is not a JSON object")
    return postmark_events(record)


def postmark_events(record: Mapping[str, Any]) -> list[ProviderEvent]:
    """Read one Postmark webhook record: zero or one event."""
    kind = text(record.get("RecordType"))
    if kind in _SKIPPED_RECORDS:
        return []
    finding, when = _READERS.get(kind or "", _unknown)(record)
    if finding is None:
        return []
    metadata = mapping(record.get("Metadata"))
    return [
        ProviderEvent(
            PROVIDER,
            finding,
            text(metadata.get(RELAYLANE_ID_KEY)),
            text(record.get("MessageID")),
            when,
        )
    ]


def _unknown(record: Mapping[str, Any]) -> _Read:
    kind = record.get("RecordType")
    return Finding(Event.UNKNOWN, _recipient(record), diagnostic=f"Postmark record {kind!r}"), None


def _recipient(record: Mapping[str, Any]) -> str | None:
    return text(record.get("Email")) or text(record.get("Recipient"))


def _details(record: Mapping[str, Any]) -> str:
    return (text(record.get("Details")) or text(record.get("Description")) or "").strip()


def _bounce(record: Mapping[str, Any]) -> _Read:
    kind = text(record.get("Type")) or ""
    when = iso_time(record.get("BouncedAt"))
    recipient = _recipient(record)
    details = _details(record)
    if kind in _SKIPPED_BOUNCE_TYPES:
        return None, when
    if kind in _PROVIDER_SUPPRESSION:
        return suppressed(recipient, f"Postmark {kind}: {details}"), when
    mapped = _BOUNCE_TYPES.get(kind)
    if mapped is None:
        return Finding(
            Event.UNKNOWN, recipient, diagnostic=f"Postmark bounce type {kind!r}: {details}"
        ), when
    event, words = mapped
    found = reported(event, recipient, details)
    return Finding(
        event,
        recipient,
        found.code,
        found.status,
        f"{found.diagnostic} (Postmark: {words})".strip(),
    ), when


def _spam_complaint(record: Mapping[str, Any]) -> _Read:
    return (
        Finding(Event.COMPLAINED, _recipient(record), diagnostic="Postmark spam complaint"),
        iso_time(record.get("BouncedAt")),
    )


def _delivery(record: Mapping[str, Any]) -> _Read:
    return (
        reported(Event.DELIVERED, _recipient(record), _details(record)),
        iso_time(record.get("DeliveredAt")),
    )


def _subscription_change(record: Mapping[str, Any]) -> _Read:
    when = iso_time(record.get("ChangedAt"))
    if record.get("SuppressSending") is not True:
        return None, when  # a reactivation: nothing to act on
    recipient = _recipient(record)
    reason = text(record.get("SuppressionReason")) or "unspecified"
    origin = text(record.get("Origin")) or "unknown"
    if reason == "SpamComplaint":  # the only complaint report of broadcast streams
        return Finding(Event.COMPLAINED, recipient, diagnostic="Postmark spam complaint"), when
    if reason == "HardBounce":  # the bounce itself comes through the Bounce webhook
        return suppressed(recipient, "Postmark suppressed the address after a hard bounce"), when
    diagnostic = f"Postmark suppression ({reason}, origin {origin})"
    return Finding(Event.UNSUBSCRIBED, recipient, diagnostic=diagnostic), when


_READERS: dict[str, Callable[[Mapping[str, Any]], _Read]] = {
    "Bounce": _bounce,
    "SpamComplaint": _spam_complaint,
    "Delivery": _delivery,
    "SubscriptionChange": _subscription_change,
}
