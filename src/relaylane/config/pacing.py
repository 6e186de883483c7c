"""Configuration of pacing: rates and caps per relay, [warmup.NAME] schedules, the
[provider.NAME] table (shipped defaults merged with the user's) and [pacing].

Rates are written "20/s", "1200/min" or "50000/h" and stored as messages per second.
Every default is named here; the shipped provider values live in
`relaylane/policy/providers.toml`, with their sources.
"""

from __future__ import annotations

import contextlib
import difflib
import math
import re
import tomllib
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from typing import Annotated, Any, Protocol, Self

from pydantic import (
    BeforeValidator,
    Field,
    PlainSerializer,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)

from relaylane.config.base import Model, bad_value, domain_name, problem
from relaylane.config.durations import Duration
from relaylane.policy.pacing.aimd import Backoff, Rule, RuleAction
from relaylane.policy.pacing.providers import DEFAULT_PROVIDER
from relaylane.policy.pacing.warmup import Spill, WarmupPolicy, WarmupScope
from relaylane.policy.pacing.windows import SendWindow, WindowError, parse_window
from relaylane.policy.pacing.zones import ZoneError, zone

__all__ = [
    "DEFAULT_FLOOR",
    "DEFAULT_MAX_BLOCK_RATE",
    "DEFAULT_MAX_DEFERRAL_RATE",
    "DEFAULT_MIN_SENT_RATIO",
    "DEFAULT_RECOVER_EVERY",
    "DEFAULT_RECOVER_STEP",
    "DEFAULT_RULE_DURATION",
    "DEFAULT_RULE_FACTOR",
    "DEFAULT_SHARED_LIMITS",
    "DEFAULT_SPILL",
    "DEFAULT_STEP_BACK_AFTER_IDLE",
    "DEFAULT_TIMEZONE",
    "DEFAULT_WARMUP_SCOPE",
    "SHIPPED_PROVIDERS",
    "AdvanceWhen",
    "Instant",
    "PacingConfig",
    "ProviderConfig",
    "ProviderRule",
    "Rate",
    "RateError",
    "RelayPacing",
    "SendWindowText",
    "WarmupConfig",
    "format_rate",
    "load_providers",
    "parse_rate",
    "provider_problems",
    "shipped_providers",
    "unknown_warmups",
    "window_of",
]

DEFAULT_TIMEZONE = "UTC"
DEFAULT_SHARED_LIMITS = True  # [pacing] shared_limits: limits count every worker on the store
DEFAULT_WARMUP_SCOPE = WarmupScope.RELAY_AND_DOMAIN
DEFAULT_MIN_SENT_RATIO = 0.8
DEFAULT_MAX_DEFERRAL_RATE = 0.05
DEFAULT_MAX_BLOCK_RATE = 0.01
DEFAULT_STEP_BACK_AFTER_IDLE = 3 * 86_400.0
DEFAULT_SPILL = Spill.LANE
DEFAULT_RULE_FACTOR = 0.5
DEFAULT_RULE_DURATION = 1_800.0  # 30m
DEFAULT_FLOOR = 1 / 60  # "1/min", KumoMTA's rate for an IP-reputation deferral
DEFAULT_RECOVER_STEP = 0.1  # of the configured rate, per step
DEFAULT_RECOVER_EVERY = 300.0  # 5m
SHIPPED_PROVIDERS = "providers.toml"

# --- rates ---------------------------------------------------------------------------------

RATE_FORMS = 'write e.g. "20/s", "1200/min" or "50000/h"'
_PER_UNIT: dict[str, int] = {
    **dict.fromkeys(("s", "sec", "secs", "second", "seconds"), 1),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600),
}
_RATE = re.compile(r"\s*(\d+(?:\.\d+)?|\.\d+)\s*/\s*([A-Za-z]+)\s*")
_FORMAT_UNITS = (("s", 1), ("min", 60), ("h", 3600))


class RateError(ValueError):
    """A value is not a rate; `reason` says which forms are accepted."""

    def __init__(self, value: object, reason: str = "") -> None:
        self.value = value
        self.reason = reason or f"is not a rate; {RATE_FORMS}"
        super().__init__(f"{value!r} {self.reason}")


def parse_rate(value: object) -> float:
    """ "20/s", "1200/min", "50000/h" (also /m, /hour, /second; decimals allowed) → messages
    per second. A bare number is refused: its unit would be a guess."""
    if not isinstance(value, str):
        raise RateError(value)
    found = _RATE.fullmatch(value)
    if found is None or found.group(2).lower() not in _PER_UNIT:
        raise RateError(value)
    per_second = float(found.group(1)) / _PER_UNIT[found.group(2).lower()]
    if not (math.isfinite(per_second) and per_second > 0):
        raise RateError(value, f"is not a rate: it must be more than 0; {RATE_FORMS}")
    return per_second


def format_rate(per_second: float) -> str:
    """The shortest "N/s", "N/min" or "N/h" that `parse_rate` reads back as `per_second`."""
    if not (math.isfinite(per_second) and per_second > 0):
        raise RateError(per_second, "is not a rate: it must be finite and more than 0")
    for unit, size in _FORMAT_UNITS:
        count = round(per_second * size)
        if count >= 1 and count / size == per_second:
            return f"{count}/{unit}"
    return format(Decimal(repr(per_second)), "f") + "/s"


def _validate_rate(value: Any) -> float:
    try:
        return parse_rate(value)
    except RateError as exc:
        raise bad_value(exc.reason) from None


# A configuration rate: written "20/s", "1200/min" or "50000/h"; stored as messages/s.
Rate = Annotated[
    float,
    BeforeValidator(_validate_rate),
    PlainSerializer(format_rate, return_type=str, when_used="json"),
]


def _number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise bad_value("is not a number; write e.g. 0.5")
    return value


Fraction = Annotated[float, BeforeValidator(_number), Field(ge=0, le=1)]

# --- relays ------------------------------------------------------------------------------


class RelayPacing(Model):
    """The pacing keys of a [[relay]] (RelayConfig inherits them)."""

    rate: Rate | None = None  # token bucket for the relay as a whole
    hourly_cap: StrictInt | None = Field(default=None, ge=1)
    daily_cap: StrictInt | None = Field(default=None, ge=1)
    warmup: str | None = Field(default=None, min_length=1)  # a [warmup.NAME] table

    @model_validator(mode="after")
    def _caps_agree(self) -> Self:
        check_caps(self.hourly_cap, self.daily_cap)
        return self


def check_caps(hourly: int | None, daily: int | None) -> None:
    """An hourly cap above the daily cap could never apply: say so."""
    if hourly is not None and daily is not None and hourly > daily:
        raise problem(
            f"hourly_cap ({hourly}) is larger than daily_cap ({daily}), so it can never "
            "apply; lower hourly_cap or raise daily_cap"
        )


class _NamedWarmup(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def warmup(self) -> str | None: ...


def unknown_warmups(relays: Iterable[_NamedWarmup], warmups: Mapping[str, object]) -> list[str]:
    """Problems for relays whose `warmup` names no [warmup.NAME] table, one line each."""
    known = list(warmups)
    problems: list[str] = []
    for relay in relays:
        if relay.warmup is None or relay.warmup in warmups:
            continue
        line = (
            f'relay "{relay.name}": warmup names unknown warm-up "{relay.warmup}"; '
            f"known warm-ups: {', '.join(known) or '(none)'}"
        )
        close = difflib.get_close_matches(relay.warmup, known, n=1)
        line += f'; did you mean "{close[0]}"?' if close else f"; define [warmup.{relay.warmup}]"
        problems.append(line)
    return problems


# --- warm-up -----------------------------------------------------------------------------


class AdvanceWhen(Model):
    """When a warm-up step may advance (besides having lasted a day)."""

    min_sent_ratio: Fraction = DEFAULT_MIN_SENT_RATIO  # of the step's volume, accepted
    max_deferral_rate: Fraction = DEFAULT_MAX_DEFERRAL_RATE
    max_block_rate: Fraction = DEFAULT_MAX_BLOCK_RATE


class WarmupConfig(Model):
    """[warmup.NAME]: volume per step (one step ≈ one day) and how steps move."""

    schedule: tuple[StrictInt, ...] = Field(min_length=1)
    scope: WarmupScope = DEFAULT_WARMUP_SCOPE
    advance_when: AdvanceWhen = AdvanceWhen()
    step_back_after_idle: Duration = Field(default=DEFAULT_STEP_BACK_AFTER_IDLE, gt=0)
    spill: Spill = DEFAULT_SPILL

    @field_validator("schedule")
    @classmethod
    def _schedule_ok(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        for index, volume in enumerate(value):
            if volume < 1:
                raise bad_value(
                    f"has {volume} at step {index + 1}; every step must allow at least 1 message"
                )
            if index and volume < value[index - 1]:
                raise bad_value(
                    f"decreases at step {index + 1} ({volume} after {value[index - 1]}); "
                    "list the volumes in increasing order"
                )
        return value

    def policy(self, timezone: str = DEFAULT_TIMEZONE) -> WarmupPolicy:
        """The pure policy for this schedule, with days in `timezone`."""
        when = self.advance_when
        return WarmupPolicy(
            schedule=self.schedule,
            min_sent_ratio=when.min_sent_ratio,
            max_deferral_rate=when.max_deferral_rate,
            max_block_rate=when.max_block_rate,
            step_back_after_idle=self.step_back_after_idle,
            timezone=timezone,
        )


# --- providers ---------------------------------------------------------------------------

_MX_GLOB = re.compile(r"[a-z0-9*?.\-]+")


class ProviderRule(Model):
    """[[provider.NAME.rule]]: reply or event text matching `match` → an action for a while."""

    match: str = Field(min_length=1)  # a regular expression, matched case-insensitively
    action: RuleAction
    factor: Annotated[float, BeforeValidator(_number), Field(gt=0, lt=1)] = DEFAULT_RULE_FACTOR
    duration: Duration = Field(default=DEFAULT_RULE_DURATION, gt=0)

    @field_validator("match")
    @classmethod
    def _regex_ok(cls, value: str) -> str:
        try:
            re.compile(value, re.IGNORECASE)
        except re.error as exc:
            raise bad_value(
                f"is not a valid regular expression ({exc}); escape literal characters "
                r"such as . [ ( with a backslash, e.g. '4\.7\.28'"
            ) from None
        return value

    def rule(self) -> Rule:
        return Rule.of(self.match, self.action, self.factor, self.duration)


class ProviderConfig(Model):
    """[provider.NAME]: which recipient domains it covers and how its pairs are paced."""

    domains: tuple[str, ...] = ()  # recipient domains, exact
    mx: tuple[str, ...] = ()  # glob patterns over MX host names: "*.google.com"
    rate: Rate | None = None  # per relay × provider
    rule: tuple[ProviderRule, ...] = ()
    floor: Rate = DEFAULT_FLOOR  # the lowest rate adaptive backoff may slow a pair to
    recover_step: Annotated[float, BeforeValidator(_number), Field(gt=0, le=1)] = (
        DEFAULT_RECOVER_STEP
    )
    recover_every: Duration = Field(default=DEFAULT_RECOVER_EVERY, gt=0)

    @field_validator("domains")
    @classmethod
    def _domains_ok(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(domain_name(d) for d in value)

    @field_validator("mx")
    @classmethod
    def _mx_ok(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        patterns = tuple(p.strip().rstrip(".").lower() for p in value)
        for original, pattern in zip(value, patterns, strict=True):
            if not _MX_GLOB.fullmatch(pattern) or "." not in pattern:
                raise bad_value(
                    f"lists {original!r}, which is not an MX host pattern; "
                    'write it like "*.google.com"'
                )
        return patterns

    def rules(self) -> tuple[Rule, ...]:
        return tuple(r.rule() for r in self.rule)

    def backoff(self) -> Backoff:
        return Backoff(self.floor, self.recover_step, self.recover_every)


def shipped_providers() -> dict[str, ProviderConfig]:
    """The documented default table shipped in relaylane/policy/providers.toml (a copy)."""
    return dict(_shipped())


@lru_cache(maxsize=1)
def _shipped() -> dict[str, ProviderConfig]:
    text = resources.files("relaylane.policy").joinpath(SHIPPED_PROVIDERS).read_text("utf-8")
    data = tomllib.loads(text)
    extra = sorted(set(data) - {"provider"})
    if extra:
        raise ValueError(f"{SHIPPED_PROVIDERS}: unknown top-level keys {extra}")
    try:
        table = {name: ProviderConfig.model_validate(v) for name, v in data["provider"].items()}
    except ValidationError as exc:
        raise ValueError(f"{SHIPPED_PROVIDERS}: {exc}") from None
    if DEFAULT_PROVIDER not in table:
        raise ValueError(f"{SHIPPED_PROVIDERS}: the catch-all [provider.default] is missing")
    return table


# What a new provider does not inherit from `default` (default's rules apply after every
# provider's own anyway: see policy.pacing.providers.rules_for).
_OWN_FIELDS = ("domains", "mx", "rule")


def load_providers(user: Mapping[str, ProviderConfig]) -> dict[str, ProviderConfig]:
    """The shipped table with the user's [provider.NAME] tables merged field by field.

    A key the user writes replaces the shipped value (a `rule` list replaces the shipped
    rules); keys the user leaves out keep it. A new provider starts from the merged
    `default` (rate, floor, recovery) with its own domains, mx and rules; `default`'s
    rules are tried after every provider's own (`rules_for`).
    """
    merged = dict(shipped_providers())
    if DEFAULT_PROVIDER in user:
        merged[DEFAULT_PROVIDER] = _overlay(merged[DEFAULT_PROVIDER], user[DEFAULT_PROVIDER])
    for name, table in user.items():
        if name == DEFAULT_PROVIDER:
            continue
        base = merged.get(name)
        if base is None:
            base = merged[DEFAULT_PROVIDER].model_copy(update=dict.fromkeys(_OWN_FIELDS, ()))
        merged[name] = _overlay(base, table)
    return merged


def _overlay(base: ProviderConfig, user: ProviderConfig) -> ProviderConfig:
    return base.model_copy(update={key: getattr(user, key) for key in user.model_fields_set})


def provider_problems(providers: Mapping[str, ProviderConfig]) -> list[str]:
    """Cross-table problems in a merged provider table, one line each."""
    problems: list[str] = []
    owner: dict[str, str] = {}
    for name, table in providers.items():
        for domain in table.domains:
            if domain in owner and owner[domain] != name:
                problems.append(
                    f'provider "{name}": domains lists "{domain}", which provider '
                    f'"{owner[domain]}" lists too; list each domain under one provider'
                )
            owner.setdefault(domain, name)
        if name != DEFAULT_PROVIDER and not table.domains and not table.mx:
            problems.append(
                f'provider "{name}" matches no mail: give it domains = ["..."] or '
                'mx = ["*.example.net"]'
            )
    return problems


# --- [pacing], windows and instants -------------------------------------------------------


def _zone_ok(value: str) -> str:
    try:
        zone(value)
    except ZoneError:
        raise bad_value(
            'is not a time zone; use an IANA name such as "UTC", "Europe/Berlin" '
            'or "America/New_York"'
        ) from None
    return value


class PacingConfig(Model):
    """[pacing]: where hours and days begin for caps, warm-up days and plans, and whether
    limits count every worker on the store."""

    timezone: Annotated[str, BeforeValidator(_zone_ok)] = DEFAULT_TIMEZONE
    # Rates, caps, warm-up volumes, adaptive rates and max_connections count every worker
    # process on the store together (grants from the database). false: each process
    # counts only itself (one worker, and no database round trip per limit slot).
    shared_limits: bool = DEFAULT_SHARED_LIMITS


def _window_ok(value: Any) -> Any:
    if not isinstance(value, str):
        raise bad_value('is not a send window; write e.g. "mon-fri 08:00-18:00"')
    try:
        parse_window(value)
    except WindowError as exc:
        raise bad_value(exc.reason) from None
    return value


# A send window as written: "08:00-18:00", "mon-fri 08:00-18:00 Europe/Paris".
SendWindowText = Annotated[str, BeforeValidator(_window_ok)]


def window_of(text: str, pacing: PacingConfig) -> SendWindow:
    """A validated window, in its own zone or else [pacing] timezone."""
    return parse_window(text, pacing.timezone)


def _instant(value: Any) -> Any:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # not ISO 8601: refused below
            value = datetime.fromisoformat(value)
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise bad_value("has no time zone; add an offset, e.g. 2026-06-01T08:00:00+02:00")
        return value.timestamp()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise bad_value("is not a time; write e.g. 2026-06-01T08:00:00Z")
    return float(value)


# A moment (not_before): a TOML or ISO 8601 date-time with an offset, or epoch seconds.
Instant = Annotated[float, BeforeValidator(_instant)]
