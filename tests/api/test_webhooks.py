"""Provider webhooks through the running API: verified events reach the ledger; forged,
unauthenticated or unconfigured ones change nothing."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import sqlalchemy as sa

from relaylane.store.schema import deliveries
from tests.api.conftest import StartApi

MAILGUN_KEY = "key-test-signing"
ENV = {"MG_KEY": MAILGUN_KEY, "PM_PASSWORD": "s3cret-hook"}
SECTIONS: dict[str, Any] = {
    "env": ENV,
    "webhooks": {
        "mailgun": {"signing_key_env": "MG_KEY"},
        "postmark": {"username": "relaylane", "password_env": "PM_PASSWORD"},
    },
}


def mailgun_body(event: dict[str, Any], key: str = MAILGUN_KEY) -> bytes:
    stamp, token = str(int(time.time())), hashlib.sha256(repr(event).encode()).hexdigest()
    digest = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    sig = {"timestamp": stamp, "token": token, "signature": digest}
    return json.dumps({"signature": sig, "event-data": event}).encode()


async def sent_delivery(api: Any, rcpt: str) -> tuple[int, str]:
    response = await api.send({"from": "Acme <no-reply@tx.acme.test>", "to": [rcpt],
                               "subject": "Hi", "text": "Hello\n"})  # fmt: skip
    assert response.status_code == 202, response.text
    did = response.json()["deliveries"][0]["id"]
    with api.store.engine.begin() as conn:
        conn.execute(deliveries.update().where(deliveries.c.id == did).values(
            state="sent", due_at=None, relay="r1"))  # fmt: skip
    return did, api.store.token_keys.ring(time.time()).token(did)


def state(api: Any, did: int) -> str:
    with api.store.engine.connect() as conn:
        stmt = sa.select(deliveries.c.state).where(deliveries.c.id == did)
        return str(conn.execute(stmt).scalar())


async def test_a_signed_mailgun_bounce_suppresses_and_a_forged_one_does_not(
    start_api: StartApi,
) -> None:
    api = await start_api(**SECTIONS)
    did, token = await sent_delivery(api, "gone@example.test")
    event = {
        "event": "failed",
        "severity": "permanent",
        "recipient": "gone@example.test",
        "delivery-status": {"code": 550, "message": "5.1.1 no such user", "enhanced-code": "5.1.1"},
        "user-variables": {"relaylane_id": token},
    }
    forged = await api.client.post("/v1/webhooks/mailgun", content=mailgun_body(event, "guess"))
    assert forged.status_code == 403
    assert forged.json()["error"]["code"] == "forbidden"
    assert state(api, did) == "sent" and api.store.suppressions.list() == []
    ok = await api.client.post("/v1/webhooks/mailgun", content=mailgun_body(event))
    assert ok.status_code == 200, ok.text
    assert ok.json() == {"received": 1, "actions": {"bounced": 1}}
    assert state(api, did) == "bounced"
    [entry] = api.store.suppressions.list(address="gone@example.test")
    assert (entry.scope, entry.reason, entry.source) == ("global", "hard_bounce", "webhook")


async def test_postmark_needs_its_basic_auth(start_api: StartApi) -> None:
    api = await start_api(**SECTIONS)
    did, token = await sent_delivery(api, "ann@example.test")
    record = {"RecordType": "SpamComplaint", "Email": "ann@example.test", "Type": "SpamComplaint",
              "Metadata": {"relaylane_id": token}, "MessageID": "pm-1"}  # fmt: skip
    missing = await api.client.post("/v1/webhooks/postmark", json=record)
    assert missing.status_code == 401 and "Basic" in missing.headers["www-authenticate"]
    auth = "Basic " + base64.b64encode(b"relaylane:s3cret-hook").decode()
    ok = await api.client.post(
        "/v1/webhooks/postmark", json=record, headers={"Authorization": auth}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["actions"] == {"suppressed": 1}
    assert state(api, did) == "delivered"
    scopes = {e.scope for e in api.store.suppressions.list(address="ann@example.test")}
    assert scopes == {"lane:marketing", "lane:transactional"}


async def test_an_endpoint_without_its_table_is_off(start_api: StartApi) -> None:
    api = await start_api(**SECTIONS)
    response = await api.client.post("/v1/webhooks/sendgrid", content=b"[]")
    assert response.status_code == 404
    assert "[webhooks.sendgrid]" in response.json()["error"]["message"]
