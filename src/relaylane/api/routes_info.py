"""/v1/status, /v1/relays, /v1/lanes and /healthz."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from fastapi import APIRouter

from relaylane.api import responses as r
from relaylane.api.auth import Ctx, Reader
from relaylane.api.context import ApiContext
from relaylane.api.errors import unavailable
from relaylane.api.queries import ping
from relaylane.api.responses import declare
from relaylane.config.models import Config
from relaylane.policy.health import Cause, HealthState, PathHealth
from relaylane.store.health import StoredPath
from relaylane.store.queue_control import LaneState, SqlQueueControl
from relaylane.store.reads import StatusReport

router = APIRouter()
HEALTH_TIMEOUT = 3.0  # seconds the store gets to answer /healthz
HEALTH_RETRY_AFTER = 5.0


@router.get("/healthz", tags=["health"], summary="200 when the store answers (no auth)",
            responses=declare(503))  # fmt: skip
async def healthz(ctx: Ctx) -> r.Health:
    try:
        await asyncio.wait_for(asyncio.to_thread(ping, ctx.store.engine), HEALTH_TIMEOUT)
    except Exception as exc:  # any failure to answer is "not healthy"
        reason = f"the store does not answer ({exc.__class__.__name__})"
        raise unavailable(reason, HEALTH_RETRY_AFTER) from None
    return r.Health(status="ok")


@router.get("/v1/status", tags=["status"], summary="Queue counts",
            responses=declare(401, 403, 503))  # fmt: skip
async def status(ctx: Ctx, principal: Reader) -> r.Status:
    report = await _report(ctx)
    return r.Status.model_validate(report.as_dict())


@router.get("/v1/relays", tags=["status"], summary="Relays: configuration, health, counts",
            responses=declare(401, 403, 503))  # fmt: skip
async def relays(ctx: Ctx, principal: Reader) -> r.Relays:
    report = await _report(ctx)
    paths = await ctx.in_thread(ctx.store.health.paths)
    return r.Relays(relays=[relay_view(ctx.config, name, report, paths) for name in _names(ctx)])


@router.get("/v1/lanes", tags=["status"], summary="Lanes: configuration and counts",
            responses=declare(401, 403, 503))  # fmt: skip
async def lanes(ctx: Ctx, principal: Reader) -> r.Lanes:
    report = await _report(ctx)
    states = await ctx.in_thread(SqlQueueControl(ctx.store.engine).lanes)
    return r.Lanes(
        lanes=[
            r.Lane(
                name=lane.name,
                purpose=lane.purpose.value,
                strategy=lane.strategy.value,
                relays=[r.LaneRelay(name=ref.name, weight=ref.weight) for ref in lane.relays],
                max_age=lane.max_age,
                from_domains=list(lane.from_domains),
                counts=report.by_lane.get(lane.name, {}),
                paused=_paused(states, lane.name),
                paused_reason=states[lane.name].reason if _paused(states, lane.name) else None,
            )
            for lane in ctx.config.lane
        ]
    )


def _paused(states: dict[str, LaneState], lane: str) -> bool:
    return lane in states and states[lane].paused


async def _report(ctx: ApiContext) -> StatusReport:
    return await ctx.in_thread(ctx.store.reads.status, ctx.clock.now())


def _names(ctx: ApiContext) -> list[str]:
    return [relay.name for relay in ctx.config.relay]


_BREAKER = {"healthy": "closed", "degraded": "closed", "paused": "open", "probing": "half_open"}


def _path(h: PathHealth) -> dict[str, object]:
    return {"state": h.state.value, "cause": h.cause.value, "since": h.since or None,
            "until": h.until, "reason": h.reason or None}  # fmt: skip


def relay_view(
    config: Config, name: str, report: StatusReport, paths: Sequence[StoredPath]
) -> r.Relay:
    """One relay as /v1/relays (and the dashboard) show it."""
    relay = config.relay_by_name(name)
    own = next((p.health for p in paths if p.relay == name and p.provider == ""), None)
    own = own or PathHealth(HealthState.HEALTHY, Cause.NONE, 0.0)
    breaker = r.Breaker.model_validate(
        {"state": _BREAKER[own.state.value], "reopens_at": own.until, "reason": own.reason or None}
    )
    providers = {
        p.provider: _path(p.health)
        for p in paths
        if p.relay == name and p.provider and p.health.state is not HealthState.HEALTHY
    }
    health = r.RelayHealth.model_validate({**_path(own), "providers": providers})
    return r.Relay(
        name=relay.name,
        kind=relay.kind.value,
        host=relay.host,
        port=relay.port,
        tls=relay.tls.value,
        max_connections=relay.max_connections,
        lanes=[lane.name for lane in config.lane if name in lane.relay_names],
        breaker=breaker,
        health=health,
        counts=report.by_relay.get(name, {}),
    )
