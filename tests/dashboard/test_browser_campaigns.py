"""A running campaign's page in a real browser (Debian's headless Chromium): a worker sends
part of it while the page is open, and the page's live part shows the progress move
without a reload."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from relaylane.policy.vocabulary import DeliveryState
from relaylane.sim.behaviour import Behaviour
from relaylane.sim.relay import SimRelay
from tests.api.conftest import StartApi, add_key
from tests.campaigns.flow import add_contacts, create_and_start, run_worker
from tests.dashboard.browser import log_in, watch_console
from tests.dashboard.test_campaigns_page import campaign_api

LIVE = "[data-live]"


async def until(page: Any, done: Callable[[int, str], bool], wait: float = 15.0) -> None:
    """Wait until `done(refreshes of the live part, sent count shown)` holds (polled from
    here: the page's CSP forbids the eval that `wait_for_function` needs)."""
    deadline = time.monotonic() + wait
    while True:
        refreshes = int(await page.locator(LIVE).get_attribute("data-refreshes") or "0")
        shown = await page.locator("[data-sent]").inner_text()
        if done(refreshes, shown):
            return
        assert time.monotonic() < deadline, (refreshes, shown)
        await asyncio.sleep(0.2)


async def test_the_page_shows_a_running_campaign_progress_without_reloading(
    start_api: StartApi, browser: Any
) -> None:
    async with SimRelay(Behaviour(delay=0.05)) as sim:
        api = await campaign_api(start_api, [sim.port])
        add_contacts(api.store, 12)
        create_and_start(api.config, api.store, max_per_hour=5)  # the worker sends 5 of 12
        campaign = api.store.campaigns.get("dec")
        page = await browser.new_page(viewport={"width": 390, "height": 800})  # phone width
        problems = watch_console(page)
        base = str(api.client.base_url).rstrip("/")
        await log_in(page, base, add_key(api.store, scopes=("admin",)))
        await page.click("nav a[href='/campaigns']")
        await page.wait_for_url(base + "/campaigns")
        row = page.locator("tr[data-campaign=dec]")
        assert await row.locator(".state").inner_text() == "running"
        await row.locator("a").click()
        await page.wait_for_url(f"{base}/campaigns/{campaign.id}")
        assert await page.locator("[data-sent]").inner_text() == "0"
        assert await page.locator("progress").get_attribute("max") == "12"
        assert await page.locator("button[value=pause]").is_visible()
        color = await page.locator("h2 .state").evaluate("e => getComputedStyle(e).backgroundColor")
        assert color == "rgb(217, 242, 223)"  # campaigns.css is served and applied
        before = int(await page.locator(LIVE).get_attribute("data-refreshes") or "0")

        stats = await asyncio.wait_for(run_worker(api.config, api.store), 60)
        assert stats is not None and len(sim.received) == 5

        await until(page, lambda refreshes, shown: refreshes > before and shown == "5")
        assert page.url == f"{base}/campaigns/{campaign.id}"  # never reloaded
        assert await page.locator("progress").get_attribute("value") == "5"
        sent = sum(
            r.count
            for r in api.store.campaigns.status_rows(campaign.id)
            if r.state == DeliveryState.SENT.value
        )
        assert sent == 5
        assert await page.locator("[data-relay=r1] [data-col=sent]").inner_text() == "5"
        await until(page, lambda refreshes, _: refreshes >= 2)  # it keeps refreshing
        assert problems == []
