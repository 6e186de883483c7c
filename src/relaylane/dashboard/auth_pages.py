"""Logging in and out of the dashboard with an API key of scope admin or read."""

from __future__ import annotations

import functools
import urllib.parse

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from relaylane.api.auth import Ctx, _lookup
from relaylane.auth.principal import Scope
from relaylane.dashboard.session import COOKIE, CSRF_FIELD, SESSION_TTL, csrf_ok, session_cookie
from relaylane.dashboard.web import form, render, ring_of

router = APIRouter(include_in_schema=False)


@router.get("/login")
async def login_page(request: Request) -> Response:
    return render(request, "login.html", {"error": None})


@router.post("/login")
async def login(request: Request, ctx: Ctx) -> Response:
    if not _same_origin(request):
        return render(request, "login.html", {"error": "Cross-site login refused."}, 403)
    fields = await form(request)
    principal = await ctx.in_thread(functools.partial(_lookup, ctx, fields.get("api_key", "")))
    if principal is None or not principal.has(Scope.READ):
        error = "That is not an API key of scope admin or read (create one with relaylane keys)."
        return render(request, "login.html", {"error": error}, 401)
    ring = await ring_of(ctx)
    response = RedirectResponse("/", 303)
    response.set_cookie(
        COOKIE, session_cookie(ring, principal.name, ctx.clock.now()), max_age=int(SESSION_TTL),
        httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/",
    )  # fmt: skip
    return response


@router.post("/logout")
async def logout(request: Request, ctx: Ctx) -> Response:
    fields = await form(request)
    cookie = request.cookies.get(COOKIE, "")
    if not csrf_ok(await ring_of(ctx), cookie, fields.get(CSRF_FIELD, "")):
        return render(request, "login.html", {"error": "Missing or wrong CSRF token."}, 403)
    response = RedirectResponse("/login", 303)
    response.delete_cookie(COOKIE, path="/")
    return response


def _same_origin(request: Request) -> bool:
    origin = request.headers.get("origin")
    return origin is None or urllib.parse.urlsplit(origin).netloc == request.url.netloc
