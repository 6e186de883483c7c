"""Which lane a submission goes to, and whether its sender may use it. Pure checks."""

from __future__ import annotations

from relaylane.auth.principal import Principal
from relaylane.config.models import Config, LaneConfig
from relaylane.errors import InputError, PermissionDenied


def resolve_lane(
    config: Config, principal: Principal, requested: str | None, field: str
) -> LaneConfig:
    """The lane named by `requested` (or the principal's first lane) if it exists and
    the principal may send into it."""
    name = requested or principal.default_lane
    if name is None:
        raise PermissionDenied(
            field,
            f"{principal.kind.replace('_', ' ')} {principal.name!r} may not send into any lane",
            "give it lanes (`relaylane keys create --scope send --lanes NAME`)",
        )
    known = [lane.name for lane in config.lane]
    if name not in known:
        raise InputError(field, f"unknown lane {name!r}", f"use one of: {', '.join(known)}")
    if not principal.may_send_to(name):
        allowed = ", ".join(principal.lanes) or "none"
        raise PermissionDenied(
            field,
            f"{principal.kind.replace('_', ' ')} {principal.name!r} may not send into lane "
            f"{name!r} (allowed: {allowed})",
            "send into one of its lanes, or use credentials made for that lane",
        )
    return config.lane_by_name(name)


def check_sender(config: Config, lane: LaneConfig, from_domain: str, field: str) -> None:
    """The alignment gate. Refuse a From domain the lane may not send as (its reputation
    stays its own), and, on a gated lane (one with from_domains), a From domain that no
    aligned DKIM signature would cover: nothing misaligned is ever queued."""
    if not lane.allows_from(from_domain):
        raise PermissionDenied(
            field,
            f"lane {lane.name!r} may not send as {from_domain!r} (its from_domains: "
            f"{', '.join(lane.from_domains)})",
            f"send from an address at one of those domains, or add {from_domain!r} to the "
            "lane's from_domains",
        )
    if lane.from_domains and config.signing_domain_for(from_domain) is None:
        mode = config.alignment_for(from_domain)
        raise InputError(
            field,
            f"lane {lane.name!r} only queues mail with an aligned DKIM signature, and "
            f"{from_domain!r} has none ({mode.value} alignment)",
            f'add [domain."{from_domain}"] dkim = [{{ selector = "...", key_file = "..." }}] '
            f"(`relaylane dkim keygen {from_domain} --selector NAME` makes the key), or "
            "dkim_signed_by_relay = true when the relay's provider signs it with aligned keys",
        )
