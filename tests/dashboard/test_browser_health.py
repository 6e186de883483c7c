"""A relay weakening in front of an operator: a real worker sends through a loopback test
relay that starts blocking one provider; the relay page, open in headless Chromium,
shows the path turn paused with its evidence without being reloaded; the admin resumes
it, and the mail the pause held goes out once the relay accepts again."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from typing import Any

import sqlalchemy as sa

from relaylane.delivery.worker import Worker
from relaylane.sim.relay import SimRelay
from relaylane.store import Store
from relaylane.store.schema import deliveries
from tests.api.conftest import StartApi, add_key
from tests.dashboard.browser import log_in, watch_console
from tests.helpers import lane, queue, relay

BLOCK = "550 5.7.1 Service unavailable; client host [192.0.2.1] blocked: low reputation"
TIMEOUT = 30_000  # ms: the longest any step may take
FAST = {"first": "1s", "cap": "1s", "jitter": 0.0}  # blocked mail retries on the same relay


def by_state(store: Store, ids: list[int]) -> Counter[str]:
    stmt = sa.select(deliveries.c.state).where(deliveries.c.id.in_(ids))
    with store.engine.connect() as conn:
        return Counter(conn.execute(stmt).scalars())


async def test_a_blocking_relay_turns_paused_live_and_an_admin_resumes_it(
    start_api: StartApi, browser: Any
) -> None:
    async with SimRelay(name="r1") as sim, SimRelay(name="r2") as other:
        api = await start_api(
            relay=[relay("r1", sim.port), relay("r2", other.port)],
            lane=[lane("transactional", ["r1"], from_domains=["tx.acme.test"], retry=FAST),
                  lane("marketing", ["r2"], purpose="marketing")],
            provider={"default": {"rule": []},
                      "google": {"domains": ["gmail.example"], "rate": "10000/s", "rule": []}},
            health={"reputation_cool_down": "10m", "canary": 3},
        )  # fmt: skip
        worker = Worker(api.config, api.store.queue, idle_quit=None)
        running = asyncio.create_task(worker.run(), name="worker")
        try:
            await _scenario(api.store, api.config, sim, browser, str(api.client.base_url))
        finally:
            worker.request_stop()
            await asyncio.wait_for(running, 30)


async def _scenario(store: Store, config: Any, sim: SimRelay, browser: Any, url: str) -> None:
    base = url.rstrip("/")
    page = await browser.new_page(viewport={"width": 1280, "height": 900})
    problems = watch_console(page)
    await log_in(page, base, add_key(store, scopes=("admin",)))
    await page.goto(base + "/relays/r1")
    assert await page.locator("[data-relay=r1] h2 .state").inner_text() == "healthy"

    sim.behaviour.rcpt_rules = [(r"@gmail\.example$", BLOCK)]
    ids = await asyncio.to_thread(
        queue, store, config, "transactional",
        [f"g{i}@gmail.example" for i in range(200)], time.time(),
    )  # fmt: skip
    google = page.locator("tr.path[data-provider=google]")
    await google.locator(".state.paused").wait_for(timeout=TIMEOUT)  # no reload: live.js
    assert int(await page.locator("[data-live]").get_attribute("data-refreshes") or 0) >= 1
    history = page.locator("table.history")
    assert "reputation" in await history.inner_text()
    assert "low reputation" in await history.inner_text()  # the sample reply, as evidence
    assert await page.locator("[data-relay=r1] h2 .state").inner_text() == "healthy"
    held = await asyncio.to_thread(by_state, store, ids)
    assert held["sent"] == 0 and held["held"] + held["blocked"] + held["sending"] == 200

    sim.behaviour.rcpt_rules = []  # the relay accepts again; the operator resumes the path
    await google.locator("button[value=resume]").click()
    assert "Yes, resume" in await page.content()
    await page.click("button[value=confirm]")
    await page.wait_for_url(base + "/relays/r1")
    assert "dashboard:" in await page.locator("table.history").inner_text()
    deadline = time.monotonic() + TIMEOUT / 1000
    while (await asyncio.to_thread(by_state, store, ids))["sent"] < 200:
        assert time.monotonic() < deadline, "the held mail was not released"
        await asyncio.sleep(0.1)
    assert len({r for m in sim.received for r in m.rcpt_tos}) == 200
    assert problems == []
