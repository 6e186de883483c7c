"""The return-path domain can receive bounces; each relay address has forward-confirmed
reverse DNS (FCrDNS) matching its HELO name. Pure over DNS answers."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from relaylane.config.models import RelayConfig
from relaylane.doctor.dns import Answers, Kind, Query, RType, norm, query, reverse_name
from relaylane.doctor.report import Check, failed, passed, warned


def return_path_queries(domain: str) -> list[Query]:
    return [query(domain, "MX"), query(domain, "A"), query(domain, "AAAA")]


def return_path_check(domain: str, answers: Answers) -> Check:
    """Can mail to b-...@`domain` (bounces) be delivered: MX, or A/AAAA as fallback?"""
    name = "return path receives bounces"
    mx, a, aaaa = (answers.get(q) for q in return_path_queries(domain))
    errors = [x.error for x in (mx, a, aaaa) if x is not None and x.kind is Kind.ERROR]
    if mx is not None and mx.records == (".",):
        return failed(
            domain,
            name,
            f"{domain} publishes a null MX (RFC 7505): it accepts no mail, so bounces "
            "cannot come back",
            f"publish an MX for {domain} pointing at relaylane's bounce receiver",
        )
    if mx is not None and mx.records:
        return passed(domain, name, "MX " + ", ".join(mx.records))
    addresses = [r for x in (a, aaaa) if x is not None for r in x.records]
    if addresses:
        return passed(domain, name, "no MX, but A/AAAA " + ", ".join(addresses) + " (fallback)")
    if errors:
        return failed(domain, name, f"could not look up MX/A for {domain}: {errors[0]}")
    return failed(
        domain,
        name,
        f"{domain} has no MX and no A/AAAA record: bounces cannot come back",
        f"publish {domain} MX 10 <the host running relaylane's bounce receiver>",
    )


@dataclass
class Fcrdns:
    check: Check | None = None
    missing: set[Query] = field(default_factory=set)


def fcrdns(relay: RelayConfig, ip: str, answers: Answers) -> Fcrdns:
    """PTR of `ip` -> names -> A/AAAA containing `ip`; a confirmed name should be the
    relay's `helo` when that is set."""
    subject, name = f"relay {relay.name}", f"FCrDNS {ip}"
    ptr_query = query(reverse_name(ip), "PTR")
    ptr = answers.get(ptr_query)
    if ptr is None:
        return Fcrdns(missing={ptr_query})
    if ptr.kind is Kind.ERROR:
        return Fcrdns(failed(subject, name, f"could not look up the PTR of {ip}: {ptr.error}"))
    if not ptr.records:
        return Fcrdns(
            failed(
                subject,
                name,
                f"{ip} has no PTR record; many receivers refuse mail from such addresses",
                f"ask whoever owns {ip} (your host or provider) to set its PTR to "
                f"{relay.helo or 'the relay host name'}",
            )
        )
    rtype: RType = "A" if ipaddress.ip_address(ip).version == 4 else "AAAA"
    wanted = [query(n, rtype) for n in ptr.records]
    missing = {q for q in wanted if q not in answers}
    if missing:
        return Fcrdns(missing=missing)
    confirmed = [n for n in ptr.records if _contains(answers, query(n, rtype), ip)]
    return Fcrdns(_verdict(relay, ip, list(ptr.records), confirmed))


def _contains(answers: Answers, q: Query, ip: str) -> bool:
    answer = answers.get(q)
    target = ipaddress.ip_address(ip)
    return answer is not None and any(ipaddress.ip_address(r) == target for r in answer.records)


def _verdict(relay: RelayConfig, ip: str, names: list[str], confirmed: list[str]) -> Check:
    subject, check = f"relay {relay.name}", f"FCrDNS {ip}"
    if not confirmed:
        return failed(
            subject,
            check,
            f"{ip} has PTR {', '.join(names)}, which does not resolve back to {ip}",
            f"add an A/AAAA record {names[0]} -> {ip}",
        )
    helo = norm(relay.helo) if relay.helo else None
    if helo is None:
        return passed(subject, check, f"{ip} <-> {confirmed[0]} (relay helo not set)")
    if helo in confirmed:
        return passed(subject, check, f"{ip} <-> {helo}, the relay's helo")
    return warned(
        subject,
        check,
        f"{ip} <-> {confirmed[0]}, but the relay's helo is {relay.helo}",
        f"set helo = {confirmed[0]!r} on relay {relay.name}, or the PTR of {ip} to {relay.helo}",
    )
