"""Mailgun: HMAC-SHA256(signing key, timestamp + token), stale and replayed tokens refused."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from relaylane.bounces.report import Event
from relaylane.bounces.webhooks import WebhookRejected, mailgun
from relaylane.config.webhooks import MailgunWebhookConfig, WebhooksConfig
from tests.webhooks.strategies import json_values

KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"
ENV = {"MAILGUN_WEBHOOK_SIGNING_KEY": KEY}
NOW = 1_714_557_600.0
_tokens = itertools.count()


@pytest.fixture(scope="module")
def config() -> MailgunWebhookConfig:
    return MailgunWebhookConfig.model_validate(
        {"relay": "mailgun", "signing_key_env": "MAILGUN_WEBHOOK_SIGNING_KEY", "max_age": "10m"},
        context={"env": ENV},
    )


def signature(timestamp: str | int, token: str, key: str = KEY) -> dict[str, Any]:
    digest = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": digest}


def payload(
    event_data: dict[str, Any], *, timestamp: str | int | None = None, token: str | None = None
) -> bytes:
    stamp = str(int(NOW) - 3) if timestamp is None else timestamp
    token = token or f"{next(_tokens):050d}"
    return json.dumps({"signature": signature(stamp, token), "event-data": event_data}).encode()


def failed(severity: str, **status: Any) -> dict[str, Any]:
    return {
        "event": "failed",
        "severity": severity,
        "reason": "bounce" if severity == "permanent" else "generic",
        "id": "G9Bn5sl1TC6nu79C8C0bwg",
        "timestamp": NOW - 30,
        "recipient": "alice@example.com",
        "log-level": "error",
        "delivery-status": {
            "attempt-no": 1,
            "code": 550,
            "message": "550 5.1.1 The email account that you tried to reach does not exist.",
            "description": "",
            "enhanced-code": "5.1.1",
            "mx-host": "smtp-in.example.com",
            **status,
        },
        "message": {"headers": {"message-id": "20240501100000.1.ABCD@mg.example.com"}},
        "user-variables": {"relaylane_id": "rl1.c0ffee"},
    }


def read(
    body: bytes, config: MailgunWebhookConfig, tokens: mailgun.RecentTokens | None = None
) -> list[Any]:
    return mailgun.verify_and_parse({}, body, config, NOW, tokens=tokens or mailgun.RecentTokens())


# -- genuine events ---------------------------------------------------------------------------


def test_permanent_failure_is_a_bounce(config: MailgunWebhookConfig) -> None:
    [found] = read(payload(failed("permanent")), config)
    assert found.provider == "mailgun"
    assert found.finding.event is Event.BOUNCED
    assert found.finding.recipient == "alice@example.com"
    assert (found.finding.code, found.finding.status) == (550, "5.1.1")
    assert found.finding.diagnostic.startswith("550 5.1.1 The email account")
    assert found.relaylane_id == "rl1.c0ffee"
    assert found.provider_message_id == "20240501100000.1.ABCD@mg.example.com"
    assert found.occurred_at == NOW - 30


def test_temporary_failure_is_a_delay(config: MailgunWebhookConfig) -> None:
    data = failed(
        "temporary",
        code=451,
        message="451 4.4.8 Unroutable email address.",
        **{"enhanced-code": ""},
    )
    [found] = read(payload(data), config)
    assert found.finding.event is Event.DELAYED
    assert (found.finding.code, found.finding.status) == (451, "4.4.8")


def test_failure_with_only_a_description(config: MailgunWebhookConfig) -> None:
    data = failed(
        "permanent",
        code=605,
        message="",
        description="Not delivering to previously bounced address",
    )
    data["reason"] = "old"
    [found] = read(payload(data), config)
    assert found.finding.event is Event.BOUNCED
    assert found.finding.code is None  # 605 is Mailgun's, not SMTP's
    assert found.finding.diagnostic == "Not delivering to previously bounced address"


def test_failure_from_mailguns_suppression_list_is_unknown(config: MailgunWebhookConfig) -> None:
    data = failed(
        "permanent",
        code=605,
        message="",
        description="Not delivering to previously bounced address",
    )
    data["reason"] = "suppress-bounce"
    [found] = read(payload(data), config)
    assert found.finding.event is Event.UNKNOWN
    assert "suppress-bounce" in found.finding.diagnostic
    assert (found.finding.code, found.finding.status) == (None, None)


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("delivered", Event.DELIVERED),
        ("complained", Event.COMPLAINED),
        ("unsubscribed", Event.UNSUBSCRIBED),
        ("rejected", Event.UNKNOWN),
        ("list_member_uploaded", Event.UNKNOWN),
    ],
)
def test_other_events(kind: str, expected: Event, config: MailgunWebhookConfig) -> None:
    data = {
        "event": kind,
        "recipient": "alice@example.com",
        "timestamp": NOW - 10,
        "delivery-status": {"code": 250, "message": "OK", "description": ""},
        "user-variables": [],
    }
    [found] = read(payload(data), config)
    assert found.finding.event is expected
    assert found.relaylane_id is None
    if expected is Event.UNKNOWN:
        assert kind in found.finding.diagnostic
    if expected is Event.DELIVERED:
        assert found.finding.code == 250


@pytest.mark.parametrize("kind", ["accepted", "opened", "clicked", "stored"])
def test_events_not_acted_on_are_skipped(kind: str, config: MailgunWebhookConfig) -> None:
    assert read(payload({"event": kind, "recipient": "alice@example.com"}), config) == []


def test_integer_timestamp_and_upper_case_signature(config: MailgunWebhookConfig) -> None:
    stamp = int(NOW)
    sig = signature(stamp, "t" * 50)
    sig["signature"] = sig["signature"].upper()
    body = json.dumps({"signature": sig, "event-data": failed("permanent")}).encode()
    assert len(read(body, config)) == 1


# -- refused ------------------------------------------------------------------------------------


def test_wrong_signature(config: MailgunWebhookConfig) -> None:
    sig = signature(str(int(NOW)), "t" * 50, key="another-key")
    body = json.dumps({"signature": sig, "event-data": failed("permanent")}).encode()
    with pytest.raises(WebhookRejected, match="does not verify") as caught:
        read(body, config)
    assert caught.value.status == 403


def test_event_data_is_not_what_was_signed_but_the_token_is(config: MailgunWebhookConfig) -> None:
    # Mailgun signs timestamp + token only; a tampered event-data is refused by the replay
    # memory once the genuine request was seen.
    tokens = mailgun.RecentTokens()
    genuine = payload(failed("temporary"), token="r" * 50)
    read(genuine, config, tokens)
    forged = json.loads(genuine)
    forged["event-data"] = failed("permanent")
    with pytest.raises(WebhookRejected, match="replay"):
        read(json.dumps(forged).encode(), config, tokens)


@pytest.mark.parametrize("age", [601, -601, 10**9])
def test_stale_or_future_timestamp(age: int, config: MailgunWebhookConfig) -> None:
    with pytest.raises(WebhookRejected, match="replay") as caught:
        read(payload(failed("permanent"), timestamp=str(int(NOW) - age)), config)
    assert caught.value.status == 403


def test_replayed_token(config: MailgunWebhookConfig) -> None:
    tokens = mailgun.RecentTokens()
    body = payload(failed("permanent"), token="x" * 50)
    assert len(read(body, config, tokens)) == 1
    with pytest.raises(WebhookRejected, match="already used"):
        read(body, config, tokens)


def test_replay_memory_is_bounded_and_forgets_expired_tokens() -> None:
    tokens = mailgun.RecentTokens(capacity=3)
    for name in "abcd":
        assert tokens.admit(name, NOW, NOW, 600)
    assert tokens.admit("a", NOW, NOW, 600)  # the oldest was forgotten
    assert not tokens.admit("d", NOW, NOW, 600)
    later = NOW + 601
    assert tokens.admit("d", later, later, 600)  # expired, so forgotten


def test_default_memory_is_process_wide(config: MailgunWebhookConfig) -> None:
    body = payload(failed("permanent"), token=f"{id(config)}-default-{'z' * 20}")
    assert len(mailgun.verify_and_parse({}, body, config, NOW)) == 1
    with pytest.raises(WebhookRejected):
        mailgun.verify_and_parse({}, body, config, NOW)


@pytest.mark.parametrize(
    "sig",
    [
        None,
        {},
        {"timestamp": "1714557597", "token": "t" * 50},
        {"timestamp": "1714557597", "signature": "00"},
        {"timestamp": "soon", "token": "t", "signature": "00"},
        {"timestamp": "1714557597", "token": "t", "signature": "é" * 64},
        {"timestamp": True, "token": "t", "signature": "00"},
        {"timestamp": "1714557597", "token": "\ud800", "signature": "00"},
    ],
)
def test_missing_or_malformed_signature(sig: Any, config: MailgunWebhookConfig) -> None:
    body = json.dumps({"signature": sig, "event-data": failed("permanent")}).encode()
    with pytest.raises(WebhookRejected) as caught:
        read(body, config)
    assert caught.value.status == 403


@pytest.mark.parametrize("body", [b"", b"timestamp=1&token=2&signature=3", b"[]", b"\xff"])
def test_body_that_is_not_mailgun_json(body: bytes, config: MailgunWebhookConfig) -> None:
    with pytest.raises(WebhookRejected) as caught:
        read(body, config)
    assert caught.value.status == 400


def test_signed_body_without_event_data(config: MailgunWebhookConfig) -> None:
    body = json.dumps({"signature": signature(str(int(NOW)), "e" * 50)}).encode()
    with pytest.raises(WebhookRejected) as caught:
        read(body, config)
    assert caught.value.status == 400


# -- never anything but WebhookRejected ------------------------------------------------------

_event_data = st.fixed_dictionaries(
    {
        "event": st.sampled_from(["failed", "delivered", "complained", "opened"]) | json_values,
        "severity": st.sampled_from(["permanent", "temporary"]) | json_values,
        "reason": st.sampled_from(["bounce", "suppress-bounce"]) | json_values,
        "recipient": json_values,
        "timestamp": json_values,
        "delivery-status": json_values
        | st.fixed_dictionaries(
            {
                "code": json_values,
                "message": json_values,
                "description": json_values,
                "enhanced-code": json_values,
            }
        ),
        "user-variables": json_values,
        "message": json_values,
    }
)


@settings(max_examples=150, deadline=None)
@given(
    body=st.binary(max_size=200)
    | json_values.map(lambda v: json.dumps(v).encode())
    | st.fixed_dictionaries({"signature": json_values, "event-data": json_values}).map(
        lambda v: json.dumps(v).encode()
    )
)
def test_arbitrary_bodies_only_raise_rejected(body: bytes, config: MailgunWebhookConfig) -> None:
    with contextlib.suppress(WebhookRejected):
        read(body, config)


@settings(max_examples=150, deadline=None)
@given(data=_event_data | json_values)
def test_arbitrary_signed_event_data_only_raises_rejected(
    data: Any, config: MailgunWebhookConfig
) -> None:
    body = json.dumps(
        {"signature": signature(str(int(NOW)), "h" * 50), "event-data": data}
    ).encode()
    try:
        found, status = read(body, config), 200
    except WebhookRejected as exc:  # a genuine signature: only the content may be refused
        found, status = [], exc.status
    assert status in (200, 400)
    assert all(isinstance(e.finding.event, Event) for e in found)


# -- configuration ---------------------------------------------------------------------------


def test_config_missing_env_var_is_named() -> None:
    with pytest.raises(ValidationError) as caught:
        MailgunWebhookConfig.model_validate({"signing_key_env": "MG_KEY"}, context={"env": {}})
    assert "MG_KEY, which is not set" in str(caught.value)


def test_config_env_name_that_looks_like_a_secret_is_not_echoed() -> None:
    with pytest.raises(ValidationError) as caught:
        MailgunWebhookConfig.model_validate(
            {"signing_key_env": "key-3ax6:secret"}, context={"env": {}}
        )
    assert "name of an environment variable" in str(caught.value)
    assert "key-3ax6:secret" not in caught.value.errors()[0]["msg"]


def test_config_key_is_read_and_unknown_keys_refused() -> None:
    webhooks = WebhooksConfig.model_validate(
        {"mailgun": {"signing_key_env": "K", "relay": "mg"}}, context={"env": {"K": "s3"}}
    )
    assert webhooks.mailgun is not None
    assert webhooks.mailgun.signing_key() == "s3"
    assert webhooks.mailgun.max_age == 600.0
    assert webhooks.relay_refs() == (("mailgun", "mg"),)
    with pytest.raises(ValidationError) as caught:
        WebhooksConfig.model_validate(
            {"mailgun": {"signing_key_env": "K", "signing_key": "s3"}}, context={"env": {"K": "s3"}}
        )
    assert caught.value.errors()[0]["type"] == "extra_forbidden"
    with pytest.raises(ValidationError):
        WebhooksConfig.model_validate({"mandrill": {}})
