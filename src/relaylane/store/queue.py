"""The durable queue: enqueue, claim under a lease, record results, reclaim.

Every state change is one transaction. Claims bump `lease_token`; a result is applied
only while the delivery is still `sending` under the same token, so a worker that
comes back late can never overwrite a newer result (its attempts are kept, marked stale).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence, Set

import sqlalchemy as sa

from relaylane.bounces.tokens import KeyRing
from relaylane.dkim.rotation import Rotation
from relaylane.events.emit import emit_for_results
from relaylane.events.hooks import Hooks
from relaylane.events.relay_state import state_changed_hook
from relaylane.monitor.tally import BucketCount, campaign_of
from relaylane.policy.health import Transition
from relaylane.policy.suppression import SuppressionPolicy, address_key
from relaylane.policy.vocabulary import (
    CLAIMABLE_STATES,
    BounceClass,
    DeliveryState,
    Outcome,
    Stage,
)
from relaylane.records import (
    AttemptRecord,
    Claimed,
    DeliveryResult,
    NewDelivery,
    NewMessage,
    Step,
    StoredBody,
    list_of,
)
from relaylane.store.address_outcomes import apply_address_outcomes, outcomes_of_results
from relaylane.store.dkim_rotations import SqlRotations
from relaylane.store.engine import reading
from relaylane.store.feedback import FeedbackRow, SqlFeedback
from relaylane.store.health import (
    SqlHealth,
    StoredPath,
    apply_in,
    release_in,
    release_stranded,
)
from relaylane.store.metrics import SqlMetrics
from relaylane.store.pacing import PacingEvent, SentCount, SqlPacing, WarmupRow
from relaylane.store.prepared import Prepared, sane_rowcount
from relaylane.store.queue_control import paused_lanes_in
from relaylane.store.schema import attempts, contacts, deliveries, messages
from relaylane.store.suppressions import stop_suppressed
from relaylane.store.token_keys import SqlTokenKeys
from relaylane.unique import random_bits

D = deliveries.c
DEFAULT_POLICY = SuppressionPolicy()
CLAIM_COLUMNS = (
    D.id,
    D.lease_token,
    D.message_id,
    D.lane,
    D.recipient,
    D.created_at,
    D.expires_at,
    D.retries,
    D.relay,
    D.pinned,
    D.header_prefix,
    D.avoid_relay,
    D.campaign_id,
    D.contact_id,
)
UPDATE_RESULT = Prepared(
    deliveries.update()
    .where(D.id == sa.bindparam("b_id"))
    .where(D.lease_token == sa.bindparam("b_token"))
    .where(D.state == DeliveryState.SENDING.value)
    .values(
        state=sa.bindparam("b_state"),
        due_at=sa.bindparam("b_due_at"),
        relay=sa.bindparam("b_relay"),
        pinned=sa.bindparam("b_pinned"),
        retries=sa.bindparam("b_retries"),
        attempts=D.attempts + sa.bindparam("b_attempts"),
        last_code=sa.bindparam("b_code"),
        last_reply=sa.bindparam("b_reply"),
        bounce_class=sa.bindparam("b_class"),
        relay_queue_id=sa.func.coalesce(sa.bindparam("b_queue_id"), D.relay_queue_id),
        sent_at=sa.bindparam("b_sent_at"),
        provider=sa.func.coalesce(sa.bindparam("b_provider"), D.provider),
        updated_at=sa.bindparam("b_now"),
        lease_owner=None,
        lease_expires=None,
    )
)
ATTEMPT_COLUMNS = (
    "delivery_id",
    "at",
    "relay",
    "stage",
    "code",
    "reply",
    "outcome",
    "bounce_class",
    "duration_ms",
    "failover",
    "stale",
    "worker",
)
MESSAGE_COLUMNS = (
    "ref",
    "created_at",
    "lane",
    "mail_from",
    "from_domain",
    "body",
    "size",
    "smtputf8",
    "source",
    "submitter",
    "notify",
    "tags",
    "meta",
    "not_before",
    "send_window",
)
INSERT_MESSAGE = Prepared(messages.insert().values({c: sa.bindparam(c) for c in MESSAGE_COLUMNS}))
DELIVERY_COLUMNS = (
    "message_id",
    "lane",
    "recipient",
    "state",
    "created_at",
    "updated_at",
    "expires_at",
    "due_at",
    "header_message_id",
    "header_prefix",
    "recipient_key",
)
INSERT_DELIVERY = Prepared(
    deliveries.insert().values({c: sa.bindparam(c) for c in DELIVERY_COLUMNS})
)
INSERT_ATTEMPT = Prepared(attempts.insert().values({c: sa.bindparam(c) for c in ATTEMPT_COLUMNS}))


class SqlQueue:
    """The queue over SQLAlchemy Core; the same code serves SQLite and PostgreSQL."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._keys = SqlTokenKeys(engine)

    def key_ring(self, now: float) -> KeyRing:
        """The keys that sign each delivery's VERP address and X-Relaylane-ID."""
        return self._keys.ring(now)

    def pacing_state(self, since: float) -> tuple[list[SentCount], list[WarmupRow]]:
        """Sent counts since `since` and warm-up progress (a worker restores its limits)."""
        pacing = SqlPacing(self.engine)
        return pacing.counts_since(since), pacing.warmups()

    def flush_pacing(
        self, counts: list[SentCount], events: list[PacingEvent], warmups: list[WarmupRow]
    ) -> None:
        SqlPacing(self.engine).flush(counts, events, warmups, time.time())

    def pace_signals(self, after_id: int) -> list[FeedbackRow]:
        """Reported deferrals and bounces after `after_id` (adaptive backoff)."""
        return SqlFeedback(self.engine).pace_signals(after_id)

    def last_feedback_id(self) -> int:
        return SqlFeedback(self.engine).last_id()

    def health_paths(self, updated_after: float | None) -> list[StoredPath]:
        """Path health rows changed after `updated_after` (all rows for None)."""
        return SqlHealth(self.engine).paths(updated_after)

    def apply_health(
        self,
        transitions: Sequence[Transition],
        now: float,
        results: Sequence[DeliveryResult] = (),
        worker: str = "",
        policy: SuppressionPolicy = DEFAULT_POLICY,
        *,
        hooks: Hooks | None = None,
        release: Sequence[tuple[str, str]] = (),
    ) -> tuple[int, list[Transition]]:
        """One commit: the results decided so far, then health transitions with their
        events (and relay_state_changed in the outbox), then the held deliveries of
        `release` (paths released by another worker or an operator) due now. Held
        deliveries are retimed after the results, so a hold decided before a release
        never outlives it. Returns how many results were applied, and the transitions
        skipped because the stored state had moved on (see `store.health.apply_in`)."""
        with self.engine.begin() as conn:
            applied = _record(conn, results, now, worker, policy, hooks)
            skipped = apply_in(conn, transitions, now, state_changed_hook(hooks))
            release_in(conn, release, now)
        return applied, skipped

    def release_stranded(self, now: float) -> int:
        """Held deliveries without a time on paths no longer paused: due now."""
        with self.engine.begin() as conn:
            return release_stranded(conn, now)

    def complaint_counts(
        self, since: float, path: tuple[str, str] | None = None
    ) -> dict[tuple[str, str], tuple[int, int]]:
        return SqlHealth(self.engine).complaint_counts(since, path)

    def flush_metrics(self, rows: Sequence[BucketCount]) -> None:
        """Add a worker's metric counts to the durable minute buckets."""
        SqlMetrics(self.engine).add(rows)

    def rollup_metrics(self, now: float) -> None:
        """Minute buckets older than two days become hour buckets."""
        SqlMetrics(self.engine).rollup(now)

    def dkim_rotations(self) -> list[Rotation]:
        """DKIM rotations, so a worker signs with a switched-to key without a restart."""
        return SqlRotations(self.engine).list()

    # -- intake -------------------------------------------------------------------
    def enqueue(self, batch: Sequence[NewMessage]) -> list[list[int]]:
        """Store every message and its deliveries in ONE commit; returns delivery ids.

        Four statements whatever the batch size: the messages (executemany), their ids
        (one SELECT by their unique `ref`), every delivery (executemany), and the new
        delivery ids in insertion order (one SELECT).
        """
        if not batch:
            return []
        with self.engine.begin() as conn:
            return enqueue_in(conn, batch)

    # -- claiming and recording (the worker's hot path) -----------------------------
    def claim(self, lane: str, now: float, limit: int, owner: str, lease: float) -> list[Claimed]:
        """Lease up to `limit` due deliveries of `lane`, oldest due first."""
        with self.engine.begin() as conn:
            return _claim(conn, lane, now, limit, owner, lease)

    def bodies(self, message_ids: Iterable[int]) -> dict[int, StoredBody]:
        with reading(self.engine) as conn:
            return _bodies(conn, message_ids)

    def record(
        self,
        results: Sequence[DeliveryResult],
        now: float,
        worker: str,
        policy: SuppressionPolicy = DEFAULT_POLICY,
        *,
        hooks: Hooks | None = None,
    ) -> int:
        """Apply results whose lease is still current, in one commit; returns how many.
        With `hooks`, the applied results' events go to the outbox in the same commit."""
        if not results:
            return 0
        with self.engine.begin() as conn:
            return _record(conn, results, now, worker, policy, hooks)

    def step(
        self,
        results: Sequence[DeliveryResult],
        plan: Sequence[tuple[str, int]],
        known_bodies: Set[int],
        now: float,
        owner: str,
        lease: float,
        policy: SuppressionPolicy = DEFAULT_POLICY,
        *,
        hooks: Hooks | None = None,
    ) -> Step:
        """One commit for a worker's tick: record `results`, claim for each (lane, limit)
        of `plan` in order, and load the bodies of claimed messages it does not hold.
        With `hooks`, events (results, suppressed claims) go to the outbox in that commit."""
        with self.engine.begin() as conn:
            applied = _record(conn, results, now, owner, policy, hooks)
            if plan:  # a lane an operator paused is not claimed (store.queue_control)
                paused = paused_lanes_in(conn)
                plan = [(lane, n) for lane, n in plan if lane not in paused]
            claims = {
                lane: _claim(conn, lane, now, limit, owner, lease, hooks) for lane, limit in plan
            }
            needed = {c.message_id for cs in claims.values() for c in cs} - known_bodies
            bodies = _bodies(conn, needed)
            people = {c.contact_id for cs in claims.values() for c in cs if c.contact_id}
            found = _contacts(conn, people)
        return Step(applied=applied, claims=claims, bodies=bodies, contacts=found)

    def renew(self, owner: str, now: float, lease: float) -> int:
        """Extend every lease `owner` holds; returns how many."""
        stmt = (
            deliveries.update()
            .where(D.lease_owner == owner, D.state == DeliveryState.SENDING.value)
            .values(lease_expires=now + lease)
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).rowcount

    # -- shutdown and recovery ---------------------------------------------------------
    def release(self, claims: Sequence[Claimed], now: float) -> int:
        """Give back claims that were never attempted (graceful shutdown)."""
        if not claims:
            return 0
        stmt = (
            deliveries.update()
            .where(D.id == sa.bindparam("b_id"), D.lease_token == sa.bindparam("b_token"))
            .where(D.state == DeliveryState.SENDING.value)
            .values(
                state=sa.case(
                    (D.pinned & (D.retries > 0), DeliveryState.DEFERRED.value),
                    else_=DeliveryState.QUEUED.value,
                ),
                due_at=now,
                lease_owner=None,
                lease_expires=None,
                updated_at=now,
            )
        )
        with self.engine.begin() as conn:
            res = conn.execute(stmt, [{"b_id": c.id, "b_token": c.token} for c in claims])
            return res.rowcount

    def reclaim_expired(self, now: float) -> int:
        """Return deliveries whose worker's lease ran out to the queue (due now), noting in
        each one's history that the outcome of the lost attempt is unknown."""
        expired = (
            sa.select(D.id, D.relay, D.lease_owner)
            .where(D.lease_expires < now)
            .with_for_update(skip_locked=True)
        )
        with self.engine.begin() as conn:
            rows = conn.execute(expired).all()
            if not rows:
                return 0
            ids = [row[0] for row in rows]
            INSERT_ATTEMPT.executemany(
                conn,
                [
                    _attempt_row(did, _lease_lost(now, relay), owner, stale=False)
                    for did, relay, owner in rows
                ],
            )
            conn.execute(
                deliveries.update()
                .where(D.id.in_(ids), D.state == DeliveryState.SENDING.value)
                .values(
                    state=DeliveryState.QUEUED.value,
                    due_at=now,
                    lease_owner=None,
                    lease_expires=None,
                    lease_token=D.lease_token + 1,  # fences off the worker that lost it
                    updated_at=now,
                )
            )
        return len(ids)


def enqueue_in(conn: sa.Connection, batch: Sequence[NewMessage]) -> list[list[int]]:
    """`SqlQueue.enqueue` inside the caller's transaction (intake adds its own rows)."""
    if not batch:
        return []
    refs = [f"{random_bits(96):024x}" for _ in batch]  # unique, not secret (see unique.py)
    INSERT_MESSAGE.executemany(
        conn, [_message_row(ref, msg) for ref, msg in zip(refs, batch, strict=True)]
    )
    ids_by_ref = {
        ref: mid
        for mid, ref in conn.execute(
            sa.select(messages.c.id, messages.c.ref).where(messages.c.ref.in_(refs))
        )
    }
    mids = [ids_by_ref[ref] for ref in refs]
    INSERT_DELIVERY.executemany(
        conn,
        [
            _delivery_row(mid, msg, d)
            for mid, msg in zip(mids, batch, strict=True)
            for d in msg.deliveries
        ],
    )
    found: dict[int, list[int]] = {mid: [] for mid in mids}
    for did, mid in conn.execute(
        sa.select(D.id, D.message_id).where(D.message_id.in_(mids)).order_by(D.id)
    ):
        found[mid].append(did)
    return [found[mid] for mid in mids]


def _claim(
    conn: sa.Connection,
    lane: str,
    now: float,
    limit: int,
    owner: str,
    lease: float,
    hooks: Hooks | None = None,
) -> list[Claimed]:
    if limit <= 0:
        return []
    due = (
        sa.select(D.id)
        .where(D.lane == lane, D.due_at <= now)
        .order_by(D.due_at, D.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    stmt = (
        deliveries.update()
        .where(D.id.in_(due.scalar_subquery()))
        .where(D.state.in_([s.value for s in CLAIMABLE_STATES]))
        .values(
            state=DeliveryState.SENDING.value,
            due_at=None,
            lease_owner=owner,
            lease_expires=now + lease,
            lease_token=D.lease_token + 1,
            updated_at=now,
        )
        .returning(*CLAIM_COLUMNS)
    )
    claimed = [Claimed(*row) for row in conn.execute(stmt)]
    claimed.sort(key=lambda c: c.id)
    return stop_suppressed(conn, lane, claimed, now, hooks)  # same transaction: never sent


def _bodies(conn: sa.Connection, message_ids: Iterable[int]) -> dict[int, StoredBody]:
    ids = sorted(set(message_ids))
    if not ids:
        return {}
    m = messages.c
    stmt = sa.select(
        m.id, m.mail_from, m.body, m.smtputf8, m.from_domain, m.not_before, m.send_window, m.meta
    ).where(m.id.in_(ids))
    return {
        mid: StoredBody(
            sender, body, utf8, domain, not_before, window, campaign_of(meta), list_of(meta)
        )
        for mid, sender, body, utf8, domain, not_before, window, meta in conn.execute(stmt)
    }


def _contacts(conn: sa.Connection, contact_ids: Iterable[int | None]) -> dict[int, tuple[str, str]]:
    """Campaign deliveries' contacts (email, attributes JSON), rendered at send time."""
    ids = sorted({i for i in contact_ids if i is not None})
    if not ids:
        return {}
    c = contacts.c
    stmt = sa.select(c.id, c.email, c.attributes).where(c.id.in_(ids))
    return {cid: (email, attributes) for cid, email, attributes in conn.execute(stmt)}


def _record(
    conn: sa.Connection,
    results: Sequence[DeliveryResult],
    now: float,
    worker: str,
    policy: SuppressionPolicy,
    hooks: Hooks | None = None,
) -> int:
    """Apply the results whose lease token is still current; keep every attempt, marking
    those of fenced-off results as stale. Each claim and each reclaim bumps the token, so
    "token unchanged" is exactly "still ours"."""
    if not results:
        return 0
    applied = UPDATE_RESULT.executemany(conn, [_result_params(r, now) for r in results])
    if applied == len(results) and sane_rowcount(conn):
        stale: set[int] = set()
    else:  # someone else holds some of them now: find out which
        current = _current_tokens(conn, [r.id for r in results])
        stale = {r.id for r in results if current.get(r.id) != r.token}
        applied = len(results) - len(stale)
    rows = [_attempt_row(r.id, a, worker, stale=r.id in stale) for r in results for a in r.attempts]
    if rows:
        INSERT_ATTEMPT.executemany(conn, rows)
    # Rare: only when an address-level class came back, one more query, same transaction.
    fresh = [r for r in results if r.id not in stale]
    outcomes = outcomes_of_results(conn, fresh)
    if outcomes:
        apply_address_outcomes(conn, outcomes, policy, now)
    emit_for_results(conn, fresh, hooks, now)  # no query at all without endpoints
    return applied


def _current_tokens(conn: sa.Connection, ids: list[int]) -> dict[int, int]:
    stmt = sa.select(D.id, D.lease_token).where(D.id.in_(ids))
    return {row[0]: row[1] for row in conn.execute(stmt)}


def _lease_lost(now: float, relay: str | None) -> AttemptRecord:
    return AttemptRecord(
        at=now,
        relay=relay,
        stage=Stage.LOCAL,
        code=None,
        reply="lease expired: the worker stopped answering; outcome unknown, retrying",
        outcome=Outcome.DEFERRED,
        bounce_class=BounceClass.TRANSIENT,
        duration_ms=0.0,
    )


def _message_row(ref: str, msg: NewMessage) -> dict[str, object]:
    return {
        "ref": ref,
        "created_at": msg.created_at,
        "lane": msg.lane,
        "mail_from": msg.mail_from,
        "from_domain": msg.from_domain,
        "body": msg.body,
        "size": len(msg.body),
        "smtputf8": msg.smtputf8,
        "source": msg.source,
        "submitter": msg.submitter,
        "notify": msg.notify,
        "tags": json.dumps(list(msg.tags)) if msg.tags else None,
        "meta": json.dumps(dict(msg.metadata)) if msg.metadata else None,
        "not_before": msg.not_before,
        "send_window": msg.send_window,
    }


def _delivery_row(mid: int, msg: NewMessage, d: NewDelivery) -> dict[str, object]:
    return {
        "message_id": mid,
        "lane": msg.lane,
        "recipient": d.recipient,
        "state": (DeliveryState.HELD if msg.held else DeliveryState.QUEUED).value,
        "created_at": msg.created_at,
        "updated_at": msg.created_at,
        "expires_at": msg.expires_at,
        "due_at": msg.created_at if msg.due_at is None else msg.due_at,
        "header_message_id": d.header_message_id,
        "header_prefix": d.header_prefix,
        "recipient_key": address_key(d.recipient),
    }


def _result_params(r: DeliveryResult, now: float) -> dict[str, object]:
    last = r.last
    return {
        "b_id": r.id,
        "b_token": r.token,
        "b_state": r.state.value,
        "b_due_at": r.due_at,
        "b_relay": r.relay,
        "b_pinned": r.pinned,
        "b_retries": r.retries,
        "b_attempts": sum(1 for a in r.attempts if a.relay is not None),
        "b_code": last.code if last else None,
        "b_reply": last.reply if last else None,
        "b_class": last.bounce_class.value if last else None,
        "b_queue_id": r.relay_queue_id,
        "b_sent_at": r.sent_at,
        "b_provider": r.provider,
        "b_now": now,
    }


def _attempt_row(
    delivery_id: int, a: AttemptRecord, worker: str, *, stale: bool
) -> dict[str, object]:
    return {
        "delivery_id": delivery_id,
        "at": a.at,
        "relay": a.relay,
        "stage": a.stage.value,
        "code": a.code,
        "reply": a.reply,
        "outcome": a.outcome.value,
        "bounce_class": a.bounce_class.value,
        "duration_ms": a.duration_ms,
        "failover": a.failover,
        "stale": stale,
        "worker": worker,
    }
