"""POST /v1/messages/batch: each item answered on its own; the valid ones in one commit."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import Api, add_key, bearer, delivery_count, message


async def post_batch(api: Api, items: list[Any], token: str | None = None) -> httpx.Response:
    return await api.client.post(
        "/v1/messages/batch", json={"messages": items}, headers=bearer(token or api.token)
    )


async def test_valid_items_are_queued_in_one_commit_and_invalid_ones_answered(api: Api) -> None:
    commits = api.ctx.committer.commits
    items = [
        message(to=["a@example.test", "b@example.test"]),
        message(to=["not an address"]),
        message(lane="marketing", to=["c@example.test"]),
        message(headers={"Received": "from x"}),
        "not an object",
    ]
    response = await post_batch(api, items)
    assert response.status_code == 202, response.text
    body = response.json()
    assert (body["queued"], body["rejected"]) == (2, 3)
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r["status"] for r in results] == [
        "queued",
        "rejected",
        "queued",
        "rejected",
        "rejected",
    ]
    assert [d["recipient"] for d in results[0]["deliveries"]] == [
        "a@example.test",
        "b@example.test",
    ]
    assert results[2]["lane"] == "marketing"
    assert results[1]["error"]["code"] == "invalid_input"
    assert results[1]["error"]["fields"][0]["field"] == "to[0]"
    assert results[3]["error"]["fields"][0]["field"] == "headers.Received"
    assert results[4]["error"]["fields"][0]["field"] == "body"
    assert api.ctx.committer.commits == commits + 1
    for result in (results[0], results[2]):
        for d in result["deliveries"]:
            assert api.store.reads.delivery(d["id"]).delivery.recipient == d["recipient"]
    assert delivery_count(api.store) == 3


async def test_an_item_in_a_lane_the_key_may_not_use_is_forbidden_alone(api: Api) -> None:
    token = add_key(api.store, lanes=["transactional"])
    response = await post_batch(api, [message(), message(lane="marketing")], token)
    results = response.json()["results"]
    assert results[0]["status"] == "queued"
    assert results[1]["error"]["code"] == "forbidden"


async def test_nothing_valid_is_422_naming_each_item(api: Api) -> None:
    response = await post_batch(api, [message(to=["x"]), message(subject="a\nb")])
    assert response.status_code == 422
    fields = [f["field"] for f in response.json()["error"]["fields"]]
    assert fields == ["messages[0].to[0]", "messages[1].subject"]
    assert delivery_count(api.store) == 0


async def test_nothing_allowed_is_403(api: Api) -> None:
    token = add_key(api.store, lanes=["transactional"])
    response = await post_batch(api, [message(lane="marketing")], token)
    assert response.status_code == 403
    assert response.json()["error"]["fields"][0]["field"] == "messages[0].lane"


async def test_over_the_batch_limit_is_422(start_api: Any) -> None:
    api = await start_api(http={"batch_limit": 3})
    response = await post_batch(api, [message()] * 4)
    assert response.status_code == 422
    assert response.json()["error"]["fields"][0]["field"] == "messages"
    assert delivery_count(api.store) == 0
    assert (await post_batch(api, [message()] * 3)).status_code == 202


async def test_the_batch_shape_is_checked(api: Api) -> None:
    for body in [{"messages": []}, {"messages": {}}, {"items": [message()]}, [message()]]:
        response = await api.client.post("/v1/messages/batch", json=body, headers=bearer(api.token))
        assert response.status_code == 422, body
        assert response.json()["error"]["code"] == "invalid_input"


async def test_a_big_batch(api: Api) -> None:
    items = [message(to=[f"u{i}@example.test"]) for i in range(300)]
    response = await post_batch(api, items)
    assert response.status_code == 202
    assert response.json()["queued"] == 300
    assert delivery_count(api.store) == 300
