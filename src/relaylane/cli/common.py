"""What every command shares: loading the config, opening the store, printing, errors."""

from __future__ import annotations

import getpass
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any, NoReturn

import sqlalchemy as sa
import typer
from rich.console import Console
from rich.markup import escape

from relaylane.config import Config, load_config
from relaylane.errors import ConfigError, InputError, NotFoundError, RelaylaneError, StoreError
from relaylane.store import Store, open_store

console = Console()
err_console = Console(stderr=True)

ConfigOption = typer.Option(
    None,
    "--config",
    "-c",
    help="Config file (default: $RELAYLANE_CONFIG, else ./relaylane.toml).",
    show_default=False,
)
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")


def fail(message: str, code: int = 1) -> NoReturn:
    # escape(): messages name sections like [http] and [[relay]], which are not markup
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def user_errors() -> Iterator[None]:
    """Turn relaylane's own errors into a clear message and an exit code, no traceback."""
    try:
        yield
    except ConfigError as exc:
        err_console.print(
            f"[bold red]invalid configuration:[/] {escape(exc.render())}", highlight=False
        )
        raise typer.Exit(1) from None
    except InputError as exc:
        fail(str(exc), 2)
    except NotFoundError as exc:
        fail(str(exc.args[0] if exc.args else exc), 1)
    except StoreError as exc:
        fail(str(exc), 1)
    except sa.exc.DBAPIError as exc:
        fail(
            f"the store failed: {exc.orig!r}. Nothing acknowledged is lost: deliveries in "
            "flight are retried once their lease expires. Check [store] url and the database",
            1,
        )
    except RelaylaneError as exc:
        fail(str(exc), 1)


def load(config_path: Path | None) -> Config:
    return load_config(config_path, os.environ)


@contextmanager
def store_for(config: Config) -> Iterator[Store]:
    store = open_store(config.store.url, config.source_path.parent)
    try:
        yield store
    finally:
        store.close()


def to_jsonable(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return asdict(obj)
    if isinstance(obj, list | tuple):
        return [to_jsonable(o) for o in obj]
    return obj


def print_json(obj: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(obj), indent=2, sort_keys=True, default=str) + "\n")


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def operator() -> str:
    """The actor of an operator's command: "operator:<login name>"."""
    try:
        user = getpass.getuser()
    except Exception:  # no login name in the environment or the user database
        user = "unknown"
    return f"operator:{user}"
