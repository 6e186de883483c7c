"""The Messages page at `/messages`: deliveries searched by recipient, delivery or message
id, lane, state and time, newest first and paged by cursor (what `GET /v1/messages`
reads); and one delivery at `/messages/ID` with every attempt and the relay's replies
(what `relaylane messages show ID` prints). Read-only: any logged-in viewer sees it."""

from __future__ import annotations

import functools
import urllib.parse

from fastapi import APIRouter, Request
from fastapi.responses import Response

from relaylane.api.auth import Ctx
from relaylane.dashboard.web import login_redirect, refuse, render, viewer
from relaylane.errors import InputError, NotFoundError
from relaylane.policy.vocabulary import DeliveryState
from relaylane.reports.messages import MAX_ID, search, search_filter, show_report

router = APIRouter(include_in_schema=False)
PAGE = 50  # deliveries per page
FIELDS = ("recipient", "id", "lane", "state", "since", "until")


@router.get("/messages")
async def messages_page(request: Request, ctx: Ctx) -> Response:
    seen = await viewer(request, ctx)
    if seen is None:
        return login_redirect()
    asked = {name: request.query_params.get(name, "").strip() for name in (*FIELDS, "cursor")}
    page = seen.page(
        asked=asked,
        lanes=[lane.name for lane in ctx.config.lane],
        states=[s.value for s in DeliveryState],
        error=None,
        found=None,
        more=None,
    )
    try:
        where = search_filter(ctx.config, asked, ctx.clock.now())
    except InputError as exc:
        page["error"] = exc
        return render(request, "messages.html", page, 422)
    found = await ctx.in_thread(functools.partial(search, ctx.store, where, PAGE))
    page["found"] = found
    if found.next_cursor is not None:
        kept = {name: asked[name] for name in FIELDS if asked[name]}
        page["more"] = "/messages?" + urllib.parse.urlencode({**kept, "cursor": found.next_cursor})
    return render(request, "messages.html", page)


@router.get("/messages/{delivery_id}")
async def message_page(delivery_id: str, request: Request, ctx: Ctx) -> Response:
    seen = await viewer(request, ctx)
    if seen is None:
        return login_redirect()
    if not delivery_id.isdecimal() or not 1 <= int(delivery_id) <= MAX_ID:
        return refuse(request, f"delivery {delivery_id}", 404)
    try:
        report = await ctx.in_thread(show_report, ctx.store, int(delivery_id))
    except NotFoundError:
        return refuse(request, f"delivery {delivery_id}", 404)
    return render(request, "message.html", seen.page(report=report))
