"""`db backup` while a writer keeps committing, and `db copy` from SQLite to a fresh
PostgreSQL database on which a real worker then delivers what was queued in SQLite."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from relaylane.errors import StoreError
from relaylane.sim.relay import SimRelay
from relaylane.store import open_store
from relaylane.store.audit import AuditAction
from relaylane.store.engine import create_engine
from relaylane.store.schema import deliveries
from relaylane.store.transfer import backup_sqlite, copy_sqlite_to_postgresql, table_counts
from tests.cli_run import run
from tests.conftest import PG_ADMIN_URL
from tests.helpers import deliver, lane, make_config, queue, relay

T0 = 1_700_000_000.0


def _toml(tmp_path: Path, url: str) -> str:
    path = tmp_path / "relaylane.toml"
    path.write_text(
        f'[store]\nurl = "{url}"\n\n[[relay]]\nname = "r1"\nhost = "127.0.0.1"\n'
        'port = 2599\ntls = "none"\n\n[[lane]]\nname = "tx"\npurpose = "transactional"\n'
        'relays = ["r1"]\n'
    )
    return str(path)


def test_backup_is_consistent_while_a_writer_keeps_inserting(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    cfg = make_config(url, [relay("r1", 2599)], [lane("tx", ["r1"])], tmp_path)
    store = open_store(url)
    writer = open_store(url)  # another connection, as serve would be
    stop = threading.Event()
    written = [0]

    def write() -> None:
        n = 0
        while not stop.is_set():
            # one message and its three deliveries per commit
            queue(writer, cfg, "tx", [f"a{n}@x.test", f"b{n}@x.test", f"c{n}@x.test"], T0)
            n += 1
            written[0] = n

    thread = threading.Thread(target=write)
    thread.start()
    try:
        while written[0] < 50:
            stop.wait(0.01)
        result = backup_sqlite(store.engine, tmp_path / "copy.db")
        at_end = written[0]
        while written[0] < at_end + 20:  # the writer went on during and after it
            stop.wait(0.01)
    finally:
        stop.set()
        thread.join()
    assert result.integrity == "ok"
    copy = sqlite3.connect(tmp_path / "copy.db")
    try:
        assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert copy.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        msgs = copy.execute("SELECT count(*) FROM messages").fetchone()[0]
        dels = copy.execute("SELECT count(*) FROM deliveries").fetchone()[0]
        orphans = copy.execute(
            "SELECT count(*) FROM messages m WHERE "
            "(SELECT count(*) FROM deliveries d WHERE d.message_id = m.id) != 3"
        ).fetchone()[0]
    finally:
        copy.close()
    assert 50 <= msgs <= at_end + 1 and dels == 3 * msgs and orphans == 0
    with store.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM messages")).scalar_one() > msgs
    assert not (tmp_path / "copy.db.partial").exists()
    with pytest.raises(StoreError, match="already exists"):
        backup_sqlite(store.engine, tmp_path / "copy.db")
    store.close()
    writer.close()


def test_db_backup_command_writes_the_file_and_an_audit_entry(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'live.db'}"
    path = _toml(tmp_path, url)
    code, out = run("db", "backup", str(tmp_path / "b.db"), "--config", path, "--json")
    assert code == 0, out
    assert json.loads(out)["integrity"] == "ok" and (tmp_path / "b.db").exists()
    store = open_store(url)
    [entry] = store.audit.entries(action="db.backup")
    assert entry.target == str(tmp_path / "b.db") and entry.actor.startswith("operator:")
    store.close()


@pytest.mark.postgres
def test_backup_refuses_postgresql_with_the_fix(pg_url: str, tmp_path: Path) -> None:
    engine = create_engine(pg_url)
    try:
        with pytest.raises(StoreError, match="pg_dump"):
            backup_sqlite(engine, tmp_path / "x.db")
    finally:
        engine.dispose()


@pytest.fixture
def fresh_pg(pg_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (no tables), dropped afterwards."""
    name = f"t_copy_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(
        PG_ADMIN_URL.replace("postgresql://", "postgresql+psycopg://"), isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.mark.postgres
def test_copy_to_postgresql_then_a_worker_there_delivers_what_sqlite_queued(
    fresh_pg: str, tmp_path: Path
) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'old.db'}"
    source = open_store(sqlite_url)
    old_cfg = make_config(sqlite_url, [relay("r1", 2599)], [lane("tx", ["r1"])], tmp_path)
    recipients = [f"user{i}@x.test" for i in range(30)]
    for chunk in range(0, 30, 3):  # ten messages of three recipients each
        queue(source, old_cfg, "tx", recipients[chunk : chunk + 3], time.time())
    source.audit.record(T0, "operator:ann", AuditAction.LANE_PAUSE, "lane tx")

    with pytest.raises(StoreError, match="not a PostgreSQL URL"):
        copy_sqlite_to_postgresql(source.engine, "sqlite:///x.db", actor="t", now=T0)
    path = _toml(tmp_path, sqlite_url)
    code, out = run("db", "copy", "--to", fresh_pg, "--config", path, "--json")
    assert code == 0, out
    copied = json.loads(out)
    assert copied["verified"] is True
    tables = copied["tables"]
    assert tables["messages"] == {"source": 10, "target": 10}
    assert tables["deliveries"] == {"source": 30, "target": 30}
    assert all(t["source"] == t["target"] for t in tables.values())
    with source.engine.connect() as conn:
        assert table_counts(conn) == {name: t["source"] for name, t in tables.items()}

    # a second copy into the same (now filled) database is refused with the fix
    with pytest.raises(StoreError, match="not empty"):
        copy_sqlite_to_postgresql(source.engine, fresh_pg, actor="t", now=T0)
    source.close()
    # a PostgreSQL source is refused with the fix
    (tmp_path / "pg").mkdir()
    pg_toml = _toml(tmp_path / "pg", fresh_pg)
    code, out = run("db", "copy", "--to", fresh_pg, "--config", pg_toml)
    assert code == 1 and "pg_dump" in " ".join(out.split())

    asyncio.run(_deliver_on_postgresql(fresh_pg, tmp_path, recipients))


async def _deliver_on_postgresql(url: str, tmp_path: Path, recipients: list[str]) -> None:
    store = open_store(url)
    try:
        [entry] = store.audit.entries(action="db.copy")
        assert entry.effect["verified"] is True and entry.effect["rows"]["deliveries"] == 30
        async with SimRelay() as sim:
            cfg = make_config(url, [relay("r1", sim.port)], [lane("tx", ["r1"])], tmp_path)
            # sequences continue after the copied ids: new mail queues beside the old
            new_ids = queue(store, cfg, "tx", ["late@x.test"], time.time())
            assert min(new_ids) > 30
            stats = await deliver(cfg, store)
        got = Counter(r for message in sim.received for r in message.rcpt_tos)
        assert got == Counter([*recipients, "late@x.test"])  # each exactly once
        with store.engine.connect() as conn:
            states = Counter(conn.execute(sa.select(deliveries.c.state)).scalars())
        assert states == {"sent": 31}, (states, stats)
    finally:
        store.close()
