"""Opening the database: URL handling, SQLite durability settings, schema migrations.

SQLite runs in WAL mode with synchronous=FULL, so a commit is on disk when it returns,
and every write transaction starts with BEGIN IMMEDIATE, so a read-then-write inside
one transaction never races another process; writers of one process first take turns on
a lock of their own (`store.sqlite_locking`). Reads go through `reading(engine)`: a
deferred transaction that takes no lock. PostgreSQL uses psycopg 3.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory

from relaylane.errors import StoreError
from relaylane.store.sqlite_locking import LockingConnection, connect_args

SCRIPT_LOCATION = "relaylane.store:migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000


def normalize_url(url: str, base_dir: Path | None = None) -> str:
    """Pick our drivers and resolve a relative SQLite path against `base_dir`."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        rel = url[len("sqlite:///") :]
        if rel and rel != ":memory:" and base_dir is not None:
            return "sqlite:///" + str((base_dir / rel).resolve())
    return url


READ_ONLY = "relaylane_read_only"  # execution option of `reading` connections


def reading(engine: sa.Engine) -> sa.Connection:
    """A connection for reads (`with reading(engine) as conn:`). On SQLite its
    transaction is deferred: it takes no write lock and, in WAL mode, waits for no
    writer. Anything written through it is rolled back when it closes."""
    return engine.connect().execution_options(**{READ_ONLY: True})


def _sqlite_engine(url: str) -> sa.Engine:
    timeout = SQLITE_BUSY_TIMEOUT_MS / 1000
    database = sa.engine.make_url(url).database or ""
    if database in ("", ":memory:"):  # a database of each connection's own: no lock
        engine = sa.create_engine(url, connect_args={"check_same_thread": False})
    else:
        engine = sa.create_engine(url, connect_args=connect_args(database, timeout))

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get(READ_ONLY):
            conn.exec_driver_sql("BEGIN")
            return
        dbapi = conn.connection.dbapi_connection
        if isinstance(dbapi, LockingConnection):
            dbapi.hold(timeout)
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        except BaseException:
            if isinstance(dbapi, LockingConnection):
                dbapi.let_go()
            raise

    return engine


def create_engine(url: str, base_dir: Path | None = None) -> sa.Engine:
    """An engine for `url` (sqlite:///..., postgresql://...), with our settings."""
    full = normalize_url(url, base_dir)
    try:
        if full.startswith("sqlite"):
            return _sqlite_engine(full)
        return sa.create_engine(full, pool_size=5, max_overflow=5, pool_pre_ping=True)
    except (sa.exc.ArgumentError, ImportError) as exc:
        raise StoreError(
            f"store url {url!r} cannot be used: {exc}. "
            "Fix: use sqlite:///PATH or postgresql://USER@HOST:PORT/DB"
        ) from exc


def _alembic_config(conn: sa.Connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    cfg.attributes["connection"] = conn
    return cfg


def head_revision() -> str:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    head = ScriptDirectory.from_config(cfg).get_current_head()
    assert head is not None
    return head


def known_revisions() -> frozenset[str]:
    """Every schema revision this relaylane has a migration for."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", SCRIPT_LOCATION)
    return frozenset(s.revision for s in ScriptDirectory.from_config(cfg).walk_revisions())


def newer_schema_error(current: str) -> StoreError:
    return StoreError(
        f"the database schema is at revision {current}, newer than this relaylane knows (it "
        f"knows up to {head_revision()}): a newer relaylane upgraded it. Fix: upgrade "
        "relaylane on this host to the version the others run; never run an older worker "
        "against a newer schema"
    )


def current_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: sa.Engine) -> tuple[str | None, str]:
    """Migrate the schema to the newest revision; returns (before, after). Refuses a
    schema newer than this relaylane knows (it would not know how to go back)."""
    before = current_revision(engine)
    if before is not None and before not in known_revisions():
        raise newer_schema_error(before)
    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "head")
    return before, head_revision()


def ensure_schema(engine: sa.Engine) -> None:
    """SQLite upgrades itself; PostgreSQL must be upgraded with `relaylane db upgrade`."""
    try:
        current = current_revision(engine)
    except sa.exc.OperationalError as exc:
        raise StoreError(
            f"cannot open the store: {exc.orig}. Fix: check [store] url and that the "
            "database server is running"
        ) from exc
    if current == head_revision():
        return
    if current is not None and current not in known_revisions():
        raise newer_schema_error(current)
    if engine.dialect.name == "sqlite":
        upgrade(engine)
        return
    raise StoreError(
        f"the database schema is at revision {current or 'none'}, this relaylane needs "
        f"{head_revision()}. Fix: run `relaylane db upgrade`"
    )
