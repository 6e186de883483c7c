"""`relaylane keys create|list|revoke`: API keys with scopes and lanes."""

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
    print_json,
    store_for,
    user_errors,
)
from relaylane.config import Config
from relaylane.errors import InputError
from relaylane.store.credentials import ApiKeyRow

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


@app.command("create")
def create(
    scope: list[str] = typer.Option(
        ..., "--scope", help="send, read or admin; repeat or separate with commas."
    ),
    lanes: list[str] = typer.Option(
        [], "--lanes", help="Lanes this key may send into (comma-separated; first = default)."
    ),
    name: str = typer.Option("", "--name", help="A label to recognise the key by."),
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
            )
    if json:
        print_json({"key": made.token, **_public(row)})
        return
    console.print(made.token, highlight=False, soft_wrap=True)
    console.print(
        f"[dim]key {row.key_id}: scopes {','.join(row.scopes)}, lanes "
        f"{','.join(row.lanes) or '-'}. Shown once: store it now; send it as "
        "'Authorization: Bearer <key>'.[/]",
        highlight=False,
    )


@app.command("list")
def list_keys(
    all_: bool = typer.Option(False, "--all", help="Include revoked keys."),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """List API keys (never their secrets)."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            rows = store.credentials.api_keys(include_revoked=all_)
    if json:
        print_json([_public(r) for r in rows])
        return
    table = Table(title=f"{len(rows)} API key(s)")
    for column in ("key id", "name", "scopes", "lanes", "created", "revoked"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r.key_id,
            r.name,
            ",".join(r.scopes),
            ",".join(r.lanes) or "-",
            _when(r.created_at),
            _when(r.revoked_at),
        )
    console.print(table)


@app.command("revoke")
def revoke(
    key_id: str = typer.Argument(..., help="The key id (from `keys list`) or the whole key."),
    config: Path | None = ConfigOption,
) -> None:
    """Revoke an API key: it stops working at once."""
    with user_errors():
        cfg = load(config)
        if key_id.startswith("rl_"):
            key_id = key_id.split("_")[1]
        with store_for(cfg) as store:
            row = store.credentials.revoke_api_key(key_id, time.time())
    console.print(f"revoked API key {row.key_id} ({row.name})")


def _public(r: ApiKeyRow) -> dict[str, object]:
    return {
        "key_id": r.key_id,
        "name": r.name,
        "scopes": list(r.scopes),
        "lanes": list(r.lanes),
        "created_at": r.created_at,
        "revoked_at": r.revoked_at,
    }


def _when(t: float | None) -> str:
    return "-" if t is None else time.strftime("%Y-%m-%d %H:%M", time.gmtime(t))
