"""Small builders shared by the delivery and CLI tests."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relaylane.clock import Clock
from relaylane.config import Config, load_config_data
from relaylane.delivery.addresses import parse_address
from relaylane.delivery.compose import compose
from relaylane.delivery.stats import WorkerStats
from relaylane.delivery.submit import build_message
from relaylane.delivery.worker import Worker
from relaylane.store import Store


def relay(name: str, port: int, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "host": "127.0.0.1",
        "port": port,
        "tls": "none",
        "helo": "client.relaylane.test",
        "max_connections": 2,
        "timeouts": {"connect": 5, "command": 5, "data_end": 5},
    }
    data.update(extra)
    return data


def lane(
    name: str, relays: Sequence[str], purpose: str = "transactional", **extra: Any
) -> dict[str, Any]:
    return {"name": name, "purpose": purpose, "relays": list(relays), **extra}


def make_config(
    store_url: str,
    relays: list[dict[str, Any]],
    lanes: list[dict[str, Any]],
    base_dir: Path,
    env: dict[str, str] | None = None,
    **worker: Any,
) -> Config:
    data = {
        "store": {"url": store_url},
        "worker": {"lease": "60s", "idle_poll": "50ms", **worker},
        "relay": relays,
        "lane": lanes,
    }
    return load_config_data(data, source="<test>", base_dir=base_dir, env=env or {})


def queue(
    store: Store,
    config: Config,
    lane_name: str,
    recipients: Sequence[str],
    now: float,
    subject: str = "Reset",
    from_: str = "Acme <no-reply@tx.acme.test>",
) -> list[int]:
    composed = compose(from_=from_, subject=subject, text="Hi there\n")
    msg = build_message(config, lane_name, composed, [parse_address(r) for r in recipients], now)
    [ids] = store.queue.enqueue([msg])
    return ids


async def deliver(
    config: Config, store: Store, clock: Clock | None = None, **kw: Any
) -> WorkerStats:
    worker = Worker(config, store.queue, clock=clock, idle_quit=0.5, **kw)
    return await worker.run(until_idle=True)
