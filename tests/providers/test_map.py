"""`ProviderMap`: the provider table as pure lookups (no DNS)."""

from __future__ import annotations

import pytest

from relaylane.delivery.providers import DEFAULT, Provider, ProviderMap, ascii_domain

TABLE = {
    "google": Provider(domains=("gmail.com", "googlemail.com"), mx=("*.google.com",)),
    "microsoft": Provider(
        domains=("outlook.com", "hotmail.com"), mx=("*.protection.outlook.com", "*.olc.com")
    ),
    "yahoo": Provider(domains=("yahoo.com",), mx=("*.yahoodns.net",)),
    "buecher": Provider(domains=("bücher.example", "xn--mnchen-3ya.example")),
    "default": Provider(),
}


@pytest.fixture
def table() -> ProviderMap:
    return ProviderMap(TABLE)


def test_listed_domains(table: ProviderMap) -> None:
    assert table.by_domain("gmail.com") == "google"
    assert table.by_domain("GMail.COM.") == "google"
    assert table.by_domain("hotmail.com") == "microsoft"
    assert table.by_domain("mail.gmail.com") is None  # exact domains only
    assert table.by_domain("acme.com") is None


def test_idn_and_punycode_forms(table: ProviderMap) -> None:
    assert table.by_domain("bücher.example") == "buecher"
    assert table.by_domain("XN--BCHER-KVA.example") == "buecher"  # listed in Unicode
    assert table.by_domain("münchen.example") == "buecher"  # listed in punycode
    assert table.by_domain("MÜNCHEN.example") == "buecher"
    assert ascii_domain("Bücher.Example.") == "xn--bcher-kva.example"


def test_mx_globs(table: ProviderMap) -> None:
    assert table.by_mx(["aspmx.l.google.com", "alt1.aspmx.l.google.com"]) == "google"
    assert table.by_mx(["ASPMX.L.GOOGLE.COM."]) == "google"  # case, trailing dot
    assert table.by_mx(["acme-com.mail.protection.outlook.com"]) == "microsoft"
    assert table.by_mx(["google.com"]) is None  # "*." needs a label before
    assert table.by_mx(["mx.acme.com"]) is None
    assert table.by_mx([]) is None


def test_primary_host_decides_then_any_host(table: ProviderMap) -> None:
    # the primary MX is Microsoft's, a backup is Google's: Microsoft
    assert table.by_mx(["x.protection.outlook.com", "aspmx.l.google.com"]) == "microsoft"
    assert table.by_mx(["aspmx.l.google.com", "x.protection.outlook.com"]) == "google"
    # a primary no provider claims (a filtering gateway): the next host that matches
    assert table.by_mx(["mx.gateway.net", "mta5.am0.yahoodns.net"]) == "yahoo"


def test_company_domain_at_google_is_google(table: ProviderMap) -> None:
    assert table.group("acme.com", ["aspmx.l.google.com", "alt1.aspmx.l.google.com"]) == "google"


def test_listed_domain_wins_over_its_mx(table: ProviderMap) -> None:
    assert table.group("gmail.com", ["x.protection.outlook.com"]) == "google"
    assert table.group("gmail.com", None) == "google"


def test_companies_on_one_unlisted_mx_provider_are_grouped(table: ProviderMap) -> None:
    a = table.group("acme.com", ["mx1.mailhost.co.uk", "mx2.mailhost.co.uk"])
    b = table.group("beta.org", ["mx2.mailhost.co.uk"])
    c = table.group("gamma.net", ["mx.other-host.com"])
    assert a == b == "mx:mailhost.co.uk"
    assert c == "mx:other-host.com"
    assert table.provider_for_group(a) == DEFAULT
    assert table.provider_for_group("google") == "google"


def test_nothing_known_is_default(table: ProviderMap) -> None:
    assert table.group("acme.com", None) == DEFAULT
    assert table.group("acme.com", []) == DEFAULT
    assert table.group("acme.com", ["."]) == DEFAULT  # null MX: accepts no mail


def test_default_without_a_default_entry() -> None:
    table = ProviderMap({"google": Provider(mx=("*.google.com",))})
    assert table.group("acme.com", None) == DEFAULT
    assert table.provider_for_group("mx:acme.com") == DEFAULT


def test_table_order_breaks_ties() -> None:
    table = ProviderMap(
        {"first": Provider(mx=("*.shared.net",)), "second": Provider(mx=("mx.shared.net",))}
    )
    assert table.by_mx(["mx.shared.net"]) == "first"
