"""INSERT with ON CONFLICT on either of the store's dialects (SQLite and PostgreSQL both
support it, through their own SQLAlchemy insert constructs)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

__all__ = ["insert_for"]


def insert_for(
    bind: sa.Connection | sa.Engine, table: sa.Table
) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `table` that can take `on_conflict_do_nothing/update`."""
    if bind.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
