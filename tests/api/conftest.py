"""The API served for real: uvicorn on 127.0.0.1 port 0, a real Committer, the store
fixture (SQLite and PostgreSQL), and httpx as the client."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from relaylane.api import ApiContext, RunningHttp, create_app, start_http
from relaylane.api.context import BoardView
from relaylane.auth.principal import Scope
from relaylane.auth.secrets import new_api_key
from relaylane.bounces.ingest import FeedbackIngest
from relaylane.clock import Clock, SystemClock
from relaylane.config import Config, load_config_data
from relaylane.intake.committer import Committer
from relaylane.store import Store
from relaylane.store.schema import deliveries, messages
from tests.helpers import lane, relay, signing_domains

SENDER = "Acme <no-reply@tx.acme.test>"


def api_config(
    store_url: str, base_dir: Path, env: dict[str, str] | None = None, **sections: Any
) -> Config:
    """Two lanes on their own relays (nothing listens there unless a test starts one)."""
    data: dict[str, Any] = {
        "store": {"url": store_url},
        "worker": {"lease": "60s", "idle_poll": "50ms"},
        "relay": [relay("r1", 1), relay("r2", 1)],
        "lane": [
            lane("transactional", ["r1"], from_domains=["tx.acme.test"]),
            lane("marketing", ["r2"], purpose="marketing"),
        ],
        "http": {"listen": "127.0.0.1:0"},
        "domain": signing_domains(),
    }
    for name, value in sections.items():
        data[name] = {**data.get(name, {}), **value} if isinstance(value, dict) else value
    return load_config_data(data, source="<test>", base_dir=base_dir, env=env or {})


def add_key(
    store: Store,
    scopes: Sequence[str] = ("send", "read"),
    lanes: Sequence[str] = ("transactional", "marketing"),
) -> str:
    new = new_api_key()
    store.credentials.add_api_key(
        key_id=new.key_id,
        name="test",
        secret_hash=new.secret_hash,
        scopes=frozenset(Scope(s) for s in scopes),
        lanes=tuple(lanes),
        now=time.time(),
    )
    return new.token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def message(**fields: Any) -> dict[str, Any]:
    """A valid message body, with `fields` replacing or adding to it."""
    body: dict[str, Any] = {"from": SENDER, "to": ["bob@example.test"], "subject": "Hi"}
    body["text"] = "Hello\n"
    body.update(fields)
    return body


@dataclass
class Api:
    client: httpx.AsyncClient
    store: Store
    config: Config
    ctx: ApiContext
    http: RunningHttp
    token: str  # send + read, both lanes
    headers: dict[str, str] = field(default_factory=dict)

    async def send(self, body: Any, **kw: Any) -> httpx.Response:
        headers = {**bearer(self.token), **kw.pop("headers", {})}
        return await self.client.post("/v1/messages", json=body, headers=headers, **kw)

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        headers = {**bearer(self.token), **kw.pop("headers", {})}
        return await self.client.get(path, headers=headers, **kw)


def stored_message(store: Store, delivery_id: int) -> sa.Row[Any]:
    """The stored message row behind a delivery (body, tags, meta, source, ...)."""
    join = messages.join(deliveries, deliveries.c.message_id == messages.c.id)
    stmt = sa.select(messages).select_from(join).where(deliveries.c.id == delivery_id)
    with store.engine.connect() as conn:
        return conn.execute(stmt).one()


def delivery_count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(deliveries)).scalar_one())


StartApi = Callable[..., Awaitable[Api]]


@pytest.fixture
async def start_api(store: Store, store_url: str, tmp_path: Path) -> AsyncIterator[StartApi]:
    """Starts the API; keyword arguments are config sections, plus `clock`, `board`,
    `store` and `key_cache_seconds`."""
    stack: list[tuple[Api, Committer]] = []

    async def start(
        clock: Clock | None = None,
        board: BoardView | None = None,
        on: Store | None = None,
        key_cache_seconds: float = 2.0,
        **sections: Any,
    ) -> Api:
        config = api_config(store_url, tmp_path, **sections)
        used = on or store
        committer = Committer(used.intake, config.intake, SystemClock())
        await committer.start()
        clock = clock or SystemClock()
        ingest = FeedbackIngest(config, used.feedback, used.token_keys, clock)
        ctx = ApiContext(config, used, committer, clock, board=board, ingest=ingest)
        ctx.key_cache_seconds = key_cache_seconds
        running = await start_http(create_app(ctx), config.http, grace=5)
        client = httpx.AsyncClient(base_url=f"http://127.0.0.1:{running.port}", timeout=60)
        token = add_key(store)
        api = Api(client, used, config, ctx, running, token)
        stack.append((api, committer))
        return api

    yield start
    for api, committer in reversed(stack):
        await api.client.aclose()
        await api.http.stop()
        await committer.close()


@pytest.fixture
async def api(start_api: StartApi) -> Api:
    return await start_api()
