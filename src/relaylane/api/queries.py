"""Read queries the API adds to `relaylane.store.reads`: deliveries paged by cursor."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from relaylane.store.engine import reading
from relaylane.store.reads import ROW_COLUMNS, DeliveryRow
from relaylane.store.schema import deliveries

D = deliveries.c
MAX_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class DeliveryFilter:
    lane: str | None = None
    state: str | None = None
    recipient: str | None = None  # local@domain, compared case-insensitively
    since: float | None = None  # created at or after (Unix time)
    before_id: int | None = None  # the cursor: ids below this one
    until: float | None = None  # created before (Unix time)
    any_id: int | None = None  # this delivery, or the deliveries of this message
    header_message_id: str | None = None  # the Message-ID header, "<...>"


def page(engine: sa.Engine, where: DeliveryFilter, limit: int) -> list[DeliveryRow]:
    """Up to `limit` deliveries matching `where`, newest (highest id) first."""
    stmt = sa.select(*ROW_COLUMNS).order_by(D.id.desc()).limit(limit)
    if where.lane is not None:
        stmt = stmt.where(D.lane == where.lane)
    if where.state is not None:
        stmt = stmt.where(D.state == where.state)
    if where.recipient is not None:
        stmt = stmt.where(sa.func.lower(D.recipient) == where.recipient.lower())
    if where.since is not None:
        stmt = stmt.where(D.created_at >= where.since)
    if where.before_id is not None:
        stmt = stmt.where(D.id < where.before_id)
    if where.until is not None:
        stmt = stmt.where(D.created_at < where.until)
    if where.any_id is not None:
        stmt = stmt.where(sa.or_(D.id == where.any_id, D.message_id == where.any_id))
    if where.header_message_id is not None:
        stmt = stmt.where(D.header_message_id == where.header_message_id)
    with reading(engine) as conn:
        return [DeliveryRow(*row) for row in conn.execute(stmt)]


def ping(engine: sa.Engine) -> None:
    """Raises unless the store answers a trivial query."""
    with reading(engine) as conn:
        conn.execute(sa.text("SELECT 1"))
