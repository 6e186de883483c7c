"""The campaigns pages: `/campaigns` lists every campaign with its state, lane, progress
and estimated finish; `/campaigns/ID` shows one as `relaylane campaign status --json`
reports it (`reports.campaigns`): progress overall, per relay and per provider, state and
reason, engagement and its rates, the estimated finish and charts. Admins pause, resume
and cancel it (each confirmed on a page of its own, each calling the code `relaylane
campaign pause|resume|cancel` calls)."""

from __future__ import annotations

import functools

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from relaylane.api.auth import Ctx
from relaylane.api.context import ApiContext
from relaylane.campaigns import lifecycle
from relaylane.campaigns.report import COLUMNS
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
from relaylane.errors import InputError, NotFoundError
from relaylane.monitor.series import RANGES, series, series_metrics
from relaylane.reports.campaigns import campaigns_report, status_report
from relaylane.store.campaigns import CampaignRow

router = APIRouter(include_in_schema=False)
ACTIONS = ("pause", "resume", "cancel")
PAUSE_REASON = "paused from the dashboard"


@router.get("/campaigns")
async def campaigns_page(request: Request, ctx: Ctx) -> Response:
    seen = await viewer(request, ctx)
    if seen is None:
        return login_redirect()
    now = ctx.clock.now()
    report = await ctx.in_thread(campaigns_report, ctx.config, ctx.store, now)
    return render_page(request, "campaigns.html", seen.page(campaigns=report, now=now))


@router.get("/campaigns/{ident}")
async def campaign_page(ident: str, request: Request, ctx: Ctx) -> Response:
    seen = await viewer(request, ctx)
    if seen is None:
        return login_redirect()
    row = await _campaign(ctx, ident)
    if row is None:
        return refuse(request, f"campaign {ident}", 404)
    now = ctx.clock.now()
    try:
        report = await ctx.in_thread(status_report, ctx.config, ctx.store, row.name, now)
    except NotFoundError:
        return refuse(request, f"campaign {ident}", 404)
    span = _range(request)
    page = seen.page(c=report, now=now, span=span, ranges=RANGES, columns=COLUMNS)
    return render_page(request, "campaign.html", page)


@router.get("/campaigns/{ident}/series.json")
async def campaign_series(ident: str, request: Request, ctx: Ctx) -> Response:
    """The chart data of a campaign over `?range=1h|24h|7d`: its messages' metric buckets
    (whose campaign dimension is the campaign's name, from the message metadata)."""
    seen = await viewer(request, ctx)
    if seen is None:
        return JSONResponse({"error": "log in first"}, 401, headers=HEADERS)
    row = await _campaign(ctx, ident)
    if row is None:
        return JSONResponse({"error": f"no campaign {ident}"}, 404, headers=HEADERS)
    chart = RANGES[_range(request)]
    now = ctx.clock.now()
    rows = await ctx.in_thread(
        functools.partial(ctx.store.metrics.per_bucket, now - chart.seconds, now + 1,
                          series_metrics(), campaign=row.name)
    )  # fmt: skip
    return JSONResponse(series(rows, now, chart).as_dict(), headers=HEADERS)


@router.post("/campaigns/{ident}/{action}")
async def campaign_action(ident: str, action: str, request: Request, ctx: Ctx) -> Response:
    """Pause, resume or cancel a campaign: admins only, with the session's CSRF token,
    after a confirmation page."""
    gate = await acting(request, ctx)
    if isinstance(gate, Response):
        return gate
    seen, fields = gate
    row = await _campaign(ctx, ident)
    if row is None or action not in ACTIONS:
        return refuse(request, f"campaign {ident} / {action}", 404)
    if fields.get("confirm") != "yes":
        page = seen.page(campaign=row, action=action)
        return render(request, "campaign_confirm.html", page)
    try:
        await _act(ctx, seen, row, action, fields.get("reason", "").strip())
    except InputError as exc:  # e.g. no longer running: say so, change nothing
        return refuse(request, f"{action} now ({exc.problem})", 409)
    return RedirectResponse(f"/campaigns/{row.id}", 303)


async def _act(ctx: ApiContext, seen: Viewer, row: CampaignRow, action: str, reason: str) -> None:
    now = ctx.clock.now()
    who = seen.actor
    if action == "pause":
        pause = functools.partial(
            lifecycle.pause, ctx.store, row.name, reason or PAUSE_REASON, now, actor=who
        )
        await ctx.in_thread(pause)
    elif action == "resume":
        await ctx.in_thread(lifecycle.resume, ctx.store, row.name, now, who)
    else:
        await ctx.in_thread(lifecycle.cancel, ctx.store, row.name, now, who)


async def _campaign(ctx: ApiContext, ident: str) -> CampaignRow | None:
    """The campaign of a page's id (its row id, as the list links it)."""
    if not ident.isascii() or not ident.isdigit() or len(ident) > 15:
        return None
    return await ctx.in_thread(ctx.store.campaigns.by_id, int(ident))


def _range(request: Request) -> str:
    asked = request.query_params.get("range", "24h")
    return asked if asked in RANGES else "24h"
