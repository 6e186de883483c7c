"""How big the store is, per kind of data: rows and bytes of each table (with its
indexes), grouped as retention thinks of them.

Bytes come from SQLite's `dbstat` table when this SQLite has it (pages actually used,
indexes included), else are estimated from the lengths of the stored values; from
`pg_total_relation_size` on PostgreSQL (table, indexes and TOAST). `method` says which.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from relaylane.store.engine import reading
from relaylane.store.schema import metadata

__all__ = ["KIND_OF_TABLE", "SizeReport", "TableSize", "measure"]

# Each table's kind of data, as retention and operators think of it.
KIND_OF_TABLE = {
    "messages": "bodies",
    "deliveries": "deliveries",
    "attempts": "attempts",
    "feedback": "feedback",
    "tracking_events": "tracking",
    "metric_buckets": "metrics",
    "suppressions": "suppressions",
    "audit_log": "audit",
    "event_outbox": "events",
    "health_events": "health",
    "relay_health": "health",
    "pacing_counts": "pacing",
    "pacing_events": "pacing",
    "warmup_paths": "pacing",
    "contacts": "contacts",
    "lists": "contacts",
    "list_members": "contacts",
    "campaigns": "campaigns",
    "templates": "campaigns",
}
OTHER = "other"  # keys, users, idempotency, token keys, lane states, quotas, processes


@dataclass(frozen=True, slots=True)
class TableSize:
    table: str
    kind: str
    rows: int
    bytes: int


@dataclass(frozen=True, slots=True)
class SizeReport:
    dialect: str
    method: str  # "dbstat" | "estimate (value lengths)" | "pg_total_relation_size"
    tables: tuple[TableSize, ...]
    file_bytes: int | None  # SQLite: page_count x page_size (free pages included)

    def kinds(self) -> dict[str, dict[str, int]]:
        """kind -> {"rows", "bytes", "tables"}, in the order of first appearance."""
        out: dict[str, dict[str, int]] = {}
        for t in self.tables:
            k = out.setdefault(t.kind, {"rows": 0, "bytes": 0, "tables": 0})
            k["rows"] += t.rows
            k["bytes"] += t.bytes
            k["tables"] += 1
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "dialect": self.dialect,
            "method": self.method,
            "file_bytes": self.file_bytes,
            "kinds": self.kinds(),
            "tables": [
                {"table": t.table, "kind": t.kind, "rows": t.rows, "bytes": t.bytes}
                for t in self.tables
            ],
        }


def measure(engine: sa.Engine) -> SizeReport:
    names = [t.name for t in metadata.sorted_tables]
    with reading(engine) as conn:
        rows = {
            name: int(conn.execute(sa.text(f'SELECT count(*) FROM "{name}"')).scalar_one())
            for name in names
        }
        if engine.dialect.name == "postgresql":
            method = "pg_total_relation_size"
            sizes = {
                name: int(
                    conn.execute(
                        sa.text("SELECT pg_total_relation_size(CAST(:t AS regclass))"),
                        {"t": name},
                    ).scalar_one()
                )
                for name in names
            }
            file_bytes = None
        else:
            page_size = int(conn.exec_driver_sql("PRAGMA page_size").scalar_one())
            file_bytes = page_size * int(conn.exec_driver_sql("PRAGMA page_count").scalar_one())
            try:
                sizes = _dbstat(conn, names)
                method = "dbstat"
            except sa.exc.OperationalError:  # SQLite built without SQLITE_ENABLE_DBSTAT_VTAB
                sizes = _estimate(conn, names)
                method = "estimate (value lengths)"
    tables = tuple(
        TableSize(name, KIND_OF_TABLE.get(name, OTHER), rows[name], sizes.get(name, 0))
        for name in sorted(names, key=lambda n: (KIND_OF_TABLE.get(n, OTHER), n))
    )
    return SizeReport(engine.dialect.name, method, tables, file_bytes)


def _dbstat(conn: sa.Connection, names: list[str]) -> dict[str, int]:
    """Bytes of pages used by each table and its indexes."""
    owner = {
        str(name): str(tbl)
        for name, tbl in conn.exec_driver_sql(
            "SELECT name, tbl_name FROM sqlite_master WHERE type IN ('table', 'index')"
        )
    }
    sizes = dict.fromkeys(names, 0)
    for name, size in conn.exec_driver_sql("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"):
        table = owner.get(str(name))
        if table in sizes:
            sizes[table] += int(size or 0)
    return sizes


def _estimate(conn: sa.Connection, names: list[str]) -> dict[str, int]:
    """Sum of the stored values' lengths (numbers as their text), plus a few bytes a row."""
    tables = {t.name: t for t in metadata.sorted_tables}
    sizes: dict[str, int] = {}
    for name in names:
        parts = " + ".join(f'coalesce(length("{c.name}"), 0)' for c in tables[name].columns)
        total = conn.execute(sa.text(f'SELECT sum({parts}) + 8 * count(*) FROM "{name}"'))
        sizes[name] = int(total.scalar_one() or 0)
    return sizes
