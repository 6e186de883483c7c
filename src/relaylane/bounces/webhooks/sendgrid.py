"""SendGrid's Signed Event Webhook: verify the ECDSA P-256 signature over timestamp + body,
then read the JSON array of events.

relaylane_id comes back as a top-level key of each event when the message carried it as a
unique argument: ``X-SMTPAPI: {"unique_args": {"relaylane_id": "..."}}``.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from relaylane.bounces.report import Event, Finding
from relaylane.bounces.webhooks.common import (
    ProviderEvent,
    WebhookRejected,
    check_fresh,
    enhanced,
    guarded,
    load_json,
    malformed,
    number,
    reported,
    text,
)
from relaylane.config.webhooks import SendgridWebhookConfig

PROVIDER = "sendgrid"
SIGNATURE_HEADER = "x-twilio-email-event-webhook-signature"
TIMESTAMP_HEADER = "x-twilio-email-event-webhook-timestamp"
RELAYLANE_ID_ARG = "relaylane_id"  # the unique/custom argument relaylane's id travels in

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SKIPPED = frozenset({"processed", "open", "click", "group_resubscribe"})


def verify(
    headers: Mapping[str, str], body: bytes, config: SendgridWebhookConfig, now: float
) -> None:
    """Refuse a request whose signature is missing, wrong or stale."""
    signature_text = headers.get(SIGNATURE_HEADER)
    timestamp = headers.get(TIMESTAMP_HEADER)
    if not signature_text or not timestamp:
        raise WebhookRejected(
            "sendgrid: the request is not signed (no X-Twilio-Email-Event-Webhook-Signature "
            "and -Timestamp; turn on Signed Event Webhook Requests)"
        )
    if not _TIMESTAMP.fullmatch(timestamp):
        raise WebhookRejected("sendgrid: the signature timestamp is not Unix seconds")
    check_fresh(float(timestamp), now, config.max_age, PROVIDER)
    try:
        signature = base64.b64decode(signature_text, validate=True)
        config.verification_key().verify(
            signature, timestamp.encode("ascii") + body, ec.ECDSA(hashes.SHA256())
        )
    except (InvalidSignature, ValueError):
        raise WebhookRejected(
            "sendgrid: the signature does not verify against [webhooks.sendgrid] public_key"
        ) from None


@guarded(PROVIDER)
def verify_and_parse(
    headers: Mapping[str, str], body: bytes, config: SendgridWebhookConfig, now: float
) -> list[ProviderEvent]:
    """Verify a SendGrid Event Webhook POST and return its events, one per recipient event."""
    verify(headers, body, config, now)
    events = load_json(body, "sendgrid: the body")
    if not isinstance(events, list):
        raise malformed("sendgrid: the body is not a JSON array of events")
    return sendgrid_events(events)


def sendgrid_events(events: list[Any]) -> list[ProviderEvent]:
    """Read SendGrid's event array; events relaylane does not act on are left out."""
    found: list[ProviderEvent] = []
    for raw in events:
        if not isinstance(raw, dict):
            raise malformed("sendgrid: an event is not a JSON object")
        finding = _finding(raw)
        if finding is not None:
            found.append(
                ProviderEvent(
                    PROVIDER,
                    finding,
                    text(raw.get(RELAYLANE_ID_ARG)),
                    text(raw.get("sg_message_id")),
                    number(raw.get("timestamp")),
                )
            )
    return found


def _finding(raw: Mapping[str, Any]) -> Finding | None:
    kind = text(raw.get("event"))
    if kind in _SKIPPED:
        return None
    reader = _READERS.get(kind or "")
    if reader is not None:
        return reader(raw)
    return Finding(Event.UNKNOWN, text(raw.get("email")), diagnostic=f"SendGrid event {kind!r}")


def _bounce(raw: Mapping[str, Any]) -> Finding:
    reason = text(raw.get("reason")) or "SendGrid bounce"
    if text(raw.get("type")) == "blocked":
        # A block says nothing about the mailbox; say so, whatever the reason's wording.
        reason = f"{reason} (SendGrid: blocked)"
    return reported(
        Event.BOUNCED, text(raw.get("email")), reason, status=enhanced(raw.get("status"))
    )


def _dropped(raw: Mapping[str, Any]) -> Finding:
    # SendGrid refused to try, mostly because the address is on its own suppression lists
    # (Bounced Address, Unsubscribed Address, Spam Reporting Address), sometimes for an
    # invalid message. No receiving server spoke: UNKNOWN keeps the evidence, acts on nothing.
    reason = text(raw.get("reason")) or "no reason given"
    return Finding(Event.UNKNOWN, text(raw.get("email")), diagnostic=f"SendGrid dropped: {reason}")


def _response(event: Event) -> Callable[[Mapping[str, Any]], Finding]:
    def read(raw: Mapping[str, Any]) -> Finding:
        return reported(event, text(raw.get("email")), text(raw.get("response")) or "")

    return read


def _plain(event: Event, diagnostic: str) -> Callable[[Mapping[str, Any]], Finding]:
    def read(raw: Mapping[str, Any]) -> Finding:
        return Finding(event, text(raw.get("email")), diagnostic=diagnostic)

    return read


_READERS: dict[str, Callable[[Mapping[str, Any]], Finding]] = {
    "bounce": _bounce,
    "dropped": _dropped,
    "deferred": _response(Event.DELAYED),
    "delivered": _response(Event.DELIVERED),
    "spamreport": _plain(Event.COMPLAINED, "SendGrid spam report"),
    "unsubscribe": _plain(Event.UNSUBSCRIBED, "SendGrid unsubscribe"),
    "group_unsubscribe": _plain(Event.UNSUBSCRIBED, "SendGrid group unsubscribe"),
}
