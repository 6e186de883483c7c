"""The suppressions page at `/suppressions`: search (part of an address, scope, reason),
newest first with paging, the CSV export of what the search finds, and the admin's add and
remove (remove confirmed on a page of its own). Parsing, entries and export are
`relaylane.reports.suppressions`, the calls the store's: what `relaylane suppress` uses."""

from __future__ import annotations

import functools
import io
import urllib.parse
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from relaylane.api.auth import Ctx
from relaylane.api.context import ApiContext
from relaylane.dashboard.web import HEADERS, Viewer, acting, login_redirect, render, viewer
from relaylane.errors import InputError
from relaylane.policy.suppression import Reason, Scope, Source
from relaylane.reports import suppressions as report
from relaylane.store.suppressions import SuppressionRow

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
EVERYTHING = 2**62  # the export has no page
SOURCE = Source.API  # the dashboard acts with an API key, as the API does
ADD_FIELDS = ("address", "scope", "reason", "expires", "note")


@dataclass(frozen=True, slots=True)
class Search:
    """What the page was asked for: the raw texts (shown back in the form) and the
    parsed filters."""

    text: str
    scope_text: str
    reason_text: str
    page: int
    scope: Scope | None
    reason: Reason | None
    problem: InputError | None  # a bad scope or reason: nothing is searched

    def query(self, **changes: Any) -> str:
        """The query string of this search (with `changes`), empty values left out."""
        values = {"q": self.text, "scope": self.scope_text, "reason": self.reason_text}
        values |= {"page": str(self.page) if self.page > 1 else ""}
        values |= {k: str(v) for k, v in changes.items()}
        return urllib.parse.urlencode({k: v for k, v in values.items() if v})


def _search(request: Request) -> Search:
    """The search in the query string."""
    params = request.query_params
    text = params.get("q", "").strip()
    scope_text = params.get("scope", "").strip()
    reason_text = params.get("reason", "").strip()
    page = int(params["page"]) if params.get("page", "").isdigit() else 1
    problem: InputError | None = None
    where = why = None
    try:
        where = report.scope(scope_text, "scope") if scope_text else None
        why = report.reason(reason_text, "reason") if reason_text else None
    except InputError as exc:
        problem = exc
    return Search(text, scope_text, reason_text, max(page, 1), where, why, problem)


@router.get("/suppressions")
async def suppressions_page(request: Request, ctx: Ctx) -> Response:
    seen = await viewer(request, ctx)
    if seen is None:
        return login_redirect()
    search = _search(request)
    done = {k: request.query_params[k] for k in ("added", "removed", "stopped", "already")
            if request.query_params.get(k, "").isdigit()}  # fmt: skip
    return await _page(request, ctx, seen, search, search.problem, done=done)


async def _page(
    request: Request,
    ctx: ApiContext,
    seen: Viewer,
    search: Search,
    problem: InputError | None,
    status: int = 200,
    *,
    done: dict[str, str] | None = None,
    add: dict[str, str] | None = None,
) -> Response:
    rows: list[SuppressionRow] = []
    if search.problem is None:
        find = functools.partial(
            ctx.store.suppressions.search,
            contains=search.text,
            scope=search.scope,
            reason=search.reason,
            limit=PAGE_SIZE + 1,
            offset=(search.page - 1) * PAGE_SIZE,
        )
        rows = await ctx.in_thread(find)
    page = seen.page(
        rows=rows[:PAGE_SIZE],
        search=search,
        more=len(rows) > PAGE_SIZE,
        problem=problem,
        done=done or {},
        add=add or {"scope": "global", "reason": Reason.MANUAL.value},
        reasons=[r.value for r in Reason],
        lanes=report.lane_names(ctx.config),
        export=search.query(page=""),
    )
    return render(request, "suppressions.html", page, status)


@router.get("/suppressions/export.csv")
async def export_csv(request: Request, ctx: Ctx) -> Response:
    """Every entry the search finds, as `relaylane suppress export` writes them."""
    seen = await viewer(request, ctx)
    if seen is None:
        return login_redirect()
    search = _search(request)
    if search.problem is not None:
        return await _page(request, ctx, seen, search, search.problem, 422)
    find = functools.partial(
        ctx.store.suppressions.search,
        contains=search.text,
        scope=search.scope,
        reason=search.reason,
        newest_first=False,
        limit=EVERYTHING,
    )
    rows = await ctx.in_thread(find)
    out = io.StringIO()
    report.write_csv((report.record(r) for r in rows), out)
    headers = {**HEADERS, "Content-Disposition": 'attachment; filename="suppressions.csv"'}
    return Response(out.getvalue(), media_type="text/csv; charset=utf-8", headers=headers)


@router.post("/suppressions/add")
async def add(request: Request, ctx: Ctx) -> Response:
    """Suppress an address (admins only, with the session's CSRF token), as
    `relaylane suppress add ADDRESS --scope --reason --expires --note` does."""
    gate = await acting(request, ctx)
    if isinstance(gate, Response):
        return gate
    seen, fields = gate
    given = {name: fields.get(name, "").strip() for name in ADD_FIELDS}
    now = ctx.clock.now()
    try:
        addr = report.address(given["address"], "address")
        where = report.scope(given["scope"] or "global", "scope", report.lane_names(ctx.config))
        why = report.reason(given["reason"] or Reason.MANUAL.value, "reason")
        expires_at = report.expires_in(given["expires"] or None, now, "expires", "30d")
    except InputError as exc:
        search = _search(request)
        return await _page(request, ctx, seen, search, exc, 422, add=given)
    entries = report.new_entries([addr], where, why, SOURCE, given["note"] or None, expires_at)
    add_them = functools.partial(ctx.store.suppressions.add, entries, now, actor=seen.actor)
    done = await ctx.in_thread(add_them)
    summary = report.add_summary(done, len(entries), where, why, expires_at)
    back = urllib.parse.urlencode(
        {"q": addr, "added": summary["added"], "already": summary["already_present"],
         "stopped": summary["stopped"]}
    )  # fmt: skip
    return RedirectResponse(f"/suppressions?{back}", 303)


@router.post("/suppressions/remove")
async def remove(request: Request, ctx: Ctx) -> Response:
    """Lift a suppression (admins only, with the CSRF token, after a confirmation page),
    as `relaylane suppress remove ADDRESS --scope` does."""
    gate = await acting(request, ctx)
    if isinstance(gate, Response):
        return gate
    seen, fields = gate
    try:
        addr = report.address(fields.get("address", ""), "address")
        where = report.scope(fields.get("scope", "") or "global", "scope")
    except InputError as exc:
        search = _search(request)
        return await _page(request, ctx, seen, search, exc, 422)
    if fields.get("confirm") != "yes":
        page = seen.page(address=addr, scope=str(where))
        return render(request, "suppressions_confirm.html", page)
    removed = await ctx.in_thread(
        functools.partial(ctx.store.suppressions.remove, addr, where, actor=seen.actor)
    )
    if removed == 0:
        search = _search(request)
        missing = InputError(
            "address",
            f"{addr} is not suppressed in scope {where}",
            "search for it below: it may be suppressed in another scope",
        )
        return await _page(request, ctx, seen, search, missing, 404)
    back = urllib.parse.urlencode({"q": addr, "removed": removed})
    return RedirectResponse(f"/suppressions?{back}", 303)
