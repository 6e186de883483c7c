"""`DnsResolver` against the test DNS server: records, NXDOMAIN, no data, errors."""

from __future__ import annotations

from collections.abc import Iterator

import dns.message
import dns.query
import pytest

from relaylane.doctor.dns import (
    NODATA,
    NXDOMAIN,
    DnsResolver,
    Kind,
    parse_nameserver,
    records,
    reverse_name,
)
from tests.dnsserver import HOST, DnsServer, refused_port

ZONE_TEXT = """
$ORIGIN acme.test.
$TTL 300
@            IN TXT  "v=spf1 " "ip4:192.0.2.1 -all"
@            IN TXT  "other"
@            IN MX   20 mx2.acme.test.
@            IN MX   10 mx1.acme.test.
mx1          IN A    192.0.2.1
mx1          IN AAAA 2001:db8::1
a.b.deep     IN A    192.0.2.2
alias        IN CNAME mx1.acme.test.
10.2.0.192.in-addr.arpa. IN PTR mx1.acme.test.
"""


@pytest.fixture(scope="module")
def server() -> Iterator[DnsServer]:
    with DnsServer(ZONE_TEXT) as running:
        yield running


@pytest.fixture
def resolver(server: DnsServer) -> DnsResolver:
    return DnsResolver.from_spec(server.spec, timeout=2)


async def test_records_by_type(resolver: DnsResolver) -> None:
    txt = await resolver.query("acme.test", "TXT")
    assert sorted(txt.records) == ["other", "v=spf1 ip4:192.0.2.1 -all"]  # strings joined
    assert await resolver.query("ACME.test.", "MX") == records("mx1.acme.test", "mx2.acme.test")
    assert await resolver.query("mx1.acme.test", "AAAA") == records("2001:db8::1")
    assert await resolver.query(reverse_name("192.0.2.10"), "PTR") == records("mx1.acme.test")
    assert await resolver.query("alias.acme.test", "A") == records("192.0.2.1")


async def test_nxdomain_and_no_data_differ(resolver: DnsResolver) -> None:
    assert await resolver.query("nothing.acme.test", "TXT") == NXDOMAIN
    assert await resolver.query("mx1.acme.test", "TXT") == NODATA
    assert await resolver.query("b.deep.acme.test", "A") == NODATA  # empty non-terminal
    assert NXDOMAIN.void and NODATA.void and not records("x").void


async def test_names_outside_the_zone_are_refused(resolver: DnsResolver) -> None:
    answer = await resolver.query("example.com", "A")
    assert answer.kind is Kind.ERROR and "refused" in answer.error


async def test_a_silent_server_times_out() -> None:
    resolver = DnsResolver([HOST], refused_port(), timeout=0.3)
    answer = await resolver.query("acme.test", "TXT")
    assert (answer.kind, answer.error) == (Kind.ERROR, "timeout")


def test_tcp_is_served_too(server: DnsServer) -> None:
    reply = dns.query.tcp(dns.message.make_query("mx1.acme.test", "A"), HOST, 2, server.port)
    assert [r.address for r in reply.answer[0]] == ["192.0.2.1"]
    assert ("mx1.acme.test", "A") in server.queries


def test_only_test_names_are_served() -> None:
    with pytest.raises(ValueError, match=r"must be under \.test"):
        DnsServer({"example.com": [("A", "192.0.2.1")]})


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("[::1]:5300", ("::1", 5300)),
        ("::1", ("::1", 53)),
    ],
)
def test_parse_nameserver(spec: str, expected: tuple[str, int]) -> None:
    assert parse_nameserver(spec) == expected


@pytest.mark.parametrize(
    "spec", ["127.0.0.1:x", ":53", "127.0.0.1:0", "[::1]:99999", "ns.acme.test:53"]
)
def test_parse_nameserver_refuses(spec: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_nameserver(spec)
