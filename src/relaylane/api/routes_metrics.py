"""GET /metrics: the Prometheus exposition, outside /v1 and the OpenAPI document.

Who may read it is `[http] metrics` (`MetricsAccess`): open by default while the API
listens on loopback only, an API key with the read scope otherwise (Prometheus sends it
with `authorization: {credentials: <key>}` in its scrape config), or off.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from relaylane.api.auth import require
from relaylane.auth.principal import Scope
from relaylane.config.serving import MetricsAccess
from relaylane.monitor.prometheus import CONTENT_TYPE_LATEST, Metrics

__all__ = ["router_for"]


def router_for(access: MetricsAccess) -> APIRouter | None:
    """The /metrics route under `access`; None when it is off."""
    if access is MetricsAccess.OFF:
        return None
    dependencies: list[Any] = [require(Scope.READ)] if access is MetricsAccess.KEY else []
    router = APIRouter(dependencies=dependencies)
    router.add_api_route("/metrics", _metrics, methods=["GET"], include_in_schema=False)
    return router


async def _metrics(request: Request) -> Response:
    metrics: Metrics = request.app.state.metrics
    return Response(await metrics.render(), media_type=CONTENT_TYPE_LATEST)
