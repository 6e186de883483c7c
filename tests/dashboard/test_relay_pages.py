"""The overview's cards and the relay page through the running API: the numbers come from
the same reports as `relaylane relays` and `relaylane stats`; drain is confirmed first."""

from __future__ import annotations

import re
import time

import sqlalchemy as sa

from relaylane.delivery.operator import pause_path
from relaylane.monitor.metrics import latency_bucket
from relaylane.monitor.tally import BucketCount
from relaylane.reports.relays import relays_report
from relaylane.store.schema import deliveries
from tests.api.conftest import Api, StartApi, add_key
from tests.helpers import lane, queue, relay


async def log_in(api: Api, key: str | None = None) -> str:
    """Log in; the CSRF token of the session."""
    done = await api.client.post("/login", data={"api_key": key or api.token})
    assert done.status_code == 303
    page = await api.client.get("/")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def add_metrics(api: Api, relay_name: str, lane_name: str) -> None:
    minute = time.time() // 60 * 60
    rows = [
        ("sent", 90),
        ("answered", 100),
        ("attempts", 100),
        ("deferred", 6),
        ("blocked", 4),
        ("bounced:invalid_recipient", 2),
        (latency_bucket(0.3), 90),
    ]
    api.store.metrics.add(
        [BucketCount(minute, relay_name, "google", lane_name, "", m, n) for m, n in rows]
    )


async def test_overview_cards_show_rates_latency_queue_and_today(start_api: StartApi) -> None:
    api = await start_api(relay=[relay("r1", 1, daily_cap=5000), relay("r2", 1)])
    add_metrics(api, "r1", "transactional")
    queue(
        api.store, api.config, "transactional", ["a@gmail.example", "b@gmail.example"], time.time()
    )
    await log_in(api)
    page = await api.client.get("/")
    card = page.text[page.text.index('data-relay="r1"') : page.text.index('data-relay="r2"')]
    assert "/5,000" in card  # today against the daily cap
    assert "<td>6.00%</td>" in card and "<td>4.00%</td>" in card  # deferred, blocked
    assert "2.00%" in card  # bounced: 2 of 100 answered
    assert "<td>489 ms</td>" in card  # p95: rank 86 of 90 in the (0.25 s, 0.5 s] bucket
    assert "0.30/s" in card  # 90 sent over the last five minutes
    lanes = page.text[page.text.index('data-lane="transactional"') :]
    assert re.search(r"queue <b data-queue>2</b>, oldest", lanes)  # two queued, not routed yet
    live = await api.client.get("/?part=live")
    assert live.status_code == 200 and "<html" not in live.text and 'data-relay="r1"' in live.text


async def test_relay_page_breaks_down_by_provider_and_serves_chart_data(api: Api) -> None:
    add_metrics(api, "r1", "transactional")
    assert (await api.client.get("/relays/r1/series.json")).status_code == 401
    await log_in(api)
    page = await api.client.get("/relays/r1?range=1h")
    assert page.status_code == 200
    assert re.search(r'<tr data-provider="google"><td>google</td><td>90</td>', page.text)
    assert 'class="current">1h' in page.text and "/static/vendor/uplot-1.6.32/" in page.text
    data = (await api.client.get("/relays/r1/series.json?range=1h")).json()
    # the metrics are in the minute they were added; a minute may have begun since
    assert len(data["times"]) == 60 and sum(data["counts"]["sent"][-2:]) == 90
    assert sum(data["counts"]["blocked"][-2:]) == 4
    assert any(p is not None for p in data["latency"]["p95"][-2:])
    week = (await api.client.get("/relays/r1/series.json?range=7d&provider=yahoo")).json()
    assert len(week["times"]) == 168 and sum(week["counts"]["sent"]) == 0
    assert (await api.client.get("/relays/nope/series.json")).status_code == 404


def test_the_relay_wide_path_is_not_listed_as_a_provider(api: Api) -> None:
    pause_path(api.store, "r1", None, time.time(), "test", "maintenance")
    [r1] = [
        r for r in relays_report(api.config, api.store, time.time())["relays"] if r["name"] == "r1"
    ]
    assert r1["health"]["state"] == "paused" and r1["providers"] == []


async def test_drain_is_confirmed_then_moves_waiting_mail_off_the_relay(
    start_api: StartApi,
) -> None:
    api = await start_api(
        relay=[relay("r1", 1), relay("r2", 1), relay("r3", 1)],
        lane=[lane("transactional", ["r1", "r3"], from_domains=["tx.acme.test"]),
              lane("marketing", ["r2"], purpose="marketing")],
    )  # fmt: skip
    ids = queue(api.store, api.config, "transactional", ["a@x.example", "b@x.example"], time.time())
    with api.store.engine.begin() as conn:
        conn.execute(deliveries.update().where(deliveries.c.id.in_(ids)).values(relay="r1"))
    await log_in(api)
    reader_page = await api.client.get("/relays/r1")
    assert "Drain to r3" not in reader_page.text  # read scope: no buttons
    csrf = await log_in(api, add_key(api.store, scopes=("admin",)))
    page = await api.client.get("/relays/r1")
    assert "Drain to r3" in page.text
    ask = await api.client.post("/relays/r1/drain", data={"csrf": csrf})
    assert ask.status_code == 200 and "Yes, drain" in ask.text and "r3" in ask.text
    done = await api.client.post(
        "/relays/r1/drain", data={"csrf": csrf, "confirm": "yes", "reason": "disk full"}
    )
    assert done.status_code == 303
    stmt = sa.select(deliveries.c.relay, deliveries.c.avoid_relay).where(deliveries.c.id.in_(ids))
    with api.store.engine.connect() as conn:
        assert set(conn.execute(stmt).all()) == {(None, "r1")}
    history = (await api.client.get("/relays/r1")).text
    assert "drained 2 waiting deliveries" in history and "disk full" in history


async def test_a_relay_alone_in_its_lanes_has_no_drain(api: Api) -> None:
    csrf = await log_in(api, add_key(api.store, scopes=("admin",)))
    assert "Drain to" not in (await api.client.get("/relays/r1")).text
    done = await api.client.post("/relays/r1/drain", data={"csrf": csrf, "confirm": "yes"})
    assert done.status_code == 303
    assert api.store.health.events("r1", limit=5) == []  # nothing drained, nothing recorded
