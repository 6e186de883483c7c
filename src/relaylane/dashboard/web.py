"""What every dashboard page shares: the templates, the logged-in viewer (looked up again
on each request), form parsing, the admin-and-CSRF gate of state-changing requests, and
rendering with the security headers.

A page template that has a live part renders it from `<page>_live.html`; `render_page`
returns only that part when asked with `?part=live`, which `static/live.js` polls to
update the page without reloading it.
"""

from __future__ import annotations

import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from relaylane.api.context import ApiContext
from relaylane.auth.principal import Principal, Scope
from relaylane.bounces.tokens import KeyRing
from relaylane.dashboard.session import COOKIE, CSRF_FIELD, csrf_ok, csrf_token, session_key_id
from relaylane.store.credentials import ApiKeyRow

__all__ = [
    "HEADERS",
    "LIVE_EVERY_MS",
    "MAX_FORM",
    "Viewer",
    "acting",
    "form",
    "login_redirect",
    "refuse",
    "render",
    "render_page",
    "ring_of",
    "static_files",
    "templates",
    "viewer",
    "when",
]

MAX_FORM = 16 * 1024  # bytes of a dashboard form; a larger body is read as empty
LIVE_EVERY_MS = 3000  # how often live parts of a page refresh themselves
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def when(at: float | None) -> str:
    """A moment for people, in UTC ("-" for none)."""
    if at is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.2%}"


def seconds_text(seconds: float | None) -> str:
    """A duration for people: "850 ms", "4.2 s", "3 min", "2.5 h"."""
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


templates.env.filters["when"] = when
templates.env.filters["percent"] = percent
templates.env.filters["duration"] = seconds_text
templates.env.globals["live_every"] = LIVE_EVERY_MS


def static_files() -> StaticFiles:
    """The dashboard's own assets, the vendored chart library included (no CDN)."""
    return StaticFiles(directory=Path(__file__).parent / "static")


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking: the API key behind the session, and the session's CSRF token."""

    principal: Principal
    cookie: str
    ring: KeyRing

    @property
    def admin(self) -> bool:
        return self.principal.has(Scope.ADMIN)

    @property
    def actor(self) -> str:
        """Who the audit log and the health history name for this viewer's actions."""
        return f"dashboard:{self.principal.name}"

    @property
    def csrf(self) -> str:
        return csrf_token(self.ring, self.cookie)

    def page(self, **values: Any) -> dict[str, Any]:
        """A template's context: the viewer's name, scope and CSRF token, and `values`."""
        return {"principal": self.principal, "admin": self.admin, "csrf": self.csrf, **values}


async def ring_of(ctx: ApiContext) -> KeyRing:
    return await ctx.in_thread(ctx.store.token_keys.ring, ctx.clock.now())


async def viewer(request: Request, ctx: ApiContext) -> Viewer | None:
    """The logged-in viewer, else None. The key is looked up again: revoking it ends its
    sessions, and a key that lost the read scope sees nothing."""
    ring = await ring_of(ctx)
    cookie = request.cookies.get(COOKIE, "")
    key_id = session_key_id(ring, cookie, ctx.clock.now()) if cookie else None
    if key_id is None:
        return None
    row = await ctx.in_thread(_key_row, ctx, key_id)
    if row is None or row.revoked_at is not None:
        return None
    principal = row.principal()
    return Viewer(principal, cookie, ring) if principal.has(Scope.READ) else None


def _key_row(ctx: ApiContext, key_id: str) -> ApiKeyRow | None:
    try:
        return ctx.store.credentials.api_key(key_id)
    except LookupError:
        return None


def login_redirect() -> Response:
    return RedirectResponse("/login", 303)


async def form(request: Request) -> dict[str, str]:
    """A url-encoded form body (the last value of a repeated field wins)."""
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return dict(pairs)


def refuse(request: Request, what: str, status: int) -> HTMLResponse:
    """The page that says what was refused or not found."""
    return render(request, "missing.html", {"what": what}, status)


async def acting(request: Request, ctx: ApiContext) -> tuple[Viewer, dict[str, str]] | Response:
    """The gate of every state-changing dashboard request: a session, the session's CSRF
    token and the admin scope. Returns the viewer and the form, or the refusal."""
    seen = await viewer(request, ctx)
    if seen is None:
        return login_redirect()
    fields = await form(request)
    if not csrf_ok(seen.ring, seen.cookie, fields.get(CSRF_FIELD, "")):
        return refuse(request, "a valid CSRF token", 403)
    if not seen.admin:
        return refuse(request, "the admin scope", 403)
    return seen, fields


def render(request: Request, name: str, page: dict[str, Any], status: int = 200) -> HTMLResponse:
    return templates.TemplateResponse(request, name, page, status_code=status, headers=HEADERS)


def render_page(request: Request, name: str, page: dict[str, Any]) -> HTMLResponse:
    """`name` (e.g. "overview.html"), or only its live part ("overview_live.html") when
    the request asks for `?part=live`."""
    if request.query_params.get("part") == "live":
        name = name.removesuffix(".html") + "_live.html"
    return render(request, name, page)
