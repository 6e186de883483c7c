"""Small builders shared by the delivery and CLI tests."""

from __future__ import annotations

import tempfile
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

_KEY_DIR: Path | None = None


def dkim_key_file() -> Path:
    """An RSA-2048 signing key for tests, made once per test process."""
    global _KEY_DIR
    if _KEY_DIR is None:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        _KEY_DIR = Path(tempfile.mkdtemp(prefix="relaylane-test-keys-"))
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (_KEY_DIR / "acme-test.pem").write_bytes(pem)
    return _KEY_DIR / "acme-test.pem"


def signing_domains() -> dict[str, Any]:
    """[domain."acme.test"] with a DKIM key: relaxed alignment covers tx.acme.test,
    news.acme.test and every other *.acme.test From domain the tests use."""
    return {"acme.test": {"dkim": [{"selector": "rltest", "key_file": str(dkim_key_file())}]}}


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
        "domain": signing_domains(),
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
