"""Dashboard pages (server-rendered, Jinja2): login, logout and the overview.

The pages read what /v1/relays and /v1/lanes read (`routes_info.relay_view`, the store's
status report); the dashboard decides nothing itself. Not in /openapi.json.
"""

from __future__ import annotations

import functools
import time
import urllib.parse
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from relaylane.api.auth import Ctx, _lookup
from relaylane.api.context import ApiContext
from relaylane.api.routes_info import relay_view
from relaylane.auth.principal import Principal, Scope
from relaylane.bounces.tokens import KeyRing
from relaylane.dashboard.session import (
    COOKIE,
    CSRF_FIELD,
    SESSION_TTL,
    csrf_ok,
    csrf_token,
    session_cookie,
    session_key_id,
)
from relaylane.delivery.operator import pause_path, resume_path
from relaylane.store.credentials import ApiKeyRow

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


def static_files() -> StaticFiles:
    """The dashboard's own assets (nothing comes from a CDN)."""
    return StaticFiles(directory=Path(__file__).parent / "static")


MAX_FORM = 16 * 1024
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


@router.get("/login")
async def login_page(request: Request) -> Response:
    return _render(request, "login.html", {"error": None}, 200)


@router.post("/login")
async def login(request: Request, ctx: Ctx) -> Response:
    if not _same_origin(request):
        return _render(request, "login.html", {"error": "Cross-site login refused."}, 403)
    form = await _form(request)
    principal = await ctx.in_thread(functools.partial(_lookup, ctx, form.get("api_key", "")))
    if principal is None or not principal.has(Scope.READ):
        error = "That is not an API key of scope admin or read (create one with relaylane keys)."
        return _render(request, "login.html", {"error": error}, 401)
    ring = await _ring(ctx)
    response = RedirectResponse("/", 303)
    response.set_cookie(
        COOKIE, session_cookie(ring, principal.name, ctx.clock.now()), max_age=int(SESSION_TTL),
        httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/",
    )  # fmt: skip
    return response


@router.post("/logout")
async def logout(request: Request, ctx: Ctx) -> Response:
    form = await _form(request)
    cookie = request.cookies.get(COOKIE, "")
    if not csrf_ok(await _ring(ctx), cookie, form.get(CSRF_FIELD, "")):
        return _render(request, "login.html", {"error": "Missing or wrong CSRF token."}, 403)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
async def overview(request: Request, ctx: Ctx) -> Response:
    principal, cookie, ring = await _session(request, ctx)
    if principal is None:
        return RedirectResponse("/login", 303)
    report = await ctx.in_thread(ctx.store.reads.status, ctx.clock.now())
    paths = await ctx.in_thread(ctx.store.health.paths)
    relays = [relay_view(ctx.config, r.name, report, paths) for r in ctx.config.relay]
    lanes = [
        {"name": lane.name, "purpose": lane.purpose.value, "strategy": lane.strategy.value,
         "relays": lane.relay_names, "counts": report.by_lane.get(lane.name, {})}
        for lane in ctx.config.lane
    ]  # fmt: skip
    page = {
        "principal": principal,
        "admin": principal.has(Scope.ADMIN),
        "csrf": csrf_token(ring, cookie),
        "relays": relays,
        "lanes": lanes,
    }
    return _render(request, "overview.html", page, 200)


@router.get("/relays/{name}")
async def relay_page(name: str, request: Request, ctx: Ctx) -> Response:
    principal, cookie, ring = await _session(request, ctx)
    if principal is None:
        return RedirectResponse("/login", 303)
    if name not in {r.name for r in ctx.config.relay}:
        return _render(request, "missing.html", {"what": f"relay {name}"}, 404)
    report = await ctx.in_thread(ctx.store.reads.status, ctx.clock.now())
    paths = await ctx.in_thread(ctx.store.health.paths)
    events = await ctx.in_thread(functools.partial(ctx.store.health.events, name, limit=50))
    page = {
        "principal": principal,
        "admin": principal.has(Scope.ADMIN),
        "csrf": csrf_token(ring, cookie),
        "relay": relay_view(ctx.config, name, report, paths),
        "events": events,
        "when": _when,
    }
    return _render(request, "relay.html", page, 200)


@router.post("/relays/{name}/{action}")
async def relay_action(name: str, action: str, request: Request, ctx: Ctx) -> Response:
    """Pause or resume a relay (or one of its provider paths): admins only, with the
    session's CSRF token, after a confirmation page."""
    principal, cookie, ring = await _session(request, ctx)
    if principal is None:
        return RedirectResponse("/login", 303)
    form = await _form(request)
    if not csrf_ok(ring, cookie, form.get(CSRF_FIELD, "")):
        return _render(request, "missing.html", {"what": "a valid CSRF token"}, 403)
    if not principal.has(Scope.ADMIN):
        return _render(request, "missing.html", {"what": "the admin scope"}, 403)
    known = {r.name for r in ctx.config.relay}
    if name not in known or action not in ("pause", "resume"):
        return _render(request, "missing.html", {"what": f"relay {name} / {action}"}, 404)
    provider = form.get("provider") or None
    if form.get("confirm") != "yes":
        page = {"principal": principal, "admin": True, "csrf": form[CSRF_FIELD],
                "relay": name, "provider": provider, "action": action}  # fmt: skip
        return _render(request, "confirm.html", page, 200)
    who = f"dashboard:{principal.name}"
    now = ctx.clock.now()
    if action == "pause":
        reason = form.get("reason") or "paused from the dashboard"
        await ctx.in_thread(pause_path, ctx.store, name, provider, now, who, reason)
    else:
        await ctx.in_thread(resume_path, ctx.store, name, provider, now, who)
    return RedirectResponse(f"/relays/{name}", 303)


def _when(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


async def _session(request: Request, ctx: ApiContext) -> tuple[Principal | None, str, KeyRing]:
    """The logged-in API key (looked up again: a revoked key ends its sessions)."""
    ring = await _ring(ctx)
    cookie = request.cookies.get(COOKIE, "")
    key_id = session_key_id(ring, cookie, ctx.clock.now()) if cookie else None
    if key_id is None:
        return None, cookie, ring
    row = await ctx.in_thread(_key_row, ctx, key_id)
    if row is None or row.revoked_at is not None:
        return None, cookie, ring
    principal = row.principal()
    return (principal if principal.has(Scope.READ) else None), cookie, ring


def _key_row(ctx: ApiContext, key_id: str) -> ApiKeyRow | None:
    try:
        return ctx.store.credentials.api_key(key_id)
    except LookupError:
        return None


async def _ring(ctx: ApiContext) -> KeyRing:
    return await ctx.in_thread(ctx.store.token_keys.ring, ctx.clock.now())


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or urllib.parse.urlsplit(origin).netloc == request.url.netloc


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM:
        return {}
    pairs = urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
    return dict(pairs)


def _render(request: Request, name: str, page: dict[str, object], status: int) -> HTMLResponse:
    return templates.TemplateResponse(request, name, page, status_code=status, headers=_HEADERS)
