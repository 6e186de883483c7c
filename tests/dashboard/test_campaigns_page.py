"""The dashboard's campaigns pages through the running API: the list and a campaign's
page show what `campaign status --json` reports (progress, per relay and provider,
engagement), and admins pause, resume and cancel after a confirmation page."""

from __future__ import annotations

import getpass
import re
import time
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from relaylane.campaigns.feeding import CampaignFeeder
from relaylane.campaigns.states import CampaignState
from relaylane.config import load_config
from relaylane.policy.vocabulary import DeliveryState
from relaylane.reports.campaigns import status_report
from relaylane.sim.behaviour import Behaviour
from relaylane.sim.relay import SimRelay
from relaylane.store import Store
from relaylane.store.schema import deliveries
from tests.api.conftest import Api, StartApi, add_key
from tests.campaigns.flow import DOMAINS, add_contacts, create_and_start, run_worker
from tests.campaigns.test_campaign_e2e import write_config
from tests.cli_run import as_json, run
from tests.helpers import lane, relay

SENT = (DeliveryState.SENT.value, DeliveryState.DELIVERED.value)


async def campaign_api(start_api: StartApi, ports: list[int]) -> Api:
    """The API on the campaign tests' config: marketing lane "news" over r1..rN, each of
    DOMAINS its own provider."""
    relays = [relay(f"r{i + 1}", port) for i, port in enumerate(ports)]
    return await start_api(
        relay=relays,
        lane=[lane("news", [r["name"] for r in relays], "marketing")],
        provider={d.split(".")[0]: {"domains": [d]} for d in DOMAINS},
    )


@pytest.fixture
async def sims() -> AsyncIterator[tuple[SimRelay, SimRelay]]:
    async with SimRelay(Behaviour()) as a, SimRelay(Behaviour()) as b:
        yield a, b


def sent_by(store: Store, key: str) -> Counter[str]:
    """Sent (or delivered) deliveries of campaign "dec" per relay or per provider."""
    out: Counter[str] = Counter()
    for row in store.campaigns.status_rows(store.campaigns.get("dec").id):
        if row.state in SENT:
            out[str(getattr(row, key))] += row.count
    return out


def csrf_of(page: httpx.Response) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def cell(html: str, row: str, column: str) -> str:
    """The text of a breakdown cell: `row` is e.g. 'data-relay="r1"'."""
    found = re.search(rf'<tr {re.escape(row)}>.*?<td data-col="{column}">([^<]*)</td>', html)
    assert found is not None, (row, column)
    return found.group(1)


async def log_in(client: httpx.AsyncClient, key: str) -> None:
    assert (await client.post("/login", data={"api_key": key})).status_code == 303


async def test_list_and_page_show_the_progress_per_relay_and_provider_and_engagement(
    start_api: StartApi, sims: tuple[SimRelay, SimRelay]
) -> None:
    api = await campaign_api(start_api, [s.port for s in sims])
    client, store = api.client, api.store
    first = await client.get("/campaigns")
    assert first.status_code == 303 and first.headers["location"] == "/login"
    assert (await client.get("/campaigns/1")).headers["location"] == "/login"
    add_contacts(store, 12)
    create_and_start(api.config, store)
    await run_worker(api.config, store)
    campaign = store.campaigns.get("dec")
    assert campaign.state is CampaignState.FINISHED
    sent_total = sum(sent_by(store, "relay").values())
    assert sent_total == 12 and len(sims[0].received) + len(sims[1].received) == 12
    with store.engine.connect() as conn:
        stmt = sa.select(deliveries.c.id).where(deliveries.c.campaign_id == campaign.id)
        ids = [int(i) for i in conn.execute(stmt).scalars()]
    now = time.time()
    store.tracking.record("open", ids[0], None, now)
    store.tracking.record("open", ids[0], None, now)
    store.tracking.record("click", ids[1], "https://acme.test/offer", now)

    await log_in(client, api.token)
    listing = await client.get("/campaigns")
    assert listing.status_code == 200
    assert 'href="/static/campaigns.css"' in listing.text
    row = re.search(r'<tr data-campaign="dec">.*?</tr>', listing.text, re.S)
    assert row is not None
    assert f'href="/campaigns/{campaign.id}"' in row.group(0)
    assert '<span class="state finished">finished</span>' in row.group(0)
    assert f'<progress value="{sent_total}" max="12">' in row.group(0)
    assert f"<b data-sent>{sent_total}</b>" in row.group(0)
    assert '<div class="table-wrap">' in listing.text and "style=" not in listing.text
    live = await client.get("/campaigns?part=live")
    assert (
        live.status_code == 200 and "<html" not in live.text and 'data-campaign="dec"' in live.text
    )

    page = await client.get(f"/campaigns/{campaign.id}")
    assert page.status_code == 200 and "style=" not in page.text
    html = page.text
    assert f"<b data-sent>{sent_total}</b>" in html
    assert "Pause" not in html and "Cancel campaign" not in html  # read key: no buttons
    by_relay = sent_by(store, "relay")
    assert len(by_relay) == 2  # sticky per provider, spread over both relays
    for name, count in by_relay.items():
        assert cell(html, f'data-relay="{name}"', "sent") == str(count)
    for provider, count in sent_by(store, "provider").items():
        assert cell(html, f'data-provider="{provider}"', "sent") == str(count)
    assert cell(html, 'data-total="total"', "sent") == str(sent_total)
    assert "<td data-opened>1</td>" in html and "<td data-clicked>1</td>" in html
    assert "8.33%" in html  # 1 of 12 opened, 1 of 12 clicked
    assert f'data-chart="/campaigns/{campaign.id}/series.json' in html

    report = status_report(api.config, store, "dec", time.time())  # = status --json
    assert report["sent"] == sent_total and report["by_relay"].keys() == by_relay.keys()
    assert report["engagement"]["opens"] == 2 and report["engagement"]["rates"]["opened"] == 1 / 12

    part = await client.get(f"/campaigns/{campaign.id}?part=live")
    assert part.status_code == 200 and "<html" not in part.text and "data-sent" in part.text
    chart = await client.get(f"/campaigns/{campaign.id}/series.json?range=1h")
    assert chart.status_code == 200 and set(chart.json()) == {"times", "counts", "latency"}
    for missing in ("/campaigns/999", "/campaigns/dec", "/campaigns/999/series.json"):
        assert (await client.get(missing)).status_code == 404, missing


async def test_pause_resume_and_cancel_are_confirmed_admin_only_and_change_the_store(
    start_api: StartApi,
) -> None:
    api = await campaign_api(start_api, [2700])  # nothing listens: nothing is sent
    client, store = api.client, api.store
    add_contacts(store, 10)
    create_and_start(api.config, store)
    CampaignFeeder(store.campaigns, store.tracking, api.config).tick_sync(time.time())
    cid = store.campaigns.get("dec").id
    url = f"/campaigns/{cid}"

    anonymous = await client.post(f"{url}/pause", data={"csrf": "x", "confirm": "yes"})
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
    await log_in(client, api.token)  # send + read: not admin
    page = await client.get(url)
    assert page.status_code == 200 and "Pause" not in page.text
    refused = await client.post(f"{url}/pause", data={"csrf": csrf_of(page), "confirm": "yes"})
    assert refused.status_code == 403
    assert store.campaigns.get("dec").state is CampaignState.RUNNING

    admin = add_key(store, scopes=("admin",))
    await log_in(client, admin)
    page = await client.get(url)
    token = csrf_of(page)
    assert 'value="pause"' in page.text and 'value="cancel"' in page.text
    assert 'value="resume"' not in page.text
    for bad in ({"confirm": "yes"}, {"csrf": "forged", "confirm": "yes"}):
        assert (await client.post(f"{url}/pause", data=bad)).status_code == 403
    assert (await client.post("/campaigns/999/pause", data={"csrf": token})).status_code == 404
    assert (await client.post(f"{url}/explode", data={"csrf": token})).status_code == 404

    ask = await client.post(f"{url}/pause", data={"csrf": token})
    assert ask.status_code == 200 and "Yes, pause" in ask.text
    assert store.campaigns.get("dec").state is CampaignState.RUNNING  # nothing changed yet
    done = await client.post(
        f"{url}/pause", data={"csrf": token, "confirm": "yes", "reason": "wrong link"}
    )
    assert done.status_code == 303 and done.headers["location"] == url
    paused = store.campaigns.get("dec")
    assert paused.state is CampaignState.PAUSED
    assert paused.reason is not None and paused.reason.startswith("wrong link (by dashboard:")
    assert _states(store, cid) == {DeliveryState.HELD.value: 10}
    page = await client.get(url)
    assert '<span class="state paused">paused</span>' in page.text and "wrong link" in page.text
    assert 'value="resume"' in page.text and 'value="pause"' not in page.text

    ask = await client.post(f"{url}/resume", data={"csrf": token})
    assert ask.status_code == 200 and "Yes, resume" in ask.text
    assert store.campaigns.get("dec").state is CampaignState.PAUSED
    done = await client.post(f"{url}/resume", data={"csrf": token, "confirm": "yes"})
    assert done.status_code == 303
    assert store.campaigns.get("dec").state is CampaignState.RUNNING
    assert _states(store, cid) == {DeliveryState.QUEUED.value: 10}
    again = await client.post(f"{url}/resume", data={"csrf": token, "confirm": "yes"})
    assert again.status_code == 409 and "only a paused campaign can resume" in again.text

    ask = await client.post(f"{url}/cancel", data={"csrf": token})
    assert ask.status_code == 200 and "Yes, cancel" in ask.text and "cannot be undone" in ask.text
    assert store.campaigns.get("dec").state is CampaignState.RUNNING
    done = await client.post(f"{url}/cancel", data={"csrf": token, "confirm": "yes"})
    assert done.status_code == 303
    assert store.campaigns.get("dec").state is CampaignState.CANCELLED
    assert (store.campaigns.get("dec").reason or "").startswith("cancelled by dashboard:")
    assert _states(store, cid) == {DeliveryState.CANCELLED.value: 10}
    page = await client.get(url)
    assert '<span class="state cancelled">cancelled</span>' in page.text
    assert "<form" in page.text and 'value="pause"' not in page.text
    assert 'value="cancel"' not in page.text


async def test_a_campaign_the_guard_paused_shows_why(start_api: StartApi) -> None:
    api = await campaign_api(start_api, [2700])
    add_contacts(api.store, 3)
    create_and_start(api.config, api.store)
    cid = api.store.campaigns.get("dec").id
    why = "hard-bounce rate 9.0% (18 of 200) is over 5.0%: the list has too many dead addresses"
    assert api.store.campaigns.pause_id(cid, why, time.time())
    await log_in(api.client, api.token)
    listing = await api.client.get("/campaigns")
    assert '<span class="state paused">paused</span>' in listing.text and why in listing.text
    page = await api.client.get(f"/campaigns/{cid}")
    assert f'<p class="reason" data-reason>{why}</p>' in page.text


def test_the_cli_prints_the_report_the_pages_show_and_acts_through_the_same_code(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    cfg = write_config(tmp_path, store_url, [2700, 2701, 2702], 2703)
    config = load_config(Path(cfg))
    add_contacts(store, 6)
    create_and_start(config, store)
    status = as_json("campaign", "status", "dec", "-c", cfg)
    report = status_report(config, store, "dec", time.time())
    assert status.keys() == report.keys() and "sent" in status and "id" in status
    same = ("state", "audience", "totals", "by_relay", "by_provider", "engagement")
    assert {k: status[k] for k in same} == {k: report[k] for k in same}
    assert status["engagement"]["rates"] == dict.fromkeys(
        ("opened", "clicked", "unsubscribed", "complaints", "bounced")
    )  # nothing sent yet: nothing to divide by
    listed = as_json("campaign", "list", "-c", cfg)
    assert [set(r) for r in listed] == [
        {"name", "state", "reason", "list", "lane", "audience", "fed", "created_at"}
    ]
    code, out = run("campaign", "pause", "dec", "--reason", "typo", "-c", cfg)
    assert code == 0 and "paused dec; 0 waiting delivery(ies) held" in out
    assert store.campaigns.get("dec").reason == "typo (by operator:" + getpass.getuser() + ")"
    code, out = run("campaign", "resume", "dec", "-c", cfg)
    assert code == 0 and "resumed dec" in out
    code, out = run("campaign", "cancel", "dec", "-c", cfg)
    assert code == 0 and "cancelled dec; 0 delivery(ies) not sent" in out
    assert store.campaigns.get("dec").state is CampaignState.CANCELLED
    assert store.campaigns.get("dec").reason == f"cancelled by operator:{getpass.getuser()}"
    audited = [(e.actor, e.action) for e in store.audit.entries(action="campaign", limit=3)]
    me = f"operator:{getpass.getuser()}"
    assert audited == [
        (me, "campaign.cancel"), (me, "campaign.resume"), (me, "campaign.pause")
    ]  # fmt: skip


def _states(store: Store, campaign_id: int) -> dict[str, int]:
    out: Counter[str] = Counter()
    for row in store.campaigns.status_rows(campaign_id):
        out[row.state] += row.count
    return dict(out)
