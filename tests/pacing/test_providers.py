"""Which provider a domain belongs to, and which rules apply to it."""

from __future__ import annotations

from relaylane.config.pacing import shipped_providers
from relaylane.policy.pacing.aimd import PathRate, on_reply
from relaylane.policy.pacing.providers import DEFAULT_PROVIDER, mx_matches, provider_for, rules_for


def test_domains_then_mx_then_default() -> None:
    table = shipped_providers()
    assert provider_for("Gmail.com.", table) == "google"
    assert provider_for("aol.com", table) == "yahoo"
    assert provider_for("acme-corp.test", table, ["aspmx.l.google.com."]) == "google"
    assert (
        provider_for("contoso.test", table, ["contoso-test.mail.protection.outlook.com"])
        == "microsoft"
    )
    assert provider_for("hotmail.co.uk", table, ["eur.olc.protection.outlook.com"]) == "microsoft"
    assert provider_for("verizon.net", table, ["mx-aol.mail.gm0.yahoodns.net"]) == "yahoo"
    assert provider_for("icloud.com", table) == "apple"
    assert provider_for("example.org", table, ["mx.example.org"]) == DEFAULT_PROVIDER
    assert provider_for("", table) == DEFAULT_PROVIDER
    assert provider_for("example.org", {}, ["x"], default="other") == "other"


def test_mx_globs() -> None:
    assert mx_matches("*.google.com", "ALT1.ASPMX.L.GOOGLE.COM.")
    assert not mx_matches("*.google.com", "google.com.evil.test")
    assert not mx_matches("*.google.com", "notgoogle.com")


def test_default_rules_follow_each_providers_own() -> None:
    table = shipped_providers()
    rules = {name: cfg.rules() for name, cfg in table.items()}
    google = rules_for("google", rules)
    assert google[: len(rules["google"])] == rules["google"]
    assert google[len(rules["google"]) :] == rules[DEFAULT_PROVIDER]
    assert rules_for(DEFAULT_PROVIDER, rules) == rules[DEFAULT_PROVIDER]
    assert rules_for("unknown", rules) == rules[DEFAULT_PROVIDER]
    # Yahoo's own [TSS04] rule wins over the catch-all that also matches its text
    text = "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to user complaints"
    yahoo = table["yahoo"]
    assert yahoo.rate is not None
    _, change = on_reply(
        PathRate(yahoo.rate, yahoo.backoff()), text, rules_for("yahoo", rules), 0.0
    )
    assert change is not None and change.action == "suspend" and change.until == 7200.0
    # an IP-reputation deferral from an unlisted provider drops to the floor for 90 minutes
    other = table[DEFAULT_PROVIDER]
    assert other.rate is not None
    text = "451 Messages from 192.0.2.1 temporarily deferred"
    _, change = on_reply(PathRate(other.rate, other.backoff()), text, rules_for("x", rules), 0.0)
    assert change is not None and change.rate == other.floor and change.until == 5400.0
