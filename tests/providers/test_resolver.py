"""`ProviderResolver` with a scripted `MxResolver`: caching, TTL bounds, errors, LRU."""

from __future__ import annotations

import asyncio
import logging

import pytest

from relaylane.clock import FakeClock
from relaylane.delivery.providers import (
    DEFAULT,
    MxAnswer,
    Provider,
    ProviderResolver,
    ResolverMx,
)
from relaylane.doctor.dns import NXDOMAIN, Answer, Kind, RType, records

TABLE = {
    "google": Provider(domains=("gmail.com",), mx=("*.google.com",)),
    "microsoft": Provider(mx=("*.protection.outlook.com",)),
    "default": Provider(),
}


class Scripted:
    """An `MxResolver` answering from a dict; records every question."""

    def __init__(self, answers: dict[str, MxAnswer], delay: float = 0.0) -> None:
        self.answers = answers
        self.delay = delay
        self.asked: list[str] = []

    async def mx(self, domain: str) -> MxAnswer:
        self.asked.append(domain)
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.answers.get(domain, MxAnswer(Kind.NXDOMAIN))


def mx(*hosts: str, ttl: int = 300) -> MxAnswer:
    return MxAnswer(Kind.RECORDS, hosts, ttl)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


async def test_ttl_is_floored_and_capped(clock: FakeClock) -> None:
    dns = Scripted(
        {"short.com": mx("aspmx.l.google.com", ttl=5), "long.com": mx("mx.host.net", ttl=10**7)}
    )
    resolver = ProviderResolver(TABLE, dns, clock=clock, min_ttl=60, max_ttl=86_400)
    assert await resolver.provider_of("short.com") == "google"
    assert await resolver.provider_of("long.com") == "mx:host.net"
    clock.advance(59)
    assert resolver.cached("short.com") == "google"  # 5 s floored to 60 s
    clock.advance(2)
    assert resolver.cached("short.com") is None
    clock.advance(86_400 - 62)
    assert resolver.cached("long.com") == "mx:host.net"
    clock.advance(2)
    assert resolver.cached("long.com") is None  # capped at a day
    assert dns.asked == ["short.com", "long.com"]


async def test_listed_and_special_use_names_need_no_lookup(clock: FakeClock) -> None:
    dns = Scripted({})
    table = {**TABLE, "lab": Provider(domains=("lab.test",))}
    resolver = ProviderResolver(table, dns, clock=clock)
    assert resolver.cached("GMAIL.com") == "google"
    assert await resolver.provider_of("gmail.com") == "google"
    assert await resolver.provider_of("lab.test") == "lab"  # listed wins over special-use
    for name in ("a.test", "x.y.example", "foo.invalid", "localhost", "db.localhost", "nodot"):
        assert resolver.cached(name) == DEFAULT
        assert await resolver.provider_of(name) == DEFAULT
    assert await resolver.provider_of("[192.0.2.1]") == DEFAULT
    assert await resolver.provider_of("bad\udcff.com") == DEFAULT  # IDNA refuses it
    assert dns.asked == []
    assert len(resolver) == 0


async def test_negative_answers_are_cached(clock: FakeClock) -> None:
    dns = Scripted({"nodata.com": MxAnswer(Kind.NODATA), "nullmx.com": mx(".", ttl=3600)})
    resolver = ProviderResolver(TABLE, dns, clock=clock, negative_ttl=300)
    for _ in range(3):
        assert await resolver.provider_of("missing.com") == DEFAULT
        assert await resolver.provider_of("nodata.com") == DEFAULT
        assert await resolver.provider_of("nullmx.com") == DEFAULT
    assert dns.asked == ["missing.com", "nodata.com", "nullmx.com"]
    clock.advance(301)
    assert resolver.cached("missing.com") is None
    assert resolver.cached("nullmx.com") == DEFAULT  # a null MX is records: its TTL
    await resolver.provider_of("missing.com")
    assert dns.asked.count("missing.com") == 2


async def test_errors_are_default_for_a_short_time_and_logged_once(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    dns = Scripted({"ok.com": mx("aspmx.l.google.com")})
    dns.answers.update({f"down{i}.com": MxAnswer(Kind.ERROR, error="SERVFAIL") for i in range(3)})
    resolver = ProviderResolver(TABLE, dns, clock=clock, error_ttl=60)
    with caplog.at_level(logging.DEBUG, logger="relaylane.providers"):
        for i in range(3):
            assert await resolver.provider_of(f"down{i}.com") == DEFAULT
        assert await resolver.provider_of("down0.com") == DEFAULT  # cached
        assert await resolver.provider_of("ok.com") == "google"
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "down0.com" in warnings[0].getMessage()
    assert any("answer again (3 failed" in r.getMessage() for r in caplog.records)
    assert dns.asked.count("down0.com") == 1
    clock.advance(61)
    assert resolver.cached("down0.com") is None


async def test_a_slow_or_raising_resolver_is_a_timeout_or_an_error(clock: FakeClock) -> None:
    class Broken:
        async def mx(self, domain: str) -> MxAnswer:
            if domain == "slow.com":
                await asyncio.sleep(30)
            raise RuntimeError("bug")

    resolver = ProviderResolver(TABLE, Broken(), clock=clock, timeout=0.05)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await resolver.provider_of("slow.com") == DEFAULT
    assert loop.time() - started < 1
    assert await resolver.provider_of("raises.com") == DEFAULT
    assert resolver.cached("slow.com") == DEFAULT


async def test_concurrent_lookups_of_one_domain_coalesce(clock: FakeClock) -> None:
    dns = Scripted({"acme.com": mx("aspmx.l.google.com")}, delay=0.02)
    resolver = ProviderResolver(TABLE, dns, clock=clock)
    groups = await asyncio.gather(*(resolver.provider_of("acme.com") for _ in range(50)))
    assert groups == ["google"] * 50
    assert dns.asked == ["acme.com"]


async def test_a_cancelled_caller_does_not_cancel_the_lookup(clock: FakeClock) -> None:
    dns = Scripted({"acme.com": mx("aspmx.l.google.com")}, delay=0.05)
    resolver = ProviderResolver(TABLE, dns, clock=clock)
    impatient = asyncio.create_task(resolver.provider_of("acme.com"))
    await asyncio.sleep(0.01)
    impatient.cancel()
    assert await resolver.provider_of("acme.com") == "google"
    assert dns.asked == ["acme.com"]


async def test_prefetch_then_cached(clock: FakeClock) -> None:
    dns = Scripted({"a.com": mx("aspmx.l.google.com"), "b.com": mx("mx.host.net")}, delay=0.01)
    resolver = ProviderResolver(TABLE, dns, clock=clock)
    assert resolver.prefetch(["a.com", "b.com", "a.com", "gmail.com", "x.test"]) == 2
    assert resolver.cached("a.com") is None  # still in flight
    assert resolver.prefetch(["a.com"]) == 0  # already in flight
    assert await resolver.resolve_many(["a.com", "b.com"]) == {
        "a.com": "google",
        "b.com": "mx:host.net",
    }
    assert resolver.cached("a.com") == "google"
    assert sorted(dns.asked) == ["a.com", "b.com"]


async def test_aclose_cancels_lookups_in_flight(clock: FakeClock) -> None:
    dns = Scripted({}, delay=30)
    resolver = ProviderResolver(TABLE, dns, clock=clock, timeout=60)
    resolver.prefetch(["a.com", "b.com"])
    await asyncio.sleep(0)
    await resolver.aclose()
    assert resolver.cached("a.com") is None


async def test_cache_is_bounded_least_recently_used_first(clock: FakeClock) -> None:
    dns = Scripted({f"d{i}.com": mx(f"mx.h{i}.net") for i in range(4)})
    resolver = ProviderResolver(TABLE, dns, clock=clock, max_entries=3)
    for i in range(3):
        await resolver.provider_of(f"d{i}.com")
    assert resolver.cached("d0.com") == "mx:h0.net"  # d0 used: d1 is now the oldest
    await resolver.provider_of("d3.com")
    assert len(resolver) == 3
    assert resolver.cached("d1.com") is None
    assert resolver.cached("d0.com") == "mx:h0.net"
    assert resolver.cached("d2.com") == "mx:h2.net"


async def test_a_new_table_regroups_cached_hosts(clock: FakeClock) -> None:
    dns = Scripted({"acme.com": mx("mx1.mailhost.net")})
    resolver = ProviderResolver(TABLE, dns, clock=clock)
    assert await resolver.provider_of("acme.com") == "mx:mailhost.net"
    resolver.set_providers({**TABLE, "mailhost": Provider(mx=("*.mailhost.net",))})
    assert resolver.cached("acme.com") == "mailhost"
    assert dns.asked == ["acme.com"]


async def test_doctor_resolvers_fit_the_seam() -> None:
    class Doctor:
        async def query(self, name: str, rtype: RType) -> Answer:
            assert rtype == "MX"
            return records("aspmx.l.google.com") if name == "acme.com" else NXDOMAIN

    seam = ResolverMx(Doctor(), ttl=120)
    assert await seam.mx("acme.com") == MxAnswer(Kind.RECORDS, ("aspmx.l.google.com",), 120)
    assert await seam.mx("other.com") == MxAnswer(Kind.NXDOMAIN)
    resolver = ProviderResolver(TABLE, seam)
    assert await resolver.provider_of("acme.com") == "google"
