"""`relaylane keys create|list|revoke|quota`: API keys with scopes, lanes and quotas."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from relaylane.auth.principal import Scope, parse_scopes, split_list
from relaylane.auth.secrets import new_api_key
from relaylane.cli.common import (
    ConfigOption,
    JsonOption,
    console,
    load,
    operator,
    print_json,
    store_for,
    user_errors,
)
from relaylane.config import Config
from relaylane.errors import InputError
from relaylane.policy.pacing.caps import Period, period_start
from relaylane.store.credentials import KEEP, ApiKeyRow, QuotaValue, SmtpUserRow

app = typer.Typer(help="API keys for the HTTP API (stored hashed).", no_args_is_help=True)


def check_lanes(cfg: Config, lanes: tuple[str, ...], needed: bool) -> None:
    known = [lane.name for lane in cfg.lane]
    unknown = [name for name in lanes if name not in known]
    if unknown:
        raise InputError(
            "--lanes",
            f"unknown lane(s) {', '.join(unknown)}",
            f"use lanes from: {', '.join(known)}",
        )
    if needed and not lanes:
        raise InputError(
            "--lanes",
            "a key or user that sends needs at least one lane",
            f"pass --lanes with one or more of: {', '.join(known)}",
        )


HourlyQuotaOption = typer.Option(
    None, "--hourly-quota", min=0, help="Messages it may send per hour ([pacing] timezone)."
)
DailyQuotaOption = typer.Option(
    None, "--daily-quota", min=0, help="Messages it may send per day ([pacing] timezone)."
)
HourlyOption = typer.Option(None, "--hourly", help="Messages per hour, or 'none' to lift it.")
DailyOption = typer.Option(None, "--daily", help="Messages per day, or 'none' to lift it.")


def parse_quota(option: str, value: str | None) -> QuotaValue:
    """A `--hourly`/`--daily` value: a whole number, 'none' (no quota), or KEEP (omitted)."""
    if value is None:
        return KEEP
    text = value.strip().lower()
    if text in ("none", "off", "unlimited"):
        return None
    if not text.isdigit():
        raise InputError(option, f"{value!r} is not a quota", "give a whole number >= 0, or none")
    return int(text)


def quota_changes(hourly: str | None, daily: str | None) -> tuple[QuotaValue, QuotaValue]:
    changes = parse_quota("--hourly", hourly), parse_quota("--daily", daily)
    if changes == (KEEP, KEEP):
        raise InputError("--hourly", "no quota given", "pass --hourly and/or --daily (N or none)")
    return changes


def periods(cfg: Config, now: float) -> tuple[float, float]:
    """When this hour and today began, in [pacing] timezone."""
    tz = cfg.pacing.timezone
    return period_start(now, tz, Period.HOUR), period_start(now, tz, Period.DAY)


def quota_text(limit: int | None, used: int) -> str:
    return f"{used}" if limit is None else f"{used}/{limit}"


def quota_json(hourly: int | None, daily: int | None, use: tuple[int, int]) -> dict[str, object]:
    return {
        "hourly_quota": hourly,
        "daily_quota": daily,
        "used_this_hour": use[0],
        "used_today": use[1],
    }


@app.command("create")
def create(
    scope: list[str] = typer.Option(
        ..., "--scope", help="send, read or admin; repeat or separate with commas."
    ),
    lanes: list[str] = typer.Option(
        [], "--lanes", help="Lanes this key may send into (comma-separated; first = default)."
    ),
    name: str = typer.Option("", "--name", help="A label to recognise the key by."),
    hourly_quota: int | None = HourlyQuotaOption,
    daily_quota: int | None = DailyQuotaOption,
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Create an API key and print it ONCE: only its hash is stored."""
    with user_errors():
        cfg = load(config)
        try:
            scopes = parse_scopes(scope)
        except ValueError as exc:
            raise InputError("--scope", str(exc), "e.g. --scope send,read") from exc
        lane_names = split_list(lanes)
        check_lanes(cfg, lane_names, Scope.SEND in scopes)
        made = new_api_key()
        with store_for(cfg) as store:
            row = store.credentials.add_api_key(
                key_id=made.key_id,
                name=name or made.key_id,
                secret_hash=made.secret_hash,
                scopes=scopes,
                lanes=lane_names,
                now=time.time(),
                hourly_quota=hourly_quota,
                daily_quota=daily_quota,
                actor=operator(),
            )
    if json:
        print_json({"key": made.token, **_public(row)})
        return
    console.print(made.token, highlight=False, soft_wrap=True)
    console.print(
        f"[dim]key {row.key_id}: scopes {','.join(row.scopes)}, lanes "
        f"{','.join(row.lanes) or '-'}{quotas_of(row)}. Shown once: store it now; send it "
        "as 'Authorization: Bearer <key>'.[/]",
        highlight=False,
    )


@app.command("list")
def list_keys(
    all_: bool = typer.Option(False, "--all", help="Include revoked keys."),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """List API keys (never their secrets), with their quotas and this hour's and
    today's use (messages accepted)."""
    with user_errors():
        cfg = load(config)
        hour, day = periods(cfg, time.time())
        with store_for(cfg) as store:
            rows = store.credentials.api_keys(include_revoked=all_)
            use = store.credentials.usage("api_key", [r.key_id for r in rows], hour, day)
    if json:
        print_json(
            [
                {**_public(r), **quota_json(r.hourly_quota, r.daily_quota, use[r.key_id])}
                for r in rows
            ]
        )
        return
    table = Table(title=f"{len(rows)} API key(s)")
    columns = ("key id", "name", "scopes", "lanes", "this hour", "today", "created", "revoked")
    for column in columns:
        table.add_column(column)
    for r in rows:
        table.add_row(
            r.key_id,
            r.name,
            ",".join(r.scopes),
            ",".join(r.lanes) or "-",
            quota_text(r.hourly_quota, use[r.key_id][0]),
            quota_text(r.daily_quota, use[r.key_id][1]),
            _when(r.created_at),
            _when(r.revoked_at),
        )
    console.print(table)
    console.print("[dim]this hour / today: messages accepted (/ quota)[/]", highlight=False)


@app.command("revoke")
def revoke(
    key_id: str = typer.Argument(..., help="The key id (from `keys list`) or the whole key."),
    config: Path | None = ConfigOption,
) -> None:
    """Revoke an API key: it stops working at once."""
    with user_errors():
        cfg = load(config)
        key_id = _key_id(key_id)
        with store_for(cfg) as store:
            row = store.credentials.revoke_api_key(key_id, time.time(), actor=operator())
    console.print(f"revoked API key {row.key_id} ({row.name})")


@app.command("quota")
def quota(
    key_id: str = typer.Argument(..., help="The key id (from `keys list`) or the whole key."),
    hourly: str | None = HourlyOption,
    daily: str | None = DailyOption,
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Set or lift an API key's hourly and daily message quotas (at once, for new mail)."""
    with user_errors():
        cfg = load(config)
        key_id = _key_id(key_id)
        new_hourly, new_daily = quota_changes(hourly, daily)
        with store_for(cfg) as store:
            row = store.credentials.set_api_key_quota(
                key_id, time.time(), hourly=new_hourly, daily=new_daily, actor=operator()
            )
    if json:
        print_json(_public(row))
        return
    console.print(f"API key {row.key_id} ({row.name}){quotas_of(row) or ': no quota'}")


def _key_id(key_id: str) -> str:
    return key_id.split("_")[1] if key_id.startswith("rl_") else key_id


def quotas_of(r: ApiKeyRow | SmtpUserRow) -> str:
    """ ", quota 100/hour and 1000/day" (empty without a quota), for keys and SMTP users."""
    parts = [f"{r.hourly_quota}/hour"] if r.hourly_quota is not None else []
    parts += [f"{r.daily_quota}/day"] if r.daily_quota is not None else []
    return f", quota {' and '.join(parts)}" if parts else ""


def _public(r: ApiKeyRow) -> dict[str, object]:
    return {
        "key_id": r.key_id,
        "name": r.name,
        "scopes": list(r.scopes),
        "lanes": list(r.lanes),
        "hourly_quota": r.hourly_quota,
        "daily_quota": r.daily_quota,
        "created_at": r.created_at,
        "revoked_at": r.revoked_at,
    }


def _when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(t))
