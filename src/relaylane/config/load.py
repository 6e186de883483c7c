"""Load relaylane.toml into a `Config`, reporting every problem at once.

Each problem is one line that names the TOML key the way the user wrote it
(``relay[1] "tx-backup": tls = ...``) and says how to fix it. Nothing here lets a
pydantic traceback reach the user: everything becomes a `ConfigError`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import tomllib
import types
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from relaylane.config.base import domain_name
from relaylane.config.campaigns import CampaignsConfig
from relaylane.config.domains import DomainConfig
from relaylane.config.events import EventsConfig, unknown_lanes
from relaylane.config.feedback import BouncesConfig, ClassificationConfig
from relaylane.config.health import HealthConfig
from relaylane.config.logs import LogConfig
from relaylane.config.models import (
    Config,
    LaneConfig,
    RelayConfig,
    RelayRef,
    StoreConfig,
    WorkerConfig,
    cross_check,
)
from relaylane.config.pacing import (
    PacingConfig,
    ProviderConfig,
    WarmupConfig,
    load_providers,
    provider_problems,
    unknown_warmups,
)
from relaylane.config.retention import RetentionConfig
from relaylane.config.serving import HttpConfig, IntakeConfig, SubmissionConfig
from relaylane.config.webhooks import WebhooksConfig
from relaylane.errors import ConfigError
from relaylane.policy.bounce_rules import RulesError, parse_rules

__all__ = [
    "CONFIG_ENV_VAR",
    "DEFAULT_CONFIG_NAME",
    "load_config",
    "load_config_data",
    "resolve_config_path",
]

CONFIG_ENV_VAR = "RELAYLANE_CONFIG"
DEFAULT_CONFIG_NAME = "relaylane.toml"
SECTIONS = (
    "store",
    "worker",
    "http",
    "submission",
    "intake",
    "bounces",
    "classification",
    "domain",
    "webhooks",
    "events",
    "pacing",
    "health",
    "campaigns",
    "retention",
    "log",
    "warmup",
    "provider",
    "relay",
    "lane",
)

_M = TypeVar("_M", bound=BaseModel)


def resolve_config_path(
    path: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """The file to load: explicit path, else $RELAYLANE_CONFIG, else ./relaylane.toml."""
    env = os.environ if env is None else env
    if path is not None and str(path) != "":
        return Path(path).expanduser()
    from_env = env.get(CONFIG_ENV_VAR)
    if from_env:
        return Path(from_env).expanduser()
    return Path(DEFAULT_CONFIG_NAME)


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read, parse and validate the configuration file; raise ConfigError listing every problem.

    `env` (default: os.environ) supplies RELAYLANE_CONFIG and the `password_env` variables.
    """
    env = os.environ if env is None else env
    target = resolve_config_path(path, env)
    shown = str(target)
    if not target.exists():
        if path is None and env.get(CONFIG_ENV_VAR):
            why = f"{CONFIG_ENV_VAR} names this file, but it does not exist"
        else:
            why = "no such file"
        raise ConfigError(
            shown,
            [
                f"{why}; run `relaylane init` to write a starter {DEFAULT_CONFIG_NAME}, "
                f"or pass --config PATH / set {CONFIG_ENV_VAR} to an existing file"
            ],
        )
    if target.is_dir():
        raise ConfigError(
            shown, [f"this is a directory; pass the path of the {DEFAULT_CONFIG_NAME} file itself"]
        )
    try:
        raw = target.read_bytes()
    except OSError as exc:
        raise ConfigError(
            shown, [f"cannot read the file ({exc.strerror}); check that it is readable"]
        ) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            shown, [f"the file is not valid UTF-8 (at byte {exc.start}); save it as UTF-8"]
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            shown, [f"TOML syntax error: {exc}; fix the file at that line and column"]
        ) from None
    base_dir = target.absolute().parent
    config = load_config_data(data, source=shown, base_dir=base_dir, env=env)
    config._source_path = target.absolute()
    config._source_hash = hashlib.sha256(raw).hexdigest()
    return config


def load_config_data(
    data: Mapping[str, Any], *, source: str, base_dir: Path, env: Mapping[str, str]
) -> Config:
    """Validate already-parsed TOML data (a dict) into a Config.

    Relative paths resolve against `base_dir`; `password_env` variables are read from `env`.
    `source` names the origin in errors and becomes `Config.source_path`.
    """
    if not isinstance(data, Mapping):
        raise ConfigError(source, ["the configuration must be a table of sections"])
    context: dict[str, Any] = {"base_dir": base_dir, "env": env}
    problems: list[str] = []

    for key in data:
        if key not in SECTIONS:
            problems.append(_unknown_key(str(key), list(SECTIONS), what="section"))

    store = _one_table(data, "store", StoreConfig, context, problems)
    worker = _one_table(data, "worker", WorkerConfig, context, problems)
    http = _one_table(data, "http", HttpConfig, context, problems)
    submission = _one_table(data, "submission", SubmissionConfig, context, problems)
    intake = _one_table(data, "intake", IntakeConfig, context, problems)
    bounces = _one_table(data, "bounces", BouncesConfig, context, problems)
    classification = _one_table(data, "classification", ClassificationConfig, context, problems)
    if classification is not None and classification.rules_file is not None:
        problems += _rules_file_problems(classification.rules_file)
    domains = _tables_by_name(data, "domain", DomainConfig, context, problems, domains=True)
    webhooks = _one_table(data, "webhooks", WebhooksConfig, context, problems)
    events = _one_table(data, "events", EventsConfig, context, problems)
    pacing = _one_table(data, "pacing", PacingConfig, context, problems)
    health = _one_table(data, "health", HealthConfig, context, problems)
    campaigns = _one_table(data, "campaigns", CampaignsConfig, context, problems)
    retention = _one_table(data, "retention", RetentionConfig, context, problems)
    log = _one_table(data, "log", LogConfig, context, problems)
    warmups = _tables_by_name(data, "warmup", WarmupConfig, context, problems, domains=False)
    providers = _tables_by_name(data, "provider", ProviderConfig, context, problems, domains=False)
    relays, relay_names = _array_of_tables(data, "relay", RelayConfig, context, problems)
    lanes, lane_names = _array_of_tables(data, "lane", LaneConfig, context, problems)
    problems += cross_check(relays, lanes, relay_names)
    if webhooks is not None:
        problems += _webhook_relays(webhooks, relay_names)
    if events is not None:
        problems += unknown_lanes(events, lane_names)
    problems += unknown_warmups([r for _, r in relays], warmups)
    problems += provider_problems(load_providers(providers))
    if problems:
        raise ConfigError(source, problems)

    try:
        config = Config.model_validate(
            {
                "store": store,
                "worker": worker,
                "http": http,
                "submission": submission,
                "intake": intake,
                "bounces": bounces,
                "classification": classification,
                "domain": domains,
                "webhooks": webhooks,
                "events": events,
                "pacing": pacing,
                "health": health,
                "campaigns": campaigns,
                "retention": retention,
                "log": log,
                "warmup": warmups,
                "provider": providers,
                "relay": tuple(r for _, r in relays),
                "lane": tuple(lane for _, lane in lanes),
            },
            context=context,
        )
    except ValidationError as exc:  # not expected: every check above already passed
        raise ConfigError(source, [_render(e, None, Config, data) for e in exc.errors()]) from None
    config._source_path = Path(source)
    return config


def _one_table(
    data: Mapping[str, Any],
    key: str,
    model: type[_M],
    context: dict[str, Any],
    problems: list[str],
) -> _M | None:
    raw = data.get(key, {})
    if not isinstance(raw, Mapping):
        problems.append(
            f"{key} must be a table: write [{key}] on its own line, then its keys below it"
        )
        return None
    try:
        return model.model_validate(raw, context=context)
    except ValidationError as exc:
        problems += [_render(e, key, model, raw) for e in exc.errors()]
        return None


def _tables_by_name(
    data: Mapping[str, Any],
    key: str,
    model: type[_M],
    context: dict[str, Any],
    problems: list[str],
    *,
    domains: bool,
) -> dict[str, _M]:
    """[key.NAME] tables keyed by NAME as written, e.g. [warmup.standard]; with `domains`,
    [key."name"] tables keyed by the normalised domain, e.g. [domain."news.acme.test"]."""
    raw = data.get(key, {})
    form = f'[{key}."name"]' if domains else f"[{key}.NAME]"
    if not isinstance(raw, Mapping):
        problems.append(f"{key} must be tables: write {form} above each one's keys")
        return {}
    valid: dict[str, _M] = {}
    for name, entry in raw.items():
        where = f"{key}.{json.dumps(name, ensure_ascii=False)}" if domains else f"{key}.{name}"
        if not isinstance(entry, Mapping):
            problems.append(f"{where} must be a table: write [{where}] followed by its keys")
            continue
        normal = str(name)
        if domains:
            try:
                normal = domain_name(name)
            except ValueError:
                problems.append(
                    f"{where}: {name!r} is not a domain name; write it like tx.acme.com"
                )
                continue
        try:
            valid[normal] = model.model_validate(entry, context=context)
        except ValidationError as exc:
            problems += [_render(e, where, model, entry) for e in exc.errors()]
    return valid


def _webhook_relays(webhooks: WebhooksConfig, relay_names: Sequence[str]) -> list[str]:
    return [
        f'webhooks.{provider}: relay = "{name}" names no [[relay]]; known relays: '
        f"{', '.join(relay_names) or '(none)'}"
        for provider, name in webhooks.relay_refs()
        if name not in relay_names
    ]


def _rules_file_problems(path: Path) -> list[str]:
    try:
        parse_rules(path.read_text("utf-8"), str(path))
    except RulesError as exc:
        return [f"classification.rules_file {path}: {p}" for p in exc.problems]
    except (OSError, UnicodeDecodeError) as exc:
        return [f"classification.rules_file {path} cannot be read ({exc}); fix the path"]
    return []


def _array_of_tables(
    data: Mapping[str, Any],
    key: str,
    model: type[_M],
    context: dict[str, Any],
    problems: list[str],
) -> tuple[list[tuple[int, _M]], list[str]]:
    raw = data.get(key)
    if raw is None or (isinstance(raw, list) and not raw):
        problems.append(
            f"no {key}s are defined; add at least one [[{key}]] table "
            "(`relaylane init` writes a commented example)"
        )
        return [], []
    if not isinstance(raw, list):
        problems.append(
            f"{key} must be an array of tables: write [[{key}]] (double brackets) above each {key}"
        )
        return [], []
    valid: list[tuple[int, _M]] = []
    names: list[str] = []
    for index, entry in enumerate(raw):
        if not isinstance(entry, Mapping):
            problems.append(f"{key}[{index}] must be a table: write [[{key}]] followed by its keys")
            continue
        name = entry.get("name")
        where = f"{key}[{index}]"
        if isinstance(name, str) and name:
            names.append(name)
            where += f" {json.dumps(name, ensure_ascii=False)}"
        try:
            valid.append((index, model.model_validate(entry, context=context)))
        except ValidationError as exc:
            problems += [_render(e, where, model, entry) for e in exc.errors()]
    return valid, names


# --- turning one pydantic error into one line -------------------------------------------

_SIMPLE_FIXES = {
    "int_type": "use a whole number",
    "int_parsing": "use a whole number",
    "int_from_float": "use a whole number",
    "float_type": "use a number",
    "float_parsing": "use a number",
    "finite_number": "use a finite number",
    "bool_type": "use true or false",
    "bool_parsing": "use true or false",
    "string_type": "use a quoted string",
    "path_type": "use a file path in quotes",
    "tuple_type": 'use a list, e.g. ["a", "b"]',
    "list_type": 'use a list, e.g. ["a", "b"]',
    "model_type": "use a table, e.g. { key = value }",
    "model_attributes_type": "use a table, e.g. { key = value }",
    "dict_type": "use a table, e.g. { key = value }",
}


def _render(err: ErrorDetails, where: str | None, model: type[BaseModel], raw: Any) -> str:
    message = _message(err, model, raw)
    return f"{where}: {message}" if where else message


def _message(err: ErrorDetails, model: type[BaseModel], raw: Any) -> str:
    kind = err["type"]
    loc = tuple(err["loc"])
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    key = _key_path(loc)
    found, original = _raw_at(raw, loc)
    value = _show(original if found else err["input"])

    if kind == "relaylane":
        return str(ctx["msg"])
    if kind == "relaylane_value":
        return f"{key} = {value} {ctx['msg']}"
    if kind == "extra_forbidden":
        return _extra_key(loc, model)
    if kind == "missing":
        return _missing_key(loc, model)
    if kind == "enum":
        target = _annotation_at(model, loc)
        if isinstance(target, type) and issubclass(target, Enum):
            choices = ", ".join(str(m.value) for m in target)
        else:
            choices = str(ctx.get("expected", ""))
        return f"{key} = {value} is not valid; use one of: {choices}"
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        bound = {
            "greater_than": ("too small", "a value greater than {gt}"),
            "greater_than_equal": ("too small", "{ge} or more"),
            "less_than": ("too large", "a value less than {lt}"),
            "less_than_equal": ("too large", "{le} or less"),
        }[kind]
        limits = {k: _number(v) for k, v in ctx.items()}
        return f"{key} = {value} is {bound[0]}; use {bound[1].format(**limits)}"
    if kind == "string_too_short":
        return f'{key} must not be empty; write {key} = "..." with a value'
    if kind == "too_short":
        if ctx.get("min_length") == 1:
            return f"{key} must not be empty; give it at least one item"
        return f"{key} is too short; it needs at least {ctx.get('min_length')} item(s)"
    if kind in ("model_type", "model_attributes_type", "dict_type") and (
        _annotation_at(model, loc) is RelayRef
    ):
        return f'{key} = {value} is not valid; use "name" or "name:weight"'
    fix = _SIMPLE_FIXES.get(kind)
    if fix:
        return f"{key} = {value} is not valid; {fix}"
    text = err["msg"]
    text = text[:1].lower() + text[1:]
    return f"{key} = {value}: {text}" if key else text


def _extra_key(loc: tuple[str | int, ...], model: type[BaseModel]) -> str:
    parent_loc, name = loc[:-1], str(loc[-1])
    parent = _annotation_at(model, parent_loc)
    if parent is RelayConfig and name == "password":
        return (
            "password must not be written in the file; remove it, export the password "
            'in an environment variable and set password_env = "THAT_VARIABLE"'
        )
    known = list(parent.model_fields) if _is_model(parent) else []
    prefix = _key_path(parent_loc)
    full = f"{prefix}.{name}" if prefix else name
    if not known:
        return f'unknown key "{full}"; remove it'
    return _unknown_key(name, known, prefix=prefix)


def _unknown_key(name: str, known: list[str], *, prefix: str = "", what: str = "key") -> str:
    def dotted(k: str) -> str:
        return f"{prefix}.{k}" if prefix else k

    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f'unknown {what} "{dotted(name)}"; did you mean "{dotted(close[0])}"?'
    return f'unknown {what} "{dotted(name)}"; valid {what}s: {", ".join(known)}'


def _missing_key(loc: tuple[str | int, ...], model: type[BaseModel]) -> str:
    key = _key_path(loc)
    target = _annotation_at(model, loc)
    if isinstance(target, type) and issubclass(target, Enum):
        hint = f"{loc[-1]} = one of: {', '.join(str(m.value) for m in target)}"
    elif target is str:
        hint = f'{loc[-1]} = "..."'
    else:
        hint = f"{loc[-1]} = ..."
    return f'missing required key "{key}"; add {hint}'


def _key_path(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


def _raw_at(raw: Any, loc: Sequence[str | int]) -> tuple[bool, Any]:
    """The value the user wrote at `loc`, if it is there (defaults are not)."""
    current = raw
    for part in loc:
        in_list = isinstance(part, int) and isinstance(current, list) and 0 <= part < len(current)
        in_table = isinstance(part, str) and isinstance(current, Mapping) and part in current
        if not (in_list or in_table):
            return False, None
        current = current[part]
    return True, current


def _show(value: Any, limit: int = 60) -> str:
    """A value as TOML would spell it, shortened. Never used for secrets' contents."""
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, str):
        text = json.dumps(value, ensure_ascii=False)
    elif isinstance(value, Enum):
        text = json.dumps(str(value.value), ensure_ascii=False)
    elif isinstance(value, (int, float)):
        text = repr(value)
    elif isinstance(value, Mapping):
        text = "{ " + ", ".join(f"{k} = {_show(v, limit)}" for k, v in value.items()) + " }"
    elif isinstance(value, (list, tuple)):
        text = "[" + ", ".join(_show(v, limit) for v in value) + "]"
    else:
        text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _number(value: Any) -> Any:
    """1.0 -> 1 for display."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _is_model(target: Any) -> bool:
    return isinstance(target, type) and issubclass(target, BaseModel)


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and `| None` from a type."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            rest = [a for a in get_args(annotation) if a is not type(None)]
            if len(rest) != 1:
                return annotation
            annotation = rest[0]
        else:
            return annotation


def _annotation_at(model: type[BaseModel], loc: Sequence[str | int]) -> Any:
    """The declared type at `loc` under `model` (a model class, an enum, str, ...), or None."""
    current: Any = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(part, int):
            args = get_args(current)
            if get_origin(current) in (tuple, list) and args:
                current = args[0]
                continue
            return None
        if not _is_model(current):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = field.annotation
    return _unwrap(current)
