"""Pacing configuration: rates, relays, [warmup.X], [provider.X], [pacing], windows."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from relaylane.config.pacing import (
    DEFAULT_FLOOR,
    AdvanceWhen,
    Instant,
    PacingConfig,
    ProviderConfig,
    ProviderRule,
    Rate,
    RateError,
    RelayPacing,
    SendWindowText,
    WarmupConfig,
    format_rate,
    load_providers,
    parse_rate,
    provider_problems,
    shipped_providers,
    unknown_warmups,
    window_of,
)
from relaylane.policy.pacing.aimd import RuleAction
from relaylane.policy.pacing.warmup import Spill, WarmupScope


def errors(model: type[BaseModel], data: Any) -> list[tuple[tuple[Any, ...], str, str]]:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(data)
    return [(tuple(e["loc"]), e["type"], str(e["msg"])) for e in caught.value.errors()]


# --- rates -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "per_second"),
    [
        ("20/s", 20.0),
        ("1200/min", 20.0),
        ("50000/h", 50000 / 3600),
        ("30/m", 0.5),
        ("7200/hour", 2.0),
        ("3/second", 3.0),
        ("2.5/s", 2.5),
        (" 1 / min ", 1 / 60),
        ("10/SEC", 10.0),
        ("90/hours", 0.025),
    ],
)
def test_rates_parse_to_messages_per_second(text: str, per_second: float) -> None:
    assert parse_rate(text) == pytest.approx(per_second, rel=1e-15)


@pytest.mark.parametrize("bad", ["20", "20/d", "0/s", "/s", "ten/s", "1e3/s", "-1/s", "", 20, None])
def test_rates_refuse_other_forms_with_the_accepted_ones(bad: object) -> None:
    with pytest.raises(RateError) as caught:
        parse_rate(bad)
    assert '"20/s", "1200/min" or "50000/h"' in caught.value.reason


@given(st.floats(min_value=1e-6, max_value=1e6))
def test_format_rate_reads_back_exactly(per_second: float) -> None:
    assert parse_rate(format_rate(per_second)) == per_second


def test_format_rate_is_short() -> None:
    assert [format_rate(r) for r in (20.0, 1 / 60, 50000 / 3600, 0.25)] == [
        "20/s",
        "1/min",
        "50000/h",
        "15/min",
    ]
    with pytest.raises(RateError):
        format_rate(math.inf)


class _Holder(BaseModel):
    rate: Rate


def test_rate_type_reports_its_key_and_serialises_back() -> None:
    [(loc, kind, msg)] = errors(_Holder, {"rate": "fast"})
    assert loc == ("rate",)
    assert kind == "relaylane_value"
    assert msg.startswith("is not a rate; write e.g.")
    assert _Holder(rate="1200/min").model_dump(mode="json") == {"rate": "20/s"}  # type: ignore[arg-type]


# --- relays ------------------------------------------------------------------------------


def test_relay_pacing_keys() -> None:
    relay = RelayPacing.model_validate(
        {"rate": "20/s", "hourly_cap": 40000, "daily_cap": 250000, "warmup": "standard"}
    )
    assert (relay.rate, relay.hourly_cap, relay.daily_cap, relay.warmup) == (
        20.0,
        40000,
        250000,
        "standard",
    )
    assert RelayPacing().rate is None


def test_relay_pacing_errors() -> None:
    assert errors(RelayPacing, {"hourly_cap": 0})[0][:2] == (("hourly_cap",), "greater_than_equal")
    assert errors(RelayPacing, {"daily_cap": "lots"})[0][0] == ("daily_cap",)
    assert errors(RelayPacing, {"rates": "20/s"})[0][:2] == (("rates",), "extra_forbidden")
    [(_, kind, msg)] = errors(RelayPacing, {"hourly_cap": 500, "daily_cap": 100})
    assert kind == "relaylane"
    assert "hourly_cap (500) is larger than daily_cap (100)" in msg


def test_unknown_warmups_names_the_relay_and_suggests() -> None:
    class Relay:
        def __init__(self, name: str, warmup: str | None) -> None:
            self.name, self.warmup = name, warmup

    warmups = {"standard": WarmupConfig(schedule=(1, 2))}
    relays = [Relay("a", "standard"), Relay("b", "standrd"), Relay("c", None), Relay("d", "x")]
    problems = unknown_warmups(relays, warmups)
    assert problems == [
        'relay "b": warmup names unknown warm-up "standrd"; known warm-ups: standard; '
        'did you mean "standard"?',
        'relay "d": warmup names unknown warm-up "x"; known warm-ups: standard; define [warmup.x]',
    ]
    assert unknown_warmups([Relay("a", "x")], {})[0].endswith(
        "known warm-ups: (none); define [warmup.x]"
    )


# --- warm-up -----------------------------------------------------------------------------

ISSUE_WARMUP = {
    "schedule": [200, 500, 1000, 2500, 5000, 10000, 20000, 40000, 80000],
    "scope": "relay_and_domain",
    "advance_when": {"min_sent_ratio": 0.8, "max_deferral_rate": 0.05, "max_block_rate": 0.01},
    "step_back_after_idle": "3d",
    "spill": "lane",
}


def test_warmup_from_the_issue() -> None:
    warmup = WarmupConfig.model_validate(ISSUE_WARMUP)
    assert warmup.schedule[0] == 200 and warmup.schedule[-1] == 80000
    assert warmup.scope is WarmupScope.RELAY_AND_DOMAIN
    assert warmup.spill is Spill.LANE
    assert warmup.step_back_after_idle == 3 * 86400
    policy = warmup.policy("Europe/Berlin")
    assert policy.schedule == warmup.schedule and policy.timezone == "Europe/Berlin"
    assert policy.max_block_rate == 0.01


def test_warmup_defaults() -> None:
    warmup = WarmupConfig.model_validate({"schedule": [100]})
    assert warmup.scope is WarmupScope.RELAY_AND_DOMAIN
    assert warmup.advance_when == AdvanceWhen()
    assert (warmup.step_back_after_idle, warmup.spill) == (3 * 86400, Spill.LANE)


@pytest.mark.parametrize(
    ("data", "loc", "needle"),
    [
        ({"schedule": [200, 100]}, ("schedule",), "decreases at step 2 (100 after 200)"),
        ({"schedule": [0, 100]}, ("schedule",), "has 0 at step 1"),
        ({"schedule": []}, ("schedule",), ""),
        ({}, ("schedule",), ""),
        ({"schedule": [1], "scope": "domain"}, ("scope",), ""),
        ({"schedule": [1], "spill": "drop"}, ("spill",), ""),
        (
            {"schedule": [1], "advance_when": {"min_sent_ratio": 1.5}},
            ("advance_when", "min_sent_ratio"),
            "",
        ),
        (
            {"schedule": [1], "advance_when": {"max_block_rate": True}},
            ("advance_when", "max_block_rate"),
            "not a number",
        ),
        (
            {"schedule": [1], "advance_when": {"max_bounce_rate": 0.1}},
            ("advance_when", "max_bounce_rate"),
            "",
        ),
        (
            {"schedule": [1], "step_back_after_idle": "soon"},
            ("step_back_after_idle",),
            "not a duration",
        ),
        ({"schedule": [1], "typo": 1}, ("typo",), ""),
    ],
)
def test_warmup_errors_name_the_key(
    data: dict[str, Any], loc: tuple[str, ...], needle: str
) -> None:
    found = errors(WarmupConfig, data)
    assert loc in [e[0] for e in found]
    assert any(needle in msg for _, _, msg in found)


# --- providers ---------------------------------------------------------------------------

ISSUE_PROVIDER = {
    "domains": ["gmail.com", "googlemail.com"],
    "mx": ["*.google.com", "*.googlemail.com"],
    "rate": "10/s",
    "rule": [
        {"match": r"4\.7\.28|unusual rate", "action": "slow", "factor": 0.5, "duration": "30m"}
    ],
}


def test_provider_from_the_issue() -> None:
    google = ProviderConfig.model_validate(ISSUE_PROVIDER)
    assert google.rate == 10.0 and google.floor == DEFAULT_FLOOR
    [rule] = google.rule
    assert (rule.action, rule.factor, rule.duration) == (RuleAction.SLOW, 0.5, 1800.0)
    [compiled] = google.rules()
    assert compiled.pattern.search("421-4.7.28 Gmail has detected an UNUSUAL RATE of mail")
    backoff = google.backoff()
    assert (backoff.floor, backoff.recover_step, backoff.recover_every) == (1 / 60, 0.1, 300.0)


def test_provider_normalises_domains_and_mx() -> None:
    table = ProviderConfig.model_validate({"domains": ["Gmail.COM."], "mx": ["*.Google.com."]})
    assert table.domains == ("gmail.com",) and table.mx == ("*.google.com",)


@pytest.mark.parametrize(
    ("data", "loc", "needle"),
    [
        (
            {"rule": [{"match": "4.7.28(", "action": "slow"}]},
            ("rule", 0, "match"),
            "not a valid regular expression",
        ),
        ({"rule": [{"match": "x", "action": "slow", "factor": 1}]}, ("rule", 0, "factor"), ""),
        ({"rule": [{"match": "x", "action": "slow", "factor": 0}]}, ("rule", 0, "factor"), ""),
        ({"rule": [{"match": "x", "action": "throttle"}]}, ("rule", 0, "action"), ""),
        ({"rule": [{"match": "x", "action": "slow", "for": "1h"}]}, ("rule", 0, "for"), ""),
        ({"rule": [{"match": "", "action": "slow"}]}, ("rule", 0, "match"), ""),
        ({"domains": ["not a domain"]}, ("domains",), "not a domain name"),
        ({"mx": ["google com"]}, ("mx",), "not an MX host pattern"),
        ({"rate": "10"}, ("rate",), "is not a rate"),
        ({"floor": "0/s"}, ("floor",), "more than 0"),
        ({"recover_step": 0}, ("recover_step",), ""),
        ({"recover_every": "never"}, ("recover_every",), "not a duration"),
        ({"ratelimit": "1/s"}, ("ratelimit",), ""),
    ],
)
def test_provider_errors_name_the_key(
    data: dict[str, Any], loc: tuple[Any, ...], needle: str
) -> None:
    found = errors(ProviderConfig, data)
    assert loc in [e[0] for e in found]
    assert any(needle in msg for _, _, msg in found)


def test_shipped_table_has_the_documented_providers() -> None:
    table = shipped_providers()
    assert list(table) == ["google", "microsoft", "yahoo", "apple", "default"]
    assert all(p.rate is not None for p in table.values())
    assert table["default"].domains == () and table["default"].mx == ()
    assert "yahoo.com" in table["yahoo"].domains and "aol.com" in table["yahoo"].domains
    assert table["apple"].domains == ("icloud.com", "me.com", "mac.com")
    assert provider_problems(table) == []


def _first(provider: str, text: str) -> ProviderRule | None:
    return next(
        (r for r in shipped_providers()[provider].rule if r.rule().pattern.search(text)), None
    )


def test_shipped_rules_match_the_replies_they_cite() -> None:
    gmail = (
        "421-4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your IP"
    )
    assert _first("google", gmail) is not None and _first("google", gmail).action is RuleAction.SLOW  # type: ignore[union-attr]
    low = "421-4.7.0 This message is suspicious due to the very low reputation of the sending IP"
    assert _first("google", low).action is RuleAction.SUSPEND  # type: ignore[union-attr]
    tss04 = (
        "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume"
    )
    rule = _first("yahoo", tss04)
    assert rule is not None and (rule.action, rule.duration) == (RuleAction.SUSPEND, 7200.0)
    s3150 = (
        "550 5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. ... block list (S3150)"
    )
    assert _first("microsoft", s3150).action is RuleAction.SUSPEND  # type: ignore[union-attr]
    throttle = (
        "451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited "
        "due to IP reputation."
    )
    assert _first("microsoft", throttle).action is RuleAction.SLOW  # type: ignore[union-attr]
    reputation = _first("default", throttle)
    assert reputation is not None and reputation.duration == 5400.0
    assert _first("default", "250 ok") is None


def test_user_tables_override_field_by_field() -> None:
    user = {
        "google": ProviderConfig.model_validate({"rate": "5/s"}),
        "default": ProviderConfig.model_validate({"rate": "2/s"}),
        "fastmail": ProviderConfig.model_validate({"domains": ["fastmail.com"]}),
    }
    merged = load_providers(user)
    shipped = shipped_providers()
    assert merged["google"].rate == 5.0
    assert merged["google"].domains == shipped["google"].domains
    assert merged["google"].rule == shipped["google"].rule
    assert merged["microsoft"] == shipped["microsoft"]
    assert merged["default"].rate == 2.0 and merged["default"].rule == shipped["default"].rule
    new = merged["fastmail"]
    assert (new.domains, new.mx, new.rule, new.rate) == (("fastmail.com",), (), (), 2.0)
    assert list(merged)[-1] == "fastmail"
    assert load_providers({}) == shipped


def test_a_user_rule_list_replaces_the_shipped_rules() -> None:
    rule = {"match": "slow down", "action": "slow", "factor": 0.9}
    merged = load_providers({"yahoo": ProviderConfig.model_validate({"rule": [rule]})})
    assert [r.match for r in merged["yahoo"].rule] == ["slow down"]
    assert merged["yahoo"].rate == shipped_providers()["yahoo"].rate


def test_provider_problems() -> None:
    table = {
        "a": ProviderConfig.model_validate({"domains": ["x.test"]}),
        "b": ProviderConfig.model_validate({"domains": ["x.test"]}),
        "c": ProviderConfig(),
        "default": ProviderConfig(),
    }
    assert provider_problems(table) == [
        'provider "b": domains lists "x.test", which provider "a" lists too; '
        "list each domain under one provider",
        'provider "c" matches no mail: give it domains = ["..."] or mx = ["*.example.net"]',
    ]


# --- [pacing], windows and instants -------------------------------------------------------


def test_pacing_timezone() -> None:
    assert PacingConfig().timezone == "UTC"
    assert PacingConfig.model_validate({"timezone": "Europe/Berlin"}).timezone == "Europe/Berlin"
    for bad in ("Mars/Olympus", "", "../etc/passwd", 5):
        [(loc, kind, msg)] = errors(PacingConfig, {"timezone": bad})
        assert (loc, kind) == (("timezone",), "relaylane_value")
        assert msg.startswith("is not a time zone; use an IANA name")
    assert errors(PacingConfig, {"tz": "UTC"})[0][:2] == (("tz",), "extra_forbidden")


class _Lane(BaseModel):
    send_window: SendWindowText | None = None
    not_before: Instant | None = None


def test_window_and_instant_types() -> None:
    lane = _Lane.model_validate(
        {"send_window": "mon-fri 08:00-18:00", "not_before": "2026-06-01T08:00:00Z"}
    )
    assert lane.not_before == datetime(2026, 6, 1, 8, tzinfo=UTC).timestamp()
    window = window_of(lane.send_window or "", PacingConfig(timezone="Europe/Paris"))
    assert window.timezone == "Europe/Paris" and window.days == frozenset(range(5))
    assert _Lane.model_validate({"not_before": datetime(2026, 1, 1, tzinfo=UTC)}).not_before == (
        datetime(2026, 1, 1, tzinfo=UTC).timestamp()
    )
    assert _Lane.model_validate({"not_before": 5}).not_before == 5.0
    assert "not a send window" in errors(_Lane, {"send_window": "8 to 6"})[0][2]
    assert "unknown time zone" in errors(_Lane, {"send_window": "08:00-18:00 Mars/Base"})[0][2]
    assert "has no time zone" in errors(_Lane, {"not_before": "2026-06-01T08:00:00"})[0][2]
    assert "is not a time" in errors(_Lane, {"not_before": "tomorrow"})[0][2]
    assert "is not a time" in errors(_Lane, {"not_before": math.nan})[0][2]
