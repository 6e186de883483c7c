"""The dashboard's Messages page through the running API: the search and its filters,
errors that name the field, paging, and one delivery with the relay's replies (a real
worker against a relay that accepts, rejects and defers)."""

from __future__ import annotations

import html
import re
from typing import Any

from relaylane.clock import FakeClock
from relaylane.sim import Behaviour, SimRelay
from tests.api.conftest import Api, StartApi, add_key, message
from tests.helpers import deliver, relay

RULES = [
    ("nobody@", "550 5.1.1 <nobody@example.test>: no such user [MX04]"),
    ("later@", "451 4.7.1 Greylisted, try again later"),
]


async def send_ids(api: Api, **fields: Any) -> list[int]:
    response = await api.send(message(**fields))
    assert response.status_code == 202, response.text
    return [d["id"] for d in response.json()["deliveries"]]


async def log_in(api: Api, scopes: tuple[str, ...] = ("read",)) -> None:
    key = add_key(api.store, scopes=scopes)
    assert (await api.client.post("/login", data={"api_key": key})).status_code == 303


async def shown(api: Api, **params: str) -> list[int]:
    """The delivery ids the Messages page lists for a search, in order."""
    page = await api.client.get("/messages", params=params)
    assert page.status_code == 200, page.text
    return [int(x) for x in re.findall(r'<tr data-delivery="(\d+)"', page.text)]


async def test_search_filters_and_the_attempt_history(start_api: StartApi) -> None:
    async with SimRelay(Behaviour(rcpt_rules=RULES)) as sim:
        api = await start_api(relay=[relay("r1", sim.port), relay("r2", sim.port)])
        to = ["bob@example.test", "nobody@example.test", "later@example.test"]
        bob, nobody, later = await send_ids(api, to=to)
        [ann] = await send_ids(api, lane="marketing", to=["ann@example.test"])
        await deliver(api.config, api.store)
    await log_in(api)  # a read-only key sees it all
    assert await shown(api) == [ann, later, nobody, bob]  # an empty search: the newest
    assert await shown(api, recipient="Nobody@Example.test") == [nobody]
    assert await shown(api, lane="marketing") == [ann]
    assert await shown(api, state="bounced") == [nobody]
    assert await shown(api, state="deferred") == [later]
    assert await shown(api, lane="transactional", state="sent") == [bob]
    assert await shown(api, id=str(later)) == [later]
    message_id = api.store.reads.delivery(bob).delivery.message_id
    ids_of_message = await shown(api, id=str(message_id))
    assert set(ids_of_message) >= {bob, nobody, later}
    header_id = api.store.reads.delivery(ann).delivery.header_message_id
    assert await shown(api, id=header_id.strip("<>")) == [ann]
    assert await shown(api, recipient="nobody@example.test", state="sent") == []
    listing = (await api.client.get("/messages", params={"state": "bounced"})).text
    assert f'href="/messages/{nobody}"' in listing and "no such user" in listing

    page = await api.client.get(f"/messages/{nobody}")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "<nobody@example.test>: no such user [MX04]" in text  # the relay's own words
    assert ">550<" in page.text and ">5.1.1<" in page.text and ">rcpt<" in page.text
    assert "no-reply@tx.acme.test" in text and ">transactional<" in page.text
    assert 'href="/relays/r1"' in page.text and "bounced" in page.text
    deferred = html.unescape((await api.client.get(f"/messages/{later}")).text)
    assert "Greylisted, try again later" in deferred and "4.7.1" in deferred
    sent = html.unescape((await api.client.get(f"/messages/{bob}")).text)
    assert sim.received[0].queue_id in sent  # the relay queue id of the accepted one
    assert (await api.client.get("/messages/999999")).status_code == 404
    assert (await api.client.get("/messages/abc")).status_code == 404
    assert (await api.client.get(f"/messages/{2**64}")).status_code == 404


async def test_bad_input_names_the_field_and_the_fix(api: Api) -> None:
    await log_in(api)
    for params, field, fix in [
        ({"lane": "nope"}, "lane", "use one of: transactional, marketing"),
        ({"state": "lost"}, "state", "queued"),
        ({"since": "yesterday"}, "since", '"24h"'),
        ({"until": "2026-13-45"}, "until", '"7d"'),
        ({"since": "1h", "until": "2h"}, "until", "later than since"),
        ({"recipient": "not an address"}, "recipient", "Fix:"),
        ({"id": "abc"}, "id", "a number"),
        ({"cursor": "x"}, "cursor", "More link"),
    ]:
        page = await api.client.get("/messages", params=params)
        assert page.status_code == 422, (params, page.status_code)
        error = re.search(r'<p class="error search-error" data-field="(\w+)">(.*?)</p>', page.text)
        assert error is not None, params
        assert error.group(1) == field and fix in html.unescape(error.group(2)), params
        assert 'name="recipient"' in page.text  # the form is still there to correct it


async def test_time_range_and_paging(start_api: StartApi) -> None:
    clock = FakeClock()
    api = await start_api(clock=clock)
    early = await send_ids(api, to=[f"e{n}@example.test" for n in range(30)])
    clock.advance(7200)
    late = await send_ids(api, to=[f"l{n}@example.test" for n in range(30)])
    await log_in(api)
    assert sorted(await shown(api, since="1h")) == sorted(late)
    assert sorted(await shown(api, until="1h")) == sorted(early)
    assert await shown(api, since="2000-01-01", until="2000-01-02") == []
    assert await shown(api, since="2000-01-01 00:00") != []  # a date and time, in UTC
    first = await api.client.get("/messages")
    rows = re.findall(r'<tr data-delivery="(\d+)"', first.text)
    assert len(rows) == 50
    more = re.search(r'<p class="more"><a href="([^"]+)">', first.text)
    assert more is not None
    second = await api.client.get(html.unescape(more.group(1)))
    rest = re.findall(r'<tr data-delivery="(\d+)"', second.text)
    assert [int(x) for x in rows + rest] == sorted(early + late, reverse=True)
    assert 'class="more"' not in second.text
    narrowed = await api.client.get("/messages", params={"since": "3h"})
    more = re.search(r'<p class="more"><a href="([^"]+)">', narrowed.text)
    assert more is not None and "since=3h" in html.unescape(more.group(1))  # kept


async def test_read_only_viewers_see_it_and_no_session_is_sent_to_log_in(api: Api) -> None:
    [bob] = await send_ids(api, to=["bob@example.test"])
    for path in ("/messages", f"/messages/{bob}"):
        refused = await api.client.get(path)
        assert refused.status_code == 303 and refused.headers["location"] == "/login"
    await log_in(api, scopes=("read",))
    page = await api.client.get("/messages")
    assert page.status_code == 200 and "bob@example.test" in page.text
    assert page.headers["content-security-policy"].startswith("default-src 'self'")
    assert "<script>" not in page.text and "style=" not in page.text
    detail = await api.client.get(f"/messages/{bob}")
    assert detail.status_code == 200 and "No attempts yet" in detail.text
    assert "queued" in detail.text
