"""Evaluating SPF (RFC 7208) over DNS answers, without doing any I/O.

`survey` walks the whole record tree of a domain (every include and redirect) as a
receiver evaluating the last mechanism would: it counts DNS-querying terms (limit 10)
and void lookups (limit 2), collects syntax errors and the include targets. `check_host`
evaluates one address (RFC 7208 4): pass, fail, softfail, neutral, none, permerror or
temperror. Both return the queries they missed; `doctor.gather.settle` fetches those and
asks again until nothing is missing.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field

from relaylane.doctor.dns import Answer, Answers, Kind, Query, RType, query, reverse_name
from relaylane.doctor.spf_macro import MacroContext, expand, has_macros
from relaylane.doctor.spf_parse import SpfRecord, Term, parse_spf, spf_records

LOOKUP_LIMIT = 10  # RFC 7208 4.6.4
VOID_LIMIT = 2
MX_LIMIT = 10
_SURVEY_CAP = 30  # stop walking a tree this far over the limit: the verdict is known


@dataclass
class Survey:
    domain: str
    top: Answer | None = None  # the TXT answer at `domain`
    records: list[str] = field(default_factory=list)  # its v=spf1 records
    lookups: int = 0
    voids: list[str] = field(default_factory=list)  # "a:x.test (NXDOMAIN)"
    errors: list[str] = field(default_factory=list)  # each one a permerror
    notes: list[str] = field(default_factory=list)  # what could not be evaluated
    includes: set[str] = field(default_factory=set)  # include and redirect targets
    all_qualifier: str | None = None  # of the record that ends evaluation
    missing: set[Query] = field(default_factory=set)


def survey(domain: str, answers: Answers, family: int = 4) -> Survey:
    """The whole SPF tree of `domain` (addresses queried as A, or AAAA for family 6)."""
    result = Survey(domain)
    result.top = answers.get(query(domain, "TXT"))
    _Walker(result, answers, "A" if family == 4 else "AAAA").visit(domain, (), top=True)
    return result


class _Walker:
    def __init__(self, out: Survey, answers: Answers, rtype: RType) -> None:
        self.out, self.answers, self.rtype = out, answers, rtype

    def get(self, name: str, rtype: RType) -> Answer | None:
        answer = self.answers.get(query(name, rtype))
        if answer is None:
            self.out.missing.add(query(name, rtype))
        return answer

    def visit(self, domain: str, path: tuple[str, ...], top: bool) -> None:
        record = self.record(domain, path)
        if record is None:
            return
        where = " (via " + " > ".join(path) + ")" if path else ""
        self.out.errors += [f"{domain}: {e}{where}" for e in record.errors]
        for term in record.terms:
            if self.out.lookups > _SURVEY_CAP:
                return
            self.term(term, domain, (*path, f"{domain}: {term.text}"))
        if record.all_term is not None:
            if top:
                self.out.all_qualifier = record.all_term.qualifier
        elif record.redirect is not None:
            self.out.lookups += 1
            self.follow(record.redirect, (*path, f"{domain}: redirect={record.redirect}"), top)

    def record(self, domain: str, path: tuple[str, ...]) -> SpfRecord | None:
        answer = self.get(domain, "TXT")
        if answer is None:
            return None
        found = spf_records(answer.records)
        if not path:
            self.out.records = found
        if answer.kind is Kind.ERROR:
            self.out.errors.append(f"could not fetch TXT at {domain}: {answer.error}")
        elif not found and path:
            if answer.void:
                self.out.voids.append(f"{path[-1]} ({answer.describe()})")
            self.out.errors.append(f"{path[-1]}: {domain} has no SPF record")
        elif len(found) > 1:
            self.out.errors.append(f"{domain} has {len(found)} SPF records")
        return parse_spf(found[0]) if len(found) == 1 else None

    def follow(self, target: str, path: tuple[str, ...], top: bool) -> None:
        if has_macros(target):
            self.out.notes.append(f"{path[-1]} uses macros: not evaluated")
            return
        if target in {p.split(":", 1)[0] for p in path}:
            self.out.errors.append(f"{path[-1]} loops back to {target}")
            return
        self.out.includes.add(target)
        self.visit(target, path, top)

    def term(self, term: Term, domain: str, path: tuple[str, ...]) -> None:
        if not term.queries_dns:
            return
        self.out.lookups += 1
        if term.kind == "include":
            assert term.target is not None
            self.follow(term.target, path, top=False)
            return
        if term.kind == "ptr":
            self.out.notes.append(f"{path[-1]}: ptr is slow and discouraged (RFC 7208 5.5)")
            return
        target = term.target or domain
        if has_macros(target):
            self.out.notes.append(f"{path[-1]} uses macros: not evaluated")
            return
        rtype: RType = "MX" if term.kind == "mx" else self.rtype
        answer = self.get(target, rtype)
        if answer is not None and answer.void:
            self.out.voids.append(f"{path[-1]} ({answer.describe()})")
        if term.kind == "mx" and answer is not None and len(answer.records) > MX_LIMIT:
            self.out.errors.append(f"{path[-1]}: more than {MX_LIMIT} MX hosts")


# -- check_host ------------------------------------------------------------------------


@dataclass
class Evaluation:
    result: str  # pass, fail, softfail, neutral, none, permerror, temperror
    reason: str  # the deciding term or error
    missing: set[Query] = field(default_factory=set)


_RESULTS = {"+": "pass", "-": "fail", "~": "softfail", "?": "neutral"}


class _Stop(Exception):
    def __init__(self, result: str, reason: str) -> None:
        self.result, self.reason = result, reason


def check_host(ip: str, domain: str, answers: Answers, helo: str | None = None) -> Evaluation:
    """What a receiver concludes for mail from `ip` with a return path at `domain`."""
    ctx = MacroContext(ip, f"postmaster@{domain}", helo or domain)
    state = _Host(ipaddress.ip_address(ip), ctx, answers)
    try:
        result, reason = state.evaluate(domain, 0)
    except _Stop as stop:
        result, reason = stop.result, stop.reason
    return Evaluation(result, reason, state.missing)


_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_MISSING = "missing"  # an answer is not there yet: no verdict, only what to ask


class _Host:
    def __init__(self, ip: _Address, ctx: MacroContext, answers: Answers) -> None:
        self.ip, self.ctx, self.answers = ip, ctx, answers
        self.rtype: RType = "A" if ip.version == 4 else "AAAA"
        self.lookups = self.voids = 0
        self.missing: set[Query] = set()

    def get(self, name: str, rtype: RType) -> Answer | None:
        """The answer, counted as a void lookup when void; None (and noted) if missing."""
        answer = self.answers.get(query(name, rtype))
        if answer is None:
            self.missing.add(query(name, rtype))
            return None
        if answer.kind is Kind.ERROR:
            raise _Stop("temperror", f"DNS error at {name}: {answer.error}")
        if answer.void:
            self.voids += 1
            if self.voids > VOID_LIMIT:
                raise _Stop("permerror", f"more than {VOID_LIMIT} void lookups (at {name})")
        return answer

    def count(self, what: str) -> None:
        self.lookups += 1
        if self.lookups > LOOKUP_LIMIT:
            raise _Stop("permerror", f"more than {LOOKUP_LIMIT} DNS lookups (at {what})")

    def evaluate(self, domain: str, depth: int) -> tuple[str, str]:
        if depth > LOOKUP_LIMIT:
            raise _Stop("permerror", f"include or redirect loop at {domain}")
        answer = self.get(domain, "TXT")
        if answer is None:
            return _MISSING, f"TXT at {domain} not fetched yet"
        found = spf_records(answer.records)
        if not found:
            return "none", f"no SPF record at {domain}"
        if len(found) > 1:
            raise _Stop("permerror", f"{domain} has {len(found)} SPF records")
        record = parse_spf(found[0])
        if record.errors:
            raise _Stop("permerror", f"{domain}: {record.errors[0]}")
        for term in record.terms:
            if self.matches(term, domain, depth):
                return _RESULTS[term.qualifier], f"{domain}: {term.text}"
        if record.redirect is not None:
            self.count(f"redirect={record.redirect}")
            target = expand(record.redirect, domain, self.ctx)
            result, reason = self.evaluate(target, depth + 1)
            if result == "none":
                raise _Stop("permerror", f"redirect={target}: no SPF record there")
            return result, reason  # "missing" stays missing
        return "neutral", f"{domain}: nothing matched and there is no all"

    def matches(self, term: Term, domain: str, depth: int) -> bool:
        if term.kind == "all":
            return True
        if term.kind in ("ip4", "ip6"):
            assert term.target is not None
            prefix = term.cidr4 if term.kind == "ip4" else term.cidr6
            return self.within([term.target], prefix)
        self.count(term.text)
        target = expand(term.target, domain, self.ctx) if term.target else domain
        if term.kind == "include":
            result, _ = self.evaluate(target, depth + 1)
            if result == "none":
                raise _Stop("permerror", f"include:{target}: no SPF record there")
            return result == "pass"
        if term.kind == "a":
            return self.within(self.records(target, self.rtype), self.prefix(term))
        if term.kind == "mx":
            return self.mx(target, term)
        if term.kind == "exists":
            return bool(self.records(target, "A"))
        return self.ptr(target)

    def records(self, name: str, rtype: RType) -> tuple[str, ...]:
        answer = self.get(name, rtype)
        return answer.records if answer is not None else ()

    def prefix(self, term: Term) -> int | None:
        return term.cidr4 if self.ip.version == 4 else term.cidr6

    def within(self, addresses: Sequence[str], prefix: int | None) -> bool:
        for address in addresses:
            network = ipaddress.ip_network(
                address if prefix is None else f"{address}/{prefix}", strict=False
            )
            if network.version == self.ip.version and self.ip in network:
                return True
        return False

    def mx(self, target: str, term: Term) -> bool:
        hosts = [h for h in self.records(target, "MX") if h != "."]
        if len(hosts) > MX_LIMIT:
            raise _Stop("permerror", f"{term.text}: more than {MX_LIMIT} MX hosts")
        found = [self.address_records(host) for host in hosts]
        return any(self.within(addresses, self.prefix(term)) for addresses in found)

    def address_records(self, host: str) -> tuple[str, ...]:
        answer = self.answers.get(query(host, self.rtype))  # not a term: no void count
        if answer is None:
            self.missing.add(query(host, self.rtype))
        return answer.records if answer is not None else ()

    def ptr(self, target: str) -> bool:
        names = self.records(reverse_name(str(self.ip)), "PTR")[:MX_LIMIT]
        for name in names:
            confirmed = self.within(self.address_records(name), None)
            if confirmed and (name == target or name.endswith("." + target)):
                return True
        return False
