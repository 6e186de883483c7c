"""The worker's periodic duties, about once a second, apart from the send path.

- pacing: recovery steps of slowed pairs, and sent counts and changes to the store;
- reported signals: deferrals and blocks that came back later slow their pair;
- path health: probes whose cool-down is over, complaint rates now and then, states other
  workers and operators stored, and this worker's transitions (stored in one commit with
  the results decided before them);
- metrics: this worker's counts to the durable buckets, and now and then the rollup.

A store failure here is logged and retried at the next tick; nothing is lost: counts,
transitions and results stay in memory until they are stored.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import sqlalchemy as sa

from relaylane.clock import Clock
from relaylane.delivery.health import HealthBoard
from relaylane.delivery.job import QueueStore
from relaylane.delivery.limits import SharedLimits
from relaylane.delivery.pacer import Pacer
from relaylane.delivery.providers import ProviderResolver
from relaylane.delivery.stats import WorkerStats
from relaylane.events.hooks import Hooks
from relaylane.monitor.tally import MetricTally
from relaylane.policy.health import HealthState, Transition
from relaylane.policy.suppression import SuppressionPolicy
from relaylane.records import DeliveryResult
from relaylane.store.pacing import PacingEvent

log = logging.getLogger("relaylane.worker")
Db = Callable[..., Awaitable[Any]]

PACING_FLUSH = 1.0  # seconds between ticks (recovery, counts to the store)
COMPLAINTS_EVERY = 60.0  # seconds between looks at complaint rates
ROLLUP_EVERY = 600.0  # seconds between metric rollups (minute buckets -> hours)
RESUME_FACTOR = 0.25  # a path back from a pause starts at this share of its rate (AIMD)
ADOPT_LAG = 10.0  # stored changes are re-read this far back (a late commit is not missed)


class Results(Protocol):
    """What upkeep needs of the worker: its results not yet stored, and a way to move what
    waits for a relay elsewhere in the lane."""

    def take_results(self) -> list[DeliveryResult]: ...
    def give_back(self, results: list[DeliveryResult]) -> None: ...
    def drain(self, relay: str) -> None: ...


class Upkeep:
    def __init__(
        self,
        queue: QueueStore,
        db: Db,
        clock: Clock,
        pacer: Pacer,
        health: HealthBoard,
        groups: ProviderResolver,
        *,
        owner: str,
        suppression: SuppressionPolicy,
        hooks: Hooks,
        stats: WorkerStats,
        shared: SharedLimits | None = None,
    ) -> None:
        self.queue, self._db, self.clock, self.shared = queue, db, clock, shared
        self.pacer, self.health, self.groups = pacer, health, groups
        self.owner, self.suppression, self.hooks, self.stats = owner, suppression, hooks, stats
        self.metrics = MetricTally()
        self._paced_at = 0.0
        self._complaints_at = 0.0
        self._rolled_at = 0.0
        self._signals_after = 0
        self._released: set[tuple[str, str]] = set()  # adopted releases to apply
        self._reread = False  # read every stored path at the next tick

    async def start(self) -> None:
        """Restore caps and warm-up, skip signals already acted on, adopt stored health."""
        now = self.clock.now()
        counts, warmups = await self._db(self.queue.pacing_state, now - 2 * 86400)
        self.pacer.restore(counts, now, warmups)
        self._signals_after = await self._db(self.queue.last_feedback_id)
        self.health.adopt(await self._db(self.queue.health_paths, None))
        await self._db(self.queue.release_stranded, now)

    async def tick(self, worker: Results) -> None:
        """A transition is stored at once; the rest about once a second."""
        now = self.clock.now()
        if self.health.pending:  # a transition reaches other workers at once
            await self.store_health(worker)
        if now - self._paced_at < PACING_FLUSH:
            return
        self._paced_at = now
        await self._read_signals(now)
        await self._health_tick(worker, now)
        await self.flush_metrics(now)
        self.pacer.tick(now)
        await self.flush_pacing()

    async def stop(self, worker: Results) -> None:
        """At shutdown, after the last results: everything still in memory."""
        await self.flush_pacing()
        await self.store_health(worker)
        await self.flush_metrics(self.clock.now())

    # -- path health --------------------------------------------------------------------
    async def _health_tick(self, worker: Results, now: float) -> None:
        for t in self.health.tick(now):
            self.on_transition(worker, t, now)
        try:
            if now - self._complaints_at >= COMPLAINTS_EVERY:
                self._complaints_at = now
                await self._judge_complaints(worker, now)
                await self._db(self.queue.release_stranded, now)
            since = None if self._reread else self.health.seen_until - ADOPT_LAG
            self._reread = False
            stored = await self._db(self.queue.health_paths, since)
            for key in self.health.adopt(stored):
                if not self.health.relay_usable(key[0], now):
                    worker.drain(key[0])
                if not self.health.path(*key).holds:
                    self._released.add(key)
        except sa.exc.DBAPIError as exc:
            log.warning("could not read relay health (%s)", exc.__class__.__name__)
        await self.store_health(worker)

    async def store_health(self, worker: Results) -> None:
        """Store transitions in one commit with the results decided before them, so a
        delivery held while a path probed is never re-held after the path's release; in
        the same commit, release what this worker held on paths that others released."""
        transitions = self.health.drain()
        released, self._released = sorted(self._released), set()
        if not transitions and not released:
            return
        results = worker.take_results()
        at = self.clock.now()
        store = functools.partial(self.queue.apply_health, hooks=self.hooks, release=released)
        try:
            applied, skipped = await self._db(store, transitions, at, results, self.owner,
                                              self.suppression)  # fmt: skip
        except sa.exc.DBAPIError as exc:  # kept in memory; stored with the next change
            log.warning("could not store relay health (%s)", exc.__class__.__name__)
            self.health.requeue(transitions)
            self._released.update(released)
            worker.give_back(results)
            return
        self.health.stored(transitions, at)
        if skipped:  # the stored state moved on (an operator, another worker): adopt it
            self.health.forget(skipped)
            self._reread = True
        self.stats.recorded += applied
        self.stats.stale += len(results) - applied

    async def _judge_complaints(self, worker: Results, now: float) -> None:
        """Complaint rates per relay x provider over the window; a path that changed
        within the window is judged only on what it sent since (so complaints from before
        a pause cannot pause it again as soon as it recovers)."""
        window = self.health.rules.complaint_window
        counts = await self._db(self.queue.complaint_counts, now - window)
        for key in list(counts):
            since = self.health.path(*key).since
            if since > now - window:
                fresh = await self._db(self.queue.complaint_counts, since, key)
                counts[key] = fresh.get(key, (0, 0))
        for t in self.health.on_complaints(counts, now):
            self.on_transition(worker, t, now)

    def on_transition(self, worker: Results, t: Transition, now: float) -> None:
        """Log a health transition and act on it here: an infrastructure pause moves what
        waits for the relay to the lane's other relays; a degraded path slows down; a path
        back from a pause resumes gradually."""
        level = logging.INFO if t.after.state is HealthState.HEALTHY else logging.WARNING
        log.log(level, "relay %s%s: %s -> %s: %s", t.relay,
                f", provider {t.provider}" if t.provider else "", t.before.state.value,
                t.after.state.value, t.after.reason[:300],
                extra={"relay": t.relay, "provider": t.provider})  # fmt: skip
        if t.after.avoided:
            worker.drain(t.relay)
        slow = t.after.state is HealthState.DEGRADED or (
            t.after.state is HealthState.HEALTHY and t.before.state is HealthState.PROBING
        )
        if slow and t.provider:
            self.pacer.throttle(t.relay, t.provider, RESUME_FACTOR, now, t.after.reason)

    # -- metrics and pacing ---------------------------------------------------------------
    async def flush_metrics(self, now: float) -> None:
        """This worker's metric counts to the durable buckets, and now and then the
        rollup of old minute buckets into hours."""
        rows = self.metrics.drain()
        try:
            if rows:
                await self._db(self.queue.flush_metrics, rows)
        except sa.exc.DBAPIError as exc:  # kept: added to the next flush
            log.warning("could not store metrics (%s)", exc.__class__.__name__)
            self.metrics.restore(rows)
        if now - self._rolled_at >= ROLLUP_EVERY:
            self._rolled_at = now
            try:
                await self._db(self.queue.rollup_metrics, now)
            except sa.exc.DBAPIError as exc:  # idempotent: done at the next rollup
                log.warning("could not roll metrics up (%s)", exc.__class__.__name__)

    async def flush_pacing(self) -> None:
        counts, events, warmups = self.pacer.drain()
        if self.shared is not None:
            events = await self._share(self.shared, events)
        if counts or events or warmups:
            try:
                await self._db(self.queue.flush_pacing, counts, events, warmups)
            except sa.exc.DBAPIError as exc:  # kept: they go out with the next flush
                self.pacer.give_back(counts, events)
                log.warning("could not store pacing counts yet (%s)", exc.__class__.__name__)

    async def _share(self, shared: SharedLimits, events: list[PacingEvent]) -> list[PacingEvent]:
        """Store the adaptive rates this worker changed and adopt the others'; add this
        worker's warm-up attempts to the stored progress and adopt every path's. A recovery
        step that another worker stored first is not logged twice."""
        rates = self.pacer.drain_rates()
        deltas = self.pacer.drain_warmups()
        try:
            written = await shared.write_rates(rates)
            self.pacer.adopt_rates(await shared.rates(None), self.clock.now())
        except sa.exc.DBAPIError as exc:  # kept: stored with the next flush
            log.warning("could not share adaptive rates (%s)", exc.__class__.__name__)
            self.pacer.requeue_rates(rates)
            written = {(r.relay, r.provider) for r in rates}
        moved: list[PacingEvent] = []
        if self.pacer.warming:
            try:
                merged = await shared.merge_warmups(deltas, self.pacer.merge_warmup)
                self.pacer.adopt_warmups(merged)
                moved = self.pacer.take_merged_events()
            except sa.exc.DBAPIError as exc:  # kept: added with the next flush
                log.warning("could not share warm-up progress (%s)", exc.__class__.__name__)
                self.pacer.take_merged_events()
                self.pacer.give_back_warmups(deltas)
        kept = [e for e in events if e.action != "recover" or (e.relay, e.provider) in written]
        return kept + moved

    async def _read_signals(self, now: float) -> None:
        """Deferrals and blocks reported later (DSN `delayed`, ESP events) slow the relay x
        provider pair they concern, like the same reply at SMTP time."""
        try:
            rows = await self._db(self.queue.pace_signals, self._signals_after)
        except sa.exc.DBAPIError:
            return
        if rows:
            self._signals_after = max(self._signals_after, *(row.id or 0 for row in rows))
            self.pacer.on_feedback(rows, self.groups.cached, now)
