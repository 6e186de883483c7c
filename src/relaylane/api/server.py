"""Serving the API with uvicorn inside the caller's event loop.

`relaylane serve` handles SIGTERM itself, so uvicorn must not install signal handlers:
`Server.serve()` would (it wraps itself in `capture_signals()`), so the steps of a
serve are run here one by one: startup (bind), the main loop as a task, shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp
from uvicorn.server import ServerState

from relaylane.config.serving import HttpConfig
from relaylane.errors import ListenError

GRACE = 30.0  # seconds in-flight requests get to finish on stop()


@dataclass
class RunningHttp:
    """A started HTTP server; `port` is the bound port (also when 0 was asked for)."""

    server: uvicorn.Server
    task: asyncio.Task[None]
    host: str
    port: int
    grace: float  # seconds stop() lets requests in flight finish

    async def stop(self) -> None:
        """Stop accepting, let requests in flight finish (up to the grace period; then
        they are cancelled), close every connection.

        uvicorn's `Server.shutdown` does the same, polling every 0.1 s; this polls every
        10 ms, so a test suite that starts a server per test does not wait on it."""
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        state = self.server.server_state
        for listener in self.server.servers:
            listener.close()
        for connection in list(state.connections):
            connection.shutdown()  # idle ones close now, busy ones after their response
        try:
            await asyncio.wait_for(_drained(state), self.grace)
        except TimeoutError:
            for task in state.tasks:
                task.cancel()
            for connection in list(state.connections):
                connection.transport.close()
        for listener in self.server.servers:
            await listener.wait_closed()


async def _drained(state: ServerState) -> None:
    """Until every connection and request task is gone (uvicorn offers no event)."""
    while state.connections or state.tasks:  # noqa: ASYNC110 - nothing to wait on
        await asyncio.sleep(0.01)


async def start_http(app: ASGIApp, config: HttpConfig, *, grace: float = GRACE) -> RunningHttp:
    """Listen on `config.listen` (HTTPS with tls_cert/tls_key) and serve `app`.

    Raises ListenError when the address cannot be bound.
    """
    settings = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level="warning",
        log_config=None,  # the application configures logging, not uvicorn
        lifespan="off",
        ssl_certfile=str(config.tls_cert) if config.tls_cert else None,
        ssl_keyfile=str(config.tls_key) if config.tls_key else None,
        server_header=False,
    )
    settings.load()
    server = uvicorn.Server(settings)
    server.lifespan = settings.lifespan_class(settings)
    try:
        await server.startup()
    except SystemExit:  # uvicorn logs the OSError and exits; a library should raise
        raise ListenError(
            f"[http] listen = {config.listen!r}: cannot listen there (see the log above); "
            "choose a free port and an address of this machine"
        ) from None
    port = server.servers[0].sockets[0].getsockname()[1]
    task = asyncio.create_task(server.main_loop(), name="relaylane-http")
    return RunningHttp(server=server, task=task, host=config.host, port=port, grace=grace)
