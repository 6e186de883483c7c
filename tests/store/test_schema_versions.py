"""A relaylane older than the store's schema refuses to start (and to "upgrade" it),
naming the fix; the schema this version knows opens as before."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from relaylane.errors import StoreError
from relaylane.store import open_store
from relaylane.store.engine import (
    create_engine,
    ensure_schema,
    head_revision,
    known_revisions,
    upgrade,
)


def test_a_newer_schema_is_refused_with_the_fix(store_url: str) -> None:
    open_store(store_url).close()  # at this version's head
    engine = create_engine(store_url)
    try:
        assert head_revision() in known_revisions() and "0001" in known_revisions()
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
        with pytest.raises(StoreError, match="newer than this relaylane knows") as refused:
            ensure_schema(engine)
        assert "upgrade relaylane on this host" in str(refused.value)
        with pytest.raises(StoreError, match="revision 9999"):
            upgrade(engine)
    finally:  # the session's PostgreSQL database is shared: always put the head back
        with engine.begin() as conn:
            conn.execute(sa.text(f"UPDATE alembic_version SET version_num = '{head_revision()}'"))
    try:
        ensure_schema(engine)  # its own head opens
    finally:
        engine.dispose()
