"""Statements compiled once per dialect, for the batched hot path.

SQLAlchemy Core builds and type-processes parameters per row, which costs more than the
database itself for the worker's executemany batches. A `Prepared` statement is compiled
once per dialect and run with plain rows through the driver's executemany (parameters
are ints, floats, strings, bytes, bools and None: no type processing is needed).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.dml import UpdateBase


class Prepared:
    def __init__(self, stmt: UpdateBase) -> None:
        self.stmt = stmt
        self._compiled: dict[str, tuple[str, tuple[str, ...] | None, dict[str, Any]]] = {}

    def _for(self, dialect: sa.Dialect) -> tuple[str, tuple[str, ...] | None, dict[str, Any]]:
        entry = self._compiled.get(dialect.name)
        if entry is None:
            compiled = self.stmt.compile(dialect=dialect)
            names = (
                tuple(compiled.positiontup)
                if compiled.positional and compiled.positiontup
                else None
            )
            defaults = {name: bind.value for name, bind in compiled.binds.items()}
            entry = (str(compiled), names, defaults)
            self._compiled[dialect.name] = entry
        return entry

    def executemany(self, conn: sa.Connection, rows: Sequence[Mapping[str, Any]]) -> int:
        """Run for every row in one executemany; returns the total rowcount (see
        `sane_rowcount`)."""
        sql, names, defaults = self._for(conn.dialect)
        params: list[Any]
        if names is not None:
            params = [tuple(r[n] if n in r else defaults[n] for n in names) for r in rows]
        else:
            params = [{**defaults, **r} for r in rows]
        return conn.exec_driver_sql(sql, params).rowcount


def sane_rowcount(conn: sa.Connection) -> bool:
    """Whether executemany reports the total number of rows matched on this driver."""
    return bool(conn.dialect.supports_sane_multi_rowcount)
