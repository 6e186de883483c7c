"""Recipient domains grouped by mailbox provider, so one provider is paced (and routed) as one.

A domain listed in the provider table belongs to that provider. Any other domain is grouped
by its MX hosts: a company domain whose MX is ``aspmx.l.google.com`` is paced as the
provider whose ``mx`` globs match it (``*.google.com``), and company domains sharing an MX
provider that no table entry names are grouped together under ``mx:<registrable domain of
the primary MX host>``. Nothing known (no MX, NXDOMAIN, a DNS error, a special-use name)
means the catch-all provider, ``default``.

`ProviderMap` is the pure half (the table, no DNS). `ProviderResolver` adds MX lookups
through the `MxResolver` seam: short timeouts, an LRU cache honouring the TTL (floored and
capped), negative caching, one query in flight per domain, and a synchronous `cached` for
the worker's hot path. Special-use names (.test, .example, .invalid, .localhost) are never
looked up.

The doctor's `Resolver` seam (`relaylane.doctor.dns`) does not expose TTLs, so MX answers
have their own small seam here: `DnsMxResolver` over dnspython, and `ResolverMx` to put any
doctor `Resolver` behind it with a fixed TTL.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import re
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

import dns.asyncresolver
import dns.exception
import dns.name
import dns.rdtypes.mxbase
import dns.resolver
import idna

from relaylane.clock import Clock, SystemClock
from relaylane.doctor.dns import Kind, Resolver, async_resolver, norm, parse_nameserver
from relaylane.policy.alignment import organizational_domain

__all__ = [
    "DEFAULT",
    "MX_GROUP_PREFIX",
    "SPECIAL_USE",
    "DnsMxResolver",
    "MxAnswer",
    "MxResolver",
    "Provider",
    "ProviderMap",
    "ProviderResolver",
    "ProviderSpec",
    "ResolverMx",
    "ascii_domain",
]

log = logging.getLogger("relaylane.providers")

DEFAULT = "default"  # the catch-all provider
MX_GROUP_PREFIX = "mx:"  # group keys of unlisted MX providers: "mx:<registrable domain>"
SPECIAL_USE = frozenset({"test", "example", "invalid", "localhost"})  # RFC 2606, 6761

DEFAULT_MX_TIMEOUT = 2.0  # seconds for one MX lookup, retries included


# -- the provider table ---------------------------------------------------------------


class ProviderSpec(Protocol):
    """What grouping needs of one provider's configuration."""

    @property
    def domains(self) -> tuple[str, ...]:
        """Exact recipient domains (lower-case; Unicode or punycode)."""
        ...

    @property
    def mx(self) -> tuple[str, ...]:
        """Glob patterns on MX host names, e.g. "*.google.com"."""
        ...


@dataclass(frozen=True, slots=True)
class Provider:
    """A plain `ProviderSpec` (tests, and callers without config models)."""

    domains: tuple[str, ...] = ()
    mx: tuple[str, ...] = ()


def ascii_domain(domain: str) -> str | None:
    """`domain` lower-case ASCII (IDNA 2008 punycode, UTS 46), without a trailing dot.

    None for a non-ASCII name that IDNA refuses. ASCII names are only lower-cased.
    """
    name = domain.strip().rstrip(".").lower()
    if name.isascii():
        return name
    try:
        return idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError:
        return None


def _host(name: str) -> str:
    return name.strip().rstrip(".").lower()


class ProviderMap:
    """The provider table as lookups. Pure: no DNS, no clock."""

    def __init__(self, providers: Mapping[str, ProviderSpec]) -> None:
        self.names: tuple[str, ...] = tuple(providers)
        self._domains: dict[str, str] = {}
        mx: list[tuple[str, re.Pattern[str]]] = []
        for name, spec in providers.items():
            for domain in spec.domains:
                for form in {ascii_domain(domain), domain.strip().rstrip(".").lower()}:
                    if form:
                        self._domains.setdefault(form, name)
            patterns = [fnmatch.translate(_host(p)) for p in spec.mx if _host(p)]
            if patterns:
                mx.append((name, re.compile("|".join(f"(?:{p})" for p in patterns))))
        self._mx = tuple(mx)

    def by_domain(self, domain: str) -> str | None:
        """The provider listing `domain` exactly (in its Unicode or punycode form)."""
        found = self._domains.get(domain.strip().rstrip(".").lower())
        if found is None:
            name = ascii_domain(domain)
            found = self._domains.get(name) if name else None
        return found

    def by_mx(self, mx_hosts: Sequence[str]) -> str | None:
        """The provider whose MX globs match the primary (first) MX host; else the first
        provider matching any other host, hosts in the given (preference) order.

        Providers are tried in table order; hosts compare lower-case without the final dot.
        """
        for host in mx_hosts:
            name = _host(host)
            if not name or name == ".":
                continue
            for provider, pattern in self._mx:
                if pattern.match(name):
                    return provider
        return None

    def group(self, domain: str, mx_hosts: Sequence[str] | None) -> str:
        """The pacing group of `domain`: its provider's name, or "mx:<registrable domain of
        the primary MX host>" for MX hosts no provider claims, or "default".

        `mx_hosts` in preference order (lowest first); None or empty when unknown. A null MX
        (".") counts as no MX.
        """
        listed = self.by_domain(domain)
        if listed is not None:
            return listed
        hosts = [h for h in (_host(x) for x in mx_hosts or ()) if h and h != "."]
        if not hosts:
            return DEFAULT
        provider = self.by_mx(hosts)
        if provider is not None:
            return provider
        return MX_GROUP_PREFIX + organizational_domain(hosts[0])

    def provider_for_group(self, group: str) -> str:
        """The provider whose settings (rates, limits) apply to `group`: the group itself when
        it names a provider, else "default" (an "mx:..." group is paced with default's
        settings, in a bucket of its own)."""
        return group if group in self.names else DEFAULT


# -- the MX seam ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MxAnswer:
    """One MX lookup. `hosts` by preference (lowest first; ties by name), lower-case without
    the final dot, "." for a null MX; `ttl` in seconds for records (0 otherwise)."""

    kind: Kind
    hosts: tuple[str, ...] = ()
    ttl: int = 0
    error: str = ""


class MxResolver(Protocol):
    """Looks up the MX of one domain. Never raises for DNS trouble: that is an answer too."""

    async def mx(self, domain: str) -> MxAnswer: ...


class DnsMxResolver:
    """`MxResolver` over dnspython, with the TTL: the system configuration, or nameservers."""

    def __init__(
        self,
        nameservers: Iterable[str] | None = None,
        port: int = 53,
        timeout: float = DEFAULT_MX_TIMEOUT,
    ) -> None:
        self._resolver = async_resolver(nameservers, port, timeout, per_try=1.0)

    @classmethod
    def from_spec(cls, spec: str | None, timeout: float = DEFAULT_MX_TIMEOUT) -> DnsMxResolver:
        """From "IP:PORT", "IP", "[V6]:PORT", or None for the system resolver."""
        if spec is None:
            try:
                return cls(timeout=timeout)
            except dns.resolver.NoResolverConfiguration:
                raise ValueError(
                    "no system resolver is configured (/etc/resolv.conf); give a nameserver "
                    "as IP:PORT"
                ) from None
        host, port = parse_nameserver(spec)
        return cls([host], port, timeout)

    async def mx(self, domain: str) -> MxAnswer:
        try:
            answer = await self._resolver.resolve(
                norm(domain) + ".", "MX", raise_on_no_answer=False, search=False
            )
        except dns.resolver.NXDOMAIN:
            return MxAnswer(Kind.NXDOMAIN)
        except dns.resolver.LifetimeTimeout:
            return MxAnswer(Kind.ERROR, error="timeout")
        except dns.resolver.NoNameservers:
            return MxAnswer(Kind.ERROR, error="SERVFAIL or refused by every nameserver")
        except dns.exception.DNSException as exc:
            return MxAnswer(Kind.ERROR, error=str(exc) or type(exc).__name__)
        if answer.rrset is None:
            return MxAnswer(Kind.NODATA)
        exchanges = sorted(
            (int(r.preference), _exchange(r.exchange))
            for r in answer.rrset
            if isinstance(r, dns.rdtypes.mxbase.MXBase)
        )
        if not exchanges:
            return MxAnswer(Kind.NODATA)
        ttl = int(answer.chaining_result.minimum_ttl)
        return MxAnswer(Kind.RECORDS, tuple(host for _, host in exchanges), ttl)


def _exchange(name: dns.name.Name) -> str:
    text = name.to_text()
    return "." if text == "." else norm(text)


class ResolverMx:
    """Any doctor `Resolver` as an `MxResolver`; its answers carry no TTL, so `ttl` is used."""

    def __init__(self, resolver: Resolver, ttl: int = 300) -> None:
        self._resolver = resolver
        self._ttl = ttl

    async def mx(self, domain: str) -> MxAnswer:
        answer = await self._resolver.query(domain, "MX")
        if answer.kind is Kind.RECORDS:
            return MxAnswer(Kind.RECORDS, answer.records, self._ttl)
        return MxAnswer(answer.kind, error=answer.error)


# -- cached resolution ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Entry:
    group: str
    hosts: tuple[str, ...]  # MX hosts by preference; () when none are known
    expires: float  # clock time
    error: bool = False


class ProviderResolver:
    """The provider group of recipient domains: the table first, then cached MX lookups.

    One instance per event loop. `provider_of` awaits a lookup when needed; `cached` never
    blocks and answers None when a lookup is needed (start one with `prefetch`).

    Lookups are cached for the answer's TTL, kept within [`min_ttl`, `max_ttl`]; NXDOMAIN and
    "no MX" give "default" for `negative_ttl`, errors and timeouts "default" for
    `error_ttl`. Names under `never_lookup` (default: the special-use TLDs), names without a
    dot, address literals and names IDNA refuses are "default" without any query, unless
    the table lists them. At most `max_entries` domains are kept (least recently used go
    first) and at most `max_concurrent` queries run at once.
    """

    def __init__(
        self,
        providers: ProviderMap | Mapping[str, ProviderSpec],
        resolver: MxResolver,
        *,
        clock: Clock | None = None,
        timeout: float = DEFAULT_MX_TIMEOUT + 0.5,
        min_ttl: float = 60.0,
        max_ttl: float = 86_400.0,
        negative_ttl: float = 300.0,
        error_ttl: float = 60.0,
        max_entries: int = 50_000,
        max_concurrent: int = 64,
        never_lookup: Iterable[str] = SPECIAL_USE,
    ) -> None:
        if max_entries < 1 or max_concurrent < 1:
            raise ValueError("max_entries and max_concurrent must be at least 1")
        self._map = providers if isinstance(providers, ProviderMap) else ProviderMap(providers)
        self._resolver = resolver
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._timeout = timeout
        self._min_ttl = min_ttl
        self._max_ttl = max(max_ttl, min_ttl)
        self._negative_ttl = negative_ttl
        self._error_ttl = error_ttl
        self._max_entries = max_entries
        self._limit = asyncio.Semaphore(max_concurrent)
        self._never = frozenset(n for n in (_host(s) for s in never_lookup) if n)
        self._cache: OrderedDict[str, _Entry] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[str]] = {}
        self._failing = 0  # lookups failed since the last one that worked
        self.lookups = 0  # MX queries started (for stats and tests)

    @property
    def map(self) -> ProviderMap:
        return self._map

    def set_providers(self, providers: ProviderMap | Mapping[str, ProviderSpec]) -> None:
        """A new provider table (config reload): cached MX hosts are grouped again."""
        self._map = providers if isinstance(providers, ProviderMap) else ProviderMap(providers)
        for key, entry in list(self._cache.items()):
            if not entry.error:
                self._cache[key] = replace(entry, group=self._map.group(key, entry.hosts))

    def __len__(self) -> int:
        return len(self._cache)

    # -- reading ------------------------------------------------------------------------
    def cached(self, domain: str) -> str | None:
        """The group of `domain` if known without a query now, else None. Never blocks."""
        key, fixed = self._fixed(domain)
        if fixed is not None:
            return fixed
        entry = self._cache.get(key)
        if entry is None or entry.expires <= self._clock.now():
            return None
        self._cache.move_to_end(key)
        return entry.group

    async def provider_of(self, domain: str) -> str:
        """The group of `domain`, looking its MX up when it is not cached."""
        found = self.cached(domain)
        if found is not None:
            return found
        key, _ = self._fixed(domain)
        return await asyncio.shield(self._start(key))

    def prefetch(self, domains: Iterable[str]) -> int:
        """Start lookups, in the background, for the domains `cached` does not know;
        how many were started. Needs a running event loop."""
        started = 0
        for domain in domains:
            if self.cached(domain) is None:
                key, _ = self._fixed(domain)
                if key not in self._inflight:
                    started += 1
                self._start(key)
        return started

    async def resolve_many(self, domains: Iterable[str]) -> dict[str, str]:
        """The group of each domain, looked up concurrently."""
        wanted = list(dict.fromkeys(domains))
        groups = await asyncio.gather(*(self.provider_of(d) for d in wanted))
        return dict(zip(wanted, groups, strict=True))

    async def aclose(self) -> None:
        """Cancel the lookups in flight."""
        tasks = list(self._inflight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- internals ----------------------------------------------------------------------
    def _fixed(self, domain: str) -> tuple[str, str | None]:
        """(cache key, group when no lookup is ever needed)."""
        listed = self._map.by_domain(domain)
        key = ascii_domain(domain)
        if listed is not None:
            return key or "", listed
        if not key or "." not in key or key.startswith("[") or self._never_lookup(key):
            return key or "", DEFAULT
        return key, None

    def _never_lookup(self, key: str) -> bool:
        if not self._never:
            return False
        labels = key.split(".")
        return any(".".join(labels[i:]) in self._never for i in range(len(labels)))

    def _start(self, key: str) -> asyncio.Task[str]:
        task = self._inflight.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._lookup(key), name=f"mx:{key}")
            self._inflight[key] = task
            task.add_done_callback(lambda done: self._landed(key, done))
        return task

    def _landed(self, key: str, task: asyncio.Task[str]) -> None:
        if self._inflight.get(key) is task:
            del self._inflight[key]

    async def _lookup(self, key: str) -> str:
        async with self._limit:
            self.lookups += 1
            try:
                async with asyncio.timeout(self._timeout):
                    answer = await self._resolver.mx(key)
            except TimeoutError:
                answer = MxAnswer(Kind.ERROR, error=f"no answer within {self._timeout:g} s")
            except Exception as exc:  # a resolver must not raise; if it does, nothing is known
                answer = MxAnswer(Kind.ERROR, error=f"{type(exc).__name__}: {exc}")
        return self._store(key, answer)

    def _store(self, key: str, answer: MxAnswer) -> str:
        now = self._clock.now()
        if answer.kind is Kind.ERROR:
            self._failed(key, answer.error)
            entry = _Entry(DEFAULT, (), now + self._error_ttl, error=True)
        else:
            if self._failing:
                log.info("MX lookups answer again (%d failed meanwhile)", self._failing)
                self._failing = 0
            if answer.kind is Kind.RECORDS:
                hosts = tuple(h for h in answer.hosts if h and h != ".")
                ttl = min(max(float(answer.ttl), self._min_ttl), self._max_ttl)
                entry = _Entry(self._map.group(key, hosts), hosts, now + ttl)
            else:  # NXDOMAIN, no MX
                entry = _Entry(DEFAULT, (), now + self._negative_ttl)
        self._cache[key] = entry
        self._cache.move_to_end(key)
        while len(self._cache) > self._max_entries:
            self._cache.popitem(last=False)
        return entry.group

    def _failed(self, key: str, error: str) -> None:
        """Logs the first failure of a run of failures; the rest quietly."""
        self._failing += 1
        if self._failing == 1:
            log.warning(
                "MX lookup for %s failed (%s): paced as provider %s for %g s; further "
                "failures are logged at debug level until a lookup works",
                key,
                error,
                DEFAULT,
                self._error_ttl,
            )
        else:
            log.debug("MX lookup for %s failed (%s)", key, error)
