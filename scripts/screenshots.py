"""`make screenshots`: PNGs of the dashboard's main pages in docs/screenshots/.

Runs the quick demo (simulated relays on loopback; nothing leaves the machine), serves
its store with `relaylane serve`'s HTTP app on 127.0.0.1, logs in with a new admin key
and photographs each page in Debian's headless Chromium, at 1280 px and, for the
overview, at phone width. Not part of the test command.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from relaylane.api import ApiContext, create_app, start_http
from relaylane.auth.principal import Scope
from relaylane.auth.secrets import new_api_key
from relaylane.bounces.ingest import FeedbackIngest
from relaylane.clock import SystemClock
from relaylane.config import Config, load_config_data
from relaylane.demo.run import demo_main
from relaylane.demo.scenario import demo_config_data, demo_domains
from relaylane.intake.committer import Committer
from relaylane.store import Store, open_store

OUT = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
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
# (file name, path, what to wait for) at 1280 px
PAGES = [
    ("overview.png", "/", "[data-relay]"),
    ("relay.png", "/relays/mkt-c?range=1h", "figure.chart canvas"),
    ("messages.png", "/messages", "main table"),
    ("message.png", "/messages/{bounced}", "main table"),
    ("suppressions.png", "/suppressions", "main"),
]


def demo_config(workdir: Path) -> Config:
    names = ["tx-primary", "tx-backup", "mkt-a", "mkt-b", "mkt-c", "out-a", "out-b"]
    data: dict[str, Any] = demo_config_data(
        workdir, dict.fromkeys(names, 1), demo_domains(workdir / "keys")
    )
    data["http"] = {"listen": "127.0.0.1:0"}
    return load_config_data(data, source="<screenshots>", base_dir=workdir, env={})


def admin_key(store: Store) -> str:
    new = new_api_key()
    store.credentials.add_api_key(
        key_id=new.key_id, name="screenshots", secret_hash=new.secret_hash,
        scopes=frozenset({Scope.ADMIN}), lanes=(), now=time.time(),
    )  # fmt: skip
    return new.token


def _a_bounced_delivery(store: Store) -> int:
    """A delivery whose page has an SMTP refusal in its attempt history."""
    rows = store.reads.list_deliveries()
    return next((r.id for r in rows if r.state == "bounced"), rows[0].id)


async def photograph(config: Config, store: Store) -> list[Path]:
    from playwright.async_api import async_playwright

    committer = Committer(store.intake, config.intake, SystemClock())
    await committer.start()
    ingest = FeedbackIngest(config, store.feedback, store.token_keys, SystemClock())
    ctx = ApiContext(config, store, committer, SystemClock(), ingest=ingest)
    http = await start_http(create_app(ctx), config.http, grace=2)
    base = f"http://127.0.0.1:{http.port}"
    saved: list[Path] = []
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = await browser.new_page(viewport={"width": 1280, "height": 900})
            await page.goto(base + "/login")
            await page.fill("input[name=api_key]", await asyncio.to_thread(admin_key, store))
            await page.click("form[action='/login'] button[type=submit]")
            await page.wait_for_url(base + "/")
            bounced = await asyncio.to_thread(_a_bounced_delivery, store)
            for name, path, ready in PAGES:
                await page.goto(base + path.format(bounced=bounced))
                await page.locator(ready).first.wait_for(timeout=15_000)
                saved.append(OUT / name)
                await page.screenshot(path=str(saved[-1]), full_page=True)
            await page.set_viewport_size({"width": 390, "height": 844})
            await page.goto(base + "/")
            saved.append(OUT / "overview-phone.png")
            await page.screenshot(path=str(saved[-1]), full_page=True)
            await browser.close()
    finally:
        await http.stop()
        await committer.close()
    return saved


def main() -> int:
    if not Path(CHROMIUM).exists():
        print("no Chromium: run `bash scripts/ensure-browser.sh` first", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="relaylane-screenshots-") as tmp:
        workdir = Path(tmp)
        demo_main(quick=True, keep=workdir, console=None)
        config = demo_config(workdir)
        store = open_store(config.store.url, workdir)
        try:
            saved = asyncio.run(photograph(config, store))
        finally:
            store.close()
    for path in saved:
        print(f"saved {path.relative_to(OUT.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
