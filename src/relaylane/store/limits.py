"""Limits shared by every worker on one store: slot grants, relay connection slots and
each relay x provider pair's adaptive rate.

Every grant is one short transaction that locks the limit's row (`FOR UPDATE` on
PostgreSQL; SQLite's BEGIN IMMEDIATE serialises writers), so two workers asking at once
are granted in turn and the slot's capacity is never passed. Rows are locked in key
order, so workers asking for several limits at once never deadlock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from relaylane.policy.pacing.allotment import Ask
from relaylane.store.engine import reading
from relaylane.store.pacing import WarmupDelta, WarmupRow
from relaylane.store.schema import limit_allotments, pair_rates, relay_slots, warmup_paths
from relaylane.store.upsert import insert_for

__all__ = ["RateRow", "SqlLimits"]

A = limit_allotments.c
S = relay_slots.c
R = pair_rates.c
W = warmup_paths.c
WarmupMerge = Callable[[WarmupDelta, dict[str, object] | None], dict[str, object]]
WAITING_SLOT = -1  # a relay's row noting when a worker was last refused a connection slot
WAITING = 1.0  # seconds a refusal counts as a worker still waiting
KEEP_PAST = 3600.0  # seconds a passed slot's row is kept (for `relaylane workers` to show)


@dataclass(frozen=True, slots=True)
class RateRow:
    """A relay x provider pair's adaptive rate as stored (PathRate's fields, no history)."""

    relay: str
    provider: str
    state: dict[str, object]
    changed_at: float


class SqlLimits:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- slot grants ----------------------------------------------------------------------
    def grant(self, asks: Sequence[Ask], now: float, prune: bool = False) -> list[int]:
        """Grant each ask what its slot still has, up to `want`: the answers in ask order.
        With `prune`, also delete slots that ended over an hour ago."""
        granted = [0] * len(asks)
        order = sorted(range(len(asks)), key=lambda i: (asks[i].key, asks[i].slot.start))
        with self.engine.begin() as conn:
            for i in order:
                granted[i] = _grant_one(conn, asks[i])
            if prune:
                conn.execute(limit_allotments.delete().where(A.slot_end < now - KEEP_PAST))
        return granted

    def give_back(self, unused: Sequence[tuple[str, float, int]]) -> None:
        """Return unused grants (key, slot start, n): a stopping worker's share of a cap."""
        items = sorted(u for u in unused if u[2] > 0)
        if not items:
            return
        with self.engine.begin() as conn:
            for key, start, n in items:
                conn.execute(
                    limit_allotments.update()
                    .where(A.key == key, A.slot_start == start)
                    .values(granted=sa.case((A.granted > n, A.granted - n), else_=0))
                )

    def granted(self, keys: Sequence[str], since: float) -> dict[tuple[str, float], int]:
        """What was granted for `keys` in slots ending after `since`."""
        stmt = sa.select(A.key, A.slot_start, A.granted).where(
            A.key.in_(list(keys)), A.slot_end > since
        )
        with reading(self.engine) as conn:
            return {(k, s): int(g) for k, s, g in conn.execute(stmt)}

    # -- connection slots -------------------------------------------------------------------
    def take_connection(
        self, relay: str, size: int, holder: str, now: float, lease: float
    ) -> int | None:
        """One of the relay's `size` connection slots that is free (or whose lease ran out),
        now held by `holder` until now + lease; None when all are held (and the refusal is
        noted, so that a holder lets the waiting worker have the next slot it frees)."""
        if size < 1:
            return None
        with self.engine.begin() as conn:
            _ensure_slots(conn, relay, size)
            stmt = (
                sa.select(S.slot)
                .where(S.relay == relay, S.slot >= 0, S.slot < size)
                .where(sa.or_(S.holder.is_(None), S.expires < now))
                .order_by(S.slot)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            slot = conn.execute(stmt).scalar()
            if slot is None:
                conn.execute(_upsert_waiting(conn, relay, now))
                return None
            conn.execute(
                relay_slots.update()
                .where(S.relay == relay, S.slot == slot)
                .values(holder=holder, expires=now + lease)
            )
            return int(slot)

    def free_connection(self, relay: str, slot: int, holder: str, now: float = 0.0) -> bool:
        """Free the slot; True when a worker was refused one of the relay's slots within
        the last WAITING seconds (it should get the next one)."""
        with self.engine.begin() as conn:
            conn.execute(
                relay_slots.update()
                .where(S.relay == relay, S.slot == slot, S.holder == holder)
                .values(holder=None, expires=None)
            )
            refused = conn.execute(
                sa.select(S.expires).where(S.relay == relay, S.slot == WAITING_SLOT)
            ).scalar()
        return refused is not None and refused >= now - WAITING

    def renew_connections(self, owner: str, now: float, lease: float) -> int:
        """Extend the lease of every slot held by this worker's connections."""
        with self.engine.begin() as conn:
            return conn.execute(
                relay_slots.update()
                .where(S.holder.startswith(f"{owner}#", autoescape=True))
                .values(expires=now + lease)
            ).rowcount

    def connections(self, now: float) -> dict[str, int]:
        """Connection slots held now, per relay."""
        stmt = (
            sa.select(S.relay, sa.func.count())
            .where(S.slot >= 0, S.holder.is_not(None), S.expires >= now)
            .group_by(S.relay)
        )
        with reading(self.engine) as conn:
            return {relay: int(n) for relay, n in conn.execute(stmt)}

    # -- adaptive rates ---------------------------------------------------------------------
    def write_rates(self, rows: Sequence[RateRow]) -> set[tuple[str, str]]:
        """Store each pair's rate unless the same or a later change is already stored
        (another worker made it too): the pairs actually written."""
        written: set[tuple[str, str]] = set()
        if not rows:
            return written
        with self.engine.begin() as conn:
            for row in sorted(rows, key=lambda r: (r.relay, r.provider)):
                stmt = insert_for(conn, pair_rates).values(
                    relay=row.relay, provider=row.provider, state=json.dumps(row.state),
                    changed_at=row.changed_at,
                )  # fmt: skip
                done = conn.execute(
                    stmt.on_conflict_do_update(
                        index_elements=["relay", "provider"],
                        set_={"state": stmt.excluded.state, "changed_at": stmt.excluded.changed_at},
                        where=R.changed_at < stmt.excluded.changed_at,
                    ).returning(R.relay)  # rowcount is not reliable here on psycopg
                ).first()
                if done is not None:
                    written.add((row.relay, row.provider))
        return written

    def rates(self, changed_after: float | None = None) -> list[RateRow]:
        stmt = sa.select(R.relay, R.provider, R.state, R.changed_at)
        if changed_after is not None:
            stmt = stmt.where(R.changed_at > changed_after)
        with reading(self.engine) as conn:
            return [RateRow(r, p, json.loads(s), c) for r, p, s, c in conn.execute(stmt)]

    # -- warm-up progress -------------------------------------------------------------------
    def merge_warmups(
        self, deltas: Sequence[WarmupDelta], now: float, merge: WarmupMerge
    ) -> list[WarmupRow]:
        """Add each worker's attempts to its path's stored progress under the row's lock
        (`merge` is the pure warm-up policy), and return every path's progress."""
        with self.engine.begin() as conn:
            for delta in sorted(deltas, key=lambda d: (d.relay, d.path)):
                where = (W.relay == delta.relay, W.path == delta.path)
                conn.execute(
                    insert_for(conn, warmup_paths)
                    .values(relay=delta.relay, path=delta.path, state="", updated_at=now)
                    .on_conflict_do_nothing(index_elements=["relay", "path"])
                )
                stored = conn.execute(
                    sa.select(W.state).where(*where).with_for_update()
                ).scalar_one()
                state = merge(delta, json.loads(stored) if stored else None)
                conn.execute(
                    warmup_paths.update()
                    .where(*where)
                    .values(state=json.dumps(state), updated_at=now)
                )
            rows = conn.execute(sa.select(W.relay, W.path, W.state)).all()
        return [WarmupRow(r, p, json.loads(st)) for r, p, st in rows if st]


def _grant_one(conn: sa.Connection, ask: Ask) -> int:
    start, end = ask.slot.start, ask.slot.end
    conn.execute(
        insert_for(conn, limit_allotments)
        .values(key=ask.key, slot_start=start, slot_end=_finite(end), granted=max(0, ask.seed))
        .on_conflict_do_nothing(index_elements=["key", "slot_start"])
    )
    where = (A.key == ask.key, A.slot_start == start)
    taken = conn.execute(sa.select(A.granted).where(*where).with_for_update()).scalar_one()
    give = max(0, min(ask.want, ask.slot.capacity - int(taken)))
    if give:
        conn.execute(limit_allotments.update().where(*where).values(granted=A.granted + give))
    return give


def _ensure_slots(conn: sa.Connection, relay: str, size: int) -> None:
    have = conn.execute(
        sa.select(sa.func.count())
        .select_from(relay_slots)
        .where(S.relay == relay, S.slot >= 0, S.slot < size)
    ).scalar_one()
    if have >= size:
        return
    conn.execute(
        insert_for(conn, relay_slots)
        .values([{"relay": relay, "slot": i, "holder": None, "expires": None} for i in range(size)])
        .on_conflict_do_nothing(index_elements=["relay", "slot"])
    )


def _upsert_waiting(conn: sa.Connection, relay: str, now: float) -> sa.Executable:
    stmt = insert_for(conn, relay_slots).values(
        relay=relay, slot=WAITING_SLOT, holder=None, expires=now
    )
    return stmt.on_conflict_do_update(
        index_elements=["relay", "slot"], set_={"expires": stmt.excluded.expires}
    )


def _finite(end: float) -> float:
    return end if end < 1e18 else 1e18
