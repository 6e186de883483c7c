"""SES via SNS: signatures checked against local certificates, SES JSON read per recipient."""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from relaylane.bounces.report import Event
from relaylane.bounces.webhooks import ProviderEvent, WebhookRejected, ses
from relaylane.config.webhooks import SesWebhookConfig, WebhooksConfig
from tests.webhooks.strategies import json_values

TOPIC = "arn:aws:sns:eu-west-1:123456789012:relaylane"
OTHER_TOPIC = "arn:aws:sns:eu-west-1:123456789012:someone-else"
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-7ff5318490ec183fbaddaa2a969abfda.pem"
SUBSCRIBE_URL = (
    "https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
    f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e2425dacbba"
)
NOW = 1_714_557_600.0


# -- keys, certificates, signing (independent of the code under test) ------------------


def _self_signed(key: rsa.RSAPrivateKey, name: str) -> bytes:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + dt.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="module")
def sns_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def other_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def cert_dir(
    tmp_path_factory: pytest.TempPathFactory,
    sns_key: rsa.RSAPrivateKey,
    other_key: rsa.RSAPrivateKey,
) -> Path:
    root = tmp_path_factory.mktemp("sns")
    (root / "sns.pem").write_bytes(_self_signed(sns_key, "sns.amazonaws.com"))
    (root / "other.pem").write_bytes(_self_signed(other_key, "sns.amazonaws.com"))
    both = _self_signed(other_key, "old") + _self_signed(sns_key, "new")
    (root / "both.pem").write_bytes(both)
    return root


@pytest.fixture(scope="module")
def config(cert_dir: Path) -> SesWebhookConfig:
    return SesWebhookConfig.model_validate(
        {"relay": "ses", "topic_arns": [TOPIC], "signing_cert_file": str(cert_dir / "sns.pem")}
    )


def canonical(envelope: dict[str, Any]) -> bytes:
    """The string to sign, written out from the AWS documentation."""
    if envelope["Type"] == "Notification":
        keys = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
    else:
        keys = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]
    out = ""
    for key in keys:
        if key in envelope:
            out += f"{key}\n{envelope[key]}\n"
    return out.encode()


def sign(envelope: dict[str, Any], key: rsa.RSAPrivateKey) -> dict[str, Any]:
    algorithm = hashes.SHA1() if envelope["SignatureVersion"] == "1" else hashes.SHA256()
    signature = key.sign(canonical(envelope), padding.PKCS1v15(), algorithm)
    return {**envelope, "Signature": base64.b64encode(signature).decode()}


def notification(
    message: dict[str, Any] | str,
    key: rsa.RSAPrivateKey,
    *,
    version: str = "1",
    topic: str = TOPIC,
    subject: str | None = None,
) -> dict[str, Any]:
    envelope: dict[str, Any] = {
        "Type": "Notification",
        "MessageId": "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324",
        "TopicArn": topic,
        "Message": message if isinstance(message, str) else json.dumps(message),
        "Timestamp": "2024-05-01T10:00:00.123Z",
        "SignatureVersion": version,
        "SigningCertURL": CERT_URL,
        "UnsubscribeURL": "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe&x=1",
    }
    if subject is not None:
        envelope["Subject"] = subject
    return sign(envelope, key)


def confirmation(key: rsa.RSAPrivateKey, kind: str = "SubscriptionConfirmation") -> dict[str, Any]:
    envelope = {
        "Type": kind,
        "MessageId": "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
        "Token": "2336412f37fb687f5d51e6e2425dacbba",
        "TopicArn": TOPIC,
        "Message": f"You have chosen to subscribe to the topic {TOPIC}.\n"
        "To confirm the subscription, visit the SubscribeURL included in this message.",
        "SubscribeURL": SUBSCRIBE_URL,
        "Timestamp": "2024-05-01T10:00:00.123Z",
        "SignatureVersion": "1",
        "SigningCertURL": CERT_URL,
    }
    return sign(envelope, key)


def post(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope).encode()


def read(envelope: dict[str, Any], config: SesWebhookConfig) -> list[ProviderEvent]:
    headers = {"x-amz-sns-message-type": str(envelope.get("Type"))}
    return ses.verify_and_parse(headers, post(envelope), config, NOW)


MAIL = {
    "timestamp": "2024-05-01T09:59:58.000Z",
    "source": "bounces@tx.example.com",
    "messageId": "0102018f3a5b-9a1c7e2b-1f7d-4423-a9e5-e0715bffc731-000000",
    "destination": ["gone@example.net", "full@example.org"],
    "headersTruncated": False,
    "headers": [
        {"name": "From", "value": "Shop <shop@tx.example.com>"},
        {"name": "x-relaylane-id", "value": " rl1.4f2a9c "},
    ],
}


def bounce(kind: str, subtype: str = "General", **recipient: Any) -> dict[str, Any]:
    entry = {
        "emailAddress": "gone@example.net",
        "action": "failed",
        "status": "5.1.1",
        "diagnosticCode": "smtp; 550 5.1.1 user unknown",
        **recipient,
    }
    return {
        "notificationType": "Bounce",
        "bounce": {
            "bounceType": kind,
            "bounceSubType": subtype,
            "bouncedRecipients": [entry],
            "timestamp": "2024-05-01T10:00:00.000Z",
            "feedbackId": "0102018f3a5b-feedback-000000",
            "reportingMTA": "dsn; a4-8.smtp-out.eu-west-1.amazonses.com",
        },
        "mail": MAIL,
    }


# -- the canonical form -------------------------------------------------------------------


def test_string_to_sign_follows_the_documented_order() -> None:
    envelope = {
        "Type": "Notification",
        "MessageId": "id-1",
        "TopicArn": TOPIC,
        "Subject": "Hi",
        "Message": "body\nline",
        "Timestamp": "2024-05-01T10:00:00.123Z",
        "SignatureVersion": "1",
    }
    assert ses.string_to_sign(envelope) == (
        b"Message\nbody\nline\nMessageId\nid-1\nSubject\nHi\n"
        b"Timestamp\n2024-05-01T10:00:00.123Z\nTopicArn\n" + TOPIC.encode() + b"\n"
        b"Type\nNotification\n"
    )
    del envelope["Subject"]
    assert b"Subject" not in ses.string_to_sign(envelope)


def test_confirmation_string_to_sign_has_subscribe_url_and_token() -> None:
    envelope = {
        "Type": "SubscriptionConfirmation",
        "MessageId": "m",
        "Token": "t",
        "TopicArn": TOPIC,
        "Message": "msg",
        "SubscribeURL": "https://u",
        "Timestamp": "ts",
    }
    assert ses.string_to_sign(envelope) == (
        b"Message\nmsg\nMessageId\nm\nSubscribeURL\nhttps://u\nTimestamp\nts\nToken\nt\n"
        b"TopicArn\n" + TOPIC.encode() + b"\nType\nSubscriptionConfirmation\n"
    )


# -- genuine notifications -------------------------------------------------------------------


@pytest.mark.parametrize("version", ["1", "2"])
def test_permanent_bounce(
    version: str, sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig
) -> None:
    [event] = read(notification(bounce("Permanent"), sns_key, version=version), config)
    assert event.provider == "ses"
    assert event.finding.event is Event.BOUNCED
    assert event.finding.recipient == "gone@example.net"
    assert (event.finding.code, event.finding.status) == (550, "5.1.1")
    assert event.finding.diagnostic == "550 5.1.1 user unknown"
    assert event.relaylane_id == "rl1.4f2a9c"
    assert event.provider_message_id == MAIL["messageId"]
    assert event.occurred_at == dt.datetime(2024, 5, 1, 10, tzinfo=dt.UTC).timestamp()


def test_bounce_with_a_subject_and_two_recipients(
    sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig
) -> None:
    message = bounce("Permanent")
    message["bounce"]["bouncedRecipients"].append(
        {
            "emailAddress": "old@example.org",
            "status": "5.1.10",
            "diagnosticCode": "smtp;550 5.1.10 gone",
        }
    )
    signed = notification(message, sns_key, version="2", subject="Amazon SES Email Event")
    events = read(signed, config)
    assert [e.finding.recipient for e in events] == ["gone@example.net", "old@example.org"]
    assert events[1].finding.status == "5.1.10"


def test_transient_bounce_is_a_delay(sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig) -> None:
    message = bounce(
        "Transient", "MailboxFull", status="4.2.2", diagnosticCode="smtp; 452 4.2.2 mailbox full"
    )
    [event] = read(notification(message, sns_key), config)
    assert event.finding.event is Event.DELAYED
    assert (event.finding.code, event.finding.status) == (452, "4.2.2")


def test_undetermined_bounce_keeps_its_evidence(
    sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig
) -> None:
    message = bounce("Undetermined", "Undetermined", status="5.0.0", diagnosticCode="smtp; 550 no")
    [event] = read(notification(message, sns_key), config)
    assert event.finding.event is Event.BOUNCED
    assert event.finding.code == 550
    assert event.finding.diagnostic == "SES Undetermined bounce (Undetermined): 550 no"


def test_bounce_from_the_ses_suppression_list_is_unknown(
    sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig
) -> None:
    message = bounce("Permanent", "OnAccountSuppressionList", diagnosticCode="")
    [event] = read(notification(message, sns_key), config)
    assert event.finding.event is Event.UNKNOWN
    assert (event.finding.code, event.finding.status) == (None, None)
    assert "suppressed by the provider" in event.finding.diagnostic


def test_complaint(sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig) -> None:
    message = {
        "notificationType": "Complaint",
        "complaint": {
            "userAgent": "AnyCompany Feedback Loop (V0.01)",
            "complainedRecipients": [
                {"emailAddress": "gone@example.net"},
                {"emailAddress": "full@example.org"},
            ],
            "complaintFeedbackType": "abuse",
            "timestamp": "2024-05-01T10:01:00.000Z",
            "feedbackId": "0102018f-complaint",
        },
        "mail": MAIL,
    }
    events = read(notification(message, sns_key, version="2"), config)
    assert [(e.finding.event, e.finding.recipient) for e in events] == [
        (Event.COMPLAINED, "gone@example.net"),
        (Event.COMPLAINED, "full@example.org"),
    ]
    assert events[0].finding.diagnostic == "feedback type abuse"
    assert all(e.relaylane_id == "rl1.4f2a9c" for e in events)


def test_delivery(sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig) -> None:
    message = {
        "eventType": "Delivery",
        "mail": MAIL,
        "delivery": {
            "timestamp": "2024-05-01T10:00:02.000Z",
            "processingTimeMillis": 546,
            "recipients": ["gone@example.net"],
            "smtpResponse": "250 2.6.0 Message received",
            "reportingMTA": "a8-70.smtp-out.amazonses.com",
        },
    }
    [event] = read(notification(message, sns_key), config)
    assert event.finding.event is Event.DELIVERED
    assert (event.finding.code, event.finding.status) == (250, "2.6.0")


def test_delivery_delay(sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig) -> None:
    message = {
        "eventType": "DeliveryDelay",
        "mail": MAIL,
        "deliveryDelay": {
            "timestamp": "2024-05-01T10:30:00.000Z",
            "delayType": "TransientCommunicationFailure",
            "expirationTime": "2024-05-01T22:00:00.000Z",
            "delayedRecipients": [
                {
                    "emailAddress": "full@example.org",
                    "status": "4.4.1",
                    "diagnosticCode": "smtp; 421 4.4.1 Unable to connect",
                }
            ],
        },
    }
    [event] = read(notification(message, sns_key, version="2"), config)
    assert event.finding.event is Event.DELAYED
    assert (event.finding.code, event.finding.status) == (421, "4.4.1")
    assert event.finding.recipient == "full@example.org"


@pytest.mark.parametrize("kind", ["Send", "Open", "Click", "AmazonSnsSubscriptionSucceeded"])
def test_events_not_acted_on_are_skipped(
    kind: str, sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig
) -> None:
    assert read(notification({"eventType": kind, "mail": MAIL}, sns_key), config) == []


def test_unrecognised_event_is_unknown_per_recipient(
    sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig
) -> None:
    message = {"eventType": "Reject", "mail": MAIL, "reject": {"reason": "Bad content"}}
    events = read(notification(message, sns_key), config)
    assert [e.finding.event for e in events] == [Event.UNKNOWN, Event.UNKNOWN]
    assert "'Reject'" in events[0].finding.diagnostic


def test_any_of_several_certificates_may_sign(
    cert_dir: Path, other_key: rsa.RSAPrivateKey, sns_key: rsa.RSAPrivateKey
) -> None:
    config = SesWebhookConfig(topic_arns=(TOPIC,), signing_cert_file=cert_dir / "both.pem")
    assert len(config.public_keys()) == 2
    for key in (sns_key, other_key):
        assert len(read(notification(bounce("Permanent"), key), config)) == 1


# -- subscription confirmations ------------------------------------------------------------


@pytest.mark.parametrize("kind", ["SubscriptionConfirmation", "UnsubscribeConfirmation"])
def test_confirmation_is_verified_and_exposes_its_url(
    kind: str, sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig
) -> None:
    signed = confirmation(sns_key, kind)
    assert read(signed, config) == []
    envelope = ses.verify_envelope({}, post(signed), config)
    assert envelope.type == kind
    assert envelope.subscribe_url == SUBSCRIBE_URL
    assert envelope.topic_arn == TOPIC


def test_notification_has_no_subscribe_url(
    sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig
) -> None:
    envelope = ses.verify_envelope({}, post(notification(bounce("Permanent"), sns_key)), config)
    assert envelope.subscribe_url is None
    assert len(ses.events_of(envelope)) == 1


def test_tampered_subscribe_url_is_rejected(
    sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig
) -> None:
    signed = confirmation(sns_key)
    signed["SubscribeURL"] = "https://evil.example/confirm"
    with pytest.raises(WebhookRejected):
        read(signed, config)


# -- forgeries -------------------------------------------------------------------------------


def test_message_altered_after_signing(
    sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig
) -> None:
    signed = notification(bounce("Transient"), sns_key)
    signed["Message"] = json.dumps(bounce("Permanent"))
    with pytest.raises(WebhookRejected) as caught:
        read(signed, config)
    assert caught.value.status == 403
    assert "does not verify" in caught.value.reason


def test_subject_added_after_signing(sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig) -> None:
    signed = notification(bounce("Permanent"), sns_key)
    signed["Subject"] = "hello"
    with pytest.raises(WebhookRejected):
        read(signed, config)


def test_signature_from_another_key(other_key: rsa.RSAPrivateKey, config: SesWebhookConfig) -> None:
    with pytest.raises(WebhookRejected) as caught:
        read(notification(bounce("Permanent"), other_key), config)
    assert caught.value.status == 403


def test_wrong_topic(sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig) -> None:
    with pytest.raises(WebhookRejected) as caught:
        read(notification(bounce("Permanent"), sns_key, topic=OTHER_TOPIC), config)
    assert caught.value.status == 403
    assert "topic_arns" in caught.value.reason


def test_missing_signature(sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig) -> None:
    signed = notification(bounce("Permanent"), sns_key)
    del signed["Signature"]
    with pytest.raises(WebhookRejected) as caught:
        read(signed, config)
    assert caught.value.status == 403


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("SignatureVersion", "3"),
        ("Signature", "not base64!"),
        ("SigningCertURL", "http://sns.eu-west-1.amazonaws.com/cert.pem"),
        ("SigningCertURL", "https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem"),
        ("SigningCertURL", "https://evil.example/SimpleNotificationService-1.pem"),
    ],
)
def test_bad_signature_fields(
    field: str, value: str, sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig
) -> None:
    signed = notification(bounce("Permanent"), sns_key)
    signed[field] = value
    with pytest.raises(WebhookRejected) as caught:
        read(signed, config)
    assert caught.value.status == 403


def test_message_type_header_must_match(
    sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig
) -> None:
    body = post(notification(bounce("Permanent"), sns_key))
    with pytest.raises(WebhookRejected) as caught:
        ses.verify_and_parse(
            {"x-amz-sns-message-type": "SubscriptionConfirmation"}, body, config, NOW
        )
    assert caught.value.status == 400


@pytest.mark.parametrize("message", ["not json", "[1, 2]", '{"mail": {}}'])
def test_signed_message_that_is_not_ses_json(
    message: str, sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig
) -> None:
    with pytest.raises(WebhookRejected) as caught:
        read(notification(message, sns_key), config)
    assert caught.value.status == 400


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b'{"Type": "Notification"}', b"\xff\xfe"])
def test_bodies_that_are_not_sns(body: bytes, config: SesWebhookConfig) -> None:
    with pytest.raises(WebhookRejected) as caught:
        ses.verify_and_parse({}, body, config, NOW)
    assert caught.value.status == 400


# -- never anything but WebhookRejected ------------------------------------------------------

_sns_keys = st.sampled_from(
    [
        "Type",
        "MessageId",
        "TopicArn",
        "Message",
        "Timestamp",
        "Signature",
        "SignatureVersion",
        "SigningCertURL",
        "Subject",
        "SubscribeURL",
        "Token",
    ]
)
_bodies = st.one_of(
    st.binary(max_size=300),
    json_values.map(lambda v: json.dumps(v).encode()),
    st.dictionaries(
        _sns_keys, json_values | st.sampled_from([TOPIC, "Notification", "1", CERT_URL])
    ).map(lambda v: json.dumps(v).encode()),
)


@settings(max_examples=150, deadline=None)
@given(
    headers=st.dictionaries(st.text(max_size=30), st.text(max_size=30), max_size=3), body=_bodies
)
def test_arbitrary_requests_only_raise_rejected(
    headers: dict[str, str], body: bytes, config: SesWebhookConfig
) -> None:
    with contextlib.suppress(WebhookRejected):
        ses.verify_and_parse(headers, body, config, NOW)


_notifications = st.fixed_dictionaries(
    {
        "eventType": st.sampled_from(
            ["Bounce", "Complaint", "Delivery", "DeliveryDelay", "Reject", "Open", "x"]
        )
        | json_values,
        "mail": json_values,
        "bounce": json_values
        | st.fixed_dictionaries(
            {
                "bounceType": json_values | st.just("Permanent"),
                "bouncedRecipients": st.lists(json_values),
            }
        ),
        "complaint": json_values
        | st.fixed_dictionaries({"complainedRecipients": st.lists(json_values)}),
        "delivery": json_values | st.fixed_dictionaries({"recipients": st.lists(json_values)}),
        "deliveryDelay": json_values
        | st.fixed_dictionaries({"delayedRecipients": st.lists(json_values)}),
    }
)


@settings(max_examples=150, deadline=None)
@given(message=_notifications | json_values)
def test_arbitrary_signed_messages_only_raise_rejected(
    message: Any, sns_key: rsa.RSAPrivateKey, config: SesWebhookConfig
) -> None:
    text = message if isinstance(message, str) else json.dumps(message)
    try:
        events, status = read(notification(text, sns_key), config), 200
    except WebhookRejected as exc:  # a genuine signature: only the content may be refused
        events, status = [], exc.status
    assert status in (200, 400)
    assert all(isinstance(e.finding.event, Event) for e in events)


# -- configuration ---------------------------------------------------------------------------


def test_config_unknown_key_is_rejected(cert_dir: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        WebhooksConfig.model_validate(
            {
                "ses": {
                    "topic_arns": [TOPIC],
                    "signing_cert_file": str(cert_dir / "sns.pem"),
                    "topic": 1,
                }
            }
        )
    assert caught.value.errors()[0]["type"] == "extra_forbidden"


def test_config_unreadable_cert_names_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        SesWebhookConfig.model_validate(
            {"topic_arns": [TOPIC], "signing_cert_file": "missing.pem"},
            context={"base_dir": tmp_path},
        )
    message = str(caught.value)
    assert str(tmp_path / "missing.pem") in message
    assert "SigningCertURL" in message


def test_config_file_without_an_rsa_certificate(tmp_path: Path) -> None:
    (tmp_path / "empty.pem").write_text("nothing here\n")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ec")])
    now = dt.datetime.now(dt.UTC)
    ec_cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    (tmp_path / "ec.pem").write_bytes(ec_cert.public_bytes(serialization.Encoding.PEM))
    for name, words in (("empty.pem", "no usable certificate"), ("ec.pem", "not RSA")):
        with pytest.raises(ValidationError, match=words):
            SesWebhookConfig(topic_arns=(TOPIC,), signing_cert_file=tmp_path / name)


def test_config_relative_cert_is_resolved_against_base_dir(cert_dir: Path) -> None:
    config = SesWebhookConfig.model_validate(
        {"topic_arns": [TOPIC], "signing_cert_file": "sns.pem"}, context={"base_dir": cert_dir}
    )
    assert config.signing_cert_file == cert_dir / "sns.pem"
    again = SesWebhookConfig.model_validate(config.model_dump())
    assert again.public_keys()[0].public_numbers() == config.public_keys()[0].public_numbers()


@pytest.mark.parametrize("arn", ["relaylane", "arn:aws:sqs:eu-west-1:123456789012:q", ""])
def test_config_topic_must_be_an_sns_arn(arn: str, cert_dir: Path) -> None:
    with pytest.raises(ValidationError, match="topic_arns"):
        SesWebhookConfig.model_validate(
            {"topic_arns": [arn], "signing_cert_file": str(cert_dir / "sns.pem")}
        )


def test_config_needs_a_topic(cert_dir: Path) -> None:
    with pytest.raises(ValidationError):
        SesWebhookConfig.model_validate(
            {"topic_arns": [], "signing_cert_file": str(cert_dir / "sns.pem")}
        )


def test_webhooks_default_is_all_off_and_relay_refs() -> None:
    assert WebhooksConfig().relay_refs() == ()
