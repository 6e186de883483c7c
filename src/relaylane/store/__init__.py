"""Storage: SQLAlchemy Core over SQLite (embedded default) or PostgreSQL.

`Store` and `open_store` live in `relaylane.store.opening`; they are loaded on first use
here, so that importing one store module (the schema, say, from the events emitter that
the queue itself uses) does not import every other one first.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from relaylane.store.opening import Store, open_store

__all__ = ["Store", "open_store"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from relaylane.store import opening

        return getattr(opening, name)
    raise AttributeError(f"module 'relaylane.store' has no attribute {name!r}")
