"""Idempotency-Key: the same answer for the same request, never queued twice."""

from __future__ import annotations

import asyncio

import pytest

from tests.api.conftest import Api, add_key, bearer, delivery_count, message


def key(value: str) -> dict[str, str]:
    return {"Idempotency-Key": value}


async def test_a_repeated_request_gets_the_same_answer_and_queues_once(api: Api) -> None:
    body = message(to=["bob@example.test", "ann@example.test"])
    first = await api.send(body, headers=key("order-1"))
    again = await api.send(body, headers=key("order-1"))
    assert first.status_code == again.status_code == 202
    assert again.content == first.content  # byte for byte
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert delivery_count(api.store) == 2


async def test_key_order_and_blanks_in_the_json_do_not_matter(api: Api) -> None:
    first = await api.send({"to": ["bob@example.test"], **message()}, headers=key("k"))
    body = '{ "text": "Hello\\n", "subject": "Hi", "to": ["bob@example.test"],\n'
    body += ' "from": "Acme <no-reply@tx.acme.test>" }'
    again = await api.client.post(
        "/v1/messages",
        content=body,
        headers={**bearer(api.token), **key("k"), "content-type": "application/json"},
    )
    assert again.content == first.content
    assert delivery_count(api.store) == 1


async def test_the_same_key_with_another_body_is_a_conflict(api: Api) -> None:
    await api.send(message(subject="one"), headers=key("k1"))
    response = await api.send(message(subject="two"), headers=key("k1"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "conflict"
    assert error["fields"][0]["field"] == "Idempotency-Key"
    assert delivery_count(api.store) == 1


async def test_the_same_key_on_the_other_endpoint_is_a_conflict(api: Api) -> None:
    await api.send(message(), headers=key("k1"))
    response = await api.client.post(
        "/v1/messages/batch",
        json={"messages": [message()]},
        headers={**bearer(api.token), **key("k1")},
    )
    assert response.json()["error"]["code"] == "conflict"


async def test_keys_are_per_api_key(api: Api) -> None:
    other = add_key(api.store)
    first = await api.send(message(), headers=key("shared"))
    second = await api.send(message(), headers={**key("shared"), **bearer(other)})
    assert second.status_code == 202
    assert second.json() != first.json()
    assert delivery_count(api.store) == 2


async def test_concurrent_repeats_queue_once(api: Api) -> None:
    body = message()
    answers = await asyncio.gather(*(api.send(body, headers=key("race")) for _ in range(8)))
    assert {a.status_code for a in answers} == {202}
    assert len({a.content for a in answers}) == 1
    assert delivery_count(api.store) == 1


async def test_an_invalid_request_is_not_remembered(api: Api) -> None:
    bad = await api.send(message(to=["nope"]), headers=key("k"))
    assert bad.status_code == 422
    good = await api.send(message(), headers=key("k"))
    assert good.status_code == 202


async def test_a_batch_is_replayed_whole(api: Api) -> None:
    body = {"messages": [message(), message(to=["bad"]), message(to=["ann@example.test"])]}
    headers = {**bearer(api.token), **key("batch-1")}
    first = await api.client.post("/v1/messages/batch", json=body, headers=headers)
    again = await api.client.post("/v1/messages/batch", json=body, headers=headers)
    assert first.status_code == again.status_code == 202
    assert again.content == first.content
    assert delivery_count(api.store) == 2


@pytest.mark.parametrize("value", ["", "a b", "é".encode(), "x" * 256])
async def test_a_bad_key_is_invalid_input(api: Api, value: str | bytes) -> None:
    response = await api.send(message(), headers={"Idempotency-Key": value})
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "Idempotency-Key"
    assert delivery_count(api.store) == 0
