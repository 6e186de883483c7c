"""/metrics on a listener of its own (`[worker] metrics_listen`, `relaylane worker
--metrics-port`): a one-route ASGI app served by uvicorn inside the worker's event loop,
so the collector reads the worker's stats on the loop that writes them."""

from __future__ import annotations

import logging

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from relaylane.api.server import RunningHttp, start_http
from relaylane.config.serving import HttpConfig
from relaylane.errors import ListenError
from relaylane.monitor.prometheus import CONTENT_TYPE_LATEST, Metrics

__all__ = ["metrics_app", "start_metrics"]

log = logging.getLogger("relaylane.metrics")
STOP_GRACE = 2.0  # seconds a scrape under way gets to finish on stop


def metrics_app(metrics: Metrics) -> Starlette:
    """GET /metrics; anything else is 404."""

    async def endpoint(request: Request) -> Response:
        return Response(await metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", endpoint, methods=["GET"])])


async def start_metrics(metrics: Metrics, listen: str, where: str) -> RunningHttp:
    """Serve `metrics` on `listen` ("HOST:PORT", port 0: any free one); `where` names
    the setting in the error when the address cannot be bound."""
    try:
        running = await start_http(
            metrics_app(metrics), HttpConfig(listen=listen), grace=STOP_GRACE
        )
    except ListenError:
        raise ListenError(
            f"{where} = {listen!r}: cannot listen there; choose a free port and an "
            "address of this machine"
        ) from None
    host = f"[{running.host}]" if ":" in running.host else running.host
    log.info("metrics on http://%s:%d/metrics", host, running.port)
    return running
