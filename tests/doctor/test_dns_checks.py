"""The DNS checks of `run_doctor` against a real DNS server on loopback, zone by zone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from relaylane.doctor.dmarc import find_dmarc, parse_dmarc
from relaylane.doctor.dns import DnsResolver, records
from relaylane.doctor.gather import lookup_dmarc
from relaylane.doctor.report import exit_code
from tests.dnsserver import HOST, DnsServer
from tests.doctor.helpers import (
    MKT_IP,
    RP,
    config_data,
    doctor,
    good_zone,
    make_config,
    pick,
    txt_for,
)

Zone = dict[str, list[tuple[str, Any]]]


@pytest.fixture
def zone(tmp_path: Path) -> Zone:
    return good_zone(tmp_path)


@pytest.fixture
def data(tmp_path: Path) -> dict[str, Any]:
    return config_data(tmp_path)


async def run(zone: Zone, data: dict[str, Any], tmp_path: Path) -> list[Any]:
    return await doctor(zone, make_config(data, tmp_path))


def set_spf(zone: Zone, name: str, *values: str) -> None:
    zone[name] = [e for e in zone.get(name, []) if e[0] != "TXT"]
    zone[name] += [("TXT", v) for v in values]


async def test_a_good_setup_passes(zone: Zone, data: dict[str, Any], tmp_path: Path) -> None:
    checks = await run(zone, data, tmp_path)
    assert exit_code(checks) == 0
    assert {c.name for c in checks if c.status != "pass"} == {
        "bulk: one-click unsubscribe",
        "complaint rate",  # no store given
    }
    assert "RFC 8058" in pick(checks, "lane news", "bulk: one-click unsubscribe").reason


async def test_one_click_passes_with_an_https_public_url(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    data["http"] = {"public_url": "https://mail.acme.example"}
    checks = await run(zone, data, tmp_path)
    check = pick(checks, "lane news", "bulk: one-click unsubscribe")
    assert check.status == "pass" and "https://mail.acme.example/u/" in check.reason


# -- SPF ----------------------------------------------------------------------------


async def test_missing_spf_fails_with_the_record_to_publish(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    set_spf(zone, RP)
    checks = await run(zone, data, tmp_path)
    check = pick(checks, RP, "SPF record")
    assert check.status == "fail" and "no SPF record" in check.reason
    assert check.fix == (f'publish {RP} TXT "v=spf1 ip4:{MKT_IP} include:_spf.relay.example -all"')
    assert pick(checks, "lane news", "bulk: SPF").status == "fail"
    assert exit_code(checks) == 1


async def test_two_spf_records_fail(zone: Zone, data: dict[str, Any], tmp_path: Path) -> None:
    set_spf(zone, RP, f"v=spf1 ip4:{MKT_IP} -all", "v=spf1 include:_spf.relay.example -all")
    check = pick(await run(zone, data, tmp_path), RP, "SPF record")
    assert (
        check.status == "fail" and "2 SPF records" in check.reason and "permerror" in check.reason
    )
    assert check.fix == "merge them into one v=spf1 record"


@pytest.mark.parametrize(("depth", "status"), [(9, "pass"), (10, "fail")])
async def test_more_than_ten_lookups_through_chained_includes_fail(
    zone: Zone, data: dict[str, Any], tmp_path: Path, depth: int, status: str
) -> None:
    set_spf(zone, RP, f"v=spf1 ip4:{MKT_IP} include:_spf.relay.example include:c1.acme.test -all")
    for i in range(1, depth):
        set_spf(zone, f"c{i}.acme.test", f"v=spf1 include:c{i + 1}.acme.test -all")
    set_spf(zone, f"c{depth}.acme.test", "v=spf1 ip4:203.0.113.1 -all")
    checks = await run(zone, data, tmp_path)
    check = pick(checks, RP, "SPF lookups")
    assert check.status == status
    assert check.reason.startswith(f"{depth + 1} DNS lookups")
    assert pick(checks, RP, "SPF authorizes relay mkt-a").status == "pass"


async def test_three_void_lookups_fail(zone: Zone, data: dict[str, Any], tmp_path: Path) -> None:
    set_spf(
        zone,
        RP,
        f"v=spf1 ip4:{MKT_IP} a:gone1.acme.test mx:gone2.acme.test "
        "include:_spf.relay.example a:mx.acme.test/24 exists:gone3.acme.test -all",
    )
    check = pick(await run(zone, data, tmp_path), RP, "SPF void lookups")
    assert check.status == "fail"
    assert check.reason.startswith("3 lookups find nothing")
    assert "a:gone1.acme.test (NXDOMAIN)" in check.reason


async def test_two_void_lookups_pass(zone: Zone, data: dict[str, Any], tmp_path: Path) -> None:
    set_spf(zone, RP, f"v=spf1 ip4:{MKT_IP} a:gone1.acme.test mx:gone2.acme.test -all")
    checks = await run(zone, data, tmp_path)
    assert pick(checks, RP, "SPF void lookups").reason.startswith("2 of 2")


async def test_relay_spf_include_must_appear(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    set_spf(zone, RP, f"v=spf1 ip4:{MKT_IP} -all")
    check = pick(await run(zone, data, tmp_path), RP, "SPF authorizes relay mkt-a")
    assert check.status == "fail"
    assert "include:_spf.relay.example is not in the record tree" in check.reason
    assert check.fix == f"add include:_spf.relay.example to the SPF record at {RP}"


async def test_relay_spf_include_counts_transitively(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    set_spf(zone, RP, f"v=spf1 ip4:{MKT_IP} include:_spf.acme.test -all")
    set_spf(zone, "_spf.acme.test", "v=spf1 include:_spf.relay.example -all")
    check = pick(await run(zone, data, tmp_path), RP, "SPF authorizes relay mkt-a")
    assert check.status == "pass"


async def test_outbound_ip_not_authorized_fails_with_the_mechanism_to_add(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    set_spf(zone, RP, "v=spf1 ip4:192.0.2.99 include:_spf.relay.example ~all")
    check = pick(await run(zone, data, tmp_path), RP, "SPF authorizes relay mkt-a")
    assert check.status == "fail"
    assert f"{MKT_IP} gets softfail ({RP}: ~all)" in check.reason
    assert check.fix == f"add ip4:{MKT_IP} to the SPF record at {RP}"


async def test_outbound_ip_authorized_via_a_and_via_a_cidr(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    set_spf(zone, RP, "v=spf1 a:mta1.acme.test include:_spf.relay.example -all")
    checks = await run(zone, data, tmp_path)
    assert "passes (bounces.news.acme.test: a:mta1.acme.test)" in (
        pick(checks, RP, "SPF authorizes relay mkt-a").reason
    )
    assert pick(checks, "tx.acme.test", "SPF authorizes relay tx-a").status == "pass"


@pytest.mark.parametrize(("qualifier", "status"), [("+", "warn"), ("?", "warn"), ("~", "pass")])
async def test_all_qualifier(
    zone: Zone, data: dict[str, Any], tmp_path: Path, qualifier: str, status: str
) -> None:
    set_spf(zone, RP, f"v=spf1 ip4:{MKT_IP} include:_spf.relay.example {qualifier}all")
    assert pick(await run(zone, data, tmp_path), RP, "SPF all").status == status


async def test_syntax_errors_fail(zone: Zone, data: dict[str, Any], tmp_path: Path) -> None:
    set_spf(zone, RP, f"v=spf1 ip4:{MKT_IP} include:_spf.relay.example ip4:300.1.1.1 -all")
    check = pick(await run(zone, data, tmp_path), RP, "SPF record")
    assert check.status == "fail" and "'300.1.1.1' is not an IP address" in check.reason


async def test_relay_without_outbound_ips_or_include_warns(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    data["relay"][0].pop("outbound_ips")
    data["relay"][0].pop("spf_include")
    check = pick(await run(zone, data, tmp_path), RP, "SPF authorizes relay mkt-a")
    assert check.status == "warn" and "neither outbound_ips nor spf_include" in check.reason


# -- DKIM ---------------------------------------------------------------------------


async def test_wrong_dkim_key_fails(zone: Zone, data: dict[str, Any], tmp_path: Path) -> None:
    zone["rl1._domainkey.news.acme.test"] = [("TXT", txt_for("other", tmp_path))]
    checks = await run(zone, data, tmp_path)
    check = pick(checks, "news.acme.test", "DKIM rl1")
    assert check.status == "fail" and "publishes a different key" in check.reason
    assert check.fix is not None and txt_for("good", tmp_path) in check.fix
    assert pick(checks, "lane news", "bulk: DKIM").status == "fail"


async def test_missing_dkim_record_shows_the_txt_to_publish(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    del zone["rl1._domainkey.news.acme.test"]
    check = pick(await run(zone, data, tmp_path), "news.acme.test", "DKIM rl1")
    assert check.status == "fail"
    assert check.reason == "no DKIM key published at rl1._domainkey.news.acme.test"
    good = txt_for("good", tmp_path)
    assert check.fix is not None
    assert check.fix.startswith(f'publish rl1._domainkey.news.acme.test TXT "{good}"')


async def test_relay_selectors_must_be_published(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    data["domain"]["news.acme.test"] = {
        "return_path": RP,
        "dkim_signed_by_relay": True,
        "relay_selectors": ["esp1", "esp2"],
    }
    zone["esp1._domainkey.news.acme.test"] = [("CNAME", "esp1.dkim.relay.example")]
    zone["esp1.dkim.relay.example"] = [("TXT", "v=DKIM1; k=rsa; p=MIIBIjANBgkq")]
    zone["esp2._domainkey.news.acme.test"] = [("TXT", "v=DKIM1; k=rsa; p=")]  # revoked
    checks = await run(zone, data, tmp_path)
    assert pick(checks, "news.acme.test", "DKIM esp1 (relay)").status == "pass"
    missing = pick(checks, "news.acme.test", "DKIM esp2 (relay)")
    assert missing.status == "fail" and "esp2._domainkey.news.acme.test" in missing.reason
    assert pick(checks, "lane news", "bulk: alignment").status == "pass"


async def test_unsigned_bulk_domain_fails_alignment(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    data["domain"]["news.acme.test"] = {"return_path": RP}
    data["domain"]["tx.acme.test"] = {}  # no sibling signs either
    checks = await run(zone, data, tmp_path)
    assert pick(checks, "news.acme.test", "DKIM").status == "warn"
    alignment = pick(checks, "lane news", "bulk: alignment")
    assert alignment.status == "fail" and "no aligned DKIM" in alignment.reason


async def test_relaxed_signature_fails_strict_dmarc(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    data["domain"]["news.acme.test"] = {"return_path": RP}  # tx.acme.test signs for it
    checks = await run(zone, data, tmp_path)
    assert pick(checks, "news.acme.test", "DKIM").reason == (
        "signed as d=tx.acme.test, aligned (relaxed) with news.acme.test"
    )
    assert pick(checks, "lane news", "bulk: alignment").status == "pass"
    zone["_dmarc.news.acme.test"] = [("TXT", "v=DMARC1; p=reject; adkim=s")]
    alignment = pick(await run(zone, data, tmp_path), "lane news", "bulk: alignment")
    assert alignment.status == "fail"
    assert "signed as d=tx.acme.test, but its DMARC asks for strict alignment" in (alignment.reason)


# -- DMARC --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("record", "why"),
    [
        ("v=DMARC1; p=maybe", "p=maybe is not none, quarantine or reject"),
        ("p=reject; v=DMARC1", "does not start with v=DMARC1"),
        ("v=DMARC1; rua=mailto:x@acme.test", "has no p= tag"),
        ("v=DMARC1; p=reject; pct=150", "pct=150"),
    ],
)
async def test_malformed_dmarc_fails(
    zone: Zone, data: dict[str, Any], tmp_path: Path, record: str, why: str
) -> None:
    zone["_dmarc.news.acme.test"] = [("TXT", record)]
    check = pick(await run(zone, data, tmp_path), "news.acme.test", "DMARC")
    assert check.status == "fail" and why in check.reason


async def test_dmarc_at_the_organizational_domain_applies_sp(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    check = pick(await run(zone, data, tmp_path), "tx.acme.test", "DMARC")
    assert check.status == "pass"
    assert "found at _dmarc.acme.test (organizational domain; sp=quarantine applies)" in (
        check.reason
    )


def test_dmarc_policy_and_adkim_are_exposed() -> None:
    answers = {
        ("_dmarc.news.acme.test", "TXT"): records("v=DMARC1; p=reject; adkim=s"),
        ("_dmarc.tx.acme.test", "TXT"): records(),
        ("_dmarc.acme.test", "TXT"): records("v=DMARC1; p=reject; sp=none; adkim=s"),
    }
    news = find_dmarc("news.acme.test", answers)  # type: ignore[arg-type]
    assert (news.policy, news.adkim, news.found_at) == ("reject", "s", "_dmarc.news.acme.test")
    tx = find_dmarc("tx.acme.test", answers)  # type: ignore[arg-type]
    assert (tx.policy, tx.adkim, tx.found_at) == ("none", "s", "_dmarc.acme.test")
    record, error = parse_dmarc("v=DMARC1; p=quarantine")
    assert error is None and record is not None and (record.adkim, record.pct) == ("r", 100)


async def test_p_none_warns_on_a_marketing_lane(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    zone["_dmarc.news.acme.test"] = [("TXT", "v=DMARC1; p=none; rua=mailto:d@acme.test")]
    zone["_dmarc.acme.test"] = [("TXT", "v=DMARC1; p=none")]
    checks = await run(zone, data, tmp_path)
    check = pick(checks, "news.acme.test", "DMARC")
    assert check.status == "warn" and "p=none" in check.reason
    assert pick(checks, "tx.acme.test", "DMARC").status == "pass"  # transactional: fine


async def test_adkim_s_is_reported_and_needs_strict_alignment(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    zone["_dmarc.news.acme.test"] = [("TXT", "v=DMARC1; p=reject; adkim=s")]
    checks = await run(zone, data, tmp_path)
    assert "adkim=s" in pick(checks, "news.acme.test", "DMARC").reason
    alignment = pick(checks, "lane news", "bulk: alignment")
    assert alignment.status == "warn" and "adkim=s" in alignment.reason
    assert alignment.fix == 'set [domain."news.acme.test"] alignment = "strict"'
    data["domain"]["news.acme.test"]["alignment"] = "strict"
    checks = await run(zone, data, tmp_path)
    assert pick(checks, "lane news", "bulk: alignment").status == "pass"


async def test_missing_dmarc_fails_for_bulk_and_warns_otherwise(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    del zone["_dmarc.news.acme.test"]
    del zone["_dmarc.acme.test"]
    checks = await run(zone, data, tmp_path)
    bulk = pick(checks, "news.acme.test", "DMARC")
    assert bulk.status == "fail" and "bulk senders must publish one" in bulk.reason
    assert bulk.fix is not None and bulk.fix.startswith('_dmarc.acme.test TXT "v=DMARC1; p=none')
    assert pick(checks, "tx.acme.test", "DMARC").status == "warn"


# -- return path, FCrDNS, lanes -----------------------------------------------------


async def test_return_path_without_mx_or_a_fails(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    zone[RP] = [e for e in zone[RP] if e[0] != "MX"]
    check = pick(await run(zone, data, tmp_path), RP, "return path receives bounces")
    assert check.status == "fail" and "bounces cannot come back" in check.reason


async def test_return_path_with_a_only_passes(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    zone[RP] = [e for e in zone[RP] if e[0] != "MX"] + [("A", "192.0.2.30")]
    check = pick(await run(zone, data, tmp_path), RP, "return path receives bounces")
    assert check.status == "pass" and "192.0.2.30 (fallback)" in check.reason


async def test_null_mx_fails(zone: Zone, data: dict[str, Any], tmp_path: Path) -> None:
    zone[RP] = [e for e in zone[RP] if e[0] != "MX"] + [("MX", "0 .")]
    check = pick(await run(zone, data, tmp_path), RP, "return path receives bounces")
    assert check.status == "fail" and "null MX" in check.reason


async def test_fcrdns_mismatched_helo_warns(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    data["relay"][0]["helo"] = "mta9.acme.test"
    check = pick(await run(zone, data, tmp_path), "relay mkt-a", f"FCrDNS {MKT_IP}")
    assert check.status == "warn"
    assert "192.0.2.10 <-> mta1.acme.test, but the relay's helo is mta9.acme.test" in check.reason


async def test_fcrdns_not_confirmed_fails(zone: Zone, data: dict[str, Any], tmp_path: Path) -> None:
    zone["mta1.acme.test"] = [("A", "192.0.2.11")]
    check = pick(await run(zone, data, tmp_path), "relay mkt-a", f"FCrDNS {MKT_IP}")
    assert check.status == "fail" and "does not resolve back" in check.reason
    assert check.fix == f"add an A/AAAA record mta1.acme.test -> {MKT_IP}"


async def test_no_ptr_fails(zone: Zone, data: dict[str, Any], tmp_path: Path) -> None:
    del zone["10.2.0.192.in-addr.arpa"]
    check = pick(await run(zone, data, tmp_path), "relay mkt-a", f"FCrDNS {MKT_IP}")
    assert check.status == "fail" and "has no PTR record" in check.reason


async def test_lane_without_from_domains_fails(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    data["lane"][1]["from_domains"] = []
    checks = await run(zone, data, tmp_path)
    check = pick(checks, "lane tx", "from_domains")
    assert check.status == "fail"
    assert check.reason == "lane tx has no from_domains: nothing is gated"
    assert check.fix == 'add from_domains = ["..."] to the lane'
    assert exit_code(checks) == 1


async def test_bulk_lane_without_from_domains_skips_the_domain_lines(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    data["lane"][0]["from_domains"] = []
    checks = await run(zone, data, tmp_path)
    assert pick(checks, "lane news", "from_domains").status == "fail"
    names = {c.name for c in checks if c.subject == "lane news"}
    assert "bulk: SPF" not in names and "bulk: TLS to relays" in names


async def test_esp_relay_leaves_spf_to_the_provider(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    data["relay"][0]["kind"] = "esp"
    checks = await run(zone, data, tmp_path)
    assert not [c for c in checks if c.subject == RP]
    spf = pick(checks, "lane news", "bulk: SPF")
    assert (spf.status, spf.reason) == (
        "pass",
        "the lane's relays send with their provider's return path",
    )


async def test_lookup_dmarc_for_the_alignment_gate(zone: Zone) -> None:
    zone["_dmarc.acme.test"] = [("TXT", "v=DMARC1; p=reject; adkim=s")]
    with DnsServer(zone, origins=["acme.test"]) as server:
        found = await lookup_dmarc("tx.acme.test", DnsResolver([HOST], server.port, timeout=2))
    assert (found.adkim, found.policy, found.found_at) == ("s", "reject", "_dmarc.acme.test")


async def test_an_unaligned_return_path_is_warned_about_not_required(
    zone: Zone, data: dict[str, Any], tmp_path: Path
) -> None:
    data["domain"]["news.acme.test"]["return_path"] = "bounces.mailer.example"
    for relay in data["relay"]:
        relay.pop("return_path", None)
    alignment = pick(await run(zone, data, tmp_path), "lane news", "bulk: alignment")
    assert alignment.status == "warn"
    assert "DMARC rests on DKIM alone" in alignment.reason
    assert alignment.fix is not None and 'return_path = "bounces.news.acme.test"' in alignment.fix
