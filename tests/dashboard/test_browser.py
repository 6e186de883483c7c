"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

Skips, with the reason, only where no Chromium is installed (`make test` installs it with
`scripts/ensure-browser.sh`); under CI=true a missing browser fails instead.
"""

from __future__ import annotations

import time
from typing import Any

from relaylane.delivery.operator import pause_path
from tests.api.conftest import Api, add_key
from tests.dashboard.browser import log_in, watch_console


async def test_log_in_see_the_relays_and_log_out_without_console_errors(
    api: Api, browser: Any
) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    problems = watch_console(page)
    base = str(api.client.base_url).rstrip("/")
    await page.goto(base + "/")
    assert page.url.endswith("/login")
    await page.fill("input[name=api_key]", "not-a-key")
    await page.click("form[action='/login'] button[type=submit]")
    assert "not an API key" in await page.content()
    problems.clear()  # the 401 page load is logged as a console error by Chromium
    await page.fill("input[name=api_key]", api.token)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url(base + "/")
    card = page.locator("[data-relay=r1]")
    assert await card.locator(".state").inner_text() == "healthy"
    color = await card.locator(".state").evaluate("e => getComputedStyle(e).backgroundColor")
    assert color == "rgb(217, 242, 223)"  # the stylesheet is served locally and applied
    await page.set_viewport_size({"width": 390, "height": 800})  # phone width: still usable
    assert await page.locator("[data-lane=marketing]").is_visible()
    await page.click("header button[type=submit]")
    await page.wait_for_url(base + "/login")
    assert problems == []


async def test_an_admin_resumes_a_paused_relay_after_confirming(api: Api, browser: Any) -> None:
    pause_path(api.store, "r1", None, time.time(), "test", "relay maintenance")
    page = await browser.new_page()
    problems = watch_console(page)
    base = str(api.client.base_url).rstrip("/")
    admin = add_key(api.store, scopes=("admin",))
    await log_in(page, base, admin)
    assert await page.locator("[data-relay=r1] .state").inner_text() == "paused"
    await page.click("[data-relay=r1] h3 a")
    await page.wait_for_url(base + "/relays/r1")
    assert "relay maintenance" in await page.content()
    await page.click("button[value=resume]")
    assert "Yes, resume" in await page.content()  # confirmed before anything changes
    assert api.store.health.current("r1", "", time.time()).state.value == "paused"
    await page.click("button[value=confirm]")
    await page.wait_for_url(base + "/relays/r1")
    assert await page.locator("[data-relay=r1] h2 .state").inner_text() == "healthy"
    assert "dashboard:" in await page.locator("table.history").inner_text()
    assert problems == []
