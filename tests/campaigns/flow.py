"""Builders shared by the campaign tests: a config with a marketing lane over N loopback
relays, a list of contacts spread over several recipient domains, and a template."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from relaylane.campaigns.feeding import CampaignFeeder
from relaylane.campaigns.lifecycle import new_campaign, start
from relaylane.config import Config, load_config_data
from relaylane.contacts.csv_rows import Contact
from relaylane.delivery.stats import WorkerStats
from relaylane.delivery.worker import Worker
from relaylane.policy.suppression import address_key
from relaylane.store import Store
from tests.helpers import lane, relay, signing_domains

DOMAINS = ("gmail.test", "outlook.test", "yahoo.test", "web.test", "mail.test", "corp.test")
HTML = (
    "<html><body><p>Hi {{ first_name | default('there') }},</p>"
    '<p>Our <a href="https://acme.test/offer?x=1&amp;y=2">offer</a> for {{ country }}.</p>'
    "</body></html>"
)


def campaign_config(store_url: str, ports: list[int], tmp_path: Path, **lane_extra: Any) -> Config:
    """A marketing lane "news" over relays r1..rN; each of DOMAINS is its own provider."""
    relays = [relay(f"r{i + 1}", port) for i, port in enumerate(ports)]
    names = [r["name"] for r in relays]
    data = {
        "store": {"url": store_url},
        "worker": {"lease": "60s", "idle_poll": "50ms"},
        "domain": signing_domains(),
        "provider": {d.split(".")[0]: {"domains": [d]} for d in DOMAINS},
        "relay": relays,
        "lane": [lane("news", names, "marketing", **lane_extra)],
    }
    return load_config_data(data, source="<test>", base_dir=tmp_path, env={})


def add_contacts(store: Store, count: int, list_name: str = "news") -> list[str]:
    """`count` contacts, round-robin over DOMAINS; returns their addresses in id order."""
    list_id = store.contacts.ensure_list(list_name)
    emails = [f"user{i}@{DOMAINS[i % len(DOMAINS)]}" for i in range(count)]
    batch = [
        Contact(
            line=i + 2,
            email=e,
            email_key=address_key(e),
            attributes={"first_name": f"Name{i}", "country": "DE" if i % 2 else "FR"},
            subscribed_at=time.time() - 86400,
            source="test",
        )
        for i, e in enumerate(emails)
    ]
    store.contacts.import_batch(list_id, batch, time.time())
    return emails


def create_and_start(config: Config, store: Store, name: str = "dec", **options: Any) -> None:
    store.templates.add("offer", "Hello {{ first_name }}", HTML, None, time.time())
    settings: dict[str, Any] = {
        "name": name, "list_name": "news", "segment": None, "template": "offer",
        "lane": "news", "from_header": "Acme News <news@news.acme.test>",
        "reply_to": "help@acme.test", "strategy": "sticky", "send_window": None,
        "tz": None, "not_before": None, "max_per_hour": None, "tracking": None,
    }  # fmt: skip
    settings.update(options)
    store.campaigns.create(new_campaign(config, **settings), time.time())
    start(config, store, name, time.time())


async def run_worker(config: Config, store: Store, **kw: Any) -> WorkerStats:
    feeder = CampaignFeeder(store.campaigns, store.tracking, config)
    worker = Worker(config, store.queue, idle_quit=0.5, feeder=feeder, **kw)
    return await worker.run(until_idle=True)
