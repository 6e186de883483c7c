"""Running `serve` and `worker` processes: each writes a heartbeat row with the hash of
the configuration it runs, so `relaylane workers` can show which hosts disagree."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from relaylane.store.schema import processes
from relaylane.store.upsert import insert_for

__all__ = ["HEARTBEAT", "STALE_AFTER", "ProcessRow", "SqlProcesses", "process_id"]

P = processes.c
HEARTBEAT = 5.0  # seconds between a process's heartbeats
STALE_AFTER = 30.0  # a process not seen for this long is shown as gone (crashed, killed)


def process_id(started_at: float) -> str:
    """host:pid:start: unique across hosts and restarts."""
    return f"{socket.gethostname()}:{os.getpid()}:{int(started_at)}"


@dataclass(frozen=True, slots=True)
class ProcessRow:
    id: str
    role: str
    host: str
    pid: int
    started_at: float
    seen_at: float
    config_hash: str
    config_loaded_at: float
    claimed: int = 0
    sent: int = 0

    def as_dict(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "host": self.host,
            "pid": self.pid,
            "started_at": self.started_at,
            "seen_at": self.seen_at,
            "seen_ago": max(0.0, now - self.seen_at),
            "alive": now - self.seen_at < STALE_AFTER,
            "state": "live" if now - self.seen_at < STALE_AFTER else "lost",
            "config_hash": self.config_hash,
            "config_loaded_at": self.config_loaded_at,
            "claimed": self.claimed,
            "sent": self.sent,
        }


class SqlProcesses:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def beat(
        self,
        ident: str,
        role: str,
        started_at: float,
        config_hash: str,
        loaded_at: float,
        now: float,
        claimed: int = 0,
        sent: int = 0,
    ) -> None:
        """Insert or refresh this process's row."""
        values = {
            "id": ident,
            "role": role,
            "host": ident.rsplit(":", 2)[0],
            "pid": int(ident.rsplit(":", 2)[1]),
            "started_at": started_at,
            "seen_at": now,
            "config_hash": config_hash,
            "config_loaded_at": loaded_at,
            "claimed": claimed,
            "sent": sent,
        }
        with self.engine.begin() as conn:
            stmt = insert_for(conn, processes).values(**values)
            kept = ("seen_at", "config_hash", "config_loaded_at", "claimed", "sent")
            changed = {k: stmt.excluded[k] for k in kept}
            conn.execute(stmt.on_conflict_do_update(index_elements=["id"], set_=changed))

    def gone(self, ident: str) -> None:
        """A process that stops cleanly removes its row."""
        with self.engine.begin() as conn:
            conn.execute(processes.delete().where(P.id == ident))

    def all(self, now: float, forget_after: float = 86_400.0) -> list[ProcessRow]:
        """Every process seen within `forget_after` seconds, newest start first (older
        rows of crashed processes are removed)."""
        with self.engine.begin() as conn:
            conn.execute(processes.delete().where(P.seen_at < now - forget_after))
            rows = conn.execute(sa.select(processes).order_by(P.started_at.desc())).all()
        return [
            ProcessRow(
                r.id,
                r.role,
                r.host,
                int(r.pid),
                float(r.started_at),
                float(r.seen_at),
                r.config_hash,
                float(r.config_loaded_at),
                int(r.claimed),
                int(r.sent),
            )
            for r in rows
        ]
