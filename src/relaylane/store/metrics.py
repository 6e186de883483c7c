"""Metric counts at rest, in compact time buckets (`metric_buckets`).

Workers add their tallies as minute rows with an increment upsert (`INSERT ... ON
CONFLICT DO UPDATE SET n = n + excluded.n`, SQLite and PostgreSQL alike), so any number
of writers can add to the same bucket. `rollup` folds minute rows older than 48 hours
into hour rows. Reads sum both resolutions over the buckets that start inside a window:
exact to the minute for the last two days, to the hour before that.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa

from relaylane.bounces.decide import Action
from relaylane.bounces.report import Event
from relaylane.monitor.metrics import Metric, is_metric, metrics_of_attempt
from relaylane.monitor.tally import BucketCount, campaign_of, minute_start
from relaylane.policy.vocabulary import BounceClass, Outcome, Stage
from relaylane.store.backlog import LaneBacklog, lane_backlog, relay_backlog
from relaylane.store.engine import reading
from relaylane.store.schema import deliveries, messages, metric_buckets
from relaylane.store.upsert import insert_for

__all__ = [
    "DIMENSIONS",
    "HOUR",
    "ROLLUP_AFTER",
    "FeedbackFacts",
    "SqlMetrics",
    "add_in",
    "count_feedback",
    "rollup_in",
]

B = metric_buckets.c
D = deliveries.c
M = messages.c
MINUTE_ROWS = "minute"
HOUR_ROWS = "hour"
HOUR = 3_600.0
ROLLUP_AFTER = 48 * HOUR  # minute rows older than this become hour rows
DIMENSIONS = ("relay", "provider", "lane", "campaign")
_KEY = ("relay", "resolution", "start", "provider", "lane", "campaign", "metric")
# The order every writer locks rows in: _Sums' keys, sorted (time first, so that a
# rollup going hour by hour locks in the same order).
_WRITE_ORDER = ("start", "relay", "provider", "lane", "campaign", "metric")
_ROLLUP_LOCK = 0x726C_6D62  # "rlmb": one metric rollup at a time (PostgreSQL)

# (start, relay, provider, lane, campaign, metric) -> n, for one resolution
_Sums = dict[tuple[float, str, str, str, str, str], int]
_Select = TypeVar("_Select", bound=sa.Select[Any])


class SqlMetrics:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add(self, rows: Iterable[BucketCount]) -> None:
        """Add `rows` (minute counts, e.g. `MetricTally.drain()`) in one transaction."""
        rows = list(rows)
        if not rows:
            return
        with self.engine.begin() as conn:
            add_in(conn, rows)

    def add_in(self, conn: sa.Connection, rows: Iterable[BucketCount]) -> None:
        """`add` inside the caller's transaction."""
        add_in(conn, rows)

    def rollup(self, now: float) -> int:
        """Fold every minute row older than 48 h into its hour row, in one transaction;
        returns the minute rows folded. Idempotent, and safe beside writers and other
        rollups: a minute row's count moves only with the DELETE that removes it."""
        with self.engine.begin() as conn:
            return rollup_in(conn, _hour_floor(now - ROLLUP_AFTER))

    def prune(self, before: float) -> int:
        """Drop hour rows starting before `before` (a retention limit); returns how many."""
        stmt = metric_buckets.delete().where(B.resolution == HOUR_ROWS, B.start < before)
        with self.engine.begin() as conn:
            return int(conn.execute(stmt).rowcount)

    def window(
        self,
        since: float,
        until: float,
        *,
        relay: str | None = None,
        lane: str | None = None,
        provider: str | None = None,
        campaign: str | None = None,
    ) -> Counter[str]:
        """Each metric's total over the buckets starting in [since, until) that match
        every filter given (None: any)."""
        filters = {"relay": relay, "lane": lane, "provider": provider, "campaign": campaign}
        stmt = _where(sa.select(B.metric, sa.func.sum(B.n)), since, until, filters)
        with reading(self.engine) as conn:
            rows = conn.execute(stmt.group_by(B.metric)).all()
        return Counter({str(metric): int(n) for metric, n in rows if n})

    def breakdown(
        self,
        dimension: str,
        since: float,
        until: float,
        *,
        relay: str | None = None,
        lane: str | None = None,
        provider: str | None = None,
        campaign: str | None = None,
    ) -> dict[str, Counter[str]]:
        """`window`'s totals split by one dimension (relay, provider, lane or campaign)."""
        if dimension not in DIMENSIONS:
            raise ValueError(f"no dimension {dimension!r}; use one of {', '.join(DIMENSIONS)}")
        column = B[dimension]
        filters = {"relay": relay, "lane": lane, "provider": provider, "campaign": campaign}
        stmt = _where(sa.select(column, B.metric, sa.func.sum(B.n)), since, until, filters)
        out: dict[str, Counter[str]] = {}
        with reading(self.engine) as conn:
            for value, metric, n in conn.execute(stmt.group_by(column, B.metric)):
                if n:
                    out.setdefault(str(value), Counter())[str(metric)] = int(n)
        return dict(sorted(out.items()))

    def by_provider(
        self,
        since: float,
        until: float,
        *,
        relay: str | None = None,
        lane: str | None = None,
        campaign: str | None = None,
    ) -> dict[str, Counter[str]]:
        """`window`'s totals per provider group ("" for counts about no one provider)."""
        return self.breakdown("provider", since, until, relay=relay, lane=lane, campaign=campaign)

    def backlog(self, lanes: Iterable[str] | None = None) -> dict[str, LaneBacklog]:
        """What waits in each lane now (queue depth by state, oldest queued)."""
        with reading(self.engine) as conn:
            return lane_backlog(conn, lanes)

    def relay_backlog(self, relays: Iterable[str] | None = None) -> dict[str, LaneBacklog]:
        """What waits on each relay now (routed to it: depth by state, oldest queued)."""
        with reading(self.engine) as conn:
            return relay_backlog(conn, relays)

    def per_bucket(
        self,
        since: float,
        until: float,
        metrics: Iterable[str],
        *,
        relay: str | None = None,
        lane: str | None = None,
        provider: str | None = None,
        campaign: str | None = None,
    ) -> list[tuple[float, str, int]]:
        """(bucket start, metric, total) of the named metrics for each stored bucket
        starting in [since, until), oldest first: the points of a time series
        (`monitor.series` puts them into steps)."""
        filters = {"relay": relay, "lane": lane, "provider": provider, "campaign": campaign}
        stmt = _where(sa.select(B.start, B.metric, sa.func.sum(B.n)), since, until, filters)
        stmt = stmt.where(B.metric.in_(sorted(set(metrics)))).group_by(B.start, B.metric)
        with reading(self.engine) as conn:
            rows = conn.execute(stmt.order_by(B.start)).all()
        return [(float(start), str(metric), int(n)) for start, metric, n in rows if n]


def _where(stmt: _Select, since: float, until: float, filters: dict[str, str | None]) -> _Select:
    stmt = stmt.where(B.start >= since, B.start < until)
    for name, value in filters.items():
        if value is not None:
            stmt = stmt.where(B[name] == value)
    return stmt


def _hour_floor(at: float) -> float:
    return float(at // HOUR * HOUR)


def _insert(conn: sa.Connection) -> sa.Executable:
    """The increment upsert, for executemany over unique keys."""
    stmt = insert_for(conn, metric_buckets)
    return stmt.on_conflict_do_update(index_elements=list(_KEY), set_={"n": B.n + stmt.excluded.n})


def _write(conn: sa.Connection, resolution: str, sums: _Sums) -> None:
    """Upsert `sums`, keys sorted so that concurrent writers lock rows in one order."""
    values = [
        {"relay": relay, "resolution": resolution, "start": start, "provider": provider,
         "lane": lane, "campaign": campaign, "metric": metric, "n": n}
        for (start, relay, provider, lane, campaign, metric), n in sorted(sums.items())
        if n
    ]  # fmt: skip
    if values:
        conn.execute(_insert(conn), values)


def add_in(conn: sa.Connection, rows: Iterable[BucketCount]) -> None:
    """Add minute counts in the caller's transaction; a metric name outside the
    vocabulary is a programming error (ValueError) and writes nothing."""
    sums: _Sums = {}
    for r in rows:
        if not is_metric(r.metric):
            raise ValueError(f"{r.metric!r} is not a metric name (relaylane.monitor.metrics)")
        key = (minute_start(r.start), r.relay, r.provider, r.lane, r.campaign, r.metric)
        sums[key] = sums.get(key, 0) + r.n
    _write(conn, MINUTE_ROWS, sums)


def rollup_in(conn: sa.Connection, cutoff: float) -> int:
    """Move minute rows starting before `cutoff` into hour rows, one hour at a time (the
    caller's transaction); returns the minute rows moved.

    On PostgreSQL rollups take turns (a transaction-level advisory lock) and lock each
    hour's minute rows in key order, the order writers upsert in, before deleting them,
    so a writer adding to an old minute waits instead of deadlocking; SQLite's write
    transactions are serial already."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ROLLUP_LOCK})
    moved = 0
    oldest = sa.select(sa.func.min(B.start)).where(B.resolution == MINUTE_ROWS, B.start < cutoff)
    while (start := conn.execute(oldest).scalar()) is not None:
        hour = _hour_floor(float(start))
        end = min(hour + HOUR, cutoff)
        if postgres:
            _lock_in_key_order(conn, hour, end)
        moved += _fold_hour(conn, hour, end)
    return moved


def _minutes_in(hour: float, end: float) -> sa.ColumnElement[bool]:
    return sa.and_(B.resolution == MINUTE_ROWS, B.start >= hour, B.start < end)


def _lock_in_key_order(conn: sa.Connection, hour: float, end: float) -> None:
    """SELECT ... FOR UPDATE in the order of `_write`'s sorted keys (Python sorts strings
    by code point, which is the "C" collation's order in UTF-8)."""
    order = [B[name].collate("C") if name != "start" else B.start for name in _WRITE_ORDER]
    stmt = sa.select(B.n).where(_minutes_in(hour, end)).order_by(*order).with_for_update()
    conn.execute(stmt).all()


def _fold_hour(conn: sa.Connection, hour: float, end: float) -> int:
    """Delete the minute rows in [hour, end) and add what they held to hour `hour`."""
    stmt = (
        metric_buckets.delete()
        .where(_minutes_in(hour, end))
        .returning(B.relay, B.provider, B.lane, B.campaign, B.metric, B.n)
    )
    sums: _Sums = {}
    count = 0
    for relay, provider, lane, campaign, metric, n in conn.execute(stmt):
        key = (hour, relay, provider, lane, campaign, metric)
        sums[key] = sums.get(key, 0) + int(n)
        count += 1
    _write(conn, HOUR_ROWS, sums)
    return count


class FeedbackFacts(Protocol):
    """What `count_feedback` reads of a stored finding (`store.feedback.FeedbackRow`)."""

    @property
    def delivery_id(self) -> int | None: ...
    @property
    def relay(self) -> str | None: ...
    @property
    def event(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def bounce_class(self) -> str: ...


# A bounce report counts as an attempt with the same outcome would (what it did to the
# delivery); a report that changed nothing (late, duplicate) counts nothing.
_BOUNCE_OUTCOME = {
    Action.BOUNCED.value: Outcome.BOUNCED,
    Action.HELD.value: Outcome.BLOCKED,
    Action.FAILED.value: Outcome.FAILED,
}


def _metrics_of_finding(row: FeedbackFacts) -> tuple[str, ...]:
    event = row.event
    if event == Event.DELIVERED.value:
        return (Metric.DELIVERED.value,) if row.action == Action.DELIVERED.value else ()
    if event == Event.COMPLAINED.value:
        return (Metric.COMPLAINTS.value,)
    if event == Event.UNSUBSCRIBED.value:
        return (Metric.UNSUBSCRIBES.value,)
    outcome = _BOUNCE_OUTCOME.get(row.action)
    if event != Event.BOUNCED.value or outcome is None:
        return ()
    try:
        bounce_class = BounceClass(row.bounce_class)
    except ValueError:
        bounce_class = BounceClass.UNCLASSIFIED
    return metrics_of_attempt(Stage.REPORT, outcome, bounce_class)


def count_feedback(conn: sa.Connection, findings: Sequence[FeedbackFacts], now: float) -> int:
    """Count what matched findings (DSNs, ARF reports, provider events) say, in the
    minute of `now`, in the caller's transaction; returns the increments made.

    delivered (when it moved the delivery), bounced:<class> (address-level), blocked
    (relay-level: held) or failed (expired and the rest), complaints, unsubscribes. The
    delivery's lane, provider and campaign come from one query; the relay is the
    finding's, else the delivery's. Unmatched findings, delays, auto-replies and reports
    that changed nothing count nothing."""
    counted = [
        (f.delivery_id, f.relay, names)
        for f in findings
        if f.delivery_id is not None and (names := _metrics_of_finding(f))
    ]
    if not counted:
        return 0
    where = _delivery_dimensions(conn, sorted({did for did, _, _ in counted}))
    rows: list[BucketCount] = []
    for did, finding_relay, names in counted:
        if did not in where:
            continue
        relay, provider, lane, campaign = where[did]
        relay = finding_relay or relay
        rows += [BucketCount(now, relay, provider, lane, campaign, m, 1) for m in names]
    add_in(conn, rows)
    return len(rows)


def _delivery_dimensions(
    conn: sa.Connection, ids: Sequence[int]
) -> dict[int, tuple[str, str, str, str]]:
    """(relay, provider, lane, campaign) of each delivery, "" where unknown."""
    stmt = (
        sa.select(D.id, D.relay, D.provider, D.lane, M.meta)
        .select_from(deliveries.join(messages, D.message_id == M.id))
        .where(D.id.in_(ids))
    )
    return {
        int(did): (relay or "", provider or "", str(lane), campaign_of(meta))
        for did, relay, provider, lane, meta in conn.execute(stmt)
    }
