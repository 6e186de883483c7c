"""/u/{token} through the running API: the one-click POST (urlencoded and multipart)
unsubscribes into the ledger, the GET page only shows a form, bad tokens are 404, and
nothing ever redirects."""

from __future__ import annotations

import time

import httpx
import sqlalchemy as sa

from relaylane.policy.suppression import Reason, Source, lane_scope
from relaylane.store.schema import feedback
from relaylane.store.suppressions import SuppressionRow
from relaylane.unsubscribe.oneclick import ONE_CLICK, unsubscribe_token
from tests.api.conftest import Api
from tests.helpers import queue

RECIPIENT = "bob@example.test"
URLENCODED = {"Content-Type": "application/x-www-form-urlencoded"}


def _token(api: Api, lane: str = "marketing") -> tuple[int, str]:
    now = time.time()
    [delivery_id] = queue(api.store, api.config, lane, [RECIPIENT], now)
    return delivery_id, unsubscribe_token(api.store.token_keys.ring(now), delivery_id)


def _suppressed(api: Api, lane: str = "marketing") -> list[SuppressionRow]:
    return api.store.suppressions.list(address=RECIPIENT, scope=lane_scope(lane))


def _oneclick_rows(api: Api) -> int:
    stmt = sa.select(sa.func.count()).select_from(feedback).where(feedback.c.source == "oneclick")
    with api.store.engine.connect() as conn:
        return int(conn.execute(stmt).scalar_one())


def _no_redirect(response: httpx.Response) -> None:
    assert "location" not in response.headers
    assert not 300 <= response.status_code < 400


async def test_get_shows_a_form_and_changes_nothing(api: Api) -> None:
    _, token = _token(api)
    response = await api.client.get(f"/u/{token}")
    _no_redirect(response)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    page = response.text
    assert '<form method="post"' in page
    assert '<input type="hidden" name="List-Unsubscribe" value="One-Click">' in page
    assert ">Unsubscribe</button>" in page
    assert "<script" not in page and "http" not in page.lower().replace("http-equiv", "")
    assert _suppressed(api) == []
    assert _oneclick_rows(api) == 0


async def test_urlencoded_post_unsubscribes_the_lane_once(api: Api) -> None:
    delivery_id, token = _token(api)
    response = await api.client.post(f"/u/{token}", content=ONE_CLICK, headers=URLENCODED)
    _no_redirect(response)
    assert response.status_code == 200
    assert response.text.strip() == "You are unsubscribed."
    [entry] = _suppressed(api)
    assert entry.reason == Reason.UNSUBSCRIBE
    assert entry.source == Source.ONE_CLICK
    assert entry.delivery_id == delivery_id
    assert api.store.suppressions.list(address=RECIPIENT, scope=lane_scope("transactional")) == []
    [row] = [r for r in api.store.feedback.list() if r.source == "oneclick"]
    assert (row.kind, row.event, row.delivery_id) == ("oneclick", "unsubscribed", delivery_id)

    again = await api.client.post(f"/u/{token}", content=ONE_CLICK, headers=URLENCODED)
    _no_redirect(again)
    assert again.status_code == 200
    assert len(_suppressed(api)) == 1
    assert _oneclick_rows(api) == 1  # the repeat records nothing


async def test_multipart_post_unsubscribes(api: Api) -> None:
    _, token = _token(api, "transactional")
    response = await api.client.post(f"/u/{token}", files={"List-Unsubscribe": (None, "One-Click")})
    _no_redirect(response)
    assert response.status_code == 200
    assert len(_suppressed(api, "transactional")) == 1


async def test_the_page_form_body_works_without_cookies_or_keys(api: Api) -> None:
    _, token = _token(api)
    response = await api.client.post(f"/u/{token}", data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert len(_suppressed(api)) == 1


async def test_a_post_without_the_field_is_refused(api: Api) -> None:
    _, token = _token(api)
    response = await api.client.post(f"/u/{token}", data={"unsubscribe": "yes"})
    _no_redirect(response)
    assert response.status_code == 400
    assert _suppressed(api) == []


async def test_bad_tokens_are_404(api: Api) -> None:
    delivery_id, token = _token(api)
    flipped = token[:-1] + ("a" if token[-1] != "a" else "b")
    verp = api.store.token_keys.ring(time.time()).token(delivery_id)  # a VERP/delivery token
    for bad in (flipped, verp, "not-a-token"):
        for response in (
            await api.client.get(f"/u/{bad}"),
            await api.client.post(f"/u/{bad}", content=ONE_CLICK, headers=URLENCODED),
        ):
            _no_redirect(response)
            assert response.status_code == 404, bad
            assert "not valid" in response.text
    assert _suppressed(api) == []


async def test_an_oversized_body_is_refused(api: Api) -> None:
    _, token = _token(api)
    body = ONE_CLICK + "&x=" + "y" * (65 * 1024)
    response = await api.client.post(f"/u/{token}", content=body, headers=URLENCODED)
    _no_redirect(response)
    assert response.status_code == 413
    assert _suppressed(api) == []


async def test_the_routes_are_not_in_the_openapi_document(api: Api) -> None:
    paths = (await api.client.get("/openapi.json")).json()["paths"]
    assert not any(p.startswith("/u/") for p in paths)
