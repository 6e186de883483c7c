"""SPF parsing and evaluation, pure over dicts of DNS answers (RFC 7208)."""

from __future__ import annotations

import pytest

from relaylane.doctor.dns import NODATA, NXDOMAIN, Answer, Kind, Query, query, records, reverse_name
from relaylane.doctor.spf import check_host, survey
from relaylane.doctor.spf_macro import MacroContext, expand
from relaylane.doctor.spf_parse import parse_spf, spf_records


def txt(name: str, *values: str) -> dict[Query, Answer]:
    return {query(name, "TXT"): records(*values)}


def test_parse_reads_terms_cidrs_and_modifiers() -> None:
    record = parse_spf("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a/24//64 mx:mx.a.test ~all")
    assert not record.errors
    assert [(t.qualifier, t.kind, t.target, t.cidr4, t.cidr6) for t in record.terms] == [
        ("+", "ip4", "192.0.2.0", 24, None),
        ("+", "ip6", "2001:db8::", None, 32),
        ("+", "a", None, 24, 64),
        ("+", "mx", "mx.a.test", None, None),
        ("~", "all", None, None, None),
    ]
    assert parse_spf("v=spf1 include:x.test redirect=y.test").redirect == "y.test"


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("v=spf1 ip4:1.2.3", "not an IP address"),
        ("v=spf1 a/33", "over 32"),
        ("v=spf1 frobnicate", "not an SPF mechanism"),
        ("v=spf1 include:localhost", "not a domain name"),
        ("v=spf1 all:x", "no argument"),
        ("v=spf1 exists:%{q}.x.test", "bad macro"),
        ("v=spf1 redirect=a.test redirect=b.test", "more than once"),
        ("v=spf1 ip4:2001:db8::1", "not IPv4"),
    ],
)
def test_parse_reports_syntax_errors(text: str, error: str) -> None:
    assert any(error in e for e in parse_spf(text).errors)


def test_only_v_spf1_records_count() -> None:
    assert spf_records(["v=spf1 -all", "v=spf10 -all", "V=SPF1", "google-site=x"]) == [
        "v=spf1 -all",
        "V=SPF1",
    ]


def test_macros_expand_for_the_sender() -> None:
    ctx = MacroContext("192.0.2.3", "strong-bad@email.example.com", "mx.example.org")
    assert expand("%{ir}.%{v}._spf.%{d2}", "email.example.com", ctx) == (
        "3.2.0.192.in-addr._spf.example.com"
    )
    assert expand("%{l-}.%{o}", "x.test", ctx) == "strong.bad.email.example.com"
    assert expand("%{lr-}", "x.test", ctx) == "bad.strong"
    v6 = MacroContext("2001:db8::cb01", "a@b.test", "h.test")
    assert expand("%{i}", "b.test", v6).startswith("2.0.0.1.0.d.b.8.")


def test_check_host_ip_cidr_a_mx_include_redirect() -> None:
    answers = {
        **txt("a.test", "v=spf1 ip4:192.0.2.0/28 a:web.a.test/30 mx include:b.test -all"),
        query("web.a.test", "A"): records("198.51.100.1"),
        query("a.test", "MX"): records("mx.a.test"),
        query("mx.a.test", "A"): records("203.0.113.7"),
        **txt("b.test", "v=spf1 redirect=c.test"),
        **txt("c.test", "v=spf1 ip6:2001:db8::/32 ~all"),
    }
    assert check_host("192.0.2.15", "a.test", answers).result == "pass"
    assert check_host("198.51.100.3", "a.test", answers).result == "pass"
    assert check_host("203.0.113.7", "a.test", answers).result == "pass"
    assert check_host("2001:db8::1", "a.test", answers).result == "pass"
    outcome = check_host("192.0.2.99", "a.test", answers)
    assert (outcome.result, outcome.reason, outcome.missing) == ("fail", "a.test: -all", set())


def test_check_host_names_what_it_misses() -> None:
    answers = txt("a.test", "v=spf1 include:b.test a -all")
    outcome = check_host("192.0.2.1", "a.test", answers)
    assert outcome.missing == {("b.test", "TXT"), ("a.test", "A")}


def test_check_host_exists_with_macros_and_ptr() -> None:
    answers = {
        **txt("a.test", "v=spf1 exists:%{i}._spf.a.test ptr:good.test -all"),
        query("192.0.2.1._spf.a.test", "A"): records("127.0.0.2"),
        query("192.0.2.2._spf.a.test", "A"): NXDOMAIN,
        query(reverse_name("192.0.2.2"), "PTR"): records("mail.good.test"),
        query("mail.good.test", "A"): records("192.0.2.2"),
    }
    assert check_host("192.0.2.1", "a.test", answers).result == "pass"
    assert check_host("192.0.2.2", "a.test", answers).result == "pass"


@pytest.mark.parametrize(
    ("answers", "result"),
    [
        (txt("a.test", "v=spf1 -all", "v=spf1 +all"), "permerror"),
        (txt("a.test", "hello"), "none"),
        ({query("a.test", "TXT"): NXDOMAIN}, "none"),
        ({query("a.test", "TXT"): Answer(Kind.ERROR, error="timeout")}, "temperror"),
        (
            {**txt("a.test", "v=spf1 include:gone.test -all"), query("gone.test", "TXT"): NODATA},
            "permerror",
        ),
        (txt("a.test", "v=spf1 ip4:192.0.2.1 ?all"), "neutral"),
        (txt("a.test", "v=spf1 ip4:10.0.0.1"), "neutral"),
    ],
)
def test_check_host_results(answers: dict[Query, Answer], result: str) -> None:
    assert check_host("192.0.2.77", "a.test", answers).result == result


def test_check_host_stops_after_ten_lookups_and_two_voids() -> None:
    chain = {**txt("a.test", "v=spf1 include:c1.a.test -all")}
    for i in range(1, 12):
        chain |= txt(f"c{i}.a.test", f"v=spf1 include:c{i + 1}.a.test -all")
    assert check_host("192.0.2.1", "a.test", chain).result == "permerror"
    voids = {
        **txt("a.test", "v=spf1 a:x.a.test a:y.a.test a:z.a.test -all"),
        query("x.a.test", "A"): NXDOMAIN,
        query("y.a.test", "A"): NODATA,
        query("z.a.test", "A"): NXDOMAIN,
    }
    outcome = check_host("192.0.2.1", "a.test", voids)
    assert outcome.result == "permerror" and "void" in outcome.reason


def test_survey_counts_the_whole_tree() -> None:
    answers = {
        **txt("a.test", "v=spf1 include:b.test mx a:gone.a.test ptr ~all"),
        **txt("b.test", "v=spf1 ip4:192.0.2.0/24 include:c.test -all"),
        **txt("c.test", "v=spf1 exists:%{i}.c.test -all"),
        query("a.test", "MX"): records("mx.a.test"),
        query("gone.a.test", "A"): NXDOMAIN,
    }
    found = survey("a.test", answers)
    assert not found.missing and not found.errors
    assert found.lookups == 6  # include b, mx, a, ptr, include c, exists
    assert found.voids == ["a.test: a:gone.a.test (NXDOMAIN)"]
    assert found.includes == {"b.test", "c.test"}
    assert found.all_qualifier == "~"
    assert any("ptr" in n for n in found.notes) and any("macros" in n for n in found.notes)


def test_survey_reports_loops_and_includes_without_spf() -> None:
    answers = {
        **txt("a.test", "v=spf1 include:b.test include:none.test -all"),
        **txt("b.test", "v=spf1 include:a.test -all"),
        query("none.test", "TXT"): NXDOMAIN,
    }
    found = survey("a.test", answers)
    assert any("loops back to a.test" in e for e in found.errors)
    assert any("none.test has no SPF record" in e for e in found.errors)
    assert found.voids == ["a.test: include:none.test (NXDOMAIN)"]


def test_survey_follows_redirect_for_the_final_all() -> None:
    answers = {**txt("a.test", "v=spf1 redirect=b.test"), **txt("b.test", "v=spf1 ?all")}
    found = survey("a.test", answers)
    assert (found.lookups, found.all_qualifier) == (1, "?")
