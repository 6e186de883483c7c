"""`relaylane smtp-users create|list|revoke|quota`: credentials for SMTP submission."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.table import Table

from relaylane.auth.principal import Notify, split_list
from relaylane.auth.secrets import hash_password, new_password
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
from relaylane.cli.keys import (
    DailyOption,
    DailyQuotaOption,
    HourlyOption,
    HourlyQuotaOption,
    _when,
    check_lanes,
    periods,
    quota_changes,
    quota_json,
    quota_text,
    quotas_of,
)
from relaylane.config.models import _check_name
from relaylane.errors import InputError
from relaylane.store.credentials import SmtpUserRow

app = typer.Typer(
    help="SMTP submission users (passwords stored with scrypt).", no_args_is_help=True
)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="The user name applications log in with."),
    lanes: list[str] = typer.Option(
        ..., "--lanes", help="Lanes it may send into (comma-separated; first = default)."
    ),
    password: str | None = typer.Option(
        None, "--password", help="Its password; one is generated and printed once when omitted."
    ),
    notify: Notify = typer.Option(
        Notify.NONE, "--notify", help="dsn: mail a delivery status notification on failure."
    ),
    hourly_quota: int | None = HourlyQuotaOption,
    daily_quota: int | None = DailyQuotaOption,
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Create an SMTP user; a generated password is printed ONCE."""
    with user_errors():
        cfg = load(config)
        try:
            _check_name(name)
        except Exception as exc:
            raise InputError(
                "NAME", f"{name!r} is not a valid user name", "use letters, digits, '.', '_', '-'"
            ) from exc
        lane_names = split_list(lanes)
        check_lanes(cfg, lane_names, True)
        if password is not None and len(password) < 12:
            raise InputError(
                "--password", "the password is shorter than 12 characters", "use a longer one"
            )
        secret = password or new_password()
        with store_for(cfg) as store:
            row = store.credentials.add_smtp_user(
                name=name,
                password_hash=hash_password(secret),
                lanes=lane_names,
                notify=notify,
                now=time.time(),
                hourly_quota=hourly_quota,
                daily_quota=daily_quota,
                actor=operator(),
            )
    shown = None if password else secret
    if json:
        print_json({**_public(row), "password": shown})
        return
    if shown:
        console.print(shown, highlight=False)
    console.print(
        f"[dim]SMTP user {row.name}: lanes {','.join(row.lanes)}, notify {row.notify}"
        f"{quotas_of(row)}."
        + (" The password is shown once: store it now.[/]" if shown else "[/]"),
        highlight=False,
    )


@app.command("list")
def list_users(
    all_: bool = typer.Option(False, "--all", help="Include revoked users."),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """List SMTP users (never their passwords), with their quotas and this hour's and
    today's use (messages accepted)."""
    with user_errors():
        cfg = load(config)
        hour, day = periods(cfg, time.time())
        with store_for(cfg) as store:
            rows = store.credentials.smtp_users(include_revoked=all_)
            use = store.credentials.usage("smtp_user", [r.name for r in rows], hour, day)
    if json:
        print_json(
            [{**_public(r), **quota_json(r.hourly_quota, r.daily_quota, use[r.name])} for r in rows]
        )
        return
    table = Table(title=f"{len(rows)} SMTP user(s)")
    for column in ("name", "lanes", "notify", "this hour", "today", "created", "revoked"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r.name,
            ",".join(r.lanes),
            r.notify,
            quota_text(r.hourly_quota, use[r.name][0]),
            quota_text(r.daily_quota, use[r.name][1]),
            _when(r.created_at),
            _when(r.revoked_at),
        )
    console.print(table)
    console.print("[dim]this hour / today: messages accepted (/ quota)[/]", highlight=False)


@app.command("revoke")
def revoke(
    name: str = typer.Argument(..., help="The user name."),
    config: Path | None = ConfigOption,
) -> None:
    """Revoke an SMTP user: its next AUTH fails."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            row = store.credentials.revoke_smtp_user(name, time.time(), actor=operator())
    console.print(f"revoked SMTP user {row.name}")


@app.command("quota")
def quota(
    name: str = typer.Argument(..., help="The user name."),
    hourly: str | None = HourlyOption,
    daily: str | None = DailyOption,
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Set or lift an SMTP user's hourly and daily message quotas (at once, for new mail)."""
    with user_errors():
        cfg = load(config)
        new_hourly, new_daily = quota_changes(hourly, daily)
        with store_for(cfg) as store:
            row = store.credentials.set_smtp_user_quota(
                name, time.time(), hourly=new_hourly, daily=new_daily, actor=operator()
            )
    if json:
        print_json(_public(row))
        return
    console.print(f"SMTP user {row.name}{quotas_of(row) or ': no quota'}")


def _public(r: SmtpUserRow) -> dict[str, object]:
    return {
        "name": r.name,
        "lanes": list(r.lanes),
        "notify": r.notify,
        "hourly_quota": r.hourly_quota,
        "daily_quota": r.daily_quota,
        "created_at": r.created_at,
        "revoked_at": r.revoked_at,
    }
