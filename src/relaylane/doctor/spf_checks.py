"""Doctor lines for SPF at one return-path domain, from a `Survey` and per-address
`Evaluation`s (see `doctor.spf`)."""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence

from relaylane.config.models import RelayConfig
from relaylane.doctor.dns import Kind
from relaylane.doctor.report import Check, failed, passed, warned
from relaylane.doctor.spf import LOOKUP_LIMIT, VOID_LIMIT, Evaluation, Survey


def mechanism_for(ip: str) -> str:
    return f"ip{ipaddress.ip_address(ip).version}:{ip}"


def suggested_record(relays: Sequence[RelayConfig]) -> str:
    terms = [mechanism_for(ip) for r in relays for ip in r.outbound_ips]
    terms += [f"include:{r.spf_include}" for r in relays if r.spf_include]
    terms = list(dict.fromkeys(terms)) or ["ip4:<your relay's outbound IP>"]
    return "v=spf1 " + " ".join(terms) + " -all"


def spf_checks(
    domain: str,
    relays: Sequence[RelayConfig],
    found: Survey,
    evaluations: Mapping[str, Evaluation],
) -> list[Check]:
    """Every SPF line for `domain`, the return path `relays` send with."""
    record = _record_check(domain, relays, found)
    if record.status == "fail" and len(found.records) != 1:
        return [record]  # nothing more can be said without exactly one record
    return [
        record,
        _lookups_check(domain, found),
        _voids_check(domain, found),
        _all_check(domain, found),
        *(_relay_check(domain, relay, found, evaluations) for relay in relays),
    ]


def _record_check(domain: str, relays: Sequence[RelayConfig], found: Survey) -> Check:
    publish = f'publish {domain} TXT "{suggested_record(relays)}"'
    if found.top is None or found.top.kind is Kind.ERROR:
        why = found.top.error if found.top is not None else "not fetched"
        return failed(domain, "SPF record", f"could not look up TXT at {domain}: {why}")
    if not found.records:
        return failed(domain, "SPF record", f"no SPF record (v=spf1) at {domain}", publish)
    if len(found.records) > 1:
        listed = " | ".join(found.records)
        return failed(
            domain,
            "SPF record",
            f"{len(found.records)} SPF records at {domain} (permerror for every receiver): "
            + listed,
            "merge them into one v=spf1 record",
        )
    if found.errors:
        return failed(
            domain,
            "SPF record",
            "permerror: " + "; ".join(found.errors),
            "fix the record so that every term parses and every include has an SPF record",
        )
    notes = f" ({'; '.join(found.notes)})" if found.notes else ""
    return passed(domain, "SPF record", found.records[0] + notes)


def _lookups_check(domain: str, found: Survey) -> Check:
    plural = "s" if found.lookups != 1 else ""
    count = f"{found.lookups} DNS lookup{plural} (include, a, mx, ptr, exists, redirect)"
    if found.lookups > LOOKUP_LIMIT:
        return failed(
            domain,
            "SPF lookups",
            f"{count}, over the limit of {LOOKUP_LIMIT}: receivers return permerror",
            "replace includes you do not need, or a and mx, with ip4:/ip6: ranges",
        )
    return passed(domain, "SPF lookups", f"{count} of {LOOKUP_LIMIT} allowed")


def _voids_check(domain: str, found: Survey) -> Check:
    if len(found.voids) > VOID_LIMIT:
        return failed(
            domain,
            "SPF void lookups",
            f"{len(found.voids)} lookups find nothing (limit {VOID_LIMIT}): "
            + "; ".join(found.voids),
            "remove the terms that point at names without records",
        )
    listed = ": " + "; ".join(found.voids) if found.voids else ""
    return passed(domain, "SPF void lookups", f"{len(found.voids)} of {VOID_LIMIT}{listed}")


def _all_check(domain: str, found: Survey) -> Check:
    qualifier = found.all_qualifier
    if qualifier in ("-", "~"):
        return passed(domain, "SPF all", f"ends with {qualifier}all")
    fix = "end the record with -all (or ~all while you test)"
    if qualifier == "+":
        return warned(domain, "SPF all", "+all authorizes every server on the internet", fix)
    if qualifier == "?":
        return warned(domain, "SPF all", "?all says nothing about other servers", fix)
    return warned(domain, "SPF all", "no all: other servers get neutral", fix)


def _relay_check(
    domain: str, relay: RelayConfig, found: Survey, evaluations: Mapping[str, Evaluation]
) -> Check:
    name = f"SPF authorizes relay {relay.name}"
    if not relay.outbound_ips and not relay.spf_include:
        return warned(
            domain,
            name,
            f"relay {relay.name} lists neither outbound_ips nor spf_include, so doctor "
            "cannot tell whether SPF authorizes it",
            f'set outbound_ips = ["..."] or spf_include = "..." on relay {relay.name}',
        )
    problems, fine = [], []
    for ip in relay.outbound_ips:
        result = evaluations.get(ip)
        if result is None or result.missing:
            problems.append(f"{ip}: could not finish evaluating")
        elif result.result == "pass":
            fine.append(f"{ip} passes ({result.reason})")
        else:
            problems.append(f"{ip} gets {result.result} ({result.reason})")
    fixes = [mechanism_for(ip) for ip in relay.outbound_ips if not _passes(evaluations, ip)]
    if relay.spf_include:
        if relay.spf_include in found.includes:
            fine.append(f"include:{relay.spf_include} is in the record tree")
        else:
            problems.append(f"include:{relay.spf_include} is not in the record tree")
            fixes.append(f"include:{relay.spf_include}")
    if problems:
        fix = f"add {' '.join(fixes)} to the SPF record at {domain}" if fixes else None
        return failed(domain, name, "; ".join(problems), fix)
    return passed(domain, name, "; ".join(fine))


def _passes(evaluations: Mapping[str, Evaluation], ip: str) -> bool:
    found = evaluations.get(ip)
    return found is not None and not found.missing and found.result == "pass"
