"""The delivery worker: claim, route, send, record. One asyncio loop per process.

- A pump runs one database transaction per tick: it records the results finished since
  the last tick and claims due deliveries lane by lane, transactional lanes first, each
  lane within its own in-flight budget, so a marketing backlog never delays a password
  reset. Database calls run on one dedicated thread so the event loop keeps sending.
- Each relay has a queue and up to `max_connections` connection tasks that reuse their
  SMTP session for up to `max_messages_per_connection` messages.
- Claims are leased; the lease is renewed while the worker lives, and expired leases of
  dead workers are reclaimed. On stop, unstarted claims are released, in-flight sends
  finish, and every result is committed before `run` returns.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
import os
import socket
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

import sqlalchemy as sa

from relaylane.campaigns.feeding import CampaignFeeder
from relaylane.campaigns.render import RenderError
from relaylane.clock import Clock, SystemClock
from relaylane.config.models import Config, LaneConfig, RelayConfig
from relaylane.delivery.board import RelayBoard
from relaylane.delivery.health import Gate, GateAction
from relaylane.delivery.job import Job, QueueStore
from relaylane.delivery.limits import LimitStore, SharedLimits
from relaylane.delivery.outgoing import Outgoing
from relaylane.delivery.pacer import Pacer
from relaylane.delivery.personalize import CampaignBodies
from relaylane.delivery.providers import DnsMxResolver, ProviderMap, ProviderResolver
from relaylane.delivery.session import RelaySession, SendReport, SmtpSession
from relaylane.delivery.stats import WorkerStats
from relaylane.delivery.upkeep import Upkeep
from relaylane.policy.classify import DEFAULT_CLASSIFIER, Classifier, Verdict
from relaylane.policy.decide import (
    LanePolicy,
    after_answer,
    expired,
    no_relay,
    stopped_with_campaign,
    unrenderable,
    waiting,
)
from relaylane.policy.pacing.windows import earliest_start, parse_window
from relaylane.policy.retry import RetrySchedule
from relaylane.policy.vocabulary import (
    BounceClass,
    DeliveryState,
    Outcome,
    Stage,
    Strategy,
)
from relaylane.records import AttemptRecord, Claimed, DeliveryResult, StoredBody

T = TypeVar("T")
log = logging.getLogger("relaylane.worker")
SessionFactory = Callable[[RelayConfig], RelaySession]
__all__ = ["Job", "QueueStore", "SessionFactory", "Worker", "new_owner"]
BODY_CACHE_SIZE = 2048
KEY_RING_REFRESH = 300.0  # seconds between re-reads of the token keys
PACE_PARK = 60.0  # a delivery waiting this long or less for a limit stays in memory
SLOT_RETRY = 0.1  # seconds before a relay whose connection slots were all held looks again
SHARED_IDLE = 1.0  # seconds an idle connection holds a shared slot before giving it back
SLOT_YIELD = 3 * SLOT_RETRY  # a freed slot another worker waits for is left to it this long


def new_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(
        self,
        config: Config,
        queue: QueueStore,
        *,
        clock: Clock | None = None,
        sessions: SessionFactory | None = None,
        owner: str | None = None,
        stats: WorkerStats | None = None,
        idle_quit: float = 5.0,
        flush_interval: float = 0.02,  # group-commit window while busy
        flush_size: int = 256,
        shutdown_grace: float = 30.0,
        report_every: float | None = None,
        classifier: Classifier | None = None,
        feeder: CampaignFeeder | None = None,
        limits: LimitStore | None = None,
    ) -> None:
        self.config = config
        self.feeder = feeder  # feeds running campaigns' contacts to the queue
        self.campaign_bodies = CampaignBodies(config)
        self.classifier = classifier or DEFAULT_CLASSIFIER
        self._suppression = config.suppression_policy()
        self.outgoing = Outgoing(config)
        self._ring_loaded: float | None = None
        providers = config.providers()
        self.pacer = Pacer(config, providers, config.pacing.timezone)
        self.groups = ProviderResolver(ProviderMap(providers), DnsMxResolver(), clock=clock)
        self._parked: dict[int, tuple[asyncio.TimerHandle, Job, str]] = {}
        self._slots: dict[tuple[str, str], float] = {}
        self._signers: dict[str, str | None] = {}  # From domain -> aligned signing domain
        self._windows = {lane.name: config.windows_of(lane) for lane in config.lane}
        self._hooks = config.events.hooks()
        self.queue = queue
        self.clock: Clock = clock or SystemClock()
        self.sessions: SessionFactory = sessions or SmtpSession
        self.owner = owner or new_owner()
        self.stats = stats or WorkerStats()
        self.board = RelayBoard(config)
        w = config.worker
        self._lease, self._batch, self._idle_poll = w.lease, w.claim_batch, w.idle_poll
        # With `limits`, rates, caps, warm-up volumes, adaptive rates and connections count
        # every worker on the store (relaylane.delivery.limits), not this process alone.
        self.shared = (
            SharedLimits(limits, self.clock, self.owner, self._lease)
            if limits is not None and config.pacing.shared_limits
            else None
        )
        self.pacer.shared = self.shared
        self._regrowing: set[str] = set()
        self.upkeep = Upkeep(
            queue, self._db, self.clock, self.pacer, self.board.health, self.groups,
            owner=self.owner, suppression=self._suppression, hooks=self._hooks,
            stats=self.stats, shared=self.shared,
        )  # fmt: skip
        self.metrics = self.upkeep.metrics
        self.idle_quit = idle_quit
        self.flush_interval = flush_interval
        self.flush_size = flush_size
        self.shutdown_grace = shutdown_grace
        self.report_every = report_every
        self._lanes = config.lanes_by_priority()
        self._policies = {
            lane.name: LanePolicy(
                max_age=lane.max_age,
                retry=RetrySchedule(
                    first=lane.retry.first,
                    cap=lane.retry.cap,
                    factor=lane.retry.factor,
                    jitter=lane.retry.jitter,
                ),
            )
            for lane in config.lane
        }
        self._budget = {
            lane.name: max(
                2 * self._batch,
                8 * sum(config.relay_by_name(r.name).max_connections for r in lane.relays),
            )
            for lane in config.lane
        }
        self._inflight = dict.fromkeys(self._budget, 0)
        self._queues: dict[str, asyncio.PriorityQueue[tuple[int, int, Job | None]]] = {}
        self._tasks: dict[str, set[asyncio.Task[None]]] = {r.name: set() for r in config.relay}
        self._seq = 0
        self._bodies: OrderedDict[int, StoredBody] = OrderedDict()
        self._pending: list[DeliveryResult] = []
        self._wake = asyncio.Event()
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._store_failures = 0
        self._unstarted: list[Claimed] = []
        self._db_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relaylane-db")

    # -- public -------------------------------------------------------------------
    def request_stop(self) -> None:
        """Stop claiming; finish or release what is in hand (safe from a signal handler)."""
        self._stopping = True
        self._stop_requested.set()
        self._wake.set()

    def poke(self) -> None:
        """New mail was queued: look for due work now instead of at the next idle poll."""
        self._wake.set()

    async def run(
        self, *, until_idle: bool = False, intake_done: asyncio.Event | None = None
    ) -> WorkerStats:
        """Deliver until stopped, or (until_idle) until nothing is due and nothing in flight.

        With `intake_done`, idleness counts only once that event is set (for callers that
        keep queueing while the worker runs, like the demo)."""
        self._queues = {r.name: asyncio.PriorityQueue() for r in self.config.relay}
        await self._db(self.queue.reclaim_expired, self.clock.now())
        await self._load_ring()
        await self.upkeep.start()
        helpers = [asyncio.create_task(self._lease_keeper(), name="lease-keeper")]
        if self.report_every:
            helpers.append(asyncio.create_task(self._reporter(self.report_every), name="report"))
        try:
            await self._pump(until_idle, intake_done)
        finally:
            await self._shutdown(helpers)
        return self.stats

    # -- the pump: one commit per tick --------------------------------------------------
    async def _pump(self, until_idle: bool, intake_done: asyncio.Event | None) -> None:
        """Each tick is one transaction: record finished results and claim more work for
        every lane with room, transactional lanes first. Ticks come every
        `flush_interval` while work is in flight (group commit), at once when a batch of
        results is ready or a lane runs dry, and every `idle_poll` when idle."""
        while True:
            self._wake.clear()
            plan = [] if self._stopping else self._claim_plan()
            results, self._pending = self._pending, []
            claimed = False
            if plan or results:
                try:
                    step = await self._db(
                        functools.partial(self.queue.step, hooks=self._hooks),
                        results,
                        plan,
                        set(self._bodies),
                        self.clock.now(),
                        self.owner,
                        self._lease,
                        self._suppression,
                    )
                except sa.exc.DBAPIError as exc:  # the transaction rolled back: retry it
                    self._pending[:0] = results
                    await self._store_trouble(exc)
                    continue
                self._store_failures = 0
                self.stats.recorded += step.applied
                self.stats.stale += len(results) - step.applied
                self._bodies.update(step.bodies)
                groups = await self._groups_of(step.claims)
                for lane in self._lanes:
                    self._admit(lane, step.claims.get(lane.name, []), groups, step.contacts)
                self._trim_bodies()  # only now: this tick's claims may use any body held
                claimed = any(step.claims.values())
                self.stats.claimed += sum(len(cs) for cs in step.claims.values())
            await self.upkeep.tick(self)  # even while claiming: it throttles itself
            if await self._feed() or claimed:
                continue
            if self._stopping:
                return
            # jobs parked on a limit wait on their own timers: they do not make us busy,
            # but they are not done either
            in_hand = sum(self._inflight.values())
            busy = in_hand > len(self._parked)
            drained = in_hand == 0 and not self._pending
            settled = drained and (intake_done is None or intake_done.is_set())
            if until_idle and settled and not await self._feeding():
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), self.flush_interval if busy else self._idle_poll
                )

    async def _groups_of(self, claims: dict[str, list[Claimed]]) -> dict[str, str]:
        """Provider groups of the claimed recipients' domains (cached; MX lookups for new
        domains run concurrently, bounded by a short timeout)."""
        domains = {c.recipient.rpartition("@")[2] for cs in claims.values() for c in cs}
        return await self.groups.resolve_many(domains) if domains else {}

    async def _store_trouble(self, exc: Exception) -> None:
        """The store failed (locked too long, connection lost, failover in progress):
        keep the results in hand and try again after a pause that grows to 30 s. Sends in
        flight go on; nothing is lost, and leases are renewed once the store is back."""
        self._store_failures += 1
        pause = min(30.0, 0.5 * 2 ** (self._store_failures - 1))
        log.error("store unavailable (%s); retrying in %.1fs", exc.__class__.__name__, pause)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop_requested.wait(), pause)

    def _claim_plan(self) -> list[tuple[str, int]]:
        """(lane, how many) for lanes with enough room: a lane with nothing in flight
        claims at once; a busy one waits until a useful batch fits."""
        plan = []
        for lane in self._lanes:
            inflight = self._inflight[lane.name]
            room = self._budget[lane.name] - inflight
            if room > 0 and (
                inflight == 0 or room >= min(self._batch, self._budget[lane.name] // 2)
            ):
                plan.append((lane.name, min(room, self._batch)))
        return plan

    def _trim_bodies(self) -> None:
        """Keep the most recently used bodies (a shared campaign body stays while used)."""
        while len(self._bodies) > BODY_CACHE_SIZE:
            message_id, _ = self._bodies.popitem(last=False)
            self.outgoing.forget(message_id)

    async def _feeding(self) -> bool:
        """Before an idle worker stops: one more look at the campaigns (which also marks
        the finished ones); True when a campaign still has contacts to queue."""
        if self.feeder is None:
            return False
        queued = await self._db(self.feeder.tick_sync, self.clock.now())
        return bool(queued) or self.feeder.pending

    async def _feed(self) -> int:
        """Queue more of the running campaigns' contacts (at most every second)."""
        if self.feeder is None or self._stopping or not self.feeder.due(self.clock.now()):
            return 0
        queued: int = await self._db(self.feeder.tick_sync, self.clock.now())
        return queued

    def _admit(
        self,
        lane: LaneConfig,
        claims: list[Claimed],
        groups: dict[str, str] | None = None,
        contacts: dict[int, tuple[str, str]] | None = None,
    ) -> None:
        self._inflight[lane.name] += len(claims)
        now = self.clock.now()
        for claim in claims:
            self._bodies.move_to_end(claim.message_id)
            job = Job(claim, self._bodies[claim.message_id], lane, admitted=now)
            if claim.contact_id is not None and not self._campaign_job(job, contacts or {}):
                continue
            domain = claim.recipient.rpartition("@")[2]
            job.group = (groups or {}).get(domain) or self.groups.cached(domain) or job.group
            if now >= claim.expires_at:
                self._finish(job, expired(claim, now, ()))
            else:
                self._route(job, now)

    def _campaign_stopped(self, job: Job) -> bool:
        """A campaign paused or cancelled since its delivery was claimed: the delivery
        goes back (held, or cancelled) instead of out."""
        campaign = job.claim.campaign_id
        if campaign is None or self.feeder is None:
            return False
        stopped = self.feeder.stopped.get(campaign)
        if stopped is None or job.admitted > stopped.since:  # claimed after: resumed since
            return False
        self._finish(job, stopped_with_campaign(job.claim, stopped.cancelled, self.clock.now()))
        return True

    def _campaign_job(self, job: Job, contacts: dict[int, tuple[str, str]]) -> bool:
        """A campaign delivery: its contact and its campaign's strategy (its body is
        rendered just before sending, in its relay's connection, so that rendering a
        claimed batch never holds up the event loop); False when it cannot be sent."""
        claim = job.claim
        job.contact = contacts.get(claim.contact_id or 0)
        try:
            if job.contact is None:
                raise ValueError(f"contact {claim.contact_id} no longer exists")
            job.strategy = Strategy(self.campaign_bodies.strategy(claim.message_id, job.body))
        except ValueError as exc:  # a spec this version cannot read
            self._finish(job, unrenderable(claim, self.clock.now(), str(exc)))
            return False
        return True

    def _personalize(self, job: Job) -> bool:
        """Render a campaign delivery's body for its contact (once per claim); False when
        it cannot be (the delivery fails as a render error, never sent)."""
        if job.contact is None:
            return True  # not a campaign delivery, or rendered already
        claim, contact = job.claim, job.contact
        try:
            job.body = self.campaign_bodies.render(
                claim.message_id, job.body, claim.id, contact, self.outgoing.ring
            )
        except (RenderError, ValueError) as exc:
            self._finish(job, unrenderable(claim, self.clock.now(), str(exc)))
            return False
        job.contact = None
        return True

    def _route(self, job: Job, now: float) -> str | None:
        """Hand the job to a relay of its lane, or park it until one comes back."""
        if self._stopping:
            self._set_aside(job, now)
            return None
        relay = self.board.choose(job.lane, job.claim, job.tried, now, job.group, job.strategy)
        if relay is None:
            held = (
                f"it is held on relay {job.claim.relay}"
                if job.claim.pinned
                else "every relay of the lane is paused for an infrastructure fault"
            )
            reason = f"no relay of lane {job.lane.name} can take it now: {held}"
            retry_at = self.board.retry_at(job.lane, now)
            policy = self._policies[job.lane.name]
            self._finish(
                job, no_relay(job.claim, now, retry_at, policy, tuple(job.attempts), reason)
            )
            return None
        self._seq += 1
        self._queues[relay].put_nowait((job.lane.priority, self._seq, job))
        self._grow(relay)
        return relay

    def _grow(self, relay: str) -> None:
        tasks = self._tasks[relay]
        cfg = self.config.relay_by_name(relay)
        if len(tasks) < cfg.max_connections and self._queues[relay].qsize() > 0:
            task = asyncio.create_task(self._connection(cfg), name=f"relay:{relay}")
            tasks.add(task)
            task.add_done_callback(tasks.discard)

    # -- sending ------------------------------------------------------------------
    async def _connection(self, cfg: RelayConfig) -> None:
        """One connection to the relay while it has work, holding one of the relay's
        connection slots shared with every worker (with shared limits)."""
        held = None
        if self.shared is not None:
            held = await self._connection_slot(self.shared, cfg)
            if held is None:
                return
        try:
            await self._send_on(cfg)
        finally:
            waiting = False
            if held is not None and self.shared is not None:
                waiting = await self.shared.free_connection(cfg.name, *held)
            self._forget(cfg.name)
            if waiting:  # another worker waits for this relay: it gets the slot first
                self._regrow_later(cfg.name, SLOT_YIELD)
            elif not self._stopping:
                self._grow(cfg.name)

    async def _connection_slot(
        self, shared: SharedLimits, cfg: RelayConfig
    ) -> tuple[int, str] | None:
        """A connection slot of the relay; none free (all workers together use
        `max_connections`): the task ends and the relay looks again in SLOT_RETRY."""
        try:
            held = await shared.take_connection(cfg.name, cfg.max_connections)
        except sa.exc.DBAPIError as exc:
            log.warning("could not take a connection slot (%s)", exc.__class__.__name__)
            held = None
        if held is None:
            self._forget(cfg.name)
            self._regrow_later(cfg.name)
        return held

    def _idle_for(self) -> float:
        """How long an idle connection stays open: with shared limits its slot may be
        wanted by another worker, so it goes back sooner."""
        return self.idle_quit if self.shared is None else min(self.idle_quit, SHARED_IDLE)

    def _regrow_later(self, relay: str, delay: float = SLOT_RETRY) -> None:
        if not self._stopping and relay not in self._regrowing:
            self._regrowing.add(relay)
            asyncio.get_running_loop().call_later(delay, self._regrow, relay)

    def _regrow(self, relay: str) -> None:
        self._regrowing.discard(relay)
        if not self._stopping:
            self._grow(relay)

    async def _send_on(self, cfg: RelayConfig) -> None:
        queue = self._queues[cfg.name]
        try:
            session = self.sessions(cfg)
        except Exception as exc:  # e.g. an unreadable CA file: the relay cannot be used
            log.exception("relay %s: cannot set up a connection", cfg.name,
                          extra={"relay": cfg.name})  # fmt: skip
            reason = f"cannot set up a connection: {exc}"
            now = self.clock.now()
            paused = self.board.health.pause_relay(cfg.name, reason, now)
            self.upkeep.on_transition(self, paused, now)
            self._forget(cfg.name)
            self.drain(cfg.name)
            return
        try:
            while True:
                if queue.empty():  # wait, but QUIT once idle for `idle_quit`
                    try:
                        _, _, job = await asyncio.wait_for(queue.get(), self._idle_for())
                    except TimeoutError:
                        return
                else:
                    _, _, job = queue.get_nowait()
                if job is None:
                    return
                if self._campaign_stopped(job):
                    continue
                if self._gated(job, cfg.name):
                    continue
                if self._misaligned(job) or self._outside_window(job):
                    continue
                ready = self.pacer.admit(cfg, job.group, self.clock.now(), job.body.from_domain)
                if ready > 0:
                    self._wait_for_pace(job, cfg.name, ready)
                    continue
                if not self._personalize(job):
                    continue
                try:
                    sender = self.outgoing.envelope_sender(job, cfg)
                    payload = self.outgoing.payload(job, cfg)
                    report = await session.send(
                        sender, job.claim.recipient, payload, job.body.smtputf8
                    )
                except Exception as exc:  # a bug must never lose or strand the delivery
                    log.exception(
                        "unexpected error sending delivery %s", job.claim.id,
                        extra={"delivery_id": job.claim.id, "lane": job.lane.name,
                               "relay": cfg.name, "provider": job.group},
                    )  # fmt: skip
                    self._shunt(job, f"internal error while sending: {exc!r}")
                    await session.close(polite=False)
                    continue
                if self._on_report(job, cfg.name, report):
                    return  # a fault: a new connection (or the lane's others) goes on
                if self.shared is not None and session.exhausted:
                    return  # its slot goes back: a worker waiting for one gets it first
        finally:
            await session.close()

    def _gated(self, job: Job, relay: str) -> bool:
        """Path health, just before the send: a relay paused for an infrastructure cause
        hands the delivery to another relay of the lane; a path paused for reputation,
        complaints or by an operator holds it where it is (pinned, never moved)."""
        now = self.clock.now()
        gate = self.board.health.gate(relay, job.group, job.claim.id, now)
        if gate.action is GateAction.SEND:
            return False
        if gate.action is GateAction.AVOID:
            job.tried.add(relay)
            self._route(job, now)
            return True
        self._hold(job, relay, gate, now)
        return True

    def _hold(self, job: Job, relay: str, gate: Gate, now: float) -> None:
        note = AttemptRecord(now, None, Stage.LOCAL, None, f"held on {relay}: {gate.reason}",
                             Outcome.BLOCKED, BounceClass.NONE, 0.0)  # fmt: skip
        result = waiting(job.claim, DeliveryState.HELD, 0.0, (*job.attempts, note))
        self._finish(job, replace(result, relay=relay, pinned=True, due_at=gate.until))

    def _wait_for_pace(self, job: Job, relay: str, ready: float) -> None:
        """A limit says not yet: park the job in memory until `ready` when that is soon
        (no spinning: a timer puts it back), else give it back to the store, due then."""
        now = self.clock.now()
        if ready - now > PACE_PARK and self._spill(job, relay, now):
            return
        if ready - now <= PACE_PARK and not self._stopping:
            # Each waiting job gets its own slot, one interval after the previous one
            # waiting on the same limit, so a timer that fires finds a token instead of a
            # whole herd waking for one.
            key = (relay, job.group)
            interval = self.pacer.interval(relay, job.group, now)
            slot = max(ready, self._slots.get(key, 0.0) + interval)
            self._slots[key] = slot
            loop = asyncio.get_running_loop()
            handle = loop.call_later(slot - now, self._unpark, job.claim.id)
            self._parked[job.claim.id] = (handle, job, relay)
            return
        due = ready if math.isfinite(ready) else now + 86400.0
        state = DeliveryState.DEFERRED if job.claim.retries else DeliveryState.QUEUED
        self._finish(job, waiting(job.claim, state, max(due, now), tuple(job.attempts)))

    def _spill(self, job: Job, relay: str, now: float) -> bool:
        """A relay that is full for a while (warm-up, caps) hands the delivery to another
        relay of the same lane with room, when its warm-up says spill = "lane". Never a
        pinned (blocked) delivery, never outside the lane."""
        if job.claim.pinned or self._stopping or not self.pacer.spills(relay):
            return False
        job.full.add(relay)
        other = self.board.choose(job.lane, job.claim, job.tried | job.full, now, job.group)
        if other is None:
            return False
        self._seq += 1
        self._queues[other].put_nowait((job.lane.priority, self._seq, job))
        self._grow(other)
        return True

    def _unpark(self, delivery_id: int) -> None:
        parked = self._parked.pop(delivery_id, None)
        if parked is None:
            return
        _, job, relay = parked
        if self._stopping:
            self._set_aside(job, self.clock.now())
            return
        self._seq += 1
        self._queues[relay].put_nowait((job.lane.priority, self._seq, job))
        self._grow(relay)

    def _outside_window(self, job: Job) -> bool:
        """A delivery claimed while its lane's send window is closed (a retry, a window
        that closed while it waited) waits as `held` until the window opens."""
        windows = self._windows.get(job.lane.name, ())
        own = job.body.send_window
        if own is not None:
            windows += (parse_window(own, self.config.pacing.timezone),)
        not_before = (job.lane.not_before, job.body.not_before)
        if not windows and not_before == (None, None):
            return False
        now = self.clock.now()
        start = earliest_start(now, not_before, windows)
        if start is not None and start <= now:
            return False
        due = start if start is not None else now + 86400.0
        self._finish(job, waiting(job.claim, DeliveryState.HELD, due, tuple(job.attempts)))
        return True

    def _misaligned(self, job: Job) -> bool:
        """The send-time half of the alignment gate: a gated lane's delivery whose From
        domain no longer has an aligned signer (the configuration changed after it was
        queued) is held, never sent unsigned."""
        domain = job.body.from_domain
        if not job.lane.from_domains:
            return False
        if domain not in self._signers:  # once per From domain, not once per send
            self._signers[domain] = self.config.signing_domain_for(domain)
        if self._signers[domain] is not None:
            return False
        now = self.clock.now()
        why = (
            f"held: no aligned DKIM key for {domain} any more (lane {job.lane.name} is "
            "gated); restore its [domain] dkim keys and restart the worker"
        )
        verdict = Verdict(Outcome.BLOCKED, BounceClass.RELAY_CONFIG, why)
        note = AttemptRecord(now, None, Stage.LOCAL, None, why, Outcome.BLOCKED,
                             BounceClass.RELAY_CONFIG, 0.0)  # fmt: skip
        relay = job.claim.relay or job.lane.relay_names[0]
        policy = self._policies[job.lane.name]
        self._finish(job, after_answer(job.claim, verdict, relay, now, policy, (note,)))
        return True

    async def _load_ring(self) -> None:
        """The token keys and DKIM rotations, re-read every KEY_RING_REFRESH so a rotation
        reaches every worker without a restart."""
        now = self.clock.now()
        if self._ring_loaded is None or now - self._ring_loaded >= KEY_RING_REFRESH:
            ring = await self._db(self.queue.key_ring, now)
            self.outgoing.use_keys(ring, await self._db(self.queue.dkim_rotations))
            self._ring_loaded = now

    def _forget(self, relay: str) -> None:
        """This connection task is ending: it no longer counts towards max_connections."""
        current = asyncio.current_task()
        if current is not None:
            self._tasks[relay].discard(current)

    def _on_report(self, job: Job, relay: str, report: SendReport) -> bool:
        """Record an attempt's facts and decide; True when the relay had a fault."""
        now = self.clock.now()
        verdict = self.classifier(report.stage, report.code, report.text, report.fault)
        change = self.pacer.on_answer(
            relay, job.group, verdict.outcome, report.reply(), now, job.body.from_domain
        )
        if change is not None:
            log.warning(
                "relay %s, provider %s: %s to %.3g msg/s (%s)",
                relay, job.group, change.action.value, change.rate, change.cause[:120],
                extra={"delivery_id": job.claim.id, "lane": job.lane.name, "relay": relay,
                       "provider": job.group},
            )  # fmt: skip
        fault = verdict.outcome is Outcome.RELAY_FAULT
        attempt = AttemptRecord(
            at=now,
            relay=relay,
            stage=report.stage,
            code=report.code,
            reply=report.reply(),
            outcome=verdict.outcome,
            bounce_class=verdict.bounce_class,
            duration_ms=report.duration * 1000.0,
        )
        self._count(job, relay, attempt, now)
        health = self.board.health.on_answer(
            relay, job.group, job.claim.id, verdict.outcome, verdict.bounce_class,
            attempt.reply, now,
        )  # fmt: skip
        for t in health:
            self.upkeep.on_transition(self, t, now)
        if not fault:
            self.stats.attempt(relay, verdict.outcome, report.duration, False)
            result = after_answer(
                job.claim,
                verdict,
                relay,
                now,
                self._policies[job.lane.name],
                (*job.attempts, attempt),
                report.queue_id,
            )
            self._finish(job, result)
            return False
        job.tried.add(relay)
        index = len(job.attempts)
        job.attempts.append(attempt)
        moved_to = self._route(job, now)
        if moved_to is not None:
            job.attempts[index] = _with_failover(attempt)
        log.warning(
            "relay %s: %s; delivery %d fails over to %s", relay, verdict.reason[:200],
            job.claim.id, moved_to or "no relay of its lane now",
            extra={"delivery_id": job.claim.id, "lane": job.lane.name, "relay": relay,
                   "provider": job.group},
        )  # fmt: skip
        self.stats.attempt(relay, verdict.outcome, report.duration, moved_to is not None)
        return True

    def _count(self, job: Job, relay: str, attempt: AttemptRecord, now: float) -> None:
        """The attempt's metrics (and its latency, submit to accepted, when sent)."""
        lane, campaign = job.lane.name, job.body.campaign
        self.metrics.attempt(
            now, relay, job.group, lane, campaign,
            stage=attempt.stage, outcome=attempt.outcome, bounce_class=attempt.bounce_class,
        )  # fmt: skip
        if attempt.outcome is Outcome.SENT:
            latency = now - job.claim.created_at
            self.metrics.latency(now, relay, job.group, lane, campaign, latency)

    def _set_aside(self, job: Job, now: float) -> None:
        """While stopping: an untried delivery is released as it was; one with attempts
        in hand is recorded with them, due again now."""
        if job.attempts:
            policy = self._policies[job.lane.name]
            reason = "worker stopping; due again now"
            self._finish(job, no_relay(job.claim, now, now, policy, tuple(job.attempts), reason))
        else:
            self._unstarted.append(job.claim)
            self._inflight[job.lane.name] -= 1

    def _shunt(self, job: Job, reason: str) -> None:
        """Park a delivery that hit an unexpected error: due again in a minute, with the
        error in its history, so nothing is lost and an operator can see why."""
        now = self.clock.now()
        policy = self._policies[job.lane.name]
        self._finish(job, no_relay(job.claim, now, now + 60.0, policy, tuple(job.attempts), reason))

    def drain(self, relay: str) -> None:
        """The relay is paused for an infrastructure cause: route everything still waiting
        for it elsewhere in the lane."""
        queue = self._queues[relay]
        now = self.clock.now()
        while not queue.empty():
            _, _, job = queue.get_nowait()
            if job is not None:
                self._route(job, now)

    def take_results(self) -> list[DeliveryResult]:
        """The results not stored yet (upkeep stores them with health transitions)."""
        results, self._pending = self._pending, []
        return results

    def give_back(self, results: list[DeliveryResult]) -> None:
        self._pending[:0] = results

    def _finish(self, job: Job, result: DeliveryResult) -> None:
        self._pending.append(replace(result, provider=job.group))
        self.stats.finished(job.lane.name, result, job.claim.created_at)
        self._inflight[job.lane.name] -= 1
        if len(self._pending) >= self.flush_size or self._inflight[job.lane.name] == 0:
            self._wake.set()

    # -- leases and shutdown ---------------------------------------------------------
    async def _reporter(self, every: float) -> None:
        """Log what this worker finished since the last report, by state."""
        last: dict[str, int] = {}
        while True:
            await asyncio.sleep(every)
            now = self.stats.totals()
            delta = {s: n - last.get(s, 0) for s, n in sorted(now.items()) if n != last.get(s, 0)}
            last = now
            if delta:
                summary = ", ".join(f"{n} {s}" for s, n in delta.items())
                log.info("last %gs: %s; in flight %d", every, summary, sum(self._inflight.values()))

    async def _lease_keeper(self) -> None:
        renew_every = self._lease / 3
        reclaim_every = max(1.0, self._lease / 2)
        since_reclaim = 0.0
        while True:
            await asyncio.sleep(renew_every)
            now = self.clock.now()
            since_reclaim += renew_every
            try:
                await self._db(self.queue.renew, self.owner, now, self._lease)
                if self.shared is not None:
                    await self.shared.renew()
                if since_reclaim >= reclaim_every:
                    since_reclaim = 0.0
                    await self._db(self.queue.reclaim_expired, now)
                await self._load_ring()
            except sa.exc.DBAPIError as exc:  # the pump reports and retries store trouble
                log.warning("could not renew leases: %s", exc.__class__.__name__)

    async def _shutdown(self, helpers: list[asyncio.Task[None]]) -> None:
        """Release what was never started, let sends in flight finish (up to a grace
        period; a send still stuck after it keeps its lease and is reclaimed later), then
        commit every result."""
        self._stopping = True
        now = self.clock.now()
        for handle, parked, _ in self._parked.values():  # waiting for a limit: give back
            handle.cancel()
            self._set_aside(parked, now)
        self._parked.clear()
        for relay, queue in self._queues.items():
            while not queue.empty():
                _, _, job = queue.get_nowait()
                if job is not None:
                    self._set_aside(job, now)
            for _ in self._tasks[relay]:
                queue.put_nowait((-1, 0, None))
        running = [t for tasks in self._tasks.values() for t in tasks]
        if running:
            _, stuck = await asyncio.wait(running, timeout=self.shutdown_grace)
            for task in stuck:
                task.cancel()
            if stuck:
                await asyncio.wait(stuck)
        try:
            if self._pending:
                results, self._pending = self._pending, []
                record = functools.partial(self.queue.record, hooks=self._hooks)
                applied = await self._db(
                    record, results, self.clock.now(), self.owner, self._suppression
                )
                self.stats.recorded += applied
                self.stats.stale += len(results) - applied
            if self._unstarted:
                await self._db(self.queue.release, self._unstarted, self.clock.now())
        finally:
            for task in helpers:
                task.cancel()
            await asyncio.gather(*helpers, return_exceptions=True)
            await self.upkeep.stop(self)
            if self.shared is not None:
                await self.shared.close()
            await self.groups.aclose()
            self._db_thread.shutdown(wait=True)

    async def _db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db_thread, fn, *args)


def _with_failover(a: AttemptRecord) -> AttemptRecord:
    return AttemptRecord(
        at=a.at,
        relay=a.relay,
        stage=a.stage,
        code=a.code,
        reply=a.reply,
        outcome=a.outcome,
        bounce_class=a.bounce_class,
        duration_ms=a.duration_ms,
        failover=True,
    )
