"""API keys: 401 without a valid one, 403 for a missing scope or a lane not allowed."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from relaylane.clock import FakeClock
from tests.api.conftest import Api, add_key, bearer, delivery_count, message


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == code
    assert error["message"]
    return error


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer not-a-key"},
        {"Authorization": "Bearer rl_0123456789ab_wrongsecret"},
    ],
)
async def test_no_valid_key_is_401(api: Api, headers: dict[str, str]) -> None:
    for method, path in [
        ("POST", "/v1/messages"),
        ("GET", "/v1/status"),
        ("GET", "/v1/messages/1"),
    ]:
        response = await api.client.request(method, path, json=message(), headers=headers)
        assert_error(response, 401, "unauthorized")
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert delivery_count(api.store) == 0


async def test_a_wrong_secret_for_a_real_key_id_is_401(api: Api) -> None:
    prefix, key_id, _ = api.token.split("_", 2)
    forged = f"{prefix}_{key_id}_{'A' * 32}"
    assert_error(await api.send(message(), headers=bearer(forged)), 401, "unauthorized")


async def test_a_revoked_key_stops_working_once_its_cache_entry_expires(start_api: Any) -> None:
    clock = FakeClock()
    api = await start_api(clock=clock)
    assert (await api.get("/v1/status")).status_code == 200
    api.store.credentials.revoke_api_key(api.token.split("_")[1], now=clock.now())
    clock.advance(api.ctx.key_cache_seconds + 0.1)
    assert_error(await api.get("/v1/status"), 401, "unauthorized")
    assert_error(await api.send(message()), 401, "unauthorized")


async def test_a_read_only_key_cannot_send(api: Api) -> None:
    token = add_key(api.store, scopes=["read"])
    error = assert_error(await api.send(message(), headers=bearer(token)), 403, "forbidden")
    assert "send" in error["message"]
    assert delivery_count(api.store) == 0
    assert (await api.get("/v1/status", headers=bearer(token))).status_code == 200


async def test_a_send_only_key_cannot_read(api: Api) -> None:
    token = add_key(api.store, scopes=["send"])
    assert (await api.send(message(), headers=bearer(token))).status_code == 202
    for path in ["/v1/status", "/v1/messages", "/v1/messages/1", "/v1/relays", "/v1/lanes"]:
        assert_error(await api.get(path, headers=bearer(token)), 403, "forbidden")


async def test_admin_implies_read(api: Api) -> None:
    token = add_key(api.store, scopes=["admin"])
    assert (await api.get("/v1/status", headers=bearer(token))).status_code == 200


async def test_a_lane_the_key_may_not_use_is_403(api: Api) -> None:
    token = add_key(api.store, lanes=["transactional"])
    response = await api.send(message(lane="marketing"), headers=bearer(token))
    error = assert_error(response, 403, "forbidden")
    assert error["fields"][0]["field"] == "lane"
    assert "marketing" in error["fields"][0]["problem"]
    assert delivery_count(api.store) == 0


async def test_the_default_lane_is_the_keys_first(api: Api) -> None:
    token = add_key(api.store, lanes=["marketing", "transactional"])
    response = await api.send(message(), headers=bearer(token))
    assert response.json()["lane"] == "marketing"


async def test_a_key_without_lanes_cannot_send(api: Api) -> None:
    token = add_key(api.store, lanes=[])
    assert_error(await api.send(message(), headers=bearer(token)), 403, "forbidden")


async def test_healthz_and_openapi_need_no_key(api: Api) -> None:
    assert (await api.client.get("/healthz")).status_code == 200
    schema = (await api.client.get("/openapi.json")).json()
    assert schema["components"]["securitySchemes"]["ApiKey"]["scheme"] == "bearer"
