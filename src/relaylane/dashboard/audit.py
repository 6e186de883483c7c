"""The audit page at `/audit`: operator actions newest first, as `relaylane audit`
lists them, filtered by time, action (or family) and actor, paged back by id."""

from __future__ import annotations

import functools

from fastapi import APIRouter, Request
from fastapi.responses import Response

from relaylane.api.auth import Ctx
from relaylane.dashboard.web import login_redirect, render, viewer
from relaylane.errors import InputError
from relaylane.reports.audit import audit_report, parse_since
from relaylane.store.audit import AuditAction

router = APIRouter(include_in_schema=False)
PAGE = 100  # entries per page
FAMILIES = sorted({a.value.split(".")[0] for a in AuditAction})


@router.get("/audit")
async def audit_page(request: Request, ctx: Ctx) -> Response:
    seen = await viewer(request, ctx)
    if seen is None:
        return login_redirect()
    asked = {k: request.query_params.get(k, "").strip() for k in ("since", "action", "actor")}
    before = request.query_params.get("before", "")
    problem = None
    entries: list[dict[str, object]] = []
    try:
        since = parse_since(asked["since"], ctx.clock.now(), "since") if asked["since"] else None
        if before and not before.isdigit():
            raise InputError("before", f"{before!r} is not an entry id", "follow the Older link")
        read = functools.partial(
            audit_report, ctx.store, since=since, action=asked["action"] or None,
            actor=asked["actor"] or None, before_id=int(before) if before else None, limit=PAGE,
        )  # fmt: skip
        entries = (await ctx.in_thread(read))["entries"]
    except InputError as exc:
        problem = exc
    older = entries[-1]["id"] if len(entries) == PAGE else None
    page = seen.page(entries=entries, asked=asked, families=FAMILIES, older=older,
                     problem=problem)  # fmt: skip
    return render(request, "audit.html", page, 200 if problem is None else 422)
