"""The [events] section: outgoing webhooks ([[events.webhook]]) and how they are retried.

    [[events.webhook]]
    name = "app"                              # required, unique
    url = "https://hooks.example/relaylane"   # http or https
    secret = "..."                            # or secret_file = "path"; exactly one
    events = ["sent", "bounced"]              # default: every kind
    lanes = ["transactional"]                 # default: every lane
    submitters = ["shop"]                     # default: every submitter
    timeout = "10s"
    give_up_after = "3d"

Every default is named here and documented in docs/configuration.md and docs/events.md.
Lane names are checked against [[lane]] by the loader (`unknown_lanes`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Self
from urllib.parse import urlsplit

from pydantic import Field, PrivateAttr, StrictInt, ValidationInfo, field_validator, model_validator

from relaylane.config.base import Model, bad_value, problem
from relaylane.config.durations import Duration, format_duration
from relaylane.events.hooks import Hook, Hooks
from relaylane.events.kinds import EventKind
from relaylane.policy.retry import RetrySchedule

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_GIVE_UP_AFTER",
    "DEFAULT_RETRY_CAP",
    "DEFAULT_RETRY_FIRST",
    "DEFAULT_TIMEOUT",
    "MIN_SECRET_LENGTH",
    "EventWebhookConfig",
    "EventsConfig",
    "unknown_lanes",
]

DEFAULT_TIMEOUT = 10.0  # seconds an endpoint has to answer one POST
DEFAULT_GIVE_UP_AFTER = 3 * 86_400.0  # then an undelivered event is kept as given up
DEFAULT_CONCURRENCY = 8  # POSTs in flight per endpoint
DEFAULT_RETRY_FIRST = 5.0  # the first retry's delay; doubling ...
DEFAULT_RETRY_CAP = 3_600.0  # ... up to this (each +/- 20% deterministic jitter)
MIN_SECRET_LENGTH = 16  # characters: a guessable secret makes signatures worthless

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SECRET_HINT = "generate one with `openssl rand -hex 32`"
_KINDS = [kind.value for kind in EventKind]


def _where(info: ValidationInfo) -> str:
    name = info.data.get("name")
    return f'webhook "{name}"' if isinstance(name, str) else "webhook"


def _base_dir(info: ValidationInfo) -> Path | None:
    ctx = info.context
    base = ctx.get("base_dir") if isinstance(ctx, Mapping) else None
    return base if isinstance(base, Path) else None


def _check_secret(secret: str, where: str) -> str:
    if len(secret) < MIN_SECRET_LENGTH:
        raise problem(
            f"{where} is shorter than {MIN_SECRET_LENGTH} characters, too easy to guess; "
            f"{_SECRET_HINT}"
        )
    return secret


class EventWebhookConfig(Model):
    """One endpoint ([[events.webhook]]) and the events it takes."""

    name: str
    url: str
    secret: str | None = Field(default=None, repr=False)
    secret_file: Path | None = None  # relative to the config file; trailing newline ignored
    events: tuple[EventKind, ...] | None = None  # None: every kind
    lanes: tuple[str, ...] | None = None  # None: every lane
    submitters: tuple[str, ...] | None = None  # None: everyone (API key ids, SMTP users)
    timeout: Duration = Field(default=DEFAULT_TIMEOUT, gt=0)
    give_up_after: Duration = Field(default=DEFAULT_GIVE_UP_AFTER, gt=0)

    _secret: str = PrivateAttr(default="")

    @field_validator("name")
    @classmethod
    def _name_ok(cls, value: str) -> str:
        if not _NAME.fullmatch(value):
            raise bad_value(
                "is not a valid endpoint name; use 1 to 64 letters, digits, '.', '_' or '-', "
                "starting with a letter or digit"
            )
        return value

    @field_validator("url")
    @classmethod
    def _url_ok(cls, value: str) -> str:
        try:
            parts = urlsplit(value)
            port_ok = parts.port is None or parts.port > 0
        except ValueError:
            parts, port_ok = None, False
        if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
            raise bad_value(
                'is not an http(s) URL; write it like "https://hooks.example/relaylane"'
            )
        if not port_ok or parts.fragment or any(ch.isspace() for ch in value):
            raise bad_value("is not a usable URL (bad port, a #fragment or spaces); fix it")
        return value

    @field_validator("secret")
    @classmethod
    def _secret_ok(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            _check_secret(value, f"{_where(info)}: secret")
        return value

    @field_validator("secret_file")
    @classmethod
    def _secret_file_ok(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        path = value.expanduser()
        base = _base_dir(info)
        path = base / path if base is not None and not path.is_absolute() else path
        where = f"{_where(info)}: secret_file {path}"
        _check_secret(_read_secret(path, where), where)
        return path

    @field_validator("events", mode="before")
    @classmethod
    def _kinds_known(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, str) and item not in _KINDS:
                    raise problem(_unknown_kind(item, _where(info)))
        return value

    @field_validator("events", "lanes", "submitters")
    @classmethod
    def _not_empty(cls, value: tuple[Any, ...] | None, info: ValidationInfo) -> Any:
        if value is not None and not value:
            raise problem(
                f"{_where(info)}: {info.field_name} = [] would match nothing; list at least "
                f"one, or leave {info.field_name} out to take them all"
            )
        return value

    @model_validator(mode="after")
    def _one_secret(self) -> Self:
        where = f'webhook "{self.name}"'
        if (self.secret is None) == (self.secret_file is None):
            raise problem(
                f"{where} needs exactly one of secret and secret_file (the key events are "
                f"signed with); {_SECRET_HINT}"
            )
        if self.secret is not None:
            self._secret = self.secret
        elif self.secret_file is not None:
            self._secret = _read_secret(self.secret_file, f"{where}: secret_file")
        return self

    def hook(self) -> Hook:
        """This endpoint as the record emitters and the dispatcher use."""
        return Hook(
            name=self.name,
            url=self.url,
            secret=self._secret.encode("utf-8"),
            kinds=frozenset(self.events if self.events is not None else EventKind),
            lanes=frozenset(self.lanes) if self.lanes is not None else None,
            submitters=frozenset(self.submitters) if self.submitters is not None else None,
            timeout=self.timeout,
            give_up_after=self.give_up_after,
        )


def _read_secret(path: Path, where: str) -> str:
    try:
        return path.read_text("utf-8").rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or type(exc).__name__
        raise problem(
            f"{where} is not a readable UTF-8 file ({reason}); fix the path, or write the "
            f"secret there ({_SECRET_HINT})"
        ) from None


def _unknown_kind(kind: str, where: str) -> str:
    text = f'{where}: events lists "{kind}", which is not an event kind'
    close = difflib.get_close_matches(kind, _KINDS, n=1)
    if close:
        text += f'; did you mean "{close[0]}"?'
    return f"{text} (kinds: {', '.join(_KINDS)})"


class EventsConfig(Model):
    """[events]: the endpoints, and how their events are sent and retried."""

    webhook: tuple[EventWebhookConfig, ...] = ()
    concurrency: StrictInt = Field(default=DEFAULT_CONCURRENCY, ge=1, le=256)
    retry_first: Duration = Field(default=DEFAULT_RETRY_FIRST, gt=0)
    retry_cap: Duration = Field(default=DEFAULT_RETRY_CAP, gt=0)

    _hooks: Hooks = PrivateAttr(default_factory=Hooks)

    @field_validator("retry_cap")
    @classmethod
    def _cap_not_below_first(cls, value: float, info: ValidationInfo) -> float:
        first = info.data.get("retry_first")
        if isinstance(first, float) and value < first:
            raise problem(
                f"[events] retry_cap ({format_duration(value)}) is shorter than retry_first "
                f"({format_duration(first)}); raise retry_cap or lower retry_first"
            )
        return value

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        seen: set[str] = set()
        for hook in self.webhook:
            if hook.name in seen:
                raise problem(
                    f'webhook "{hook.name}" is defined more than once; give each '
                    "[[events.webhook]] a unique name"
                )
            seen.add(hook.name)
        self._hooks = Hooks(tuple(w.hook() for w in self.webhook))
        return self

    def hooks(self) -> Hooks:
        """Every endpoint, for the emitters (the worker, ingest) and the dispatcher."""
        return self._hooks

    def retry_schedule(self) -> RetrySchedule:
        """The dispatcher's backoff: retry_first doubling to retry_cap, +/- 20%."""
        return RetrySchedule(first=self.retry_first, cap=self.retry_cap)


def unknown_lanes(events: EventsConfig, lane_names: Sequence[str]) -> list[str]:
    """One problem line per lane an endpoint names that no [[lane]] defines."""
    problems = []
    for hook in events.webhook:
        for lane in hook.lanes or ():
            if lane in lane_names:
                continue
            line = (
                f'events.webhook "{hook.name}": lanes names unknown lane "{lane}"; '
                f"known lanes: {', '.join(lane_names) or '(none)'}"
            )
            close = difflib.get_close_matches(lane, list(lane_names), n=1)
            if close:
                line += f'; did you mean "{close[0]}"?'
            problems.append(line)
    return problems
