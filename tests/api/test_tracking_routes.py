"""/t/o/{token}.gif and /t/c/{token} through the running API: the GIF and the 302 to the
exact URL with the event attributed, and bad or forged tokens (GIF, or 404 without a
Location)."""

from __future__ import annotations

import time

import sqlalchemy as sa

from relaylane.api.routes_tracking import PIXEL
from relaylane.store.schema import deliveries, tracking_events
from relaylane.tracking.links import TrackingLinks
from relaylane.unsubscribe.oneclick import unsubscribe_token
from tests.api.conftest import Api
from tests.helpers import queue

TARGET = "https://shop.acme.test/sale?id=7&utm_source=mail#top"


def _links(api: Api) -> tuple[int, TrackingLinks]:
    now = time.time()
    [delivery_id] = queue(api.store, api.config, "marketing", ["bob@example.test"], now)
    with api.store.engine.begin() as conn:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.id == delivery_id)
            .values(campaign_id=3, contact_id=21, relay="r2")
        )
    ring = api.store.token_keys.ring(now)
    return delivery_id, TrackingLinks(ring, str(api.client.base_url))


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


def _events(api: Api) -> list[tuple[object, ...]]:
    T = tracking_events.c
    stmt = sa.select(T.kind, T.delivery_id, T.campaign_id, T.contact_id, T.relay, T.url)
    with api.store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(stmt.order_by(T.id))]


def _no_store(headers: object) -> None:
    assert "no-store" in headers["cache-control"]  # type: ignore[index]


async def test_the_open_pixel(api: Api) -> None:
    delivery_id, links = _links(api)
    response = await api.client.get(_path(links.open_url(delivery_id)))
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content == PIXEL and len(PIXEL) == 43
    _no_store(response.headers)
    assert _events(api) == [("open", delivery_id, 3, 21, "r2", None)]


async def test_a_bad_open_token_still_gets_the_gif(api: Api) -> None:
    delivery_id, links = _links(api)
    forged = _path(links.open_url(delivery_id)).replace("/t/o/a", "/t/o/b", 1)
    unsubscribe = f"/t/o/{unsubscribe_token(links.ring, delivery_id)}.gif"
    for path in (forged, unsubscribe, "/t/o/nonsense.gif"):
        response = await api.client.get(path)
        assert response.status_code == 200, path
        assert response.content == PIXEL
        _no_store(response.headers)
    assert _events(api) == []


async def test_a_click_redirects_to_the_exact_url(api: Api) -> None:
    delivery_id, links = _links(api)
    response = await api.client.get(_path(links.click_url(delivery_id, TARGET)))
    assert response.status_code == 302
    assert response.headers["location"] == TARGET
    _no_store(response.headers)
    assert _events(api) == [("click", delivery_id, 3, 21, "r2", TARGET)]


async def test_a_forged_click_is_404_and_never_redirects(api: Api) -> None:
    delivery_id, links = _links(api)
    path = _path(links.click_url(delivery_id, TARGET))
    other = TrackingLinks(links.ring, "https://elsewhere.test").click_url(
        delivery_id, "https://evil.test/"
    )
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    for bad in (tampered, "/t/c/" + "A" * 40, "/t/c/x", _path(other)[:-1]):
        response = await api.client.get(bad)
        assert response.status_code == 404, bad
        assert "location" not in response.headers
        assert response.headers["content-type"].startswith("text/html")
        assert "not valid" in response.text
    assert _events(api) == []


async def test_a_click_of_a_purged_delivery_still_redirects(api: Api) -> None:
    _, links = _links(api)
    response = await api.client.get(_path(links.click_url(10**9, TARGET)))
    assert response.status_code == 302
    assert response.headers["location"] == TARGET
    assert _events(api) == []


async def test_not_in_the_openapi_document(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    assert not [p for p in schema["paths"] if p.startswith("/t/")]
