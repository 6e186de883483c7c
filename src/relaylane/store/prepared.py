"""Statements compiled once per dialect, for the batched hot path.

SQLAlchemy Core builds and type-processes parameters per row, which costs more than the
database itself for the worker's executemany batches. A `Prepared` statement is compiled
once per dialect and run with plain rows through the driver's executemany (parameters
are ints, floats, strings, bytes, bools and None: no type processing is needed).
"""

from __future__ import annotations

import operator
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
        `sane_rowcount`). Rows must all have the same keys; bind parameters a row leaves
        out take the statement's own values."""
        if not rows:
            return 0
        sql, names, defaults = self._for(conn.dialect)
        missing = {k: v for k, v in defaults.items() if k not in rows[0]}
        full = [{**missing, **r} for r in rows] if missing else rows
        params: Sequence[Any]
        if names is None:
            params = full
        elif len(names) == 1:
            params = [(r[names[0]],) for r in full]
        else:
            getter = operator.itemgetter(*names)
            params = [getter(r) for r in full]
        return conn.exec_driver_sql(sql, params).rowcount


def sane_rowcount(conn: sa.Connection) -> bool:
    """Whether executemany reports the total number of rows matched on this driver."""
    return bool(conn.dialect.supports_sane_multi_rowcount)
