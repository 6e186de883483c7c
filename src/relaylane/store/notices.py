"""Failure notices owed to submitters: deliveries of messages sent with notify = "dsn"
that ended bounced or failed, and queueing the DSN together with marking them notified
(one transaction, so a notice is neither lost nor sent twice)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from relaylane.policy.vocabulary import DeliveryState
from relaylane.records import NewMessage
from relaylane.store.engine import reading
from relaylane.store.queue import enqueue_in
from relaylane.store.schema import deliveries, messages

D = deliveries.c
M = messages.c
NOTIFY_STATES = (DeliveryState.BOUNCED.value, DeliveryState.FAILED.value)


@dataclass(frozen=True, slots=True)
class OwedNotice:
    delivery_id: int
    message_id: int
    lane: str
    recipient: str
    state: str
    last_code: int | None
    last_reply: str | None
    relay: str | None
    updated_at: float
    created_at: float
    mail_from: str
    from_domain: str
    header_message_id: str
    body: bytes


class SqlNotices:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def owed(self, limit: int = 200) -> list[OwedNotice]:
        stmt = (
            sa.select(
                D.id,
                D.message_id,
                D.lane,
                D.recipient,
                D.state,
                D.last_code,
                D.last_reply,
                D.relay,
                D.updated_at,
                D.created_at,
                M.mail_from,
                M.from_domain,
                D.header_message_id,
                M.body,
            )
            .join(messages, M.id == D.message_id)
            .where(M.notify == "dsn", D.state.in_(NOTIFY_STATES), D.notified.is_(sa.false()))
            .order_by(D.id)
            .limit(limit)
        )
        with reading(self.engine) as conn:
            return [OwedNotice(*row) for row in conn.execute(stmt)]

    def settle(self, notices: Sequence[NewMessage], delivery_ids: Sequence[int]) -> int:
        """Queue `notices` and mark `delivery_ids` notified, in one transaction; returns
        how many deliveries were still owed (a concurrent notifier may have done some)."""
        try:
            with self.engine.begin() as conn:
                marked = conn.execute(
                    deliveries.update()
                    .where(D.id.in_(list(delivery_ids)), D.notified.is_(sa.false()))
                    .values(notified=True)
                ).rowcount
                if marked != len(delivery_ids):
                    raise _Raced  # another notifier got there first: it sends them
                enqueue_in(conn, notices)
        except _Raced:
            return 0
        return marked


class _Raced(Exception):
    """Rolls the transaction back."""
