"""Backups of a SQLite store, and moving a SQLite store to PostgreSQL.

`backup_sqlite` uses SQLite's online backup API over the engine's own connection, all
pages in one step: one read snapshot of a WAL database, so it is consistent while
`serve` keeps writing (writers are not blocked; what they commit after the snapshot
began is simply not in the copy). The file is written beside the target and renamed
into place once complete and checked (`PRAGMA integrity_check`).

`copy_sqlite_to_postgresql` copies every table, in foreign-key order and batches, from
one read snapshot of the SQLite store into an empty PostgreSQL database migrated to the
same revision, all in ONE PostgreSQL transaction (a failure leaves the target empty, so
the copy can simply be run again); then sets each id sequence past the largest id and
compares the row counts table by table.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from relaylane.errors import StoreError
from relaylane.store.audit import AuditAction, record_in
from relaylane.store.engine import (
    SQLITE_BUSY_TIMEOUT_MS,
    create_engine,
    current_revision,
    head_revision,
    upgrade,
)
from relaylane.store.schema import metadata

__all__ = [
    "BackupResult",
    "CopyResult",
    "backup_sqlite",
    "copy_sqlite_to_postgresql",
    "table_counts",
]

DEFAULT_COPY_BATCH = 2000  # rows per INSERT batch of `db copy`

PG_DUMP_FIX = (
    "Fix: back up PostgreSQL with its own tools, e.g. "
    "`pg_dump --format=custom --file=relaylane.dump DBNAME` (restore with pg_restore)"
)


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: str
    bytes: int
    seconds: float
    integrity: str  # PRAGMA integrity_check of the copy: "ok"

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "bytes": self.bytes,
            "seconds": round(self.seconds, 3),
            "integrity": self.integrity,
        }


def _sqlite_path(engine: sa.Engine) -> str | None:
    db = engine.url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return db


def backup_sqlite(engine: sa.Engine, target: Path) -> BackupResult:
    """Write a consistent copy of the SQLite store to `target` (which must not exist)."""
    if engine.dialect.name != "sqlite":
        raise StoreError(
            f"`db backup` copies a SQLite store; this one is PostgreSQL. {PG_DUMP_FIX}"
        )
    if _sqlite_path(engine) is None:
        raise StoreError(
            "this SQLite store lives in memory: there is no file to back up. "
            'Fix: set [store] url = "sqlite:///PATH"'
        )
    target = target.expanduser().absolute()
    if target.exists():
        raise StoreError(
            f"{target} already exists; a backup never overwrites a file. "
            "Fix: choose a new file name (e.g. one with the date), or move the old one away"
        )
    if not target.parent.is_dir():
        raise StoreError(f"{target.parent} is not a directory. Fix: create it first")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    started = time.monotonic()
    raw = engine.raw_connection()
    try:
        source = raw.driver_connection
        assert isinstance(source, sqlite3.Connection)
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            source.backup(copy, pages=-1)  # one step: one read snapshot of the WAL database
            copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
            integrity = str(copy.execute("PRAGMA integrity_check").fetchone()[0])
        finally:
            copy.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        raw.close()
    if integrity != "ok":
        partial.unlink(missing_ok=True)
        raise StoreError(f"the backup failed its integrity check ({integrity}); nothing written")
    with open(partial, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(partial, target)
    return BackupResult(str(target), target.stat().st_size, time.monotonic() - started, integrity)


# -- db copy ----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CopyResult:
    revision: str
    source: dict[str, int]  # table -> rows in the SQLite snapshot
    target: dict[str, int]  # table -> rows in PostgreSQL after the copy
    sequences: dict[str, int]  # table -> the next id its sequence gives
    seconds: float

    @property
    def verified(self) -> bool:
        return self.source == self.target

    def as_dict(self) -> dict[str, Any]:
        return {
            "revision": self.revision,
            "verified": self.verified,
            "tables": {
                name: {"source": self.source[name], "target": self.target.get(name)}
                for name in self.source
            },
            "sequences": self.sequences,
            "seconds": round(self.seconds, 3),
        }


def table_counts(conn: sa.Connection) -> dict[str, int]:
    """Rows of every table of the schema, in foreign-key order."""
    return {
        t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
        for t in metadata.sorted_tables
    }


def _snapshot_engine(url: sa.URL) -> sa.Engine:
    """A SQLite engine whose transactions are plain (deferred) BEGINs: in WAL mode its
    first read starts a snapshot that later reads share, and no writer is blocked."""
    engine = sa.create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN")

    return engine


def _target_rows(target: sa.Engine) -> dict[str, int]:
    """Rows already in the target's tables of ours (only those that exist)."""
    with target.connect() as conn:
        present = set(sa.inspect(conn).get_table_names())
        return {
            t.name: int(conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one())
            for t in metadata.sorted_tables
            if t.name in present
        }


def _reset_sequences(conn: sa.Connection) -> dict[str, int]:
    """Each table's id sequence continues after its largest id; returns the next ids."""
    out: dict[str, int] = {}
    for table in metadata.sorted_tables:
        if "id" not in table.c or not table.c.id.primary_key:
            continue
        seq = conn.execute(
            sa.text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table.name}
        ).scalar()
        if seq is None:  # an id we choose ourselves (token_keys)
            continue
        top = conn.execute(sa.select(sa.func.max(table.c.id))).scalar()
        following = int(top or 0) + 1
        conn.execute(sa.text("SELECT setval(:s, :v, false)"), {"s": seq, "v": following})
        out[table.name] = following
    return out


def copy_sqlite_to_postgresql(
    source: sa.Engine,
    target_url: str,
    *,
    actor: str,
    now: float,
    batch: int = DEFAULT_COPY_BATCH,
) -> CopyResult:
    """Copy the SQLite store behind `source` into the empty PostgreSQL database at
    `target_url` (see the module's docstring). Raises StoreError, with the fix, for a
    source that is not SQLite, a target that is not PostgreSQL or not empty, or a
    source whose schema is not current. Once verified, a DB_COPY audit entry by `actor`
    is written in the target (so its audit_log then holds one row more)."""
    if source.dialect.name != "sqlite":
        raise StoreError(
            "`db copy` moves a SQLite store to PostgreSQL; [store] url is already "
            f"{source.dialect.name}. Fix: to copy between PostgreSQL databases use "
            "`pg_dump --format=custom` and `pg_restore`"
        )
    if not target_url.startswith(("postgresql://", "postgres://", "postgresql+psycopg://")):
        raise StoreError(
            f"--to {target_url!r} is not a PostgreSQL URL. "
            "Fix: pass --to postgresql://USER@HOST:5432/DATABASE (an empty database)"
        )
    head = head_revision()
    revision = current_revision(source)
    if revision != head:
        raise StoreError(
            f"the SQLite store is at revision {revision or 'none'}, this relaylane needs "
            f"{head}. Fix: run `relaylane db upgrade` first"
        )
    started = time.monotonic()
    target = create_engine(target_url)
    snapshot = _snapshot_engine(source.url)
    try:
        try:
            existing = _target_rows(target)
        except sa.exc.OperationalError as exc:
            raise StoreError(
                f"cannot open the target database: {exc.orig}. Fix: create it first "
                "(`createdb relaylane`) and check the URL, user and password"
            ) from exc
        filled = {name: n for name, n in existing.items() if n}
        if filled:
            shown = ", ".join(f"{name} ({n})" for name, n in filled.items())
            raise StoreError(
                f"the target database is not empty: {shown}. Fix: copy into a new, empty "
                "database (`createdb relaylane_new`), or drop this one's tables first"
            )
        upgrade(target)
        with snapshot.connect() as src:
            source_counts = table_counts(src)  # first read: the snapshot starts here
            with target.begin() as dst:
                for table in metadata.sorted_tables:
                    _copy_table(src, dst, table, batch)
                sequences = _reset_sequences(dst)
        with target.connect() as conn:
            target_counts = table_counts(conn)
        result = CopyResult(
            head, source_counts, target_counts, sequences, time.monotonic() - started
        )
        with target.begin() as conn:
            record_in(
                conn,
                now,
                actor,
                AuditAction.DB_COPY,
                target="postgresql",
                args={"from": source.url.render_as_string(hide_password=True)},
                effect={"verified": result.verified, "rows": source_counts},
            )
    finally:
        snapshot.dispose()
        target.dispose()
    return result


def _copy_table(src: sa.Connection, dst: sa.Connection, table: sa.Table, batch: int) -> None:
    order = list(table.primary_key.columns) or list(table.columns)
    rows = src.execution_options(yield_per=batch).execute(sa.select(table).order_by(*order))
    for part in rows.partitions(batch):
        dst.execute(table.insert(), [dict(row._mapping) for row in part])
