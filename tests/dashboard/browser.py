"""Debian's headless Chromium driven by Playwright, for the dashboard's browser tests
(Playwright launches it with a fresh, temporary profile each time).

The `browser` fixture skips, with the reason, only where no Chromium is installed
(`make test` installs it with `scripts/ensure-browser.sh`); under CI=true a missing
browser fails instead.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
]
INSTALLED = Path(CHROMIUM).exists()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    if not INSTALLED:
        if os.environ.get("CI") == "true":
            raise RuntimeError("CI=true but no chromium: scripts/ensure-browser.sh installs it")
        pytest.skip("no chromium installed (apt-get install -y chromium)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        found = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield found
        await found.close()


def watch_console(page: Any) -> list[str]:
    """The page's console errors and uncaught exceptions, as they happen."""
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return problems


async def log_in(page: Any, base: str, key: str) -> None:
    """Log in through the form and land on the overview."""
    await page.goto(base + "/login")
    await page.fill("input[name=api_key]", key)
    await page.click("form[action='/login'] button[type=submit]")
    await page.wait_for_url(base + "/")
