"""The HTTP API of `relaylane serve`: FastAPI under /v1, OpenAPI at /openapi.json.

`create_app(ApiContext(...))` builds the application; `start_http(app, config.http)`
serves it with uvicorn inside the caller's event loop (no signal handlers).
"""

from relaylane.api.app import create_app
from relaylane.api.context import ApiContext
from relaylane.api.server import RunningHttp, start_http

__all__ = ["ApiContext", "RunningHttp", "create_app", "start_http"]
