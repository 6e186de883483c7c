"""/healthz, 503 when the store is down or the queue is full, and /openapi.json."""

from __future__ import annotations

from typing import Any

from relaylane.store import open_store
from tests.api.conftest import Api, bearer, delivery_count, message

DEAD_STORE = "postgresql://postgres@127.0.0.1:1/relaylane"  # nothing listens on port 1


async def test_healthz_answers_200_when_the_store_answers(api: Api) -> None:
    response = await api.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_a_store_that_does_not_answer_is_503_with_retry_after(start_api: Any) -> None:
    dead = open_store(DEAD_STORE, migrate=False)
    try:
        api = await start_api(on=dead)
        response = await api.client.get("/healthz")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "unavailable"
        assert int(response.headers["Retry-After"]) > 0
        for response in [await api.get("/v1/status"), await api.send(message())]:
            assert response.status_code == 503, response.text
            assert response.json()["error"]["code"] == "unavailable"
            assert int(response.headers["Retry-After"]) > 0
    finally:
        dead.close()


async def test_a_full_queue_is_503_with_retry_after_and_nothing_is_queued(start_api: Any) -> None:
    api = await start_api(intake={"max_queued": 2})
    assert (await api.send(message(to=["a@example.test", "b@example.test"]))).status_code == 202
    response = await api.send(message())
    assert response.status_code == 503
    error = response.json()["error"]
    assert error["code"] == "unavailable"
    assert "max_queued" in error["message"]
    assert response.headers["Retry-After"] == "60"
    batch = await api.client.post(
        "/v1/messages/batch", json={"messages": [message()]}, headers=bearer(api.token)
    )
    assert batch.status_code == 503
    assert delivery_count(api.store) == 2
    assert (await api.get("/v1/status")).status_code == 200  # reads still work


async def test_openapi_documents_every_route_and_answer(start_api: Any) -> None:
    api = await start_api(http={"batch_limit": 250})
    schema = (await api.client.get("/openapi.json")).json()
    paths = schema["paths"]
    assert set(paths) == {
        "/v1/messages",
        "/v1/messages/batch",
        "/v1/messages/{delivery_id}",
        "/v1/status",
        "/v1/relays",
        "/v1/lanes",
        "/v1/lanes/{lane}/{action}",
        "/v1/queue",
        "/v1/queue/{action}",
        "/healthz",
        "/v1/webhooks/ses",
        "/v1/webhooks/sendgrid",
        "/v1/webhooks/mailgun",
        "/v1/webhooks/postmark",
    }
    send = paths["/v1/messages"]["post"]
    assert set(send["responses"]) == {"202", "400", "401", "403", "413", "422", "429", "503"}
    assert send["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/MessageIn"
    }
    error = send["responses"]["422"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorBody"}
    components = schema["components"]["schemas"]
    assert components["BatchIn"]["properties"]["messages"]["maxItems"] == 250
    assert components["MessageIn"]["additionalProperties"] is False
    assert "from" in components["MessageIn"]["properties"]
    assert components["MessageIn"]["examples"]
    for path in paths.values():
        for operation in path.values():
            assert "HTTPValidationError" not in str(operation)  # our error shape only
