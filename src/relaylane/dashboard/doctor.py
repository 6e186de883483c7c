"""The doctor page at `/doctor`: what `relaylane doctor --json` reports (each sending
domain's SPF, DKIM, DMARC, alignment and return path, each relay's FCrDNS and handshake,
each bulk lane's checklist), pass, warn or fail with the fix, grouped by subject.

DNS is slow: the doctor runs in a thread under a time limit, and its report is kept for
about a minute. `?refresh=1` (anyone) or the admin's "Check again" button run it afresh.
The resolver is the context's (`ApiContext.resolver`), else the system's.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from relaylane.api.auth import Ctx
from relaylane.api.context import ApiContext
from relaylane.dashboard.web import acting, login_redirect, render, viewer
from relaylane.doctor.dns import DnsResolver, Resolver
from relaylane.reports.doctor import doctor_report

router = APIRouter(include_in_schema=False)
KEEP_SECONDS = 60.0  # how long a report is shown before the doctor runs again
TIME_LIMIT = 45.0  # seconds the page waits for the doctor


@dataclass(slots=True)
class _Kept:
    at: float
    report: dict[str, Any]


@dataclass(slots=True)
class _Doctor:
    """The app's last report, and the lock that lets one run at a time."""

    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    kept: _Kept | None = None

    def fresh(self, now: float) -> _Kept | None:
        if self.kept is None or now - self.kept.at >= KEEP_SECONDS:
            return None
        return self.kept


def _doctor(request: Request) -> _Doctor:
    """Kept on the app's state: one per running app (and per test's app)."""
    state = request.app.state
    if not hasattr(state, "doctor"):
        state.doctor = _Doctor()
    found: _Doctor = state.doctor
    return found


@router.get("/doctor")
async def doctor_page(request: Request, ctx: Ctx) -> Response:
    seen = await viewer(request, ctx)
    if seen is None:
        return login_redirect()
    refresh = request.query_params.get("refresh") == "1"
    doctor = _doctor(request)
    async with doctor.lock:  # one run at a time; those waiting get its report
        now = ctx.clock.now()
        kept = None if refresh else doctor.fresh(now)
        problem = None
        if kept is None:
            try:
                report = await asyncio.wait_for(_run(ctx, now), TIME_LIMIT)
            except TimeoutError:
                problem = f"the checks did not finish within {TIME_LIMIT:.0f} s (DNS is slow?)"
            except ValueError as exc:  # no system resolver
                problem = str(exc)
            else:
                kept = doctor.kept = _Kept(now, report)
    page = seen.page(
        report=None if kept is None else kept.report,
        groups=[] if kept is None else _groups(kept.report["checks"]),
        checked_at=None if kept is None else kept.at,
        problem=problem,
        keep=KEEP_SECONDS,
    )
    return render(request, "doctor.html", page, 200 if problem is None else 504)


@router.post("/doctor/refresh")
async def check_again(request: Request, ctx: Ctx) -> Response:
    """Forget the kept report (admins, with the CSRF token): the page runs the doctor."""
    gate = await acting(request, ctx)
    if isinstance(gate, Response):
        return gate
    _doctor(request).kept = None
    return RedirectResponse("/doctor", 303)


async def _run(ctx: ApiContext, now: float) -> dict[str, Any]:
    """`relaylane doctor --json`'s report, computed in a thread of its own."""
    resolver: Resolver = ctx.resolver or DnsResolver.from_spec(None)
    engine = ctx.store.engine

    def work() -> dict[str, Any]:
        return asyncio.run(doctor_report(ctx.config, resolver, engine=engine, now=now))

    return await ctx.in_thread(work)


def _groups(checks: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The checks by subject, in the order the doctor reports them."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for check in checks:
        groups.setdefault(check["subject"], []).append(check)
    return list(groups.items())
