"""DNS as the doctor sees it: a narrow `Resolver` seam and the answers it gives.

An `Answer` tells records apart from NXDOMAIN, from "the name exists but has no records
of this type" (no data) and from an error (timeout, SERVFAIL), because SPF counts the
first two as void lookups. Records are text: TXT strings of one record joined without
separators (RFC 7208 3.3), MX exchanges ordered by preference ("." for a null MX), A and
AAAA addresses, PTR names; names lower-case without the final dot.

Checks never resolve anything: they read an `Answers` mapping and say which queries they
still miss; `settle` (in `doctor.gather`) fetches those and asks again.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal, Protocol

import dns.asyncresolver
import dns.exception
import dns.resolver
import dns.reversename

RType = Literal["TXT", "MX", "A", "AAAA", "PTR"]
Query = tuple[str, RType]  # (name, type); the name as `norm` gives it
Answers = Mapping[Query, "Answer"]

DEFAULT_TIMEOUT = 5.0  # seconds for one query, retries included


class Kind(StrEnum):
    RECORDS = "records"
    NXDOMAIN = "nxdomain"  # the name does not exist
    NODATA = "nodata"  # the name exists, without records of this type
    ERROR = "error"  # timeout, SERVFAIL, refused: nothing is known


@dataclass(frozen=True, slots=True)
class Answer:
    kind: Kind
    records: tuple[str, ...] = ()
    error: str = ""

    @property
    def void(self) -> bool:
        """NXDOMAIN or no data: an SPF "void lookup" (RFC 7208 4.6.4)."""
        return self.kind in (Kind.NXDOMAIN, Kind.NODATA)

    def describe(self) -> str:
        if self.kind is Kind.RECORDS:
            return ", ".join(self.records)
        if self.kind is Kind.ERROR:
            return f"DNS error ({self.error})"
        return "NXDOMAIN" if self.kind is Kind.NXDOMAIN else "no records"


def records(*values: str) -> Answer:
    return Answer(Kind.RECORDS, tuple(values))


NXDOMAIN = Answer(Kind.NXDOMAIN)
NODATA = Answer(Kind.NODATA)


def norm(name: str) -> str:
    return name.strip().rstrip(".").lower()


def query(name: str, rtype: RType) -> Query:
    return (norm(name), rtype)


def reverse_name(ip: str) -> str:
    """The PTR name of an address: 10.2.0.192.in-addr.arpa for 192.0.2.10."""
    return norm(dns.reversename.from_address(str(ipaddress.ip_address(ip))).to_text())


class Resolver(Protocol):
    """Answers one question. Never raises for DNS trouble: that is an `Answer` too."""

    async def query(self, name: str, rtype: RType) -> Answer: ...


def async_resolver(
    nameservers: Iterable[str] | None, port: int, timeout: float, per_try: float
) -> dns.asyncresolver.Resolver:
    """A dnspython resolver: the system configuration (nameservers None) or the given
    servers; `timeout` overall, `per_try` per server; EDNS with a 1232-byte payload."""
    servers = list(nameservers) if nameservers is not None else None
    resolver = dns.asyncresolver.Resolver(configure=servers is None)
    if servers is not None:
        resolver.nameservers = servers
        resolver.port = port
    resolver.timeout = min(timeout, per_try)
    resolver.lifetime = timeout
    resolver.use_edns(0, 0, 1232)
    return resolver


class DnsResolver:
    """`Resolver` over dnspython: the system configuration, or given nameservers."""

    def __init__(
        self,
        nameservers: Iterable[str] | None = None,
        port: int = 53,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._resolver = async_resolver(nameservers, port, timeout, per_try=2.0)

    @classmethod
    def from_spec(cls, spec: str | None, timeout: float = DEFAULT_TIMEOUT) -> DnsResolver:
        """From "IP:PORT", "IP", "[V6]:PORT", or None for the system resolver."""
        if spec is None:
            try:
                return cls(timeout=timeout)
            except dns.resolver.NoResolverConfiguration:
                raise ValueError(
                    "no system resolver is configured (/etc/resolv.conf); give --dns IP:PORT"
                ) from None
        host, port = parse_nameserver(spec)
        return cls([host], port, timeout)

    async def query(self, name: str, rtype: RType) -> Answer:
        try:
            answer = await self._resolver.resolve(
                norm(name) + ".", rtype, raise_on_no_answer=False, search=False
            )
        except dns.resolver.NXDOMAIN:
            return NXDOMAIN
        except dns.resolver.LifetimeTimeout:
            return Answer(Kind.ERROR, error="timeout")
        except dns.resolver.NoNameservers:
            return Answer(Kind.ERROR, error="SERVFAIL or refused by every nameserver")
        except dns.exception.DNSException as exc:
            return Answer(Kind.ERROR, error=str(exc) or type(exc).__name__)
        if answer.rrset is None:
            return NODATA
        return Answer(Kind.RECORDS, _texts(rtype, list(answer.rrset)))


def _texts(rtype: RType, rdatas: list[object]) -> tuple[str, ...]:
    if rtype == "TXT":
        return tuple(b"".join(r.strings).decode("utf-8", "replace") for r in rdatas)  # type: ignore[attr-defined]
    if rtype == "MX":
        ordered = sorted(rdatas, key=lambda r: r.preference)  # type: ignore[attr-defined]
        return tuple(_name(r.exchange) for r in ordered)  # type: ignore[attr-defined]
    if rtype == "PTR":
        return tuple(_name(r.target) for r in rdatas)  # type: ignore[attr-defined]
    return tuple(str(r.address) for r in rdatas)  # type: ignore[attr-defined]


def _name(name: dns.name.Name) -> str:
    text = name.to_text()
    return "." if text == "." else norm(text)


def parse_nameserver(spec: str) -> tuple[str, int]:
    """ "127.0.0.1:5353" -> ("127.0.0.1", 5353); "[::1]:53", "::1" and "192.0.2.53" too."""
    text = spec.strip()
    host, port = text, "53"
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        host = ""
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(
            f"{spec!r} is not a nameserver; write IP:PORT, e.g. 127.0.0.1:5353 (HOST:PORT "
            "with HOST an IP address)"
        )
    return host, int(port)


async def resolve_all(resolver: Resolver, queries: Iterable[Query]) -> dict[Query, Answer]:
    """Ask every query at once; the answers keyed by query."""
    wanted = list(dict.fromkeys(queries))
    answers = await asyncio.gather(*(resolver.query(name, rtype) for name, rtype in wanted))
    return dict(zip(wanted, answers, strict=True))
