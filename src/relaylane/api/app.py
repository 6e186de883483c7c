"""`create_app`: the FastAPI application, its error handlers and its OpenAPI document."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from pydantic.json_schema import models_json_schema
from starlette.exceptions import HTTPException

from relaylane import __version__
from relaylane.api import (
    routes_confirm,
    routes_info,
    routes_messages,
    routes_metrics,
    routes_queue,
    routes_tracking,
    routes_unsubscribe,
    routes_webhooks,
)
from relaylane.api.auth import KeyCache
from relaylane.api.body import field_name
from relaylane.api.context import ApiContext
from relaylane.api.errors import (
    ApiError,
    ErrorCode,
    FieldProblem,
    from_input_error,
    from_permission,
    invalid,
    unavailable,
)
from relaylane.api.limits import BodyLimit
from relaylane.api.schemas import BatchIn, MessageIn
from relaylane.dashboard import routers as dashboard_routers
from relaylane.dashboard.web import static_files
from relaylane.errors import InputError, PermissionDenied, Unavailable
from relaylane.monitor.prometheus import Metrics

log = logging.getLogger("relaylane.api")

DESCRIPTION = """\
Send mail through relaylane's lanes and relays, and follow each delivery.

**Authentication**: `Authorization: Bearer <API key>`. A key has scopes (`send`,
`read`, `admin`; admin implies read) and the lanes it may send into (its first lane is
the default). No or a bad key: 401; a missing scope or a lane the key may not use: 403.

**Errors** all have one shape: `{"error": {"code", "message", "fields": [{"field",
"problem", "fix"}]}}`. Codes: `invalid_input` (422), `conflict` (422, Idempotency-Key
reused for another request), `malformed_json` (400), `unauthorized` (401), `forbidden`
(403), `not_found` (404), `method_not_allowed` (405), `too_large` (413, over
`[http] max_request_size`), `unavailable` (503 with Retry-After: store down or more
than `[intake] max_queued` deliveries waiting; nothing was accepted).

**Sending** answers 202 only after the messages are committed durably. A From domain
the lane may not send as (its `from_domains`) is invalid input for that lane: 422 on
`from` (or `raw`). `raw` is the complete message as a string (encoded as UTF-8), or
`raw_base64` for any bytes; it needs an `envelope` (`from`: MAIL FROM, `to`: RCPT TO).
"""

_STATUS_CODES = {
    400: ErrorCode.MALFORMED_JSON,
    401: ErrorCode.UNAUTHORIZED,
    403: ErrorCode.FORBIDDEN,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
    413: ErrorCode.TOO_LARGE,
    503: ErrorCode.UNAVAILABLE,
}
_PARAM_PLACES = ("body", "query", "path", "header", "cookie")


def create_app(ctx: ApiContext) -> FastAPI:
    """The API over `ctx`; serve it with `relaylane.api.server.start_http`."""
    app = FastAPI(
        title="relaylane",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.ctx = ctx
    app.state.keys = KeyCache()
    app.include_router(routes_messages.router)
    app.include_router(routes_info.router)
    app.include_router(routes_queue.router)  # /v1/queue, /v1/lanes/{lane}/pause|resume
    app.include_router(routes_webhooks.router)
    app.include_router(routes_unsubscribe.router)  # /u/{token}: no API key, not in the schema
    app.include_router(routes_tracking.router)  # /t/o/, /t/c/: no API key, not in the schema
    app.include_router(routes_confirm.router)  # /c/{token}: double opt-in, likewise
    for page in dashboard_routers():  # /, /login, /relays/..., ...: a session cookie
        app.include_router(page)
    app.mount("/static", static_files(), name="static")  # its CSS, JS and charts, served here
    _add_metrics(app, ctx)
    app.add_middleware(BodyLimit, limit=ctx.config.http.max_request_size)
    for kind in (ApiError, RequestValidationError, HTTPException, Unavailable, InputError,
                 PermissionDenied, Exception):  # fmt: skip
        app.add_exception_handler(kind, _handle)
    batch_limit = ctx.config.http.batch_limit
    app.openapi = lambda: _openapi(app, batch_limit)  # type: ignore[method-assign]
    return app


def _add_metrics(app: FastAPI, ctx: ApiContext) -> None:
    """GET /metrics (Prometheus), unless `[http] metrics = "off"`."""
    router = routes_metrics.router_for(ctx.config.http.metrics_access)
    if router is not None:
        app.state.metrics = Metrics(ctx.config, ctx.store.engine, ctx.stats, ctx.clock.now)
        app.include_router(router)


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    error = _as_api_error(exc)
    if error.status >= 500 and error.code is ErrorCode.INTERNAL:
        log.error("%s %s failed", request.method, request.url.path, exc_info=exc)
    return JSONResponse(error.body(), error.status, headers=error.headers)


def _as_api_error(exc: Exception) -> ApiError:
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, RequestValidationError):
        return invalid([_param_problem(e) for e in exc.errors()])
    if isinstance(exc, HTTPException):
        code = _STATUS_CODES.get(exc.status_code, ErrorCode.INVALID_INPUT)
        return ApiError(exc.status_code, code, str(exc.detail), headers=exc.headers)
    if isinstance(exc, Unavailable):
        return unavailable(exc.reason, exc.retry_after)
    if isinstance(exc, InputError):
        return from_input_error(exc)
    if isinstance(exc, PermissionDenied):
        return from_permission(exc)
    return ApiError(500, ErrorCode.INTERNAL, "relaylane failed to answer; this is a bug")


def _param_problem(error: Any) -> FieldProblem:
    loc = list(error.get("loc", ()))
    if loc and loc[0] in _PARAM_PLACES:
        loc = loc[1:]
    fix = "see the parameter in /openapi.json"
    return FieldProblem(field_name(loc), str(error.get("msg", "is not valid")), fix)


def _openapi(app: FastAPI, batch_limit: int) -> dict[str, Any]:
    """FastAPI's document plus the request bodies the routes read themselves."""
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    _, defs = models_json_schema(
        [(MessageIn, "validation"), (BatchIn, "validation")],
        ref_template="#/components/schemas/{model}",
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components.update(defs["$defs"])
    components["BatchIn"]["properties"]["messages"]["maxItems"] = batch_limit
    app.openapi_schema = schema
    return schema
