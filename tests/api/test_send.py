"""POST /v1/messages: what is queued, and what the stored message holds."""

from __future__ import annotations

import base64
import email
import email.policy
import json

from tests.api.conftest import Api, delivery_count, message, stored_message


def parsed_body(api: Api, delivery_id: int) -> email.message.EmailMessage:
    row = stored_message(api.store, delivery_id)
    msg = email.message_from_bytes(row.body, policy=email.policy.default)
    assert isinstance(msg, email.message.EmailMessage)
    return msg


async def test_202_with_ids_and_the_deliveries_are_stored_at_once(api: Api) -> None:
    response = await api.send(message(to=["bob@example.test", "Ann <ann@example.test>"]))
    assert response.status_code == 202
    body = response.json()
    assert body["lane"] == "transactional"  # the key's first lane
    pairs = {d["recipient"]: d["id"] for d in body["deliveries"]}
    assert set(pairs) == {"bob@example.test", "ann@example.test"}
    for recipient, delivery_id in pairs.items():
        detail = api.store.reads.delivery(delivery_id)  # committed before the 202
        assert detail.delivery.recipient == recipient
        assert detail.delivery.state == "queued"
        assert detail.mail_from == "no-reply@tx.acme.test"
    row = stored_message(api.store, pairs["bob@example.test"])
    assert row.source == "api"
    assert row.submitter == api.token.split("_")[1]  # the key id, never the secret


async def test_lane_tags_and_metadata_are_stored(api: Api) -> None:
    response = await api.send(
        message(lane="marketing", tags=["spring", "promo"], metadata={"user": "42", "a": "b"})
    )
    assert response.status_code == 202
    assert response.json()["lane"] == "marketing"
    row = stored_message(api.store, response.json()["deliveries"][0]["id"])
    assert row.lane == "marketing"
    assert json.loads(row.tags) == ["spring", "promo"]
    assert json.loads(row.meta) == {"a": "b", "user": "42"}


async def test_bcc_gets_a_delivery_but_is_never_written_into_the_message(api: Api) -> None:
    response = await api.send(
        message(
            to=["bob@example.test"], cc=["Carol <carol@example.test>"], bcc=["eve@example.test"]
        )
    )
    assert response.status_code == 202
    recipients = [d["recipient"] for d in response.json()["deliveries"]]
    assert recipients == ["bob@example.test", "carol@example.test", "eve@example.test"]
    row = stored_message(api.store, response.json()["deliveries"][0]["id"])
    assert b"eve@example.test" not in row.body
    assert b"bcc" not in row.body.lower()
    msg = parsed_body(api, response.json()["deliveries"][0]["id"])
    assert msg["To"] == "bob@example.test"
    assert msg["Cc"] == "Carol <carol@example.test>"


async def test_a_recipient_listed_twice_gets_one_delivery(api: Api) -> None:
    response = await api.send(message(to=["bob@example.test"], bcc=["BOB@Example.test"]))
    assert [d["recipient"] for d in response.json()["deliveries"]] == ["bob@example.test"]


async def test_html_text_headers_reply_to_and_attachments(api: Api) -> None:
    pdf = b"%PDF-1.4\n" + bytes(range(256))
    response = await api.send(
        message(
            html="<p>Hello</p>",
            reply_to="help@acme.test",
            headers={"X-Campaign": "spring"},
            attachments=[
                {
                    "filename": "invoice.pdf",
                    "content": base64.b64encode(pdf).decode(),
                    "content_type": "application/pdf",
                },
                {
                    "filename": "logo.png",
                    "content": base64.encodebytes(b"\x89PNG...").decode(),  # with line breaks
                    "content_type": "image/png",
                    "content_id": "logo@acme.test",
                },
            ],
        )
    )
    assert response.status_code == 202, response.text
    msg = parsed_body(api, response.json()["deliveries"][0]["id"])
    assert msg["X-Campaign"] == "spring"
    assert msg["Reply-To"] == "help@acme.test"
    assert msg.get_content_type() == "multipart/mixed"
    body = msg.get_body(preferencelist=("html",))
    assert body is not None and "<p>Hello</p>" in body.get_content()
    files = {part.get_filename(): part for part in msg.iter_attachments()}
    assert files["invoice.pdf"].get_content() == pdf
    assert files["logo.png"]["Content-ID"] == "<logo@acme.test>"


async def test_raw_with_envelope(api: Api) -> None:
    raw = (
        "From: Acme <no-reply@tx.acme.test>\r\nTo: list@example.test\r\n"
        "Bcc: secret@example.test\r\nSubject: Grüße\r\nMessage-ID: <m1@tx.acme.test>\r\n"
        "\r\nHallo Grüße\r\n"
    )
    response = await api.send(
        {
            "raw": raw,
            "envelope": {"from": "bounces@tx.acme.test", "to": ["bob@example.test"]},
            "tags": ["raw"],
        }
    )
    assert response.status_code == 202, response.text
    [delivery] = response.json()["deliveries"]
    assert delivery["recipient"] == "bob@example.test"
    detail = api.store.reads.delivery(delivery["id"])
    assert detail.mail_from == "bounces@tx.acme.test"
    assert detail.delivery.header_message_id == "<m1@tx.acme.test>"
    row = stored_message(api.store, delivery["id"])
    assert b"secret@example.test" not in row.body  # compose_eml removed the Bcc header
    assert row.body.isascii()  # 8-bit text re-encoded
    assert parsed_body(api, delivery["id"])["Subject"] == "Grüße"


async def test_raw_base64(api: Api) -> None:
    raw = b"From: no-reply@tx.acme.test\r\nSubject: latin-1\r\n\r\nCaf\xe9\r\n"
    response = await api.send(
        {
            "raw_base64": base64.b64encode(raw).decode(),
            "envelope": {"from": "no-reply@tx.acme.test", "to": ["bob@example.test"]},
        }
    )
    assert response.status_code == 202, response.text
    assert delivery_count(api.store) == 1
