"""Postmark: basic auth compared in constant time; every RecordType and bounce Type read."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from relaylane.bounces.report import Event
from relaylane.bounces.webhooks import WebhookRejected, postmark
from relaylane.config.webhooks import PostmarkWebhookConfig
from tests.webhooks.strategies import json_values

PASSWORD = "correct horse battery staple"
ENV = {"POSTMARK_WEBHOOK_PASSWORD": PASSWORD}
NOW = 1_714_557_600.0


@pytest.fixture(scope="module")
def config() -> PostmarkWebhookConfig:
    return PostmarkWebhookConfig.model_validate(
        {"relay": "postmark", "username": "relaylane", "password_env": "POSTMARK_WEBHOOK_PASSWORD"},
        context={"env": ENV},
    )


def basic(user: str = "relaylane", password: str = PASSWORD) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def read(
    record: dict[str, Any], config: PostmarkWebhookConfig, headers: dict[str, str] | None = None
) -> list[Any]:
    body = json.dumps(record).encode()
    return postmark.verify_and_parse(basic() if headers is None else headers, body, config, NOW)


def bounce(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "RecordType": "Bounce",
        "MessageStream": "outbound",
        "ID": 4323372036854775807,
        "Type": kind,
        "TypeCode": 1,
        "Name": "Hard bounce",
        "Tag": "Invitation",
        "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
        "Metadata": {"relaylane_id": "rl1.beef", "a_key": "a_value"},
        "ServerID": 23,
        "Description": "The server was unable to deliver your message (ex: unknown user).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": "john@example.com",
        "From": "sender@example.com",
        "BouncedAt": "2024-05-01T10:00:00.2735393-04:00",
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "Test subject",
        **fields,
    }


# -- authentication -----------------------------------------------------------------------------


def test_right_credentials(config: PostmarkWebhookConfig) -> None:
    [found] = read(bounce("HardBounce"), config)
    assert found.provider == "postmark"


@pytest.mark.parametrize(
    "headers",
    [
        basic(password="wrong"),
        basic(user="someone"),
        basic(password=PASSWORD + "x"),
        basic(password=""),
        {"authorization": "Basic " + base64.b64encode(b"relaylane").decode()},  # no colon
        {"authorization": "Basic %%%"},
        {"authorization": "Basic ünïcode"},
        {"authorization": "Bearer " + base64.b64encode(f"relaylane:{PASSWORD}".encode()).decode()},
        {"authorization": ""},
        {},
    ],
)
def test_wrong_or_missing_credentials(
    headers: dict[str, str], config: PostmarkWebhookConfig
) -> None:
    with pytest.raises(WebhookRejected) as caught:
        read(bounce("HardBounce"), config, headers)
    assert caught.value.status == 401
    assert PASSWORD not in caught.value.reason


def test_scheme_is_case_insensitive(config: PostmarkWebhookConfig) -> None:
    headers = {"authorization": basic()["authorization"].replace("Basic", "basic")}
    assert len(read(bounce("HardBounce"), config, headers)) == 1


def test_credentials_checked_before_the_body(config: PostmarkWebhookConfig) -> None:
    with pytest.raises(WebhookRejected) as caught:
        postmark.verify_and_parse({}, b"not json", config, NOW)
    assert caught.value.status == 401


# -- records ----------------------------------------------------------------------------------


def test_hard_bounce(config: PostmarkWebhookConfig) -> None:
    [found] = read(bounce("HardBounce"), config)
    assert found.finding.event is Event.BOUNCED
    assert found.finding.recipient == "john@example.com"
    assert (found.finding.code, found.finding.status) == (550, "5.1.1")
    assert found.finding.diagnostic.startswith("550 5.1.1 The email account")
    assert found.relaylane_id == "rl1.beef"
    assert found.provider_message_id == "883953f4-6105-42a2-a16a-77a8eac79483"
    assert found.occurred_at == pytest.approx(1_714_572_000.273539)


@pytest.mark.parametrize(
    ("kind", "event"),
    [
        ("HardBounce", Event.BOUNCED),
        ("BadEmailAddress", Event.BOUNCED),
        ("Blocked", Event.BOUNCED),
        ("DMARCPolicy", Event.BOUNCED),
        ("SpamNotification", Event.BOUNCED),
        ("Transient", Event.DELAYED),
        ("SoftBounce", Event.DELAYED),
        ("DnsError", Event.DELAYED),
        ("SpamComplaint", Event.COMPLAINED),
        ("Unsubscribe", Event.UNSUBSCRIBED),
        ("AutoResponder", Event.AUTO_REPLY),
        ("ChallengeVerification", Event.AUTO_REPLY),
        ("AddressChange", Event.UNKNOWN),
        ("OpenRelayTest", Event.UNKNOWN),
        ("Unknown", Event.UNKNOWN),
        ("VirusNotification", Event.UNKNOWN),
        ("ManuallyDeactivated", Event.UNKNOWN),
        ("Unconfirmed", Event.UNKNOWN),
        ("SMTPApiError", Event.UNKNOWN),
        ("InboundError", Event.UNKNOWN),
        ("TemplateRenderingFailed", Event.UNKNOWN),
        ("SomethingNew", Event.UNKNOWN),
    ],
)
def test_bounce_types(kind: str, event: Event, config: PostmarkWebhookConfig) -> None:
    [found] = read(bounce(kind), config)
    assert found.finding.event is event
    if event is Event.UNKNOWN:
        assert kind in found.finding.diagnostic


def test_spam_notification_reads_as_a_content_block(config: PostmarkWebhookConfig) -> None:
    details = "smtp;550 permanent failure for one or more recipients (blocked)"
    [found] = read(bounce("SpamNotification", Details=details), config)
    assert "spam" in found.finding.diagnostic


def test_subscribe_bounce_is_skipped(config: PostmarkWebhookConfig) -> None:
    assert read(bounce("Subscribe"), config) == []


def test_bounce_without_details_uses_description(config: PostmarkWebhookConfig) -> None:
    [found] = read(bounce("SoftBounce", Details="", Description="Mailbox full"), config)
    assert found.finding.diagnostic.startswith("Mailbox full")


def test_spam_complaint_record(config: PostmarkWebhookConfig) -> None:
    record = bounce(
        "SpamComplaint",
        RecordType="SpamComplaint",
        TypeCode=512,
        Details="Test spam complaint details",
    )
    [found] = read(record, config)
    assert found.finding.event is Event.COMPLAINED
    assert found.finding.recipient == "john@example.com"
    assert found.relaylane_id == "rl1.beef"


def test_delivery_record(config: PostmarkWebhookConfig) -> None:
    record = {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "outbound",
        "MessageID": "00000000-0000-0000-0000-000000000000",
        "Recipient": "john@example.com",
        "Tag": "welcome-email",
        "DeliveredAt": "2024-05-01T10:00:00Z",
        "Details": "smtp;250 2.0.0 OK 1714557600 a1si123 - gsmtp",
        "Metadata": {"relaylane_id": "rl1.d311"},
    }
    [found] = read(record, config)
    assert found.finding.event is Event.DELIVERED
    assert found.finding.recipient == "john@example.com"
    assert (found.finding.code, found.finding.status) == (250, "2.0.0")
    assert found.relaylane_id == "rl1.d311"
    assert found.occurred_at == NOW


def change(reason: str, suppress: Any = True, origin: str = "Recipient") -> dict[str, Any]:
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": "00000000-0000-0000-0000-000000000000",
        "ServerID": 23,
        "MessageStream": "broadcast",
        "ChangedAt": "2024-05-01T10:00:00Z",
        "Recipient": "john@example.com",
        "Origin": origin,
        "SuppressSending": suppress,
        "SuppressionReason": reason,
        "Tag": "my-tag",
        "Metadata": {"relaylane_id": "rl1.5ub"},
    }


def test_subscription_changes(config: PostmarkWebhookConfig) -> None:
    [unsubscribed] = read(change("ManualSuppression"), config)
    assert unsubscribed.finding.event is Event.UNSUBSCRIBED
    assert unsubscribed.relaylane_id == "rl1.5ub"
    assert "origin Recipient" in unsubscribed.finding.diagnostic
    [complained] = read(change("SpamComplaint"), config)
    assert complained.finding.event is Event.COMPLAINED
    [hard] = read(change("HardBounce"), config)
    assert hard.finding.event is Event.UNKNOWN
    assert read(change("ManualSuppression", suppress=False, origin="Customer"), config) == []
    assert read(change("ManualSuppression", suppress="true"), config) == []


@pytest.mark.parametrize("kind", ["Open", "Click"])
def test_engagement_is_skipped(kind: str, config: PostmarkWebhookConfig) -> None:
    assert read({"RecordType": kind, "Recipient": "john@example.com"}, config) == []


def test_unknown_record_type(config: PostmarkWebhookConfig) -> None:
    [found] = read({"RecordType": "Inbound", "Email": "x@example.com"}, config)
    assert found.finding.event is Event.UNKNOWN
    assert "Inbound" in found.finding.diagnostic


@pytest.mark.parametrize("body", [b"", b"[]", b"not json", b'"Bounce"'])
def test_body_that_is_not_a_record(body: bytes, config: PostmarkWebhookConfig) -> None:
    with pytest.raises(WebhookRejected) as caught:
        postmark.verify_and_parse(basic(), body, config, NOW)
    assert caught.value.status == 400


# -- never anything but WebhookRejected ------------------------------------------------------

_records = st.fixed_dictionaries(
    {
        "RecordType": st.sampled_from(
            ["Bounce", "SpamComplaint", "Delivery", "SubscriptionChange", "Open"]
        )
        | json_values,
        "Type": st.sampled_from(["HardBounce", "SoftBounce", "ManuallyDeactivated", "Subscribe"])
        | json_values,
        "Email": json_values,
        "Recipient": json_values,
        "Details": json_values,
        "Description": json_values,
        "Metadata": json_values,
        "MessageID": json_values,
        "BouncedAt": json_values,
        "DeliveredAt": json_values,
        "SuppressSending": json_values,
        "SuppressionReason": st.sampled_from(["HardBounce", "SpamComplaint"]) | json_values,
    }
)


@settings(max_examples=150, deadline=None)
@given(
    headers=st.dictionaries(st.sampled_from(["authorization", "x"]), st.text(max_size=60)),
    body=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()),
)
def test_arbitrary_requests_only_raise_rejected(
    headers: dict[str, str], body: bytes, config: PostmarkWebhookConfig
) -> None:
    with contextlib.suppress(WebhookRejected):
        postmark.verify_and_parse(headers, body, config, NOW)


@settings(max_examples=150, deadline=None)
@given(record=_records | json_values)
def test_arbitrary_authenticated_bodies_only_raise_rejected(
    record: Any, config: PostmarkWebhookConfig
) -> None:
    body = json.dumps(record).encode()
    try:
        found, status = postmark.verify_and_parse(basic(), body, config, NOW), 200
    except WebhookRejected as exc:  # right credentials: only the content may be refused
        found, status = [], exc.status
    assert status in (200, 400)
    assert all(isinstance(e.finding.event, Event) for e in found)


# -- configuration ---------------------------------------------------------------------------


def test_config_missing_env_var_is_named() -> None:
    with pytest.raises(ValidationError) as caught:
        PostmarkWebhookConfig.model_validate(
            {"username": "relaylane", "password_env": "POSTMARK_HOOK_PW"}, context={"env": {}}
        )
    assert "POSTMARK_HOOK_PW, which is not set" in str(caught.value)


def test_config_password_itself_is_refused_and_not_echoed() -> None:
    with pytest.raises(ValidationError) as caught:
        PostmarkWebhookConfig.model_validate(
            {"username": "relaylane", "password_env": "hunter2!"}, context={"env": {}}
        )
    assert "not the secret itself" in caught.value.errors()[0]["msg"]
    assert "hunter2!" not in caught.value.errors()[0]["msg"]


@pytest.mark.parametrize("username", ["a:b", "tab\there", ""])
def test_config_username_must_fit_basic_auth(username: str) -> None:
    with pytest.raises(ValidationError):
        PostmarkWebhookConfig.model_validate(
            {"username": username, "password_env": "P"}, context={"env": {"P": "x"}}
        )


def test_config_unknown_key_and_missing_username() -> None:
    with pytest.raises(ValidationError) as caught:
        PostmarkWebhookConfig.model_validate(
            {"username": "u", "password_env": "P", "password": "x"}, context={"env": {"P": "x"}}
        )
    assert caught.value.errors()[0]["type"] == "extra_forbidden"
    with pytest.raises(ValidationError) as caught:
        PostmarkWebhookConfig.model_validate({"password_env": "P"}, context={"env": {"P": "x"}})
    assert caught.value.errors()[0]["type"] == "missing"
