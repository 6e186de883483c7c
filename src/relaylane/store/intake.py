"""Intake's side of the store: many submissions, one commit, each idempotent if asked.

`SqlIntake.commit(items)` stores every item's messages in ONE transaction (the group
commit that `relaylane.intake.committer` builds). An item with an idempotency key
either claims the key in that same transaction (its answer is stored with it) or, if
the key was used before, queues nothing and gets the stored answer back. Keys are
claimed with INSERT ... ON CONFLICT DO NOTHING, so two front ends racing on PostgreSQL
never queue twice and never fail each other's batch.

An item with a `quota` ask is charged against its principal's message quotas in the
same transaction (`relaylane.store.quotas`); one over quota is refused on its own
(`IntakeOutcome.over_quota`, its idempotency key released) and the others go in.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from relaylane.intake.quota import OverQuota, QuotaAsk
from relaylane.records import NewMessage
from relaylane.store.engine import reading
from relaylane.store.queue import enqueue_in
from relaylane.store.quotas import charge_in
from relaylane.store.schema import deliveries, idempotency
from relaylane.store.upsert import insert_for
from relaylane.unique import random_bits

IK = idempotency.c


@dataclass(frozen=True, slots=True)
class IdempotencyKey:
    principal: str  # the API key id: keys are private to the client that made them
    key: str
    request_hash: str  # the same key with a different request is an error, not a replay


@dataclass(frozen=True, slots=True)
class IntakeItem:
    """One submission (an API request or an SMTP DATA) and how to remember its answer."""

    messages: tuple[NewMessage, ...]
    idempotency: IdempotencyKey | None = None
    # The answer to store with the key: (status, body) from the new delivery ids.
    answer: Callable[[list[list[int]]], tuple[int, str]] | None = None
    quota: QuotaAsk | None = None  # charge its messages to this principal's quotas


@dataclass(frozen=True, slots=True)
class IntakeOutcome:
    ids: list[list[int]]  # delivery ids per message; empty for a replay or a conflict
    replay: tuple[int, str] | None = None  # the stored (status, body) of an earlier request
    conflict: bool = False  # the key was used before with a different request
    same_as: int | None = None  # (internal) repeats the key of that earlier item of the batch
    over_quota: OverQuota | None = None  # refused: nothing of it was queued


class SqlIntake:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._insert = functools.partial(insert_for, engine)

    def commit(self, items: Sequence[IntakeItem], now: float) -> list[IntakeOutcome]:
        """Store every new item's messages in one transaction; see the module docstring."""
        owner = f"{random_bits(64):016x}"  # unique to this commit, not secret
        with self.engine.begin() as conn:
            prior = self._claim_keys(conn, items, owner, now)
            fresh = [i for i, item in enumerate(items) if i not in prior]
            refused = self._charge(conn, items, fresh, owner)
            fresh = [i for i in fresh if i not in refused]
            batch = [m for i in fresh for m in items[i].messages]
            ids = enqueue_in(conn, batch)
            outcomes: dict[int, IntakeOutcome] = dict(prior)
            for i, over in refused.items():
                outcomes[i] = IntakeOutcome(ids=[], over_quota=over)
            at = 0
            for i in fresh:
                n = len(items[i].messages)
                outcomes[i] = IntakeOutcome(ids=ids[at : at + n])
                at += n
                self._store_answer(conn, items[i], outcomes[i].ids)
            for i, outcome in list(outcomes.items()):
                first = outcome.same_as
                answer = items[first].answer if first is not None else None
                if first is not None and first in refused:
                    outcomes[i] = IntakeOutcome(ids=[], over_quota=refused[first])
                elif first is not None:
                    replay = answer(outcomes[first].ids) if answer else (202, "")
                    outcomes[i] = IntakeOutcome(ids=[], replay=replay)
        return [outcomes[i] for i in range(len(items))]

    def _claim_keys(
        self, conn: sa.Connection, items: Sequence[IntakeItem], owner: str, now: float
    ) -> dict[int, IntakeOutcome]:
        """Claim each item's key; returns the outcomes of items whose key was used before
        (in an earlier commit, or by an earlier item of this one)."""
        keyed = [(i, item.idempotency) for i, item in enumerate(items) if item.idempotency]
        # Claimed in key order: two front ends claiming the same keys never deadlock.
        keyed.sort(key=lambda pair: (pair[1].principal, pair[1].key))
        if not keyed:
            return {}
        rows = [
            {
                "principal": k.principal,
                "key": k.key,
                "request_hash": k.request_hash,
                "owner": owner,
                "status": 0,
                "response": "",
                "created_at": now,
            }
            for _, k in keyed
        ]
        stmt = self._insert(idempotency).on_conflict_do_nothing(index_elements=["principal", "key"])
        conn.execute(stmt, rows)
        stored = {
            (r.principal, r.key): r
            for r in conn.execute(
                sa.select(
                    IK.principal, IK.key, IK.request_hash, IK.owner, IK.status, IK.response
                ).where(
                    sa.tuple_(IK.principal, IK.key).in_([(k.principal, k.key) for _, k in keyed])
                )
            )
        }
        outcomes: dict[int, IntakeOutcome] = {}
        first_of: dict[tuple[str, str], int] = {}
        for i, k in keyed:
            row = stored[(k.principal, k.key)]
            if row.request_hash != k.request_hash:
                outcomes[i] = IntakeOutcome(ids=[], conflict=True)
            elif row.owner == owner and (k.principal, k.key) not in first_of:
                first_of[(k.principal, k.key)] = i  # ours: queue it
            elif row.owner == owner:
                outcomes[i] = IntakeOutcome(ids=[], same_as=first_of[(k.principal, k.key)])
            else:
                outcomes[i] = IntakeOutcome(ids=[], replay=(row.status, row.response))
        return outcomes

    def _charge(
        self, conn: sa.Connection, items: Sequence[IntakeItem], fresh: list[int], owner: str
    ) -> dict[int, OverQuota]:
        """Charge the fresh items' quotas; release the keys of those refused, so the same
        request can be sent again once the quota allows."""
        charges = [(i, q, len(items[i].messages)) for i in fresh if (q := items[i].quota)]
        if not charges:
            return {}
        refused = charge_in(conn, self._insert, charges)
        for i in refused:
            k = items[i].idempotency
            if k is not None:
                conn.execute(
                    idempotency.delete().where(
                        IK.principal == k.principal, IK.key == k.key, IK.owner == owner
                    )
                )
        return refused

    def _store_answer(self, conn: sa.Connection, item: IntakeItem, ids: list[list[int]]) -> None:
        if item.idempotency is None or item.answer is None:
            return
        status, body = item.answer(ids)
        k = item.idempotency
        conn.execute(
            idempotency.update()
            .where(IK.principal == k.principal, IK.key == k.key)
            .values(status=status, response=body)
        )

    def queued_count(self) -> int:
        """Deliveries waiting to be sent (queued, deferred, blocked): the back-pressure gauge."""
        stmt = (
            sa.select(sa.func.count())
            .select_from(deliveries)
            .where(deliveries.c.due_at.is_not(None))
        )
        with reading(self.engine) as conn:
            return int(conn.execute(stmt).scalar_one())

    def purge_idempotency(self, older_than: float) -> int:
        with self.engine.begin() as conn:
            return conn.execute(idempotency.delete().where(IK.created_at < older_than)).rowcount
