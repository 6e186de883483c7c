"""Schemathesis against the running API: whatever it sends (valid per the schema, or
not), no 5xx, and every answer's status and body as /openapi.json declares them.

The API runs in a thread of its own (uvicorn, a real Committer, a SQLite store) since
schemathesis calls it synchronously.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    response_schema_conformance,
    status_code_conformance,
)

from relaylane.api import ApiContext, RunningHttp, create_app, start_http
from relaylane.clock import SystemClock
from relaylane.intake.committer import Committer
from relaylane.store import Store, open_store
from tests.api.conftest import add_key, api_config, bearer

EXAMPLES = 50  # per operation, mode and store: the whole file takes about 25 s
CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance]


class Background:
    """The API served from its own event loop in a thread."""

    def __init__(self, store: Store, base_dir: Path) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.store = store
        self.config = api_config(str(store.engine.url), base_dir)
        self.http: RunningHttp | None = None
        self.committer: Committer | None = None

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    async def _start(self) -> RunningHttp:
        self.committer = Committer(self.store.intake, self.config.intake, SystemClock())
        await self.committer.start()
        ctx = ApiContext(self.config, self.store, self.committer, SystemClock())
        return await start_http(create_app(ctx), self.config.http, grace=2)

    async def _stop(self) -> None:
        assert self.http is not None and self.committer is not None
        await self.http.stop()
        await self.committer.close()

    def __enter__(self) -> str:
        self.thread.start()
        self.http = self._run(self._start())
        return f"http://127.0.0.1:{self.http.port}"

    def __exit__(self, *exc: object) -> None:
        self._run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    base = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{base / 'fuzz.db'}"
    if request.param == "postgres":
        url = request.getfixturevalue("pg_url")
    store = open_store(url)
    token = add_key(store, scopes=["send", "read"], lanes=["transactional", "marketing"])
    try:
        with Background(store, base) as url:
            yield url, token
    finally:
        store.close()


@pytest.fixture(scope="module")
def api_schema(served: tuple[str, str]) -> Any:
    url, _ = served
    return schemathesis.openapi.from_url(f"{url}/openapi.json")


BOTH = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
# Each operation with the modes it can be fuzzed in (negative needs an input to negate;
# the API key is one).
OPERATIONS = {
    ("POST", "/v1/messages"): BOTH,
    ("POST", "/v1/messages/batch"): BOTH,
    ("GET", "/v1/messages"): BOTH,
    ("GET", "/v1/messages/{delivery_id}"): BOTH,
    ("GET", "/v1/status"): BOTH,
    ("GET", "/v1/relays"): BOTH,
    ("GET", "/v1/lanes"): BOTH,
    # queue control needs the admin scope: the fuzzing key (send, read) is refused (403)
    ("GET", "/v1/queue"): BOTH,
    ("POST", "/v1/queue/{action}"): BOTH,
    ("POST", "/v1/lanes/{lane}/{action}"): BOTH,
    ("GET", "/healthz"): [GenerationMode.POSITIVE],
    # webhooks: not configured here (404, documented); no API key to negate
    ("POST", "/v1/webhooks/ses"): [GenerationMode.POSITIVE],
    ("POST", "/v1/webhooks/sendgrid"): [GenerationMode.POSITIVE],
    ("POST", "/v1/webhooks/mailgun"): [GenerationMode.POSITIVE],
    ("POST", "/v1/webhooks/postmark"): [GenerationMode.POSITIVE],
}


def test_every_operation_is_fuzzed(api_schema: Any) -> None:
    found = {(op.ok().method.upper(), op.ok().path) for op in api_schema.get_all_operations()}
    assert found == set(OPERATIONS)


@pytest.mark.parametrize(
    ("method", "path", "mode"),
    [(method, path, mode) for (method, path), modes in OPERATIONS.items() for mode in modes],
)
def test_operation_conforms_to_the_schema(
    served: tuple[str, str], api_schema: Any, method: str, path: str, mode: GenerationMode
) -> None:
    url, token = served
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        case.call_and_validate(base_url=url, headers=bearer(token), checks=CHECKS)

    run()
