"""`ProviderResolver` over `DnsMxResolver` against the loopback DNS server (tests/dnsserver)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from relaylane.clock import FakeClock
from relaylane.delivery.providers import (
    DEFAULT,
    DnsMxResolver,
    MxAnswer,
    Provider,
    ProviderResolver,
)
from relaylane.doctor.dns import Kind
from tests.dnsserver import HOST, DnsServer, refused_port

ZONE = """
$TTL 120
acme.test.       IN MX 20 alt1.aspmx.l.gmail.test.
acme.test.       IN MX 10 aspmx.l.gmail.test.
beta.test.       IN MX 10 mx1.hosting.test.
gamma.test.      IN MX 10 mx2.hosting.test.
gamma.test.      IN MX 10 mx1.hosting.test.
plain.test.      IN A  192.0.2.1
short.test.  5   IN MX 10 mx.short.test.
null.test.       IN MX 0 .
"""
TABLE = {
    "google": Provider(domains=("gmail.test",), mx=("*.gmail.test",)),
    "default": Provider(),
}


@pytest.fixture(scope="module")
def server() -> Iterator[DnsServer]:
    with DnsServer(ZONE) as running:
        yield running


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def asked(server: DnsServer, since: int, name: str) -> int:
    return sum(1 for q in server.queries[since:] if q == (name, "MX"))


def resolver_for(
    server: DnsServer, clock: FakeClock, min_ttl: float = 60, negative_ttl: float = 300
) -> ProviderResolver:
    """Looks `.test` names up (the default never does)."""
    dns = DnsMxResolver.from_spec(server.spec, timeout=2)
    return ProviderResolver(
        TABLE, dns, clock=clock, never_lookup=(), min_ttl=min_ttl, negative_ttl=negative_ttl
    )


async def test_answers_carry_hosts_by_preference_and_the_ttl(server: DnsServer) -> None:
    dns = DnsMxResolver.from_spec(server.spec, timeout=2)
    assert await dns.mx("ACME.test.") == MxAnswer(
        Kind.RECORDS, ("aspmx.l.gmail.test", "alt1.aspmx.l.gmail.test"), 120
    )
    gamma = await dns.mx("gamma.test")  # equal preferences: by name, so stable
    assert gamma.hosts == ("mx1.hosting.test", "mx2.hosting.test")
    assert (await dns.mx("short.test")).ttl == 5
    assert await dns.mx("null.test") == MxAnswer(Kind.RECORDS, (".",), 120)
    assert await dns.mx("nothing.acme.test") == MxAnswer(Kind.NXDOMAIN)
    assert await dns.mx("plain.test") == MxAnswer(Kind.NODATA)
    assert (await dns.mx("elsewhere.test")).kind is Kind.ERROR  # REFUSED


async def test_groups_by_mx(server: DnsServer, clock: FakeClock) -> None:
    resolver = resolver_for(server, clock)
    assert await resolver.resolve_many(["acme.test", "beta.test", "gamma.test", "gmail.test"]) == {
        "acme.test": "google",  # a company domain hosted at the provider
        "beta.test": "mx:hosting.test",  # two companies on one unlisted MX provider
        "gamma.test": "mx:hosting.test",
        "gmail.test": "google",  # listed: no query
    }
    assert ("gmail.test", "MX") not in server.queries


async def test_cached_within_the_ttl_asked_again_after(server: DnsServer, clock: FakeClock) -> None:
    resolver = resolver_for(server, clock)
    since = len(server.queries)
    assert resolver.cached("acme.test") is None
    assert await resolver.provider_of("acme.test") == "google"
    clock.advance(119)
    assert resolver.cached("acme.test") == "google"
    assert await resolver.provider_of("acme.test") == "google"
    assert asked(server, since, "acme.test") == 1
    clock.advance(2)
    assert resolver.cached("acme.test") is None
    assert await resolver.provider_of("acme.test") == "google"
    assert asked(server, since, "acme.test") == 2


async def test_short_ttls_are_floored(server: DnsServer, clock: FakeClock) -> None:
    resolver = resolver_for(server, clock, min_ttl=60)
    since = len(server.queries)
    assert await resolver.provider_of("short.test") == "mx:short.test"
    clock.advance(30)
    assert await resolver.provider_of("short.test") == "mx:short.test"
    assert asked(server, since, "short.test") == 1


async def test_negative_answers_are_cached(server: DnsServer, clock: FakeClock) -> None:
    resolver = resolver_for(server, clock, negative_ttl=300)
    since = len(server.queries)
    for _ in range(3):
        assert await resolver.provider_of("nothing.acme.test") == DEFAULT  # NXDOMAIN
        assert await resolver.provider_of("plain.test") == DEFAULT  # no MX
        assert await resolver.provider_of("null.test") == DEFAULT  # null MX
    for name in ("nothing.acme.test", "plain.test", "null.test"):
        assert asked(server, since, name) == 1
    clock.advance(301)
    assert await resolver.provider_of("plain.test") == DEFAULT
    assert asked(server, since, "plain.test") == 2


async def test_concurrent_requests_make_one_query(server: DnsServer, clock: FakeClock) -> None:
    resolver = resolver_for(server, clock)
    since = len(server.queries)
    groups = await asyncio.gather(*(resolver.provider_of("beta.test") for _ in range(20)))
    assert set(groups) == {"mx:hosting.test"}
    assert asked(server, since, "beta.test") == 1


async def test_special_use_names_are_never_looked_up_by_default(
    server: DnsServer, clock: FakeClock
) -> None:
    dns = DnsMxResolver.from_spec(server.spec, timeout=2)
    resolver = ProviderResolver(TABLE, dns, clock=clock)  # default never_lookup
    since = len(server.queries)
    assert await resolver.resolve_many(["acme.test", "beta.test", "x.example", "y.invalid"]) == {
        "acme.test": DEFAULT,
        "beta.test": DEFAULT,
        "x.example": DEFAULT,
        "y.invalid": DEFAULT,
    }
    assert await resolver.provider_of("gmail.test") == "google"  # the table still applies
    assert resolver.prefetch(["acme.test"]) == 0
    assert server.queries[since:] == []


async def test_nothing_listening_falls_back_quickly(clock: FakeClock) -> None:
    dns = DnsMxResolver([HOST], refused_port(), timeout=0.3)
    resolver = ProviderResolver(TABLE, dns, clock=clock, never_lookup=(), error_ttl=60)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await resolver.provider_of("acme.test") == DEFAULT
    assert loop.time() - started < 1.5
    assert resolver.cached("acme.test") == DEFAULT
    clock.advance(61)
    assert resolver.cached("acme.test") is None


async def test_a_silent_server_times_out_and_the_failure_is_cached(clock: FakeClock) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind((HOST, 0))  # receives, never answers
        silent.setblocking(False)
        dns = DnsMxResolver([HOST], silent.getsockname()[1], timeout=0.3)
        resolver = ProviderResolver(TABLE, dns, clock=clock, never_lookup=(), error_ttl=60)
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await resolver.provider_of("acme.test") == DEFAULT
        assert 0.25 < loop.time() - started < 1.5
        assert drain(silent) >= 1
        assert await resolver.provider_of("acme.test") == DEFAULT  # within error_ttl
        assert drain(silent) == 0


def drain(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            sock.recvfrom(4096)
        except BlockingIOError:
            return count
        count += 1
