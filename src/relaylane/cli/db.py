"""`relaylane db upgrade`: schema migrations (Alembic)."""

from __future__ import annotations

from pathlib import Path

import typer

from relaylane.cli.common import ConfigOption, console, load, user_errors
from relaylane.store.engine import create_engine, upgrade

app = typer.Typer(help="Database schema.", no_args_is_help=True)


@app.command("upgrade")
def db_upgrade(config: Path | None = ConfigOption) -> None:
    """Migrate the store's schema to this version of relaylane."""
    with user_errors():
        cfg = load(config)
        engine = create_engine(cfg.store.url, cfg.source_path.parent)
        try:
            before, after = upgrade(engine)
        finally:
            engine.dispose()
    if before == after:
        console.print(f"schema already at revision {after}")
    else:
        console.print(f"schema upgraded from revision {before or 'none (empty)'} to {after}")
