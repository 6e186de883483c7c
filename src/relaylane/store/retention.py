"""Retention: what old history may go, and removing it in short batches.

What each kind means ([retention] in the configuration, docs/operations.md#retention):

- ``bodies``: a message's body is emptied (``body = b""``, ``pruned_at`` set); the
  message row itself is kept, because deliveries, suppressions, campaigns and reports
  point to it. Only when the message has deliveries, every one of them is final and
  became final before ``now - bodies``, none is still owed a failure notice (DSN), and
  no campaign that can still send (any state but ``cancelled``: a finished campaign may
  `retry-failed`) shares it. A message without deliveries is never touched.
- ``attempts``: rows of ``attempts`` of final deliveries that became final before
  ``now - attempts``. The same limit applies to ``feedback`` rows (bounces, complaints,
  reports; one per finding) of such deliveries, and to unmatched feedback (no delivery)
  received before it. The limit is never shorter than the longest
  ``[lane.suppression] mailbox_full_window``, which counts attempts.
- ``tracking``: ``tracking_events`` (opens, clicks) older than ``now - tracking``.
- ``metrics``: ``metric_buckets`` starting before ``now - metrics``.
- ``suppressions``: entries whose ``expires_at`` has passed (entries without an expiry
  are kept forever).

Never pruned, whatever the limits: the ``deliveries`` rows themselves (one per campaign
contact, ever; suppressions and feedback point to them), anything of a live (not final)
delivery, and the attempts, feedback and tracking events of a delivery that a
suppression entry names as its source (``suppressions.delivery_id``): the evidence.

The selection (`Cutoffs`, `cutoffs_for` and the `*_prunable` predicates) is pure. The
work goes in windows of `batch` rows along the primary key, each in its own short
transaction, so writers (sending) wait at most one batch; `pause` runs between batches.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from relaylane.config.models import Config
from relaylane.policy.vocabulary import FINAL_STATES, DeliveryState
from relaylane.store.audit import AuditAction, record_in
from relaylane.store.engine import reading
from relaylane.store.schema import (
    attempts,
    campaigns,
    deliveries,
    feedback,
    messages,
    metric_buckets,
    suppressions,
    tracking_events,
)

__all__ = [
    "KINDS",
    "Cutoffs",
    "PruneResult",
    "cutoffs_for",
    "prune",
]

# In the order they are pruned: an expired suppression first, so the evidence it kept is
# free to go in the same run.
KINDS = ("suppressions", "bodies", "attempts", "feedback", "tracking", "metrics")
DEFAULT_PAUSE = 0.02  # seconds between two batches: writers get the store in between

D = deliveries.c
M = messages.c
A = attempts.c
F = feedback.c
T = tracking_events.c
S = suppressions.c
C = campaigns.c
B = metric_buckets.c

FINAL = sorted(s.value for s in FINAL_STATES)
LIVE = sorted(s.value for s in DeliveryState if s not in FINAL_STATES)
OWED_NOTICE = (DeliveryState.BOUNCED.value, DeliveryState.FAILED.value)  # store.notices
CAMPAIGN_DONE = "cancelled"  # campaigns.states.CampaignState.CANCELLED: it never sends again


@dataclass(frozen=True, slots=True)
class Cutoffs:
    """Instants (Unix seconds): each kind older than its own may go."""

    now: float
    bodies: float
    attempts: float
    tracking: float
    metrics: float

    def as_dict(self) -> dict[str, float]:
        return {
            "now": self.now,
            "bodies": self.bodies,
            "attempts": self.attempts,
            "tracking": self.tracking,
            "metrics": self.metrics,
        }


def cutoffs_for(config: Config, now: float) -> Cutoffs:
    """The cutoffs [retention] gives at `now`. Attempts are kept at least as long as the
    longest mailbox-full window counts them."""
    r = config.retention
    windows = [lane.suppression.mailbox_full_window for lane in config.lane]
    keep_attempts = max([r.attempts, *windows])
    return Cutoffs(
        now=now,
        bodies=now - r.bodies,
        attempts=now - keep_attempts,
        tracking=now - r.tracking,
        metrics=now - r.metrics,
    )


# -- the pure selection -----------------------------------------------------------------
def _suppression_sources() -> sa.Select[Any]:
    """Deliveries a suppression entry names as its cause: their evidence stays."""
    return sa.select(S.delivery_id).where(S.delivery_id.is_not(None))


def _settled(delivery_id: sa.ColumnElement[Any], before: float) -> sa.ColumnElement[bool]:
    """The delivery is final, became final before `before`, and caused no suppression."""
    return sa.and_(
        sa.exists().where(D.id == delivery_id, D.state.in_(FINAL), D.updated_at < before),
        delivery_id.not_in(_suppression_sources()),
    )


def body_prunable(cut: Cutoffs) -> sa.ColumnElement[bool]:
    """A message whose body may be emptied (see the module's docstring)."""
    keeps_it = sa.or_(
        D.state.in_(LIVE),
        D.updated_at >= cut.bodies,
        sa.and_(M.notify == "dsn", D.state.in_(OWED_NOTICE), D.notified.is_(sa.false())),
    )
    return sa.and_(
        M.pruned_at.is_(None),
        M.created_at < cut.bodies,
        sa.exists().where(D.message_id == M.id),
        ~sa.exists().where(D.message_id == M.id, keeps_it),
        ~sa.exists().where(C.message_id == M.id, C.state != CAMPAIGN_DONE),
    )


def attempt_prunable(cut: Cutoffs) -> sa.ColumnElement[bool]:
    return sa.and_(A.at < cut.attempts, _settled(A.delivery_id, cut.attempts))


def feedback_prunable(cut: Cutoffs) -> sa.ColumnElement[bool]:
    return sa.and_(
        F.received_at < cut.attempts,
        sa.or_(F.delivery_id.is_(None), _settled(F.delivery_id, cut.attempts)),
    )


def tracking_prunable(cut: Cutoffs) -> sa.ColumnElement[bool]:
    return sa.and_(
        T.at < cut.tracking,
        ~sa.exists().where(D.id == T.delivery_id, D.state.in_(LIVE)),
        T.delivery_id.not_in(_suppression_sources()),
    )


def suppression_prunable(cut: Cutoffs) -> sa.ColumnElement[bool]:
    """An entry whose expiry has passed (and no live delivery says it stopped it)."""
    live_refs = sa.select(D.suppressed_by).where(D.state.in_(LIVE), D.suppressed_by.is_not(None))
    return sa.and_(S.expires_at.is_not(None), S.expires_at <= cut.now, S.id.not_in(live_refs))


def metric_prunable(cut: Cutoffs) -> sa.ColumnElement[bool]:
    return B.start < cut.metrics


# -- the work ---------------------------------------------------------------------------
@dataclass
class PruneResult:
    dry_run: bool
    cutoffs: Cutoffs
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    batches: int = 0  # transactions used
    stopped: bool = False  # `stop` ended it early

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "counts": dict(self.counts),
            "total": self.total,
            "batches": self.batches,
            "stopped": self.stopped,
            "cutoffs": self.cutoffs.as_dict(),
        }


class _Stopped(Exception):
    pass


@dataclass
class _Run:
    engine: sa.Engine
    cut: Cutoffs
    batch: int
    dry_run: bool
    pause: Callable[[], None]
    stop: Callable[[], bool]
    result: PruneResult

    def windows(
        self,
        kind: str,
        pk: sa.Column[Any],
        cheap: sa.ColumnElement[bool],
        full: sa.ColumnElement[bool],
        apply: Callable[[sa.Connection, sa.ColumnElement[bool]], int],
    ) -> None:
        """Walk the rows passing `cheap` in primary-key windows of `batch`; in each,
        one short transaction acts on (or, dry, counts) the rows that pass `full`."""
        cursor: Any = None
        while True:
            if self.stop():
                raise _Stopped
            with self.engine.begin() as conn:
                window = sa.select(pk).where(cheap).order_by(pk).limit(self.batch)
                if cursor is not None:
                    window = window.where(pk > cursor)
                ids = list(conn.execute(window).scalars())
                if not ids:
                    return
                cursor = ids[-1]
                chosen = sa.and_(pk.in_(ids), full)
                if self.dry_run:
                    stmt = sa.select(sa.func.count()).select_from(pk.table).where(chosen)
                    n = int(conn.execute(stmt).scalar_one())
                else:
                    n = apply(conn, chosen)
            self.result.batches += 1
            self.result.counts[kind] += n
            if len(ids) < self.batch:
                return
            self.pause()

    def metrics(self) -> None:
        """Buckets have a composite key and no exception: delete the oldest `batch`
        at a time until none is left (dry: one count on the (resolution, start) index)."""
        where = metric_prunable(self.cut)
        if self.dry_run:
            with reading(self.engine) as conn:
                stmt = sa.select(sa.func.count()).select_from(metric_buckets).where(where)
                self.result.counts["metrics"] = int(conn.execute(stmt).scalar_one())
            self.result.batches += 1
            return
        key = [B.relay, B.resolution, B.start, B.provider, B.lane, B.campaign, B.metric]
        while True:
            if self.stop():
                raise _Stopped
            oldest = sa.select(*key).where(where).order_by(B.start).limit(self.batch)
            with self.engine.begin() as conn:
                n = int(
                    conn.execute(
                        metric_buckets.delete().where(sa.tuple_(*key).in_(oldest))
                    ).rowcount
                )
            self.result.batches += 1
            self.result.counts["metrics"] += n
            if n < self.batch:
                return
            self.pause()


def _delete(table: sa.Table) -> Callable[[sa.Connection, sa.ColumnElement[bool]], int]:
    def apply(conn: sa.Connection, chosen: sa.ColumnElement[bool]) -> int:
        return int(conn.execute(table.delete().where(chosen)).rowcount)

    return apply


def prune(
    engine: sa.Engine,
    config: Config,
    now: float,
    *,
    actor: str,
    dry_run: bool = False,
    batch: int | None = None,
    pause: Callable[[], None] | None = None,
    stop: Callable[[], bool] | None = None,
    audit_when_empty: bool = True,
) -> PruneResult:
    """Prune everything [retention] lets go at `now`, kind by kind (`KINDS`), in
    transactions of at most `batch` rows (default [retention] batch), calling `pause`
    between two (default: a 20 ms sleep). `dry_run` counts what would go and changes
    nothing. `stop` is asked before each batch: true ends the run early (what is done
    stays done). A DB_PRUNE audit entry by `actor` records the counts (not for a dry
    run; with `audit_when_empty` false, only when something went)."""
    cut = cutoffs_for(config, now)
    result = PruneResult(dry_run, cut)
    run = _Run(
        engine,
        cut,
        batch or config.retention.batch,
        dry_run,
        pause or (lambda: time.sleep(DEFAULT_PAUSE)),
        stop or (lambda: False),
        result,
    )

    def empty_body(conn: sa.Connection, chosen: sa.ColumnElement[bool]) -> int:
        stmt = messages.update().where(chosen).values(body=b"", pruned_at=now)
        return int(conn.execute(stmt).rowcount)

    try:
        run.windows(
            "suppressions",
            S.id,
            S.expires_at <= now,
            suppression_prunable(cut),
            _delete(suppressions),
        )
        run.windows(
            "bodies",
            M.id,
            sa.and_(M.pruned_at.is_(None), M.created_at < cut.bodies),
            body_prunable(cut),
            empty_body,
        )
        run.windows("attempts", A.id, A.at < cut.attempts, attempt_prunable(cut), _delete(attempts))
        run.windows(
            "feedback",
            F.id,
            F.received_at < cut.attempts,
            feedback_prunable(cut),
            _delete(feedback),
        )
        run.windows(
            "tracking", T.id, T.at < cut.tracking, tracking_prunable(cut), _delete(tracking_events)
        )
        run.metrics()
    except _Stopped:
        result.stopped = True
    if not dry_run and (audit_when_empty or result.total):
        with engine.begin() as conn:
            record_in(
                conn,
                now,
                actor,
                AuditAction.DB_PRUNE,
                target="retention",
                args={"batch": run.batch, "stopped": result.stopped, **cut.as_dict()},
                effect=dict(result.counts),
            )
    return result
