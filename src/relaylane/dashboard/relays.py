"""A relay's page at `/relays/NAME`: its state and paths, counts and rates per provider,
charts over 1 h, 24 h and 7 d, the history of its state changes with their evidence, and
the admin's pause, resume and drain buttons (each confirmed on a page of its own, each
calling the code `relaylane relays pause|resume|drain` calls)."""

from __future__ import annotations

import functools
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from relaylane.api.auth import Ctx
from relaylane.api.context import ApiContext
from relaylane.config import Config
from relaylane.dashboard.web import (
    HEADERS,
    Viewer,
    acting,
    login_redirect,
    refuse,
    render,
    render_page,
    viewer,
)
from relaylane.delivery.operator import drain_path, pause_path, resume_path
from relaylane.monitor.series import RANGES, series, series_metrics
from relaylane.reports.relay_detail import show_report
from relaylane.reports.stats import build_report, scope_of
from relaylane.store import Store

router = APIRouter(include_in_schema=False)
ACTIONS = ("pause", "resume", "drain")
HISTORY = 50  # state changes shown, newest first


@router.get("/relays/{name}")
async def relay_page(name: str, request: Request, ctx: Ctx) -> Response:
    seen = await viewer(request, ctx)
    if seen is None:
        return login_redirect()
    if not _known(ctx.config, name):
        return refuse(request, f"relay {name}", 404)
    span = _range(request)
    now = ctx.clock.now()
    detail = await ctx.in_thread(_detail, ctx.config, ctx.store, name, span, now)
    return render_page(request, "relay.html", seen.page(**detail, span=span, ranges=RANGES))


@router.get("/relays/{name}/series.json")
async def relay_series(name: str, request: Request, ctx: Ctx) -> Response:
    """The chart data of a relay over `?range=1h|24h|7d` (optionally `&provider=P`)."""
    seen = await viewer(request, ctx)
    if seen is None:
        return JSONResponse({"error": "log in first"}, 401, headers=HEADERS)
    if not _known(ctx.config, name):
        return JSONResponse({"error": f"no relay {name}"}, 404, headers=HEADERS)
    chart = RANGES[_range(request)]
    now = ctx.clock.now()
    provider = request.query_params.get("provider") or None
    rows = await ctx.in_thread(
        functools.partial(ctx.store.metrics.per_bucket, now - chart.seconds, now + 1,
                          series_metrics(), relay=name, provider=provider)
    )  # fmt: skip
    return JSONResponse(series(rows, now, chart).as_dict(), headers=HEADERS)


@router.post("/relays/{name}/{action}")
async def relay_action(name: str, action: str, request: Request, ctx: Ctx) -> Response:
    """Pause, resume or drain a relay (or one of its provider paths): admins only, with
    the session's CSRF token, after a confirmation page."""
    gate = await acting(request, ctx)
    if isinstance(gate, Response):
        return gate
    seen, fields = gate
    if not _known(ctx.config, name) or action not in ACTIONS:
        return refuse(request, f"relay {name} / {action}", 404)
    provider = fields.get("provider") or None
    if fields.get("confirm") != "yes":
        page = seen.page(relay=name, provider=provider, action=action,
                         others=_drain_targets(ctx.config, name))  # fmt: skip
        return render(request, "confirm.html", page)
    await _act(ctx, seen, name, action, provider, fields.get("reason", ""))
    return RedirectResponse(f"/relays/{name}", 303)


async def _act(
    ctx: ApiContext, seen: Viewer, name: str, action: str, provider: str | None, reason: str
) -> None:
    who = seen.actor
    now = ctx.clock.now()
    if action == "pause":
        why = reason or "paused from the dashboard"
        await ctx.in_thread(pause_path, ctx.store, name, provider, now, who, why)
    elif action == "resume":
        await ctx.in_thread(resume_path, ctx.store, name, provider, now, who)
    elif _drain_targets(ctx.config, name):
        await ctx.in_thread(drain_path, ctx.store, name, provider, now, who, reason)


def _detail(cfg: Config, store: Store, name: str, span: str, now: float) -> dict[str, Any]:
    """`relays show --json` and `stats --relay NAME --since <span>`'s per-provider part."""
    report = show_report(cfg, store, name, now, HISTORY)
    scope = scope_of(cfg, name, None, None, None)
    stats = build_report(store.metrics, scope, (span, RANGES[span].seconds), now)
    return {"relay": report, "stats": stats, "drain_to": _drain_targets(cfg, name)}


def _drain_targets(cfg: Config, name: str) -> list[str]:
    """The other relays of the relay's lanes (a drain needs at least one)."""
    lanes = [lane for lane in cfg.lane if name in lane.relay_names]
    return sorted({r for lane in lanes for r in lane.relay_names} - {name})


def _range(request: Request) -> str:
    asked = request.query_params.get("range", "24h")
    return asked if asked in RANGES else "24h"


def _known(cfg: Config, name: str) -> bool:
    return any(r.name == name for r in cfg.relay)
