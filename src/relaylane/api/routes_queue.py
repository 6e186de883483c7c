"""/v1/queue and /v1/lanes/{lane}/pause|resume: queue control for admin keys.

The same code as `relaylane queue` and `relaylane lanes` (`store.queue_control`), each
action one transaction with its audit entry, the actor "key:<key id>".
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from relaylane.api.auth import Ctx, require
from relaylane.api.context import ApiContext
from relaylane.api.errors import ApiError, ErrorCode, FieldProblem
from relaylane.api.responses import declare
from relaylane.auth.principal import Principal, Scope
from relaylane.policy.queue_filter import QueueAction, QueueFilter, parse_filter
from relaylane.store.queue_control import SqlQueueControl

router = APIRouter(tags=["queue"])
Admin = Annotated[Principal, require(Scope.ADMIN)]
MAX_PAGE = 1000


class QueueActionIn(BaseModel):
    """Which deliveries (every filter optional) and how."""

    model_config = ConfigDict(extra="forbid")
    lane: str | None = None
    relay: str | None = None
    provider: str | None = None
    domain: str | None = Field(None, description="The recipients' domain.")
    campaign: str | None = Field(None, description="A campaign's name.")
    state: str | list[str] | None = Field(None, description="States, comma-separated or a list.")
    older_than: str | float | None = Field(
        None, description='Queued longer ago than this: "30m", "1h", "2d" or seconds.'
    )
    dry_run: bool = Field(False, description="Count and sample only; change nothing.")
    reason: str = Field("", max_length=500, description="Recorded in the audit log.")
    all_holds: bool = Field(
        False, description="release: also health's, windows' and campaigns' holds."
    )


class LaneActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field("", max_length=500)


def _actor(principal: Principal) -> str:
    return f"key:{principal.name}"


def _filter(ctx: ApiContext, **given: Any) -> QueueFilter:
    return parse_filter(
        lanes=[lane.name for lane in ctx.config.lane],
        relays=[r.name for r in ctx.config.relay],
        cli=False,
        **given,
    )


def _control(ctx: ApiContext) -> SqlQueueControl:
    return SqlQueueControl(ctx.store.engine)


@router.get(
    "/v1/queue",
    summary="Deliveries a filter selects (admin)",
    description="Newest first; without `state`, every delivery not yet final. The dead "
    "letters: `state=failed`. Page with `before_id` (the last id of the previous page).",
    responses=declare(401, 403, 422, 503),
)
async def list_queue(
    ctx: Ctx,
    principal: Admin,
    lane: str | None = None,
    relay: str | None = None,
    provider: str | None = None,
    domain: str | None = None,
    campaign: str | None = None,
    state: str | None = None,
    older_than: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
    before_id: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    where = _filter(ctx, lane=lane, relay=relay, provider=provider, domain=domain,
                    campaign=campaign, state=state, older_than=older_than)  # fmt: skip
    now = ctx.clock.now()
    control = _control(ctx)
    counts = await ctx.in_thread(control.counts_by_state, where, now)
    rows = await ctx.in_thread(functools.partial(control.list, where, now, limit, before_id))
    return {
        "filter": where.as_args(),
        "count": sum(counts.values()),
        "by_state": counts,
        "deliveries": rows,
        "next_before_id": rows[-1]["id"] if len(rows) == limit else None,
    }


@router.post(
    "/v1/queue/{action}",
    summary="Hold, release, requeue, cancel or retry deliveries (admin)",
    description="One transaction with its audit entry; deliveries in flight (`sending`) "
    "are never changed. `dry_run`: the count and a sample, nothing changed.",
    responses=declare(400, 401, 403, 413, 422, 503),
)
async def act_on_queue(
    action: QueueAction, body: QueueActionIn, ctx: Ctx, principal: Admin
) -> dict[str, Any]:
    where = _filter(ctx, lane=body.lane, relay=body.relay, provider=body.provider,
                    domain=body.domain, campaign=body.campaign, state=body.state,
                    older_than=body.older_than)  # fmt: skip
    max_ages = {lane.name: lane.max_age for lane in ctx.config.lane}
    run = functools.partial(
        _control(ctx).apply, action, where, ctx.clock.now(), _actor(principal),
        reason=body.reason, dry_run=body.dry_run, all_holds=body.all_holds, max_ages=max_ages,
    )  # fmt: skip
    done = await ctx.in_thread(run)
    return {"filter": where.as_args(), **done.as_dict()}


@router.post(
    "/v1/lanes/{lane}/{action}",
    summary="Pause or resume a lane (admin)",
    description="A paused lane is claimed by no worker (intake still accepts its mail, "
    "which waits queued); `changed` is false when it already was in that state.",
    responses=declare(400, 401, 403, 404, 413, 422, 503),
)
async def lane_action(
    lane: str,
    action: Literal["pause", "resume"],
    ctx: Ctx,
    principal: Admin,
    body: LaneActionIn | None = None,
) -> dict[str, Any]:
    known = [ln.name for ln in ctx.config.lane]
    if lane not in known:
        problem = FieldProblem("lane", f'no lane named "{lane}"', "use one of " + ", ".join(known))
        raise ApiError(404, ErrorCode.NOT_FOUND, problem.problem, [problem])
    control, now, who = _control(ctx), ctx.clock.now(), _actor(principal)
    if action == "pause":
        reason = body.reason if body is not None else ""
        changed = await ctx.in_thread(control.pause_lane, lane, now, who, reason)
    else:
        changed = await ctx.in_thread(control.resume_lane, lane, now, who)
    states = await ctx.in_thread(control.lanes)
    st = states.get(lane)
    return {"lane": lane, "paused": bool(st and st.paused), "changed": changed}
