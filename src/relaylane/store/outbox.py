"""The webhook outbox at rest: claim due events under a lease, record each POST's outcome,
list them, and send given-up events again.

A claim moves `due_at` to the end of the lease, so a dispatcher that dies gives its
events back just by not coming back: they are due again when the lease ends (and sent
again: at least once). An outcome is recorded only by the dispatcher that still holds
the lease. `due_at` is NULL once an event is delivered or given up.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from relaylane.store.engine import reading
from relaylane.store.prepared import Prepared
from relaylane.store.schema import event_outbox

E = event_outbox.c
CLAIM_COLUMNS = (E.id, E.event_id, E.endpoint, E.kind, E.payload, E.created_at, E.attempts)
RECORD_OUTCOME = Prepared(
    event_outbox.update()
    .where(E.id == sa.bindparam("b_id"), E.lease_owner == sa.bindparam("b_owner"))
    .values(
        attempts=E.attempts + 1,
        due_at=sa.bindparam("b_due_at"),
        delivered_at=sa.bindparam("b_delivered_at"),
        last_error=sa.func.coalesce(sa.bindparam("b_error"), E.last_error),
        lease_owner=None,
        lease_expires=None,
    )
)


@dataclass(frozen=True, slots=True)
class ClaimedEvent:
    """An event a dispatcher holds under a lease, ready to POST."""

    id: int
    event_id: str
    endpoint: str
    kind: str
    payload: str  # the JSON body, exactly as it is sent
    created_at: float
    attempts: int  # POSTs made before this one


@dataclass(frozen=True, slots=True)
class PostOutcome:
    """What became of one POST: delivered, due again at `due_at`, or given up (both None)."""

    id: int
    delivered_at: float | None
    due_at: float | None
    error: str | None


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One event as `relaylane events list` shows it."""

    id: int
    event_id: str
    endpoint: str
    kind: str
    created_at: float
    due_at: float | None
    attempts: int
    delivered_at: float | None
    last_error: str | None
    lease_owner: str | None

    @property
    def status(self) -> str:
        """delivered, pending (waiting or being sent) or given_up."""
        if self.delivered_at is not None:
            return "delivered"
        return "pending" if self.due_at is not None else "given_up"


@dataclass(frozen=True, slots=True)
class ClaimPlan:
    """Up to `limit` due events of `endpoint`, leased for `lease` seconds."""

    endpoint: str
    limit: int
    lease: float


class SqlOutbox:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def step(
        self,
        outcomes: Sequence[PostOutcome],
        plan: Sequence[ClaimPlan],
        now: float,
        owner: str,
    ) -> list[ClaimedEvent]:
        """One commit for a dispatcher's turn: record `outcomes`, then claim per `plan`."""
        with self.engine.begin() as conn:
            if outcomes:
                RECORD_OUTCOME.executemany(conn, [_outcome_params(o, owner) for o in outcomes])
            return [event for p in plan for event in _claim(conn, p, now, owner)]

    def release(self, ids: Sequence[int], now: float, owner: str) -> int:
        """Give back claimed events never POSTed (a stopping dispatcher): due now, no
        attempt counted."""
        if not ids:
            return 0
        stmt = (
            event_outbox.update()
            .where(E.id.in_(list(ids)), E.lease_owner == owner, E.delivered_at.is_(None))
            .values(due_at=now, lease_owner=None, lease_expires=None)
        )
        with self.engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    def list(self, *, pending: bool = False, limit: int = 100) -> list[OutboxEntry]:
        """Newest first; with `pending`, only events not yet delivered nor given up."""
        columns = [c for c in event_outbox.columns if c.name not in ("payload", "lease_expires")]
        stmt = sa.select(*columns).order_by(E.id.desc()).limit(limit)
        if pending:
            stmt = stmt.where(E.due_at.is_not(None))
        with reading(self.engine) as conn:
            return [OutboxEntry(**row._mapping) for row in conn.execute(stmt)]

    def payload(self, outbox_id: int) -> str | None:
        with reading(self.engine) as conn:
            return conn.execute(sa.select(E.payload).where(E.id == outbox_id)).scalar()

    def retry(self, ident: str, now: float) -> int:
        """Send one undelivered event again now, by outbox id or event id; returns 1 or 0."""
        key = E.id == int(ident) if ident.isdigit() else E.event_id == ident
        return self._requeue(sa.and_(key, E.delivered_at.is_(None)), now)

    def retry_given_up(self, now: float) -> int:
        """Send every given-up event again now; returns how many."""
        return self._requeue(sa.and_(E.due_at.is_(None), E.delivered_at.is_(None)), now)

    def _requeue(self, where: sa.ColumnElement[bool], now: float) -> int:
        # A fresh give_up_after window from now: the event's own created_at (in its body)
        # is unchanged, only the row's clock restarts.
        stmt = (
            event_outbox.update()
            .where(where)
            .values(due_at=now, created_at=now, attempts=0, lease_owner=None, lease_expires=None)
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount


def _claim(conn: sa.Connection, plan: ClaimPlan, now: float, owner: str) -> list[ClaimedEvent]:
    if plan.limit <= 0:
        return []
    due = (
        sa.select(E.id)
        .where(E.endpoint == plan.endpoint, E.due_at <= now)
        .order_by(E.due_at, E.id)
        .limit(plan.limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        event_outbox.update()
        .where(E.id.in_(due.scalar_subquery()), E.due_at <= now)
        .values(due_at=now + plan.lease, lease_owner=owner, lease_expires=now + plan.lease)
        .returning(*CLAIM_COLUMNS)
    )
    claimed = [ClaimedEvent(*row) for row in conn.execute(stmt)]
    claimed.sort(key=lambda e: e.id)
    return claimed


def _outcome_params(o: PostOutcome, owner: str) -> dict[str, object]:
    return {
        "b_id": o.id,
        "b_owner": owner,
        "b_due_at": o.due_at,
        "b_delivered_at": o.delivered_at,
        "b_error": o.error,
    }
