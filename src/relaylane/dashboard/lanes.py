"""The overview's lane buttons: `POST /lanes/NAME/pause|resume` (admins only, with the
session's CSRF token, after a confirmation page), calling the code `relaylane lanes
pause|resume` calls; the actor is "dashboard:<key id>"."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from relaylane.api.auth import Ctx
from relaylane.dashboard.web import acting, refuse, render
from relaylane.store.queue_control import SqlQueueControl

router = APIRouter(include_in_schema=False)
ACTIONS = ("pause", "resume")


@router.post("/lanes/{name}/{action}")
async def lane_action(name: str, action: str, request: Request, ctx: Ctx) -> Response:
    gate = await acting(request, ctx)
    if isinstance(gate, Response):
        return gate
    seen, fields = gate
    if name not in {lane.name for lane in ctx.config.lane} or action not in ACTIONS:
        return refuse(request, f"lane {name} / {action}", 404)
    if fields.get("confirm") != "yes":
        return render(request, "lane_confirm.html", seen.page(lane=name, action=action))
    control, now = SqlQueueControl(ctx.store.engine), ctx.clock.now()
    if action == "pause":
        why = fields.get("reason", "").strip() or "paused from the dashboard"
        await ctx.in_thread(control.pause_lane, name, now, seen.actor, why)
    else:
        await ctx.in_thread(control.resume_lane, name, now, seen.actor)
    return RedirectResponse("/", 303)
