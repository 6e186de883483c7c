"""The overview at `/`: one card per relay and per lane (`reports.overview`)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from relaylane.api.auth import Ctx
from relaylane.dashboard.web import login_redirect, render_page, viewer
from relaylane.reports.overview import overview_report

router = APIRouter(include_in_schema=False)


@router.get("/")
async def overview(request: Request, ctx: Ctx) -> Response:
    seen = await viewer(request, ctx)
    if seen is None:
        return login_redirect()
    report = await ctx.in_thread(overview_report, ctx.config, ctx.store, ctx.clock.now())
    return render_page(request, "overview.html", seen.page(report=report))
