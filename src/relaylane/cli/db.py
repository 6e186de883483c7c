"""`relaylane db`: schema migrations (Alembic), retention, size, backups and moving to
PostgreSQL (docs/operations.md)."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa
import typer
from rich.markup import escape
from rich.table import Table

from relaylane.cli.common import (
    ConfigOption,
    JsonOption,
    console,
    fail,
    load,
    operator,
    print_json,
    store_for,
    user_errors,
)
from relaylane.store.audit import AuditAction
from relaylane.store.dbsize import measure
from relaylane.store.engine import create_engine, upgrade
from relaylane.store.retention import KINDS, prune
from relaylane.store.transfer import backup_sqlite, copy_sqlite_to_postgresql

app = typer.Typer(help="Database schema, retention, size, backups.", no_args_is_help=True)


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


@app.command("prune")
def db_prune(
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; change nothing."),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Remove history older than [retention] allows, in short batches (see
    docs/operations.md#retention). Live deliveries and suppression evidence stay."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            result = prune(store.engine, cfg, time.time(), actor=operator(), dry_run=dry_run)
    if json:
        print_json(result.as_dict())
        return
    verb = "would prune" if dry_run else "pruned"
    table = Table(title=f"relaylane db prune: {verb} {result.total} rows")
    table.add_column("kind")
    table.add_column(verb, justify="right")
    table.add_column("older than")
    limits = {
        "suppressions": "their expiry",
        "bodies": f"{cfg.retention.bodies / 86400:g}d after final ([retention] bodies)",
        "attempts": "attempts limit ([retention] attempts)",
        "feedback": "attempts limit ([retention] attempts)",
        "tracking": f"{cfg.retention.tracking / 86400:g}d ([retention] tracking)",
        "metrics": f"{cfg.retention.metrics / 86400:g}d ([retention] metrics)",
    }
    for kind in KINDS:
        table.add_row(kind, str(result.counts[kind]), limits[kind])
    console.print(table)
    if result.stopped:
        console.print("stopped before the end; run it again to continue")


def _bytes(n: int | None) -> str:
    if n is None:
        return "-"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


@app.command("size")
def db_size(config: Path | None = ConfigOption, json: bool = JsonOption) -> None:
    """Rows and bytes per kind of data (and per table)."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            report = measure(store.engine)
    if json:
        print_json(report.as_dict())
        return
    title = f"relaylane db size ({report.dialect}, bytes by {report.method})"
    if report.file_bytes is not None:
        title += f": file {_bytes(report.file_bytes)}"
    table = Table(title=escape(title))
    for col, right in (("kind", False), ("tables", False), ("rows", True), ("bytes", True)):
        table.add_column(col, justify="right" if right else "left")
    for kind, sums in report.kinds().items():
        names = ", ".join(t.table for t in report.tables if t.kind == kind)
        table.add_row(kind, names, str(sums["rows"]), _bytes(sums["bytes"]))
    console.print(table)


@app.command("backup")
def db_backup(
    file: Path = typer.Argument(..., help="The backup file to write (must not exist)."),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """An online, consistent copy of a SQLite store (safe while serve runs)."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            result = backup_sqlite(store.engine, file)
            store.audit.record(
                time.time(),
                operator(),
                AuditAction.DB_BACKUP,
                target=result.path,
                effect={"bytes": result.bytes, "integrity": result.integrity},
            )
    if json:
        print_json(result.as_dict())
        return
    console.print(
        f"backup written to {escape(result.path)}: {_bytes(result.bytes)} in "
        f"{result.seconds:.1f}s, integrity check {result.integrity}"
    )


@app.command("copy")
def db_copy(
    to: str = typer.Option(..., "--to", help="postgresql://USER@HOST:PORT/DB (empty)."),
    config: Path | None = ConfigOption,
    json: bool = JsonOption,
) -> None:
    """Copy this SQLite store into a new, empty PostgreSQL database and verify it
    (see docs/operations.md#moving-to-postgresql)."""
    with user_errors():
        cfg = load(config)
        with store_for(cfg) as store:
            result = copy_sqlite_to_postgresql(store.engine, to, actor=operator(), now=time.time())
    if json:
        print_json(result.as_dict())
    else:
        table = Table(title=f"relaylane db copy: schema revision {result.revision}")
        table.add_column("table")
        table.add_column("sqlite rows", justify="right")
        table.add_column("postgresql rows", justify="right")
        table.add_column("")
        for name, rows in result.source.items():
            copied = result.target.get(name)
            table.add_row(name, str(rows), str(copied), "ok" if copied == rows else "DIFFERS")
        console.print(table)
    if not result.verified:
        fail("row counts differ between the SQLite store and the copy: do not switch to it")
    if not json:
        shown = sa.make_url(to).render_as_string(hide_password=True)
        console.print(
            f"copied and verified in {result.seconds:.1f}s. Next: set [store] url = "
            f'"{escape(shown)}" and start relaylane again (docs/operations.md)'
        )
