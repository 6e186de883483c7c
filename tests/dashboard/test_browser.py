"""The dashboard in a real browser: Debian's headless Chromium driven by Playwright.

Skips, with the reason, only where no Chromium is installed (`make test` installs it with
`scripts/ensure-browser.sh`); under CI=true a missing browser fails instead.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from relaylane.delivery.operator import pause_path
from tests.api.conftest import Api, add_key

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]  # fmt: skip

if not Path(CHROMIUM).exists():
    if os.environ.get("CI") == "true":
        raise RuntimeError("CI=true but no chromium: scripts/ensure-browser.sh installs it")
    pytest.skip("no chromium installed (apt-get install -y chromium)", allow_module_level=True)

from playwright.async_api import Browser, async_playwright  # noqa: E402


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        found = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield found
        await found.close()


async def test_log_in_see_the_relays_and_log_out_without_console_errors(
    api: Api, browser: Browser
) -> None:
    page = await browser.new_page(viewport={"width": 1280, "height": 800})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    base = str(api.client.base_url).rstrip("/")
    await page.goto(base + "/")
    assert page.url.endswith("/login")
    await page.fill("input[name=api_key]", "not-a-key")
    await page.click("button[type=submit]")
    assert "not an API key" in await page.content()
    problems.clear()  # the 401 page load is logged as a console error by Chromium
    await page.fill("input[name=api_key]", api.token)
    await page.click("button[type=submit]")
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


async def test_an_admin_resumes_a_paused_relay_after_confirming(api: Api, browser: Browser) -> None:
    pause_path(api.store, "r1", None, time.time(), "test", "relay maintenance")
    page = await browser.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    base = str(api.client.base_url).rstrip("/")
    admin = add_key(api.store, scopes=("admin",))
    await page.goto(base + "/login")
    await page.fill("input[name=api_key]", admin)
    await page.click("button[type=submit]")
    await page.wait_for_url(base + "/")
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
