"""start_http: uvicorn in the caller's loop, port 0, graceful stop, TLS, no signals."""

from __future__ import annotations

import asyncio
import signal
import ssl
import time
from pathlib import Path

import httpx
import pytest
import trustme
from starlette.types import Receive, Scope, Send

from relaylane.api import start_http
from relaylane.config.serving import HttpConfig
from relaylane.errors import ListenError


class SlowApp:
    """Answers after `delay` seconds; `entered` is set once a request is inside."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.entered = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        self.entered.set()
        await asyncio.sleep(self.delay)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"done"})


LOCAL = HttpConfig(listen="127.0.0.1:0")


async def test_serves_on_the_bound_port_and_leaves_signal_handlers_alone() -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    running = await start_http(SlowApp(0), LOCAL)
    try:
        assert running.port > 0
        assert {sig: signal.getsignal(sig) for sig in before} == before
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{running.port}/")
        assert response.text == "done"
    finally:
        await running.stop()
    assert {sig: signal.getsignal(sig) for sig in before} == before


async def test_stop_lets_a_request_in_flight_finish_and_refuses_new_ones() -> None:
    app = SlowApp(0.3)
    running = await start_http(app, LOCAL)
    url = f"http://127.0.0.1:{running.port}/"
    async with httpx.AsyncClient() as client:
        in_flight = asyncio.create_task(client.get(url))
        await asyncio.wait_for(app.entered.wait(), 5)
        await running.stop()
        assert (await in_flight).text == "done"
    async with httpx.AsyncClient() as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(url)


async def test_stop_cancels_what_outlasts_the_grace_period() -> None:
    app = SlowApp(30)
    running = await start_http(app, LOCAL, grace=0.2)
    async with httpx.AsyncClient() as client:
        in_flight = asyncio.create_task(client.get(f"http://127.0.0.1:{running.port}/"))
        await asyncio.wait_for(app.entered.wait(), 5)
        started = time.monotonic()
        await running.stop()
        assert time.monotonic() - started < 2
        with pytest.raises(httpx.HTTPError):
            await in_flight


async def test_a_port_in_use_raises_oserror() -> None:
    first = await start_http(SlowApp(0), LOCAL)
    try:
        with pytest.raises(ListenError, match="cannot listen"):
            await start_http(SlowApp(0), HttpConfig(listen=f"127.0.0.1:{first.port}"))
    finally:
        await first.stop()


async def test_https_with_tls_cert_and_key(
    tmp_path: Path, tls_ca: trustme.CA, tls_client_context: ssl.SSLContext
) -> None:
    cert = tls_ca.issue_cert("127.0.0.1")
    cert.cert_chain_pems[0].write_to_path(tmp_path / "cert.pem")
    cert.private_key_pem.write_to_path(tmp_path / "key.pem")
    config = HttpConfig.model_validate(
        {
            "listen": "127.0.0.1:0",
            "tls_cert": tmp_path / "cert.pem",
            "tls_key": tmp_path / "key.pem",
        }
    )
    running = await start_http(SlowApp(0), config)
    try:
        async with httpx.AsyncClient(verify=tls_client_context) as client:
            response = await client.get(f"https://127.0.0.1:{running.port}/")
        assert response.text == "done"
    finally:
        await running.stop()
