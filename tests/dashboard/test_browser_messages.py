"""The Messages page in a real browser (Debian's headless Chromium driven by Playwright):
search a recipient, open the delivery, read the relay's reply; no console errors."""

from __future__ import annotations

from typing import Any

from relaylane.sim import Behaviour, SimRelay
from tests.api.conftest import StartApi, add_key, message
from tests.dashboard.browser import log_in, watch_console
from tests.helpers import deliver, relay

RULES = [("nobody@", "550 5.1.1 <nobody@example.test>: no such user [MX04]")]


async def test_search_a_recipient_and_read_its_attempt_history(
    start_api: StartApi, browser: Any
) -> None:
    async with SimRelay(Behaviour(rcpt_rules=RULES)) as sim:
        api = await start_api(relay=[relay("r1", sim.port), relay("r2", sim.port)])
        to = ["bob@example.test", "nobody@example.test", "carl@example.test"]
        sent = await api.send(message(to=to))
        assert sent.status_code == 202, sent.text
        nobody = sent.json()["deliveries"][1]["id"]
        await deliver(api.config, api.store)
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    problems = watch_console(page)
    base = str(api.client.base_url).rstrip("/")
    await log_in(page, base, add_key(api.store, scopes=("read",)))
    await page.click("header nav a[href='/messages']")
    await page.wait_for_url(base + "/messages")
    assert await page.locator("table.deliveries tbody tr").count() == 3
    await page.fill("input[name=recipient]", "nobody@example.test")
    await page.select_option("select[name=lane]", "transactional")
    await page.click("form.search button[type=submit]")
    await page.wait_for_url("**/messages?recipient=*")
    rows = page.locator("table.deliveries tbody tr")
    assert await rows.count() == 1
    assert "nobody@example.test" in await rows.first.inner_text()
    assert "bounced" in await rows.first.inner_text()
    await rows.first.locator("a").click()
    await page.wait_for_url(f"{base}/messages/{nobody}")
    history = await page.locator("table.attempts").inner_text()
    assert "no such user [MX04]" in history and "550" in history and "5.1.1" in history
    await page.set_viewport_size({"width": 390, "height": 800})  # phone width: still usable
    assert await page.locator("table.attempts").is_visible()
    await page.click("p.back a")
    await page.wait_for_url(base + "/messages")
    assert problems == []
