"""SQLite writers of one process take turns on a lock of their own, not on SQLite's.

SQLite lets one writer at a time hold a database; the others wait in its busy handler,
which polls by sleeping 1, 2, 5, 10, ... up to 100 ms between tries. Under load (intake
commits, a worker's ticks, its limit grants and upkeep, all in `relaylane serve`), that
sleeping, not the work, made a transactional message wait seconds behind a marketing
flood. Writers in one process therefore queue on a `threading.Lock` per database file,
which is handed over as soon as the holder commits, and only then ask SQLite (which
still arbitrates between processes, with its busy timeout).

Reads (`store.engine.reading`) start a deferred transaction and take no lock: in WAL
mode they see the last commit and never wait for a writer.
"""

from __future__ import annotations

import sqlite3
import threading
from typing import Any

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def write_lock(database: str) -> threading.Lock:
    """The process's lock for the database file `database`."""
    with _locks_guard:
        return _locks.setdefault(database, threading.Lock())


class LockingConnection(sqlite3.Connection):
    """A sqlite3 connection that releases its process's write lock when its transaction
    ends (commit, rollback or close), whichever way it ends."""

    write_lock: threading.Lock | None = None
    _holding = False

    def hold(self, timeout: float) -> None:
        """Wait for this process's other writers; after `timeout`, go on and let SQLite's
        busy handler decide (a stuck holder never blocks us for ever)."""
        if self.write_lock is not None and not self._holding:
            self._holding = self.write_lock.acquire(timeout=timeout)

    def let_go(self) -> None:
        if self._holding and self.write_lock is not None:
            self._holding = False
            self.write_lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.let_go()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.let_go()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.let_go()


def connect_args(database: str, timeout: float) -> dict[str, Any]:
    """sqlite3.connect arguments for connections that share `database`'s write lock."""
    lock = write_lock(database)

    class Connection(LockingConnection):
        write_lock = lock

    return {"check_same_thread": False, "timeout": timeout, "factory": Connection}
