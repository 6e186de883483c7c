"""Amazon SES events delivered by SNS over HTTPS: verify the SNS envelope, read SES's JSON.

The signature is checked against the certificates configured in [webhooks.ses] only;
SigningCertURL is never fetched (its form is checked). Raw message delivery must be off
on the subscription: a raw message carries no signature and is refused.

Use ``verify_and_parse`` for the events, or ``verify_envelope`` then ``events_of`` to also
see ``SnsEnvelope.subscribe_url`` of a SubscriptionConfirmation, for the operator to visit.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from relaylane.bounces.report import Event, Finding
from relaylane.bounces.webhooks.common import (
    ProviderEvent,
    WebhookRejected,
    enhanced,
    guarded,
    iso_time,
    items,
    load_json,
    malformed,
    mapping,
    reported,
    suppressed,
    text,
)
from relaylane.config.webhooks import SesWebhookConfig

PROVIDER = "ses"
NOTIFICATION = "Notification"
SUBSCRIPTION_CONFIRMATION = "SubscriptionConfirmation"
UNSUBSCRIBE_CONFIRMATION = "UnsubscribeConfirmation"

# The string to sign, per message type: these keys in this order, each "Key\nvalue\n";
# a Notification's Subject only when it has one.
_SIGNED_KEYS: dict[str, tuple[str, ...]] = {
    NOTIFICATION: ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    SUBSCRIPTION_CONFIRMATION: (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
_SIGNED_KEYS[UNSUBSCRIBE_CONFIRMATION] = _SIGNED_KEYS[SUBSCRIPTION_CONFIRMATION]
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1": hashes.SHA1,  # SignatureVersion 1: SHA1withRSA
    "2": hashes.SHA256,  # SignatureVersion 2: SHA256withRSA
}
_CERT_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(?:\.cn)?")
_SKIPPED = frozenset({"Send", "Open", "Click", "AmazonSnsSubscriptionSucceeded"})
_SUPPRESSED_SUBTYPES = frozenset({"Suppressed", "OnAccountSuppressionList"})


@dataclass(frozen=True, slots=True)
class SnsEnvelope:
    """A verified SNS message from a configured topic."""

    type: str  # Notification, SubscriptionConfirmation or UnsubscribeConfirmation
    message_id: str
    topic_arn: str
    message: str
    # The URL that confirms (or re-confirms) the subscription: log it for the operator to
    # visit. None for a Notification. relaylane never fetches it.
    subscribe_url: str | None


def _shown(value: object) -> str:
    """A value from the request, safe and short enough for a log line."""
    shown = repr(value)
    return shown if len(shown) <= 120 else shown[:117] + "..."


def string_to_sign(message: Mapping[str, Any]) -> bytes:
    """The bytes SNS signs, built as AWS documents it for the message's Type."""
    kind = message.get("Type")
    keys = _SIGNED_KEYS.get(kind) if isinstance(kind, str) else None
    if keys is None:
        raise malformed(f"ses: SNS Type {_shown(kind)} is not a known SNS message type")
    parts: list[str] = []
    for key in keys:
        value = message.get(key)
        if key == "Subject" and value is None:
            continue
        if not isinstance(value, str):
            raise malformed(f"ses: the SNS message has no string {key}")
        parts.append(f"{key}\n{value}\n")
    return "".join(parts).encode("utf-8")


def _check_cert_url(value: object) -> None:
    url = text(value)
    if url is None:
        raise WebhookRejected("ses: the SNS message has no SigningCertURL")
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.scheme != "https" or not _CERT_HOST.fullmatch(host) or not parts.path.endswith(".pem"):
        raise WebhookRejected(
            f"ses: SigningCertURL {_shown(url)} is not https://sns.REGION.amazonaws.com/....pem"
        )


def _check_signature(message: Mapping[str, Any], config: SesWebhookConfig) -> None:
    algorithm = _HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise WebhookRejected(
            f"ses: SignatureVersion {_shown(message.get('SignatureVersion'))} is not 1 or 2"
        )
    signature_text = text(message.get("Signature"))
    if signature_text is None:
        raise WebhookRejected("ses: the SNS message is not signed")
    try:
        signature = base64.b64decode(signature_text, validate=True)
    except ValueError:
        raise WebhookRejected("ses: the SNS Signature is not base64") from None
    signed = string_to_sign(message)
    for key in config.public_keys():
        try:
            key.verify(signature, signed, padding.PKCS1v15(), algorithm())
        except InvalidSignature:
            continue
        return
    raise WebhookRejected(
        "ses: the SNS signature does not verify against [webhooks.ses] signing_cert_file "
        "(forged, altered, or signed with a newer SNS certificate: add it to the file)"
    )


@guarded(PROVIDER)
def verify_envelope(
    headers: Mapping[str, str], body: bytes, config: SesWebhookConfig
) -> SnsEnvelope:
    """The SNS message in `body`, verified and from a configured topic; WebhookRejected
    otherwise."""
    message = load_json(body, "ses: the SNS body")
    if not isinstance(message, dict):
        raise malformed("ses: the SNS body is not a JSON object")
    kind = message.get("Type")
    declared = headers.get("x-amz-sns-message-type")
    if declared is not None and declared != kind:
        raise malformed("ses: x-amz-sns-message-type does not match the body's Type")
    string_to_sign(message)  # the shape, before anything costs
    topic = message.get("TopicArn")
    if topic not in config.topic_arns:
        raise WebhookRejected(f"ses: topic {_shown(topic)} is not in [webhooks.ses] topic_arns")
    _check_cert_url(message.get("SigningCertURL"))
    _check_signature(message, config)
    return SnsEnvelope(
        type=str(kind),
        message_id=str(message["MessageId"]),
        topic_arn=str(topic),
        message=str(message["Message"]),
        subscribe_url=text(message.get("SubscribeURL")) if kind != NOTIFICATION else None,
    )


@guarded(PROVIDER)
def events_of(envelope: SnsEnvelope) -> list[ProviderEvent]:
    """The SES events a verified envelope reports; none for (un)subscribe confirmations."""
    if envelope.type != NOTIFICATION:
        return []
    notification = load_json(envelope.message.encode("utf-8"), "ses: the SNS Message")
    if not isinstance(notification, dict):
        raise malformed("ses: the SNS Message is not an SES notification")
    return ses_events(notification)


@guarded(PROVIDER)
def verify_and_parse(
    headers: Mapping[str, str], body: bytes, config: SesWebhookConfig, now: float
) -> list[ProviderEvent]:
    """Verify an SNS POST and return the SES events it carries, one per recipient.

    `now` is unused (SNS messages carry no replay window of their own); it is accepted so
    every provider's reader has the same signature.
    """
    del now
    return events_of(verify_envelope(headers, body, config))


# -- SES's notification JSON ------------------------------------------------------------

_Found = tuple[list[Finding], float | None]


def ses_events(notification: Mapping[str, Any]) -> list[ProviderEvent]:
    """Read one SES notification (event publishing or identity notifications)."""
    kind = text(notification.get("eventType")) or text(notification.get("notificationType"))
    if kind is None:
        raise malformed("ses: the SNS Message has no eventType or notificationType")
    if kind in _SKIPPED:
        return []
    mail = mapping(notification.get("mail"))
    reader = _READERS.get(kind)
    findings, when = reader(notification) if reader else _unknown(kind, mail)
    relaylane_id = _relaylane_id(mail)
    message_id = text(mail.get("messageId"))
    return [ProviderEvent(PROVIDER, f, relaylane_id, message_id, when) for f in findings]


def _relaylane_id(mail: Mapping[str, Any]) -> str | None:
    for header in items(mail.get("headers")):
        fields = mapping(header)
        name = text(fields.get("name"))
        value = text(fields.get("value"))
        if name and value and name.strip().lower() == "x-relaylane-id":
            return value.strip() or None
    return None


def _bounce(notification: Mapping[str, Any]) -> _Found:
    bounce = mapping(notification.get("bounce"))
    kind = text(bounce.get("bounceType")) or "Undetermined"
    subtype = text(bounce.get("bounceSubType")) or ""
    label = f"SES {kind} bounce" + (f" ({subtype})" if subtype else "")
    event = Event.DELAYED if kind == "Transient" else Event.BOUNCED
    findings: list[Finding] = []
    for entry in items(bounce.get("bouncedRecipients")):
        recipient = mapping(entry)
        address = text(recipient.get("emailAddress"))
        diagnostic = text(recipient.get("diagnosticCode")) or label
        if subtype in _SUPPRESSED_SUBTYPES:
            findings.append(suppressed(address, f"{label}: {diagnostic}"))
            continue
        found = reported(event, address, diagnostic, status=enhanced(recipient.get("status")))
        if kind not in ("Permanent", "Transient") and diagnostic != label:
            found = replace(found, diagnostic=f"{label}: {found.diagnostic}")
        findings.append(found)
    return findings, iso_time(bounce.get("timestamp"))


def _complaint(notification: Mapping[str, Any]) -> _Found:
    complaint = mapping(notification.get("complaint"))
    feedback = text(complaint.get("complaintFeedbackType"))
    diagnostic = f"feedback type {feedback}" if feedback else ""
    findings = [
        Finding(Event.COMPLAINED, text(mapping(entry).get("emailAddress")), diagnostic=diagnostic)
        for entry in items(complaint.get("complainedRecipients"))
    ]
    return findings, iso_time(complaint.get("timestamp"))


def _delivery(notification: Mapping[str, Any]) -> _Found:
    delivery = mapping(notification.get("delivery"))
    response = text(delivery.get("smtpResponse")) or ""
    findings = [
        reported(Event.DELIVERED, address, response)
        for address in items(delivery.get("recipients"))
        if text(address)
    ]
    return findings, iso_time(delivery.get("timestamp"))


def _delay(notification: Mapping[str, Any]) -> _Found:
    delay = mapping(notification.get("deliveryDelay"))
    label = f"SES delivery delay ({text(delay.get('delayType')) or 'unspecified'})"
    findings: list[Finding] = []
    for entry in items(delay.get("delayedRecipients")):
        recipient = mapping(entry)
        diagnostic = text(recipient.get("diagnosticCode")) or label
        status = enhanced(recipient.get("status"))
        findings.append(
            reported(Event.DELAYED, text(recipient.get("emailAddress")), diagnostic, status=status)
        )
    return findings, iso_time(delay.get("timestamp"))


def _unknown(kind: str, mail: Mapping[str, Any]) -> _Found:
    recipients: list[str | None] = [a for a in items(mail.get("destination")) if text(a)]
    diagnostic = f"SES event type {_shown(kind)}"
    return [Finding(Event.UNKNOWN, r, diagnostic=diagnostic) for r in recipients or [None]], None


_READERS: dict[str, Callable[[Mapping[str, Any]], _Found]] = {
    "Bounce": _bounce,
    "Complaint": _complaint,
    "Delivery": _delivery,
    "DeliveryDelay": _delay,
}
