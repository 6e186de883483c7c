"""Authentication everywhere: every route of the running application, walked from its
route table (not the OpenAPI document, so the dashboard, its live parts and /metrics are
included), refuses a request that carries no credentials; only the routes that check a
signature or token of their own (health, tracking, unsubscribe, provider webhooks) and
the dashboard's login page and static files answer without one."""

from __future__ import annotations

import re
from typing import Any

import httpx
from starlette.routing import Mount, Route

from relaylane.api import create_app
from tests.api.conftest import StartApi

# Routes that answer without an API key or session, and why (each checks its own token
# or signature, or shows nothing but a login form or public assets).
PUBLIC = {
    "/healthz": "liveness only: no data",
    "/openapi.json": "the API's own documentation: no data",
    "/docs": "the API's own documentation: no data",
    "/login": "the dashboard's login form",
    "/static": "the dashboard's own CSS, JS and vendored uPlot",
    "/t/": "tracking: an HMAC-signed token per delivery",
    "/u/": "one-click unsubscribe: an HMAC-signed token per delivery",
    "/c/": "double opt-in: an HMAC-signed token per contact",
    "/v1/webhooks/": "provider webhooks: each checks the provider's signature or secret",
}
REFUSED = {401, 403}
TO_LOGIN = {302, 303, 307}


def routes(app_routes: list[Any], prefix: str = "") -> list[tuple[str, set[str]]]:
    """(path, methods) of every route, into mounts and included routers (FastAPI 0.165
    keeps an included router's routes behind `effective_route_contexts`)."""
    found: list[tuple[str, set[str]]] = []
    for route in app_routes:
        contexts = getattr(route, "effective_route_contexts", None)
        if contexts is not None:
            found += routes(list(contexts()), prefix)
        elif isinstance(route, Mount):
            inner = getattr(route, "routes", None) or []
            path = prefix + route.path
            found += routes(list(inner), path) if inner else [(path + "/x", {"GET"})]
        elif isinstance(route, Route) or hasattr(route, "methods"):
            methods = set(getattr(route, "methods", None) or {"GET"}) - {"HEAD", "OPTIONS"}
            found.append((prefix + getattr(route, "path", ""), methods))
    return found


def concrete(path: str) -> str:
    """A path template with every parameter filled in with something plausible."""
    return re.sub(r"\{[^}]+\}", "1", path)


def is_public(path: str) -> bool:
    return any(path == p or path.startswith(p if p.endswith("/") else p + "/") for p in PUBLIC)


async def test_no_route_answers_without_credentials(start_api: StartApi) -> None:
    # /metrics is open by default while the API listens on loopback only (`[http]
    # metrics`, docs/monitoring.md); "key" is what any other listener gets by default.
    api = await start_api(http={"metrics": "key"})
    app = create_app(api.ctx)
    table = routes(list(app.routes))
    assert len(table) > 30, table  # the whole application, dashboard included
    paths = {path for path, _ in table}
    assert {"/metrics", "/v1/messages", "/", "/relays/{name}"} <= paths, sorted(paths)
    unguarded: list[str] = []
    checked: set[str] = set()
    async with httpx.AsyncClient(base_url=str(api.client.base_url), timeout=30) as bare:
        for path, methods in table:
            if is_public(path):
                continue
            for method in sorted(methods):
                kw: dict[str, Any] = {"follow_redirects": False}
                if method in ("POST", "PUT", "PATCH", "DELETE"):
                    kw["json"] = {}
                answer = await bare.request(method, concrete(path), **kw)
                checked.add(f"{method} {path}")
                login = answer.status_code in TO_LOGIN and answer.headers.get(
                    "location", ""
                ).startswith("/login")
                if answer.status_code not in REFUSED and not login:
                    unguarded.append(f"{method} {path} -> {answer.status_code}")
    sensitive = {"POST /v1/messages", "GET /metrics", "GET /", "GET /suppressions",
                 "GET /v1/queue", "GET /audit"}  # fmt: skip
    assert sensitive <= checked, sorted(checked)
    assert not unguarded, "answered without credentials:\n" + "\n".join(unguarded)


async def test_a_wrong_key_is_as_good_as_none(start_api: StartApi) -> None:
    api = await start_api(http={"metrics": "key"})
    forged = {"Authorization": "Bearer rl_1_" + "A" * 43}
    for path in ("/v1/messages/1", "/metrics", "/v1/queue"):
        answer = await api.client.get(path, headers=forged)
        assert answer.status_code in REFUSED, (path, answer.status_code)
        assert answer.status_code in REFUSED and "rl_1_" not in answer.text
