"""`run_doctor`: every check for a configuration, in the order the report shows them."""

from __future__ import annotations

import asyncio
import ipaddress
import time
from functools import partial

import sqlalchemy as sa

from relaylane.config.models import Config, RelayConfig
from relaylane.dkim.rotation import Rotation
from relaylane.doctor.bulk import bulk_checks, from_domains_check
from relaylane.doctor.dkim_dns import dkim_checks, dkim_queries, signing_keys
from relaylane.doctor.dmarc import DmarcResult, dmarc_checks, find_dmarc
from relaylane.doctor.dns import Answer, Query, Resolver
from relaylane.doctor.gather import fetch, settle
from relaylane.doctor.mail_dns import fcrdns, return_path_check, return_path_queries
from relaylane.doctor.plan import Plan, is_bulk, make_plan
from relaylane.doctor.rates import LaneRate, complaint_rates, rate_check
from relaylane.doctor.relay_check import handshake, handshake_checks
from relaylane.doctor.report import Check, warned
from relaylane.doctor.rotations import advance_rotations
from relaylane.doctor.spf import Evaluation, check_host, survey
from relaylane.doctor.spf_checks import spf_checks


async def run_doctor(
    config: Config,
    resolver: Resolver,
    *,
    engine: sa.Engine | None = None,
    check_relays: bool = True,
    now: float | None = None,
) -> list[Check]:
    """Every check: lanes, From domains (DMARC, DKIM), DKIM rotations (moved on, with a
    store), return paths (SPF, MX), relays (FCrDNS, handshake), then each bulk lane's
    checklist. Exit 1 if any fails."""
    plan = make_plan(config)
    now = time.time() if now is None else now
    answers: dict[Query, Answer] = {}
    checks = [from_domains_check(lane) for lane in config.lane]
    rotations: list[Rotation] = []
    rotation_lines: list[Check] = []
    if engine is not None:
        rotations, rotation_lines = await advance_rotations(engine, resolver, answers, now)
    dmarc: dict[str, DmarcResult] = {}
    for domain in plan.domains:
        dmarc[domain] = await settle(resolver, answers, partial(find_dmarc, domain))
        checks += dmarc_checks(dmarc[domain], domain in plan.bulk_domains)
        checks += await _dkim(config, domain, rotations, resolver, answers)
    checks += rotation_lines
    for path, relays in plan.spf.items():
        checks += await _spf(path, relays, resolver, answers)
        await fetch(resolver, answers, return_path_queries(path))
        checks.append(return_path_check(path, answers))
    for relay in config.relay:
        for ip in relay.outbound_ips:
            found = await settle(resolver, answers, partial(fcrdns, relay, ip))
            if found.check is not None:
                checks.append(found.check)
    if check_relays:
        facts = await asyncio.gather(*(handshake(relay) for relay in config.relay))
        for relay, fact in zip(config.relay, facts, strict=True):
            checks += handshake_checks(relay, fact)
    checks += _bulk(config, plan, checks, dmarc, engine, now)
    return checks


async def _dkim(
    config: Config,
    domain: str,
    rotations: list[Rotation],
    resolver: Resolver,
    answers: dict[Query, Answer],
) -> list[Check]:
    cfg = config.domain.get(domain)
    keys = signing_keys(domain, cfg, rotations) if cfg is not None else []
    if cfg is not None:
        await fetch(resolver, answers, dkim_queries(domain, cfg, keys))
    return dkim_checks(domain, cfg, keys, answers, config.signing_domain_for(domain))


async def _spf(
    path: str, relays: list[RelayConfig], resolver: Resolver, answers: dict[Query, Answer]
) -> list[Check]:
    ips = [ip for relay in relays for ip in relay.outbound_ips]
    v6_only = bool(ips) and all(ipaddress.ip_address(ip).version == 6 for ip in ips)
    found = await settle(resolver, answers, partial(survey, path, family=6 if v6_only else 4))
    evaluations: dict[str, Evaluation] = {}
    for relay in relays:
        for ip in relay.outbound_ips:
            evaluations[ip] = await settle(
                resolver, answers, partial(check_host, ip, path, helo=relay.helo)
            )
    return spf_checks(path, relays, found, evaluations)


def _bulk(
    config: Config,
    plan: Plan,
    checks: list[Check],
    dmarc: dict[str, DmarcResult],
    engine: sa.Engine | None,
    now: float,
) -> list[Check]:
    lanes = [lane for lane in config.lane if is_bulk(lane)]
    if not lanes:
        return []
    rates: dict[str, LaneRate] = {}
    problem = "no store to read"
    if engine is not None:
        try:
            names = [lane.name for lane in lanes]
            rates = complaint_rates(engine, names, now)
        except sa.exc.SQLAlchemyError as exc:
            problem = f"could not read the store: {type(exc).__name__}: {exc}"
    lines: list[Check] = []
    for lane in lanes:
        rate = rates.get(lane.name)
        complaint = (
            rate_check(rate)
            if rate is not None
            else warned(f"lane {lane.name}", "complaint rate", f"not checked: {problem}")
        )
        paths = plan.lane_return_paths.get(lane.name, set())
        lines += bulk_checks(config, lane, checks, dmarc, paths, complaint)
    return lines
