"""SQLite writers of one process take turns on a Python lock; readers take none."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import sqlalchemy as sa

from relaylane.store.engine import create_engine, reading
from relaylane.store.sqlite_locking import write_lock


def table(engine: sa.Engine) -> sa.Table:
    meta = sa.MetaData()
    t = sa.Table(
        "t", meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("n", sa.Integer)
    )
    meta.create_all(engine)
    return t


def test_concurrent_writers_all_commit_and_the_lock_is_free_after(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    engine = create_engine(f"sqlite:///{db}")
    t = table(engine)

    def write(n: int) -> None:
        for k in range(20):
            with engine.begin() as conn:
                conn.execute(t.insert(), {"n": n * 100 + k})

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(write, range(4)))
    with reading(engine) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() == 80
    assert write_lock(str(db)).acquire(blocking=False)  # nobody holds it now
    write_lock(str(db)).release()


def test_a_rolled_back_or_failed_write_releases_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    engine = create_engine(f"sqlite:///{db}")
    t = table(engine)
    try:
        with engine.begin() as conn:
            conn.execute(t.insert(), {"id": 1, "n": 1})
            conn.execute(t.insert(), {"id": 1, "n": 2})  # duplicate key: rolls back
    except sa.exc.IntegrityError:
        pass
    with engine.connect() as conn:  # an implicit transaction, never committed
        conn.execute(t.insert(), {"id": 2, "n": 2})
    assert write_lock(str(db)).acquire(blocking=False)
    write_lock(str(db)).release()
    with reading(engine) as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() == 0


def test_a_reader_does_not_wait_for_a_writer(tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    engine = create_engine(f"sqlite:///{db}")
    t = table(engine)
    with engine.begin() as conn:
        conn.execute(t.insert(), {"id": 1, "n": 1})
    holding, done = threading.Event(), threading.Event()

    def slow_writer() -> None:
        with engine.begin() as conn:
            conn.execute(t.insert(), {"id": 2, "n": 2})
            holding.set()
            done.wait(10)

    writer = threading.Thread(target=slow_writer)
    writer.start()
    holding.wait(10)
    started = time.monotonic()
    with reading(engine) as conn:  # sees the last commit, at once
        assert conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one() == 1
    waited = time.monotonic() - started
    done.set()
    writer.join()
    assert waited < 5  # an upper bound: a reader taking the write lock would wait 10 s
