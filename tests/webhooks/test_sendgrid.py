"""SendGrid's Signed Event Webhook: ECDSA P-256 over timestamp + body, events per recipient."""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from relaylane.bounces.report import Event
from relaylane.bounces.webhooks import WebhookRejected, sendgrid
from relaylane.config.webhooks import DEFAULT_WEBHOOK_MAX_AGE, SendgridWebhookConfig
from tests.webhooks.strategies import json_values

NOW = 1_714_557_600
SIG = "x-twilio-email-event-webhook-signature"
TS = "x-twilio-email-event-webhook-timestamp"


def _b64_der(key: ec.EllipticCurvePrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def config(key: ec.EllipticCurvePrivateKey) -> SendgridWebhookConfig:
    return SendgridWebhookConfig.model_validate(
        {"relay": "sendgrid", "public_key": _b64_der(key), "max_age": "10m"}
    )


def signed(
    body: bytes, key: ec.EllipticCurvePrivateKey, timestamp: int = NOW - 5
) -> dict[str, str]:
    """Headers as SendGrid sends them: ECDSA(SHA-256) over timestamp + body, base64 DER."""
    signature = key.sign(str(timestamp).encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIG: base64.b64encode(signature).decode(), TS: str(timestamp)}


def batch(*events: dict[str, Any]) -> bytes:
    return json.dumps(list(events)).encode()


def event(kind: str, **fields: Any) -> dict[str, Any]:
    return {
        "email": "ann@example.net",
        "timestamp": NOW - 60,
        "smtp-id": "<14c5d75ce93.dfd.64b469@ismtpd-555>",
        "event": kind,
        "category": "cat facts",
        "sg_event_id": "sg_event_id",
        "sg_message_id": "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        "relaylane_id": "rl1.77aa",
        **fields,
    }


def read(body: bytes, headers: dict[str, str], config: SendgridWebhookConfig) -> list[Any]:
    return sendgrid.verify_and_parse(headers, body, config, float(NOW))


# -- genuine events ---------------------------------------------------------------------------


def test_a_batch_of_every_kind(
    key: ec.EllipticCurvePrivateKey, config: SendgridWebhookConfig
) -> None:
    body = batch(
        event("processed"),
        event("deferred", response="400 try again later", attempt="5"),
        event("delivered", response="250 OK"),
        event("open", useragent="Mozilla/4.0"),
        event("click", url="https://example.com"),
        event("bounce", type="bounce", status="5.1.1", reason="550 5.1.1 unknown recipient"),
        event("spamreport"),
        event("unsubscribe"),
        event("group_unsubscribe", asm_group_id=10),
        event("group_resubscribe", asm_group_id=10),
    )
    events = read(body, signed(body, key), config)
    assert [e.finding.event for e in events] == [
        Event.DELAYED,
        Event.DELIVERED,
        Event.BOUNCED,
        Event.COMPLAINED,
        Event.UNSUBSCRIBED,
        Event.UNSUBSCRIBED,
    ]
    delayed, delivered, bounced = events[:3]
    assert (delayed.finding.code, delayed.finding.diagnostic) == (400, "400 try again later")
    assert delivered.finding.code == 250
    assert (bounced.finding.code, bounced.finding.status) == (550, "5.1.1")
    assert bounced.finding.diagnostic == "550 5.1.1 unknown recipient"
    for e in events:
        assert e.provider == "sendgrid"
        assert e.finding.recipient == "ann@example.net"
        assert e.relaylane_id == "rl1.77aa"
        assert e.provider_message_id == "14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0"
        assert e.occurred_at == NOW - 60


def test_blocked_bounce_keeps_the_reason_and_says_blocked(
    key: ec.EllipticCurvePrivateKey, config: SendgridWebhookConfig
) -> None:
    reason = "550 5.7.1 Service unavailable; client host [1.2.3.4] blocked using Spamhaus"
    body = batch(event("bounce", type="blocked", status="5.7.1", reason=reason))
    [found] = read(body, signed(body, key), config)
    assert found.finding.event is Event.BOUNCED
    assert found.finding.diagnostic.startswith(reason)
    assert "blocked" in found.finding.diagnostic.removeprefix(reason)
    assert found.finding.status == "5.7.1"


def test_dropped_is_unknown_with_the_reason(
    key: ec.EllipticCurvePrivateKey, config: SendgridWebhookConfig
) -> None:
    body = batch(event("dropped", reason="Bounced Address", status="5.0.0"))
    [found] = read(body, signed(body, key), config)
    assert found.finding.event is Event.UNKNOWN
    assert found.finding.diagnostic == "SendGrid dropped: Bounced Address"
    assert (found.finding.code, found.finding.status) == (None, None)


def test_unrecognised_event_is_unknown(
    key: ec.EllipticCurvePrivateKey, config: SendgridWebhookConfig
) -> None:
    body = batch(event("account_status_change", type="compliance_suspend"))
    [found] = read(body, signed(body, key), config)
    assert found.finding.event is Event.UNKNOWN
    assert "account_status_change" in found.finding.diagnostic


def test_event_without_relaylane_id(
    key: ec.EllipticCurvePrivateKey, config: SendgridWebhookConfig
) -> None:
    plain = event("delivered")
    del plain["relaylane_id"]
    body = batch(plain)
    [found] = read(body, signed(body, key), config)
    assert found.relaylane_id is None


def test_empty_batch(key: ec.EllipticCurvePrivateKey, config: SendgridWebhookConfig) -> None:
    assert read(b"[]", signed(b"[]", key), config) == []


# -- refused ------------------------------------------------------------------------------------


def test_tampered_body(key: ec.EllipticCurvePrivateKey, config: SendgridWebhookConfig) -> None:
    body = batch(event("deferred", response="421 later"))
    headers = signed(body, key)
    forged = body.replace(b"deferred", b"bounce\x22,\x22x\x22:\x22")
    with pytest.raises(WebhookRejected) as caught:
        read(forged, headers, config)
    assert caught.value.status == 403


def test_signature_by_another_key(config: SendgridWebhookConfig) -> None:
    body = batch(event("bounce"))
    with pytest.raises(WebhookRejected, match="does not verify"):
        read(body, signed(body, ec.generate_private_key(ec.SECP256R1())), config)


def test_timestamp_is_part_of_what_is_signed(
    key: ec.EllipticCurvePrivateKey, config: SendgridWebhookConfig
) -> None:
    body = batch(event("bounce"))
    headers = signed(body, key, timestamp=NOW - 5)
    headers[TS] = str(NOW - 4)
    with pytest.raises(WebhookRejected):
        read(body, headers, config)


@pytest.mark.parametrize("age", [DEFAULT_WEBHOOK_MAX_AGE + 1, -(DEFAULT_WEBHOOK_MAX_AGE + 1)])
def test_stale_or_future_timestamp(
    age: float, key: ec.EllipticCurvePrivateKey, config: SendgridWebhookConfig
) -> None:
    body = batch(event("bounce"))
    with pytest.raises(WebhookRejected, match="replay") as caught:
        read(body, signed(body, key, timestamp=int(NOW - age)), config)
    assert caught.value.status == 403


def test_timestamp_within_max_age_is_accepted(
    key: ec.EllipticCurvePrivateKey, config: SendgridWebhookConfig
) -> None:
    body = batch(event("bounce"))
    stamp = int(NOW - DEFAULT_WEBHOOK_MAX_AGE + 1)
    assert len(read(body, signed(body, key, timestamp=stamp), config)) == 1


@pytest.mark.parametrize(
    "change",
    [
        {SIG: None},
        {TS: None},
        {SIG: ""},
        {TS: "yesterday"},
        {TS: "١٧١٤٥٥٧٥٩٥"},  # digits, but not ASCII ones
        {SIG: "%%% not base64 %%%"},
        {SIG: base64.b64encode(b"\x30\x02\x01").decode()},  # not a DER signature
    ],
)
def test_missing_or_malformed_signature_headers(
    change: dict[str, str | None], key: ec.EllipticCurvePrivateKey, config: SendgridWebhookConfig
) -> None:
    body = batch(event("bounce"))
    headers: dict[str, str] = {**signed(body, key)}
    for name, value in change.items():
        if value is None:
            del headers[name]
        else:
            headers[name] = value
    with pytest.raises(WebhookRejected) as caught:
        read(body, headers, config)
    assert caught.value.status == 403


@pytest.mark.parametrize("body", [b"not json", b'{"event": "bounce"}', b"[1]", b'["x"]'])
def test_signed_body_that_is_not_an_event_array(
    body: bytes, key: ec.EllipticCurvePrivateKey, config: SendgridWebhookConfig
) -> None:
    with pytest.raises(WebhookRejected) as caught:
        read(body, signed(body, key), config)
    assert caught.value.status == 400


# -- never anything but WebhookRejected ------------------------------------------------------

_events = st.lists(
    st.fixed_dictionaries(
        {
            "event": st.sampled_from(["bounce", "dropped", "deferred", "delivered", "spamreport"])
            | json_values,
            "email": json_values,
            "type": st.sampled_from(["bounce", "blocked"]) | json_values,
            "reason": json_values,
            "response": json_values,
            "status": json_values,
            "timestamp": json_values,
            "relaylane_id": json_values,
        }
    )
    | json_values,
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(
    headers=st.dictionaries(
        st.sampled_from([SIG, TS, "x"]) | st.text(max_size=10), st.text(max_size=40)
    ),
    body=st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()),
)
def test_arbitrary_requests_only_raise_rejected(
    headers: dict[str, str], body: bytes, config: SendgridWebhookConfig
) -> None:
    with contextlib.suppress(WebhookRejected):
        read(body, headers, config)


@settings(max_examples=150, deadline=None)
@given(events=_events | json_values)
def test_arbitrary_signed_bodies_only_raise_rejected(
    events: Any, key: ec.EllipticCurvePrivateKey, config: SendgridWebhookConfig
) -> None:
    body = json.dumps(events).encode()
    try:
        found, status = read(body, signed(body, key), config), 200
    except WebhookRejected as exc:  # a genuine signature: only the content may be refused
        found, status = [], exc.status
    assert status in (200, 400)
    assert all(isinstance(e.finding.event, Event) for e in found)


# -- configuration ---------------------------------------------------------------------------


def test_config_key_from_a_pem_file(tmp_path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "sendgrid.pem").write_bytes(pem)
    config = SendgridWebhookConfig.model_validate(
        {"public_key_file": "sendgrid.pem"}, context={"base_dir": tmp_path}
    )
    assert config.max_age == DEFAULT_WEBHOOK_MAX_AGE
    body = batch(event("delivered"))
    assert len(read(body, signed(body, key), config)) == 1


def test_config_needs_exactly_one_key(tmp_path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    (tmp_path / "k.txt").write_text(_b64_der(key) + "\n")
    for data in ({}, {"public_key": _b64_der(key), "public_key_file": str(tmp_path / "k.txt")}):
        with pytest.raises(ValidationError, match="exactly one of public_key and public_key_file"):
            SendgridWebhookConfig.model_validate(data)


@pytest.mark.parametrize("text", ["not a key", "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"])
def test_config_rejects_what_is_not_a_key(text: str) -> None:
    with pytest.raises(ValidationError, match="Verification Key"):
        SendgridWebhookConfig(public_key=text)


def test_config_rejects_another_curve() -> None:
    other = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValidationError, match="P-256"):
        SendgridWebhookConfig(public_key=_b64_der(other))


def test_config_unknown_key_and_bad_max_age(key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(ValidationError) as caught:
        SendgridWebhookConfig.model_validate({"public_key": _b64_der(key), "secret": "x"})
    assert caught.value.errors()[0]["type"] == "extra_forbidden"
    with pytest.raises(ValidationError):
        SendgridWebhookConfig.model_validate({"public_key": _b64_der(key), "max_age": "soon"})


def test_config_unreadable_key_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        SendgridWebhookConfig.model_validate({"public_key_file": str(tmp_path / "nope.pem")})
    assert str(tmp_path / "nope.pem") in str(caught.value)
