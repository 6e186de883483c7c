"""The typed configuration: frozen pydantic models mirroring relaylane.toml.

Validation context (optional, passed by the loader through `model_validate(..., context=)`):

- ``base_dir`` (Path): relative ``ca_file`` and sqlite paths are resolved against it.
- ``env`` (Mapping[str, str]): where ``password_env`` is looked up; ``os.environ`` if absent.

Custom validation errors use two pydantic error types that the loader renders:
``relaylane_value`` (the message follows ``key = value``) and ``relaylane`` (the message is
complete and names its key itself).
"""

from __future__ import annotations

import difflib
import hashlib
import ipaddress
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    Field,
    PrivateAttr,
    StrictBool,
    StrictFloat,
    StrictInt,
    ValidationInfo,
    field_validator,
    model_validator,
)

from relaylane.config.base import FrozenDict, is_loopback_host
from relaylane.config.base import Model as _Model
from relaylane.config.base import bad_value as _bad_value
from relaylane.config.base import domain_name as _domain
from relaylane.config.base import problem as _problem
from relaylane.config.campaigns import CampaignsConfig
from relaylane.config.domains import Alignment, DomainConfig
from relaylane.config.durations import Duration, format_duration
from relaylane.config.events import EventsConfig
from relaylane.config.feedback import (
    BouncesConfig,
    ClassificationConfig,
    LaneSuppression,
)
from relaylane.config.health import HealthConfig
from relaylane.config.logs import LogConfig
from relaylane.config.pacing import (
    Instant,
    PacingConfig,
    ProviderConfig,
    Rate,
    SendWindowText,
    WarmupConfig,
    check_caps,
    load_providers,
)
from relaylane.config.retention import RetentionConfig
from relaylane.config.serving import HttpConfig, IntakeConfig, Listen, SubmissionConfig
from relaylane.config.webhooks import WebhooksConfig
from relaylane.errors import NotFoundError
from relaylane.policy.alignment import signing_domain_for
from relaylane.policy.pacing.windows import SendWindow, parse_window
from relaylane.policy.suppression import LaneRules, SuppressionPolicy
from relaylane.policy.vocabulary import EspProvider, LanePurpose, RelayKind, Strategy, TlsMode

__all__ = [
    "DEFAULT_MAX_AGE",
    "DEFAULT_RETRY_CAP",
    "DEFAULT_RETRY_FIRST",
    "DEFAULT_STORE_URL",
    "Config",
    "LaneConfig",
    "RelayConfig",
    "RelayRef",
    "RetrySchedule",
    "StoreConfig",
    "Timeouts",
    "WorkerConfig",
    "cross_check",
    "is_loopback_host",
]

DEFAULT_STORE_URL = "sqlite:///relaylane.db"
# Defaults that depend on a lane's purpose (seconds).
DEFAULT_MAX_AGE: dict[LanePurpose, float] = {
    LanePurpose.TRANSACTIONAL: 3_600.0,
    LanePurpose.MARKETING: 259_200.0,
    LanePurpose.OUTREACH: 259_200.0,
}
DEFAULT_RETRY_FIRST = 300.0
DEFAULT_RETRY_CAP: dict[LanePurpose, float] = {
    LanePurpose.TRANSACTIONAL: 3_600.0,
    LanePurpose.MARKETING: 14_400.0,
    LanePurpose.OUTREACH: 14_400.0,
}

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

NonEmptyStr = Annotated[str, Field(min_length=1)]


def _context(info: ValidationInfo) -> Mapping[str, Any]:
    ctx = info.context
    return ctx if isinstance(ctx, Mapping) else {}


def _env(info: ValidationInfo) -> Mapping[str, str]:
    env = _context(info).get("env")
    return env if isinstance(env, Mapping) else os.environ


def _resolve_path(path: Path, info: ValidationInfo) -> Path:
    path = path.expanduser()
    base = _context(info).get("base_dir")
    if not path.is_absolute() and isinstance(base, Path):
        return base / path
    return path


def _check_name(value: str) -> str:
    if not _NAME.fullmatch(value):
        raise _bad_value(
            "is not a valid name; use 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


class Timeouts(_Model):
    """SMTP timeouts in seconds (durations such as "30s" are accepted too)."""

    connect: Duration = Field(default=30.0, gt=0)  # TCP connect, TLS handshake and greeting
    command: Duration = Field(default=300.0, gt=0)  # each command's reply
    data_end: Duration = Field(default=600.0, gt=0)  # the reply after the final dot


class RelayConfig(_Model):
    """One SMTP relay ([[relay]]). The password comes from the environment, never the file."""

    name: str
    kind: RelayKind = RelayKind.MTA
    host: NonEmptyStr
    port: StrictInt = Field(default=587, ge=1, le=65535)
    tls: TlsMode = TlsMode.STARTTLS
    ca_file: Path | None = None
    verify: StrictBool = True
    server_name: NonEmptyStr | None = None
    username: NonEmptyStr | None = None
    password_env: NonEmptyStr | None = Field(default=None, validate_default=True)
    helo: NonEmptyStr | None = None
    max_connections: StrictInt = Field(default=4, ge=1)
    max_messages_per_connection: StrictInt = Field(default=100, ge=1)
    timeouts: Timeouts = Timeouts()
    # The ESP behind a relay of kind "esp": relaylane adds the header that brings each
    # delivery's id back in that provider's webhook events.
    provider: EspProvider | None = None
    # Per sending domain, the return-path domain on this relay (kind "mta"); overrides the
    # domain's own return_path: { "news.acme.test" = "bounces-pf.news.acme.test" }.
    return_path: dict[str, str] = Field(default_factory=FrozenDict)
    # Headers this relay rewrites (SES: Message-ID, Date), so they are not signed.
    dkim_skip_headers: tuple[str, ...] = ()
    # What SPF on the return-path domain must authorize for this relay (doctor checks it).
    outbound_ips: tuple[str, ...] = ()
    spf_include: NonEmptyStr | None = None
    # Pacing: a token bucket for the relay as a whole ("20/s", "1200/min", "50000/h"),
    # caps per hour and per day (in [pacing] timezone), and an optional [warmup.NAME].
    rate: Rate | None = None
    hourly_cap: StrictInt | None = Field(default=None, ge=1)
    daily_cap: StrictInt | None = Field(default=None, ge=1)
    warmup: NonEmptyStr | None = None
    smtputf8: StrictBool = False

    _password: str | None = PrivateAttr(default=None)

    def password(self) -> str | None:
        """The password read from the `password_env` variable at load time, or None."""
        return self._password

    @field_validator("name")
    @classmethod
    def _name_ok(cls, value: str) -> str:
        return _check_name(value)

    @field_validator("return_path")
    @classmethod
    def _return_paths_ok(cls, value: dict[str, str]) -> dict[str, str]:
        return FrozenDict({_domain(k): _domain(v) for k, v in value.items()})

    @field_validator("outbound_ips")
    @classmethod
    def _ips_ok(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for ip in value:
            try:
                ipaddress.ip_address(ip)
            except ValueError:
                raise _bad_value(
                    f'lists {ip!r}, which is not an IP address; write e.g. "192.0.2.10"'
                ) from None
        return value

    @field_validator("dkim_skip_headers")
    @classmethod
    def _header_names_ok(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not name or any(ch <= " " or ch == ":" or ord(ch) > 126 for ch in name):
                raise _bad_value(f'lists {name!r}, which is not a header name; e.g. "Date"')
        return value

    @field_validator("host")
    @classmethod
    def _host_ok(cls, value: str) -> str:
        if "://" in value:
            raise _bad_value("is a URL; give only the host name or IP address (no scheme)")
        if any(ch.isspace() for ch in value):
            raise _bad_value("contains spaces; give only the host name or IP address")
        if ":" in value and not value.startswith("["):
            try:
                ipaddress.IPv6Address(value)
            except ValueError:
                raise _bad_value(
                    "contains a ':'; give the host alone and the port in port = N"
                ) from None
        return value

    @field_validator("ca_file")
    @classmethod
    def _ca_file_ok(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        path = _resolve_path(value, info)
        if not path.is_file():
            raise _problem(
                f"ca_file names {path}, which is not a readable file; fix the path, "
                "or remove ca_file to use the system certificates"
            )
        return path

    @field_validator("username")
    @classmethod
    def _no_clear_text_credentials(cls, value: str | None, info: ValidationInfo) -> str | None:
        host = info.data.get("host")
        clear = value is not None and info.data.get("tls") is TlsMode.NONE
        if clear and isinstance(host, str) and not is_loopback_host(host):
            raise _problem(
                f'username is set with tls = "none" and host {host} is not loopback, '
                "so credentials would cross the network in clear text; "
                'set tls = "starttls" or "implicit" (or drop username and password_env)'
            )
        return value

    @field_validator("password_env")
    @classmethod
    def _password_env_ok(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            if info.data.get("username") is not None:
                raise _problem(
                    "username is set but password_env is not; add "
                    'password_env = "VARIABLE" and export the password in that variable'
                )
            return None
        if "username" in info.data and info.data["username"] is None:
            raise _problem(
                'password_env is set but username is not; add username = "..." '
                "or remove password_env"
            )
        if not _ENV_NAME.fullmatch(value):
            # Never echo the value: it may be the password itself.
            raise _problem(
                "password_env must be the name of an environment variable "
                "(letters, digits and '_', e.g. TX_PRIMARY_PASSWORD), not the password; "
                "export the password in that variable"
            )
        if not _env(info).get(value):
            raise _problem(
                f"password_env names {value}, which is not set; export it before running relaylane"
            )
        return value

    @model_validator(mode="after")
    def _caps_agree(self) -> Self:
        check_caps(self.hourly_cap, self.daily_cap)
        return self

    @model_validator(mode="after")
    def _read_password(self, info: ValidationInfo) -> Self:
        if self.password_env is not None:
            self._password = _env(info).get(self.password_env)
        return self


class RetrySchedule(_Model):
    """Exponential backoff: first, first*factor, ... capped at cap; each delay +/- jitter."""

    first: Duration = Field(gt=0)
    cap: Duration = Field(gt=0)
    factor: StrictFloat = Field(default=2.0, ge=1)
    jitter: StrictFloat = Field(default=0.2, ge=0, lt=1)

    @field_validator("cap")
    @classmethod
    def _cap_not_below_first(cls, value: float, info: ValidationInfo) -> float:
        first = info.data.get("first")
        if isinstance(first, float) and value < first:
            raise _problem(
                f"retry.cap ({format_duration(value)}) is shorter than retry.first "
                f"({format_duration(first)}); raise cap or lower first"
            )
        return value


class RelayRef(_Model):
    """A lane's reference to a relay: "name" or "name:weight" in the file."""

    name: NonEmptyStr
    weight: StrictInt = Field(default=1, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, data: Any) -> Any:
        if not isinstance(data, str):
            return data
        name, sep, weight = data.rpartition(":")
        if not sep:
            return {"name": data}
        if not weight.isdigit() or int(weight) < 1 or not name:
            raise _bad_value(
                'is not a relay reference; write "name" or "name:weight" with a whole '
                'weight >= 1, e.g. "mkt-a:3"'
            )
        return {"name": name, "weight": int(weight)}

    def __str__(self) -> str:
        return self.name if self.weight == 1 else f"{self.name}:{self.weight}"


class LaneConfig(_Model):
    """A lane ([[lane]]): a purpose, an ordered set of relays and a strategy over them."""

    name: str
    purpose: LanePurpose
    relays: tuple[RelayRef, ...] = Field(min_length=1)
    strategy: Strategy = Field(default=Strategy.FAILOVER, validate_default=True)
    max_age: Duration = Field(gt=0)
    allow_shared_relays: StrictBool = False
    # The From domains this lane may send as; empty: any. Submissions with another From
    # domain are refused (API 422, SMTP 550), so a lane's reputation stays its own.
    from_domains: tuple[str, ...] = ()
    retry: RetrySchedule
    suppression: LaneSuppression = Field(default_factory=LaneSuppression)
    # Deliveries wait as `held` outside this window ("08:00-18:00", "mon-fri 08:00-18:00",
    # optionally with a zone; else [pacing] timezone), and before `not_before`.
    send_window: SendWindowText | None = None
    not_before: Instant | None = None
    # Open and click tracking of campaign mail; None: on for marketing, off otherwise
    # (`Config.tracking_for`). A campaign's own setting overrides it.
    tracking: StrictBool | None = None

    @model_validator(mode="before")
    @classmethod
    def _defaults_by_purpose(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        try:
            purpose = LanePurpose(str(data.get("purpose")))
        except (ValueError, TypeError):
            purpose = LanePurpose.MARKETING  # the purpose error is reported on its own
        filled = dict(data)
        filled.setdefault("max_age", DEFAULT_MAX_AGE[purpose])
        retry = filled.setdefault("retry", {})
        if isinstance(retry, Mapping):
            retry = dict(retry)
            retry.setdefault("first", DEFAULT_RETRY_FIRST)
            retry.setdefault("cap", DEFAULT_RETRY_CAP[purpose])
            filled["retry"] = retry
        return filled

    @field_validator("name")
    @classmethod
    def _name_ok(cls, value: str) -> str:
        return _check_name(value)

    @field_validator("from_domains")
    @classmethod
    def _domains_ok(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(_domain(d) for d in value)

    def allows_from(self, domain: str) -> bool:
        """May this lane send with a From address at `domain` (ASCII, lower-case)?"""
        return not self.from_domains or domain.lower() in self.from_domains

    @field_validator("relays")
    @classmethod
    def _no_duplicates(cls, value: tuple[RelayRef, ...]) -> tuple[RelayRef, ...]:
        seen: set[str] = set()
        for ref in value:
            if ref.name in seen:
                raise _problem(f'relays lists "{ref.name}" more than once; list each relay once')
            seen.add(ref.name)
        return value

    @field_validator("strategy")
    @classmethod
    def _weights_need_weighted(cls, value: Strategy, info: ValidationInfo) -> Strategy:
        relays = info.data.get("relays")
        if value is not Strategy.WEIGHTED and isinstance(relays, tuple):
            weighted = [str(ref) for ref in relays if ref.weight != 1]
            if weighted:
                listed = ", ".join(f'"{w}"' for w in weighted)
                raise _problem(
                    f'relays gives weights ({listed}) but strategy is "{value.value}"; '
                    'set strategy = "weighted" or drop the ":weight" suffixes'
                )
        return value

    @property
    def priority(self) -> int:
        """0 for transactional lanes (claimed first), 1 otherwise."""
        return 0 if self.purpose is LanePurpose.TRANSACTIONAL else 1

    @property
    def relay_names(self) -> tuple[str, ...]:
        return tuple(ref.name for ref in self.relays)


class StoreConfig(_Model):
    """Where relaylane keeps its state ([store])."""

    url: NonEmptyStr = Field(default=DEFAULT_STORE_URL, validate_default=True)

    @field_validator("url")
    @classmethod
    def _url_ok(cls, value: str, info: ValidationInfo) -> str:
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme.startswith("postgresql") or scheme == "postgres":
            return value
        if scheme.startswith("sqlite"):
            return _resolve_sqlite(value, info)
        raise _bad_value(
            "is not a supported store URL; use sqlite:///PATH (relative to the config "
            "file) or postgresql://USER@HOST/DATABASE"
        )

    @property
    def is_sqlite(self) -> bool:
        return self.url.startswith("sqlite")


def _resolve_sqlite(url: str, info: ValidationInfo) -> str:
    prefix, _, rest = url.partition("://")
    if not rest.startswith("/"):  # "sqlite://" alone: in memory
        return url
    path, query_sep, query = rest[1:].partition("?")
    if path in ("", ":memory:") or path.startswith("file:"):
        return url
    resolved = _resolve_path(Path(path), info)
    # sqlite:///relative/path, sqlite:////absolute/path
    return f"{prefix}:///{resolved.as_posix()}{query_sep}{query}"


class WorkerConfig(_Model):
    """How workers claim and lease deliveries ([worker])."""

    lease: Duration = Field(default=60.0, gt=0)  # claim lease, renewed while in flight
    claim_batch: StrictInt = Field(default=256, ge=1)  # max deliveries claimed per query
    idle_poll: Duration = Field(default=0.5, gt=0)  # how often an idle worker looks for work
    metrics_listen: Listen | None = None  # `relaylane worker` serves /metrics here (off: None)


class Config(_Model):
    """The whole configuration. Build it with `load_config` or `Config.model_validate`."""

    store: StoreConfig = Field(default_factory=StoreConfig)
    worker: WorkerConfig = Field(default_factory=WorkerConfig)
    http: HttpConfig = Field(default_factory=HttpConfig)
    submission: SubmissionConfig = Field(default_factory=SubmissionConfig)
    intake: IntakeConfig = Field(default_factory=IntakeConfig)
    bounces: BouncesConfig = Field(default_factory=BouncesConfig)
    classification: ClassificationConfig = Field(default_factory=ClassificationConfig)
    domain: dict[str, DomainConfig] = Field(default_factory=FrozenDict)
    webhooks: WebhooksConfig = Field(default_factory=WebhooksConfig)
    events: EventsConfig = Field(default_factory=EventsConfig)
    pacing: PacingConfig = Field(default_factory=PacingConfig)
    health: HealthConfig = Field(default_factory=HealthConfig)
    campaigns: CampaignsConfig = Field(default_factory=CampaignsConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    log: LogConfig = Field(default_factory=LogConfig)
    warmup: dict[str, WarmupConfig] = Field(default_factory=FrozenDict)
    provider: dict[str, ProviderConfig] = Field(default_factory=FrozenDict)
    relay: tuple[RelayConfig, ...] = Field(min_length=1)
    lane: tuple[LaneConfig, ...] = Field(min_length=1)

    _source_path: Path = PrivateAttr(default=Path("<memory>"))
    _source_hash: str | None = PrivateAttr(default=None)

    @property
    def source_path(self) -> Path:
        """The file this configuration was loaded from (Path("<memory>") when built in code)."""
        return self._source_path

    @property
    def hash(self) -> str:
        """SHA-256 of the file's bytes as loaded (what `relaylane workers` compares across
        processes and hosts); for a configuration built in code, of its validated form."""
        if self._source_hash is None:
            self._source_hash = hashlib.sha256(self.model_dump_json().encode()).hexdigest()
        return self._source_hash

    @model_validator(mode="before")
    @classmethod
    def _default_sections(cls, data: Any) -> Any:
        # Validate the default [store] and [worker] too, so the context's base_dir applies.
        if isinstance(data, Mapping):
            data = dict(data)
            data.setdefault("store", {})
            data.setdefault("worker", {})
        return data

    @field_validator("warmup", "provider")
    @classmethod
    def _frozen_tables(cls, value: dict[str, Any]) -> dict[str, Any]:
        return FrozenDict(value)

    def windows_of(self, lane: LaneConfig) -> tuple[SendWindow, ...]:
        """The lane's send window, in its own zone or else [pacing] timezone."""
        if lane.send_window is None:
            return ()
        return (parse_window(lane.send_window, self.pacing.timezone),)

    def providers(self) -> dict[str, ProviderConfig]:
        """The shipped provider table with this file's [provider.NAME] tables merged in."""
        return load_providers(self.provider)

    @field_validator("domain")
    @classmethod
    def _domain_names_ok(cls, value: dict[str, DomainConfig]) -> dict[str, DomainConfig]:
        return FrozenDict({_domain(name): domain for name, domain in value.items()})

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        problems = cross_check(
            list(enumerate(self.relay)),
            list(enumerate(self.lane)),
            [relay.name for relay in self.relay],
        )
        if problems:
            raise _problem("; ".join(problems))
        return self

    def relay_by_name(self, name: str) -> RelayConfig:
        for relay in self.relay:
            if relay.name == name:
                return relay
        raise NotFoundError(_not_found("relay", name, [r.name for r in self.relay]))

    def lane_by_name(self, name: str) -> LaneConfig:
        for lane in self.lane:
            if lane.name == name:
                return lane
        raise NotFoundError(_not_found("lane", name, [lane.name for lane in self.lane]))

    def lanes_by_priority(self) -> tuple[LaneConfig, ...]:
        """Lanes in claim order: transactional first, file order within a priority."""
        return tuple(sorted(self.lane, key=lambda lane: lane.priority))

    def signing_domain_for(self, from_domain: str) -> str | None:
        """The configured domain whose DKIM signature aligns with mail From `from_domain`
        (relaylane's keys, or the relay's with dkim_signed_by_relay), or None."""
        signers = {name: domain.signs for name, domain in self.domain.items()}
        strict = self.alignment_for(from_domain) is Alignment.STRICT
        return signing_domain_for(from_domain, signers, strict)

    def alignment_for(self, from_domain: str) -> Alignment:
        domain = self.domain.get(from_domain)
        return domain.alignment if domain is not None else Alignment.RELAXED

    def suppression_policy(self) -> SuppressionPolicy:
        """Each lane's [lane.suppression] as the pure policy the store applies."""
        return SuppressionPolicy(
            tuple(
                LaneRules(
                    name=lane.name,
                    transactional=lane.purpose is LanePurpose.TRANSACTIONAL,
                    hard_bounces=lane.suppression.hard_bounces,
                    complaints=lane.suppression.complaints,
                    unsubscribes=lane.suppression.unsubscribes,
                    mailbox_full_limit=lane.suppression.mailbox_full_limit,
                    mailbox_full_window=lane.suppression.mailbox_full_window,
                )
                for lane in self.lane
            )
        )

    def return_path_for(self, relay: RelayConfig, from_domain: str) -> str | None:
        """The VERP domain for mail from `from_domain` through `relay`, or None (no VERP:
        relays of kind "esp" rewrite the envelope sender; unconfigured domains keep it)."""
        if relay.kind is not RelayKind.MTA:
            return None
        own = relay.return_path.get(from_domain)
        if own is not None:
            return own
        domain = self.domain.get(from_domain)
        return domain.return_path if domain is not None else None

    def tracking_for(self, lane_name: str) -> bool:
        """Does the lane track opens and clicks: its `tracking`, else on for marketing
        lanes and off for transactional and outreach ones (a tracked 1:1 outreach
        message or receipt is neither expected nor needed)."""
        lane = self.lane_by_name(lane_name)
        if lane.tracking is not None:
            return lane.tracking
        return lane.purpose is LanePurpose.MARKETING

    def tracking_base(self, from_domain: str) -> str:
        """The base of tracking links in mail From `from_domain`: https://TRACKING_DOMAIN
        of the nearest configured [domain] (the From domain itself, then each parent)
        that sets `tracking_domain`, else `[http] public_url` (its default)."""
        name = from_domain.strip().rstrip(".").lower()
        while "." in name:
            domain = self.domain.get(name)
            if domain is not None and domain.tracking_domain is not None:
                return f"https://{domain.tracking_domain}"
            name = name.partition(".")[2]
        return self.http.base_url

    def relays_of(self, lane: LaneConfig | str) -> tuple[tuple[RelayConfig, int], ...]:
        """A lane's relays in order, each with its weight."""
        found = self.lane_by_name(lane) if isinstance(lane, str) else lane
        return tuple((self.relay_by_name(ref.name), ref.weight) for ref in found.relays)


def _not_found(kind: str, name: str, known: list[str]) -> str:
    text = f'no {kind} named "{name}"; known {kind}s: {", ".join(known) or "(none)"}'
    close = difflib.get_close_matches(name, known, n=1)
    if close:
        text += f'; did you mean "{close[0]}"?'
    return text


def cross_check(
    relays: Sequence[tuple[int, RelayConfig]],
    lanes: Sequence[tuple[int, LaneConfig]],
    relay_names: Sequence[str],
) -> list[str]:
    """Problems that span tables, one line each.

    `relays` and `lanes` pair each valid table with its index in the file; `relay_names`
    lists every relay name written in the file (valid or not), so that a lane naming a relay
    that failed its own validation is not reported as naming an unknown relay.
    """
    problems: list[str] = []
    problems += _duplicates("relay", [(i, r.name) for i, r in relays])
    problems += _duplicates("lane", [(i, lane.name) for i, lane in lanes])

    known = list(dict.fromkeys(relay_names))
    for _, lane in lanes:
        for ref in lane.relays:
            if ref.name not in known:
                line = (
                    f'lane "{lane.name}": relays names unknown relay "{ref.name}"; '
                    f"known relays: {', '.join(known) or '(none)'}"
                )
                close = difflib.get_close_matches(ref.name, known, n=1)
                if close:
                    line += f'; did you mean "{close[0]}"?'
                problems.append(line)

    bulk = [lane for _, lane in lanes if lane.purpose is not LanePurpose.TRANSACTIONAL]
    for _, lane in lanes:
        if lane.purpose is not LanePurpose.TRANSACTIONAL or lane.allow_shared_relays:
            continue
        for ref in lane.relays:
            sharers = [other for other in bulk if ref.name in other.relay_names]
            if sharers:
                who = " and ".join(f'{o.purpose.value} lane "{o.name}"' for o in sharers)
                problems.append(
                    f'lane "{lane.name}": relay "{ref.name}" is also used by {who}, so bulk '
                    "mail would affect transactional reputation; give the lanes separate "
                    f'relays or set allow_shared_relays = true on lane "{lane.name}"'
                )
    return problems


def _duplicates(kind: str, named: list[tuple[int, str]]) -> list[str]:
    where: dict[str, list[int]] = {}
    for index, name in named:
        where.setdefault(name, []).append(index)
    return [
        f'{kind} "{name}" is defined {len(idx)} times '
        f"({', '.join(f'{kind}[{i}]' for i in idx)}); give each [[{kind}]] a unique name"
        for name, idx in where.items()
        if len(idx) > 1
    ]
