"""GET /v1/messages[/{id}], /v1/status, /v1/relays, /v1/lanes."""

from __future__ import annotations

from typing import Any

import pytest

from relaylane.clock import FakeClock
from relaylane.delivery.health import HealthBoard
from relaylane.policy.health import Cause, HealthState, PathHealth
from relaylane.policy.vocabulary import BounceClass, Outcome
from relaylane.sim import Behaviour, SimRelay
from tests.api.conftest import Api, message
from tests.helpers import deliver, relay


async def send_ids(api: Api, **fields: Any) -> list[int]:
    response = await api.send(message(**fields))
    assert response.status_code == 202, response.text
    return [d["id"] for d in response.json()["deliveries"]]


async def test_a_delivered_message_shows_its_state_and_attempts(start_api: Any) -> None:
    rules = [("nobody@", "550 5.1.1 <nobody@example.test>: no such user")]
    async with SimRelay(Behaviour(rcpt_rules=rules)) as sim:
        api = await start_api(relay=[relay("r1", sim.port), relay("r2", 1)])
        sent, bounced = await send_ids(api, to=["bob@example.test", "nobody@example.test"])
        await deliver(api.config, api.store)
    response = await api.get(f"/v1/messages/{sent}")
    assert response.status_code == 200
    body = response.json()
    assert (body["state"], body["relay"], body["recipient"]) == ("sent", "r1", "bob@example.test")
    assert body["relay_queue_id"] == sim.received[0].queue_id
    assert body["mail_from"] == "no-reply@tx.acme.test"
    assert body["attempt_count"] == 1
    [attempt] = body["attempts"]
    assert (attempt["outcome"], attempt["stage"], attempt["relay"]) == ("sent", "data_end", "r1")
    assert attempt["reply"].startswith("250 ")
    body = (await api.get(f"/v1/messages/{bounced}")).json()
    assert (body["state"], body["last_code"]) == ("bounced", 550)
    assert [a["code"] for a in body["attempts"]] == [550]


@pytest.mark.parametrize(
    ("path", "status"), [("99", 404), ("abc", 422), ("0", 422), (str(2**63), 422)]
)
async def test_unknown_or_malformed_ids(api: Api, path: str, status: int) -> None:
    response = await api.get(f"/v1/messages/{path}")
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == ("not_found" if status == 404 else "invalid_input")


async def test_list_pages_by_cursor_newest_first(api: Api) -> None:
    ids = [i for n in range(7) for i in await send_ids(api, to=[f"u{n}@example.test"])]
    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        body = (await api.get("/v1/messages", params=params)).json()
        seen += [d["id"] for d in body["deliveries"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)
    assert pages == 3


async def test_list_filters(start_api: Any) -> None:
    clock = FakeClock()
    api = await start_api(clock=clock)
    [tx] = await send_ids(api, to=["Bob@Example.test"])
    [mkt] = await send_ids(api, lane="marketing", to=["ann@example.test"])
    clock.advance(100)
    [late] = await send_ids(api, to=["carl@example.test"])

    async def ids(**params: Any) -> list[int]:
        response = await api.get("/v1/messages", params=params)
        assert response.status_code == 200, response.text
        return [d["id"] for d in response.json()["deliveries"]]

    assert await ids() == [late, mkt, tx]
    assert await ids(lane="marketing") == [mkt]
    assert await ids(state="queued", lane="transactional") == [late, tx]
    assert await ids(state="sent") == []
    assert await ids(to="bob@example.test") == [tx]
    assert await ids(to="BOB@EXAMPLE.TEST") == [tx]
    assert await ids(since=clock.now() - 1) == [late]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"lane": "nope"}, "lane"),
        ({"state": "bogus"}, "state"),
        ({"to": "bob\x00@example.test"}, "to"),
        ({"to": "not an address"}, "to"),
        ({"cursor": "abc"}, "cursor"),
        ({"cursor": "9999999999999999999"}, "cursor"),
        ({"limit": 0}, "limit"),
        ({"limit": 501}, "limit"),
        ({"since": "yesterday"}, "since"),
        ({"since": "inf"}, "since"),
    ],
)
async def test_bad_list_filters_are_422(api: Api, params: dict[str, Any], field: str) -> None:
    response = await api.get("/v1/messages", params=params)
    assert response.status_code == 422, response.text
    assert [f["field"] for f in response.json()["error"]["fields"]] == [field]


async def test_status_counts(api: Api) -> None:
    await send_ids(api, to=["a@example.test", "b@example.test"])
    await send_ids(api, lane="marketing")
    body = (await api.get("/v1/status")).json()
    assert body["total"] == 3
    assert body["by_state"] == {"queued": 3}
    assert body["by_lane"] == {"transactional": {"queued": 2}, "marketing": {"queued": 1}}
    assert body["oldest_pending_age"] >= 0


async def test_lanes_show_configuration_and_counts(api: Api) -> None:
    await send_ids(api, lane="marketing")
    lanes = {x["name"]: x for x in (await api.get("/v1/lanes")).json()["lanes"]}
    assert lanes["transactional"]["purpose"] == "transactional"
    assert lanes["transactional"]["relays"] == [{"name": "r1", "weight": 1}]
    assert lanes["transactional"]["from_domains"] == ["tx.acme.test"]
    assert lanes["transactional"]["counts"] == {}
    assert lanes["marketing"]["counts"] == {"queued": 1}
    assert lanes["marketing"]["max_age"] == 3 * 86400


async def test_relays_show_each_relays_stored_health(api: Api) -> None:
    relays = {x["name"]: x for x in (await api.get("/v1/relays")).json()["relays"]}
    assert relays["r1"]["breaker"]["state"] == "closed"
    assert relays["r1"]["health"]["state"] == "healthy"
    assert relays["r1"]["lanes"] == ["transactional"]
    assert (relays["r1"]["host"], relays["r1"]["port"]) == ("127.0.0.1", 1)
    # what any worker stored is what the API shows, with no worker in this process
    board = HealthBoard(api.config)
    for _ in range(api.config.health.infrastructure_failures):
        board.on_answer("r1", "google", 1, Outcome.RELAY_FAULT, BounceClass.RELAY_UNAVAILABLE,
                        "connection refused", 1000.0)  # fmt: skip
    blocked = PathHealth(HealthState.PAUSED, Cause.REPUTATION, 1000.0, 1900.0, 900.0, "blocks")
    board.set("r2", "yahoo", blocked, 1000.0, "test")
    api.store.health.apply(board.drain(), 1000.0)
    relays = {x["name"]: x for x in (await api.get("/v1/relays")).json()["relays"]}
    assert relays["r1"]["breaker"] == {
        "state": "open",
        "reopens_at": 1030.0,
        "reason": relays["r1"]["health"]["reason"],
    }
    assert relays["r1"]["health"]["cause"] == "infrastructure"
    assert "5 infrastructure failures in a row" in relays["r1"]["health"]["reason"]
    assert relays["r2"]["breaker"]["state"] == "closed"
    assert relays["r2"]["health"]["providers"]["yahoo"]["state"] == "paused"
    assert relays["r2"]["health"]["providers"]["yahoo"]["until"] == 1900.0
