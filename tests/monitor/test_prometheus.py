"""/metrics: scraped from a real `serve` (API + worker) after deliveries to a loopback
relay, from the API alone, and from `relaylane worker --metrics-port`; parsed with
prometheus_client's own parser."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from relaylane.api import ApiContext, create_app
from relaylane.clock import Clock, FakeClock, SystemClock
from relaylane.config import Config
from relaylane.delivery.stats import WorkerStats
from relaylane.intake.committer import Committer
from relaylane.monitor.prometheus import Metrics
from relaylane.policy.vocabulary import Outcome
from relaylane.serve.service import Part, Service
from relaylane.sim import Behaviour, SimRelay
from relaylane.store import Store
from relaylane.store.schema import relay_health
from tests.api.conftest import add_key, api_config, bearer
from tests.cli.test_cli import send, write_config
from tests.helpers import queue, relay

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def with_name(samples: Samples, name: str) -> dict[frozenset[tuple[str, str]], float]:
    return {labels: v for (n, labels), v in samples.items() if n == name}


# -- a real serve: API and worker in one process ------------------------------------------


async def test_serve_metrics_after_deliveries(store: Store, store_url: str, tmp_path: Path) -> None:
    async with SimRelay(Behaviour(delay=0.002)) as sim:
        config = api_config(
            store_url, tmp_path, relay=[relay("r1", sim.port), relay("r2", sim.port)]
        )
        queue(store, config, "transactional", [f"u{i}@example.test" for i in range(5)], time.time())
        queue(store, config, "marketing", ["m0@example.test", "m1@example.test"], time.time(),
              from_="News <news@news.acme.test>")  # fmt: skip
        service = Service(config, store, frozenset({Part.API, Part.WORKER}))
        ready = asyncio.Event()
        run = asyncio.create_task(service.run(lambda _: ready.set()))
        await asyncio.wait_for(ready.wait(), 30)
        assert service.worker is not None
        deadline = time.monotonic() + 30
        while service.worker.stats.recorded < 7 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        port = next(x.port for x in service.listening if x.part is Part.API)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            response = await client.get("/metrics")
            schema = (await client.get("/openapi.json")).json()
        service.request_stop()
        await asyncio.wait_for(run, 30)
    assert sim.accepted == 7
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert "/metrics" not in schema["paths"]
    s = parse(response.text)
    assert value(s, "relaylane_attempts_total", relay="r1", outcome="sent") == 5
    assert value(s, "relaylane_attempts_total", relay="r2", outcome="sent") == 2
    assert value(s, "relaylane_failovers_total", relay="r1") == 0
    assert value(s, "relaylane_deliveries_finished_total", lane="transactional", state="sent") == 5
    assert value(s, "relaylane_deliveries_finished_total", lane="marketing", state="sent") == 2
    assert value(s, "relaylane_results_recorded_total") == 7
    assert value(s, "relaylane_relay_transaction_seconds_count", relay="r1") == 5
    assert value(s, "relaylane_relay_transaction_seconds_bucket", relay="r1", le="+Inf") == 5
    assert 0 < value(s, "relaylane_relay_transaction_seconds_sum", relay="r1") < 5 * 5  # type: ignore[operator]
    assert value(s, "relaylane_delivery_latency_seconds_count", lane="transactional") == 5
    assert value(s, "relaylane_delivery_latency_seconds_bucket", lane="marketing", le="+Inf") == 2
    assert value(s, "relaylane_store_up") == 1
    for lane in ("transactional", "marketing"):
        assert value(s, "relaylane_queue_depth", lane=lane, state="queued") == 0
        assert value(s, "relaylane_queue_oldest_age_seconds", lane=lane) == 0
    for name in ("r1", "r2"):
        assert value(s, "relaylane_relay_health", relay=name, provider="", state="healthy") == 1
        assert value(s, "relaylane_relay_health", relay=name, provider="", state="paused") == 0


# -- the API alone: gauges from the store, access modes ----------------------------------


@pytest.fixture
async def app_client(store: Store, store_url: str, tmp_path: Path) -> AsyncIterator[Any]:
    """An in-process API app (ASGI transport) over `store`; keyword arguments are config
    sections plus `clock` and `stats`."""
    clients: list[httpx.AsyncClient] = []

    async def make(
        clock: Clock | None = None, stats: WorkerStats | None = None, **sections: Any
    ) -> httpx.AsyncClient:
        config = api_config(store_url, tmp_path, **sections)
        clock = clock or SystemClock()
        committer = Committer(store.intake, config.intake, clock)
        ctx = ApiContext(config, store, committer, clock, stats=stats)
        transport = httpx.ASGITransport(app=create_app(ctx))
        client = httpx.AsyncClient(transport=transport, base_url="http://rl.test")
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


async def scrape(client: httpx.AsyncClient, **kw: Any) -> Samples:
    response = await client.get("/metrics", **kw)
    assert response.status_code == 200, response.text
    return parse(response.text)


async def test_queue_gauges_without_a_worker(store: Store, app_client: Any) -> None:
    clock = FakeClock()
    client = await app_client(clock=clock)
    config: Config = client._transport.app.state.ctx.config
    queue(store, config, "transactional", ["a@example.test", "b@example.test"], clock.now())
    clock.advance(90)
    queue(store, config, "transactional", ["c@example.test"], clock.now())
    clock.advance(30)
    s = await scrape(client)
    assert value(s, "relaylane_queue_depth", lane="transactional", state="queued") == 3
    assert value(s, "relaylane_queue_depth", lane="transactional", state="sending") == 0
    assert value(s, "relaylane_queue_depth", lane="marketing", state="queued") == 0
    assert value(s, "relaylane_queue_oldest_age_seconds", lane="transactional") == 120
    assert value(s, "relaylane_queue_oldest_age_seconds", lane="marketing") == 0
    assert not with_name(s, "relaylane_attempts_total")  # no worker in this process
    assert value(s, "relaylane_store_up") == 1


async def test_store_is_read_at_most_once_per_cache_period(store: Store, app_client: Any) -> None:
    client = await app_client()
    config: Config = client._transport.app.state.ctx.config
    first = await scrape(client)
    queue(store, config, "transactional", ["a@example.test"], time.time())
    second = await scrape(client)  # within 5 s: the same snapshot
    assert value(first, "relaylane_queue_depth", lane="transactional", state="queued") == 0
    assert value(second, "relaylane_queue_depth", lane="transactional", state="queued") == 0
    metrics = Metrics(config, store.engine, None, time.time, cache_seconds=0)
    fresh = parse((await metrics.render()).decode())
    assert value(fresh, "relaylane_queue_depth", lane="transactional", state="queued") == 1


async def test_relay_health_gauge_reads_the_health_table(store: Store, app_client: Any) -> None:
    now = time.time()
    rows = [("r1", "", "paused"), ("r1", "google", "degraded"), ("gone", "", "paused")]
    with store.engine.begin() as conn:
        conn.execute(
            sa.insert(relay_health),
            [
                {"relay": r, "provider": p, "state": st, "cause": "reputation", "since": now,
                 "until": None, "cool_down": 60.0, "reason": "test", "updated_at": now}
                for r, p, st in rows
            ],
        )  # fmt: skip
    s = await scrape(await app_client())
    health = with_name(s, "relaylane_relay_health")
    current = {tuple(sorted(k)) for k, v in health.items() if v == 1}
    assert current == {
        (("provider", ""), ("relay", "r1"), ("state", "paused")),
        (("provider", "google"), ("relay", "r1"), ("state", "degraded")),
        (("provider", ""), ("relay", "r2"), ("state", "healthy")),  # no row: healthy
    }
    assert len(health) == 3 * 4  # every state of each path: 1 for the current, 0 else
    assert value(s, "relaylane_relay_health", relay="r1", provider="", state="healthy") == 0


async def test_worker_counters_and_histograms_come_from_the_stats(app_client: Any) -> None:
    stats = WorkerStats()
    for duration in (0.003, 0.004, 0.3):
        stats.attempt("r1", Outcome.SENT, duration, False)
    stats.attempt("r1", Outcome.RELAY_FAULT, 30.0, True)
    stats.attempt("r2", Outcome.DEFERRED, 0.02, False)
    s = await scrape(await app_client(stats=stats))
    assert value(s, "relaylane_attempts_total", relay="r1", outcome="sent") == 3
    assert value(s, "relaylane_attempts_total", relay="r1", outcome="relay_fault") == 1
    assert value(s, "relaylane_attempts_total", relay="r2", outcome="deferred") == 1
    assert value(s, "relaylane_failovers_total", relay="r1") == 1
    buckets = {
        dict(k)["le"]: v
        for k, v in with_name(s, "relaylane_relay_transaction_seconds_bucket").items()
        if dict(k)["relay"] == "r1"
    }
    assert buckets["0.002"] == 0 and buckets["0.005"] == 2 and buckets["0.5"] == 3
    assert buckets["+Inf"] == 3  # the relay fault is counted, not timed
    assert list(buckets.values()) == sorted(buckets.values())  # cumulative
    assert value(s, "relaylane_relay_transaction_seconds_sum", relay="r1") == pytest.approx(0.307)


async def test_an_unreachable_store_reports_store_up_0(store: Store, tmp_path: Path) -> None:
    config = api_config(f"sqlite:///{tmp_path / 'x.db'}", tmp_path)
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")
    try:
        s = parse((await Metrics(config, engine, WorkerStats(), time.time).render()).decode())
    finally:
        engine.dispose()
    assert value(s, "relaylane_store_up") == 0
    assert not with_name(s, "relaylane_queue_depth")


@pytest.mark.parametrize(
    ("listen", "setting", "expected"),
    [
        ("127.0.0.1:0", None, "open"),
        ("0.0.0.0:0", None, "key"),
        ("127.0.0.1:0", "key", "key"),
        ("0.0.0.0:0", "open", "open"),
        ("127.0.0.1:0", "off", "off"),
    ],
)
async def test_metrics_access(
    store: Store, app_client: Any, listen: str, setting: str | None, expected: str
) -> None:
    http: dict[str, Any] = {"listen": listen}
    if setting is not None:
        http["metrics"] = setting
    client = await app_client(http=http)
    anonymous = await client.get("/metrics")
    reader = await client.get("/metrics", headers=bearer(add_key(store, scopes=("read",))))
    sender = await client.get("/metrics", headers=bearer(add_key(store, scopes=("send",))))
    codes = (anonymous.status_code, reader.status_code, sender.status_code)
    assert (
        codes == {"open": (200, 200, 200), "key": (401, 200, 403), "off": (404, 404, 404)}[expected]
    )
    if expected == "key":
        assert anonymous.json()["error"]["code"] == "unauthorized"


# -- relaylane worker --metrics-port ------------------------------------------------------


async def test_worker_serves_metrics_on_its_own_port(tmp_path: Path, store_url: str) -> None:
    async with SimRelay() as sim:
        cfg = str(write_config(tmp_path, store_url, sim.port))
        code, out = await asyncio.to_thread(
            send, cfg, "--to", "a@example.test", "--to", "b@example.test", "--text", "x"
        )
        assert code == 0, out
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "relaylane", "worker", "--metrics-port", "0",
            "--log-format", "json", "--config", cfg,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            url = await _metrics_url(proc)
            deadline = time.monotonic() + 30
            while sim.accepted < 2 and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            async with httpx.AsyncClient() as client:
                s = await _scrape_until(client, url, _sent(2))
                other = await client.get(url.replace("/metrics", "/"))
        finally:
            proc.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, stderr.decode()
    assert value(s, "relaylane_deliveries_finished_total", lane="transactional", state="sent") == 2
    assert value(s, "relaylane_delivery_latency_seconds_count", lane="transactional") == 2
    assert value(s, "relaylane_queue_depth", lane="transactional", state="queued") is not None
    assert other.status_code == 404


async def _metrics_url(proc: asyncio.subprocess.Process) -> str:
    """The address from the worker's "metrics on http://..." log line (JSON)."""
    assert proc.stderr is not None
    while True:
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert line, "the worker exited before serving metrics"
        message = json.loads(line)["message"]
        if message.startswith("metrics on "):
            return str(message.removeprefix("metrics on "))


def _sent(n: int) -> Callable[[Samples], bool]:
    def done(s: Samples) -> bool:
        return value(s, "relaylane_attempts_total", relay="tx-primary", outcome="sent") == n

    return done


async def _scrape_until(
    client: httpx.AsyncClient, url: str, done: Callable[[Samples], bool]
) -> Samples:
    deadline = time.monotonic() + 10
    while True:
        response = await client.get(url)
        assert response.status_code == 200
        samples = parse(response.text)
        if done(samples) or time.monotonic() > deadline:
            return samples
        await asyncio.sleep(0.05)
