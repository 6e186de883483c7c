"""One process, several parts: the HTTP API (with the provider webhooks), SMTP
submission, the bounce receiver, delivery workers and the outgoing webhook dispatcher.

Startup binds every listener before reporting ready. On stop (SIGTERM), in order:
1. the listeners stop accepting (new connections are refused; requests and SMTP
   transactions already under way finish);
2. the group committer commits everything already submitted, so each acknowledged
   message is durable;
3. the worker releases deliveries it has not started, lets sends in flight finish (or
   keeps their lease, to be reclaimed), and commits every result.
Nothing accepted is lost, and nothing is left in `sending` beyond a lease.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from relaylane.bounces.ingest import FeedbackIngest
from relaylane.bounces.receiver import BounceReceiver
from relaylane.campaigns.feeding import CampaignFeeder
from relaylane.clock import Clock, SystemClock
from relaylane.config.feedback import classifier_for
from relaylane.config.models import Config
from relaylane.delivery.stats import WorkerStats
from relaylane.delivery.worker import SessionFactory, Worker
from relaylane.intake.committer import Committer
from relaylane.serve.notifier import DsnNotifier
from relaylane.serve.reload import Heartbeat, Reloaded, audit_reload, drain_removed, load_again
from relaylane.serve.retention import Pruner
from relaylane.store import Store
from relaylane.store.intake import IntakeItem
from relaylane.store.notices import SqlNotices

if TYPE_CHECKING:
    from relaylane.events.dispatch import Dispatcher

log = logging.getLogger("relaylane.serve")
STOP_GRACE = 30.0  # seconds the front ends get to finish what is under way


class Part(StrEnum):
    """What a `serve` process runs."""

    API = "api"  # the HTTP API
    SMTP = "smtp"  # SMTP submission
    WORKER = "worker"  # delivery to the relays (and DSNs for SMTP users)
    BOUNCES = "bounces"  # the bounce receiver ([bounces] listen)
    EVENTS = "events"  # sends outgoing webhook events ([[events.webhook]]), when configured


ALL_PARTS = frozenset(Part)


@dataclass(frozen=True, slots=True)
class Listening:
    part: Part
    name: str  # "http", "https", "smtp (starttls)", "smtp (implicit tls)"
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.part.value}: {self.name} on {host}:{self.port}"


@dataclass
class Service:
    config: Config
    store: Store
    parts: frozenset[Part] = ALL_PARTS
    clock: Clock = field(default_factory=SystemClock)
    sessions: SessionFactory | None = None  # how the worker talks to relays (tests swap it)
    grace: float = STOP_GRACE
    listening: list[Listening] = field(default_factory=list)
    worker: Worker | None = None
    committer: Committer | None = None
    ingest: FeedbackIngest | None = None
    dispatcher: Dispatcher | None = None
    heartbeat: Heartbeat | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _worker_task: asyncio.Task[WorkerStats] | None = None
    _retiring: list[asyncio.Task[WorkerStats]] = field(default_factory=list)
    _reconfigurable: list[Any] = field(default_factory=list)  # parts with reconfigure()
    _api_context: Any = None
    _reloading: asyncio.Lock = field(default_factory=asyncio.Lock)

    def request_stop(self) -> None:
        """Begin a graceful stop (safe from a signal handler)."""
        self._stop.set()

    async def run(
        self, ready: Callable[[list[Listening]], None] | None = None
    ) -> WorkerStats | None:
        tasks: list[asyncio.Task[object]] = []
        if Part.WORKER in self.parts:
            self.worker = self._new_worker(self.config, None)
        stops: list[Callable[[], object]] = []
        self.heartbeat = Heartbeat(
            self.store, "serve", lambda: self.config, self.clock.now,
            lambda: self.worker.stats if self.worker else None,
        )  # fmt: skip
        tasks.append(asyncio.create_task(self.heartbeat.run(), name="heartbeat"))
        try:
            await self._start_fronts(stops)  # bind everything first: a taken port stops us
            if self.worker is not None:  # before any delivery is claimed
                self._worker_task = asyncio.create_task(self.worker.run(), name="worker")
                notifier = DsnNotifier(
                    self.config,
                    SqlNotices(self.store.engine),
                    self.clock,
                    on_queued=self._poke,
                )
                self._reconfigurable.append(notifier)
                tasks.append(asyncio.create_task(notifier.run(), name="dsn-notifier"))
            if Part.EVENTS in self.parts and self.config.events.webhook:
                stops.append(self._start_events())
            if self.config.retention.interval > 0:  # [retention]: prune in small batches
                pruner = Pruner(self.config, self.store, self.clock)
                self._reconfigurable.append(pruner)
                tasks.append(asyncio.create_task(pruner.run(), name="retention"))
            if ready is not None:
                ready(self.listening)
            await self._wait()
        finally:
            await self._shutdown(stops, tasks)
            running = [t for t in (self._worker_task, *self._retiring) if t is not None]
            if running:  # let them finish their graceful stop, come what may
                await asyncio.wait(running)
        return self._worker_task.result() if self._worker_task is not None else None

    def _new_worker(self, config: Config, stats: WorkerStats | None) -> Worker:
        return Worker(
            config,
            self.store.queue,
            clock=self.clock,
            sessions=self.sessions,
            stats=stats,
            classifier=classifier_for(config.classification),
            feeder=CampaignFeeder(self.store.campaigns, self.store.tracking, config),
            limits=self.store.limits,
        )

    def _urgent(self, item: IntakeItem) -> bool:
        """Mail for transactional lanes only (the committer commits it ahead of bulk)."""
        priority = {lane.name: lane.priority for lane in self.config.lane}
        return all(priority.get(m.lane) == 0 for m in item.messages)

    def _poke(self) -> None:
        """Wake the current worker (new mail is due): the worker may have been replaced."""
        if self.worker is not None:
            self.worker.poke()

    # -- reload (SIGHUP) -------------------------------------------------------------------
    def request_reload(self, load: Callable[[], Config]) -> None:
        """Re-read the configuration with `load` (safe from a signal handler in the loop)."""
        asyncio.get_running_loop().create_task(self.reload(load), name="reload")

    async def reload(self, load: Callable[[], Config]) -> Reloaded:
        """Validate the configuration again and, when it may, apply it; a bad one keeps
        the running configuration and says why. Audited either way."""
        async with self._reloading:
            outcome = await asyncio.to_thread(load_again, self.config, load)
            now = self.clock.now()
            actor = f"serve:{self.heartbeat.id if self.heartbeat else 'process'}"
            await asyncio.to_thread(audit_reload, self.store, now, actor, self.config, outcome)
            if outcome.config is None:
                log.error("configuration not reloaded: %s", outcome.problem)
                return outcome
            await self._apply(outcome.config, now)
            log.warning(
                "configuration reloaded from %s (%s)", outcome.config.source_path,
                outcome.config.hash[:12],
            )  # fmt: skip
            return outcome

    async def _apply(self, new: Config, now: float) -> None:
        old, self.config = self.config, new
        if self.worker is not None and self._worker_task is not None:
            retiring, retiring_task = self.worker, self._worker_task
            self.worker = self._new_worker(new, retiring.stats)
            self._worker_task = asyncio.create_task(self.worker.run(), name="worker")
            retiring.request_stop()  # stops claiming; finishes what it is sending
            self._retiring.append(retiring_task)
            removed = {r.name for r in old.relay} - {r.name for r in new.relay}
            if removed:
                await asyncio.to_thread(drain_removed, self.store, removed, now)
        for part in self._reconfigurable:
            if hasattr(part, "reconfigure"):
                part.reconfigure(new)
            else:
                part.config = new
        if self._api_context is not None:
            self._api_context.config = new
            self._api_context.board = self.worker.board if self.worker else None
        if self.heartbeat is not None:
            self.heartbeat.reloaded()

    async def _start_fronts(self, stops: list[Callable[[], object]]) -> None:
        if self.parts & {Part.API, Part.BOUNCES}:
            self.ingest = FeedbackIngest(
                self.config,
                self.store.feedback,
                self.store.token_keys,
                self.clock,
                classifier_for(self.config.classification),
            )
            self._reconfigurable.append(self.ingest)
        if self.worker is not None and self.config.worker.metrics_listen:
            stops.append(await self._start_metrics(self.config.worker.metrics_listen))
        if Part.BOUNCES in self.parts and self.config.bounces.enabled:
            stops.append(await self._start_bounces())
        if not self.parts & {Part.API, Part.SMTP}:
            return
        self.committer = Committer(
            self.store.intake,
            self.config.intake,
            self.clock,
            on_commit=self._poke if self.worker else None,
            urgent=self._urgent,
        )
        await self.committer.start()
        if Part.API in self.parts:
            stops.append(await self._start_api())
        if Part.SMTP in self.parts:
            stops.append(await self._start_smtp())
        return None

    async def _wait(self) -> None:
        """Until a stop is requested, or the current worker ends on its own (a bug ends
        serve; a worker retired by a reload ending is expected)."""
        stop = asyncio.create_task(self._stop.wait())
        while not stop.done():
            waiting: set[asyncio.Future[Any]] = {stop}
            current = self._worker_task
            if current is not None:
                waiting.add(current)
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED, timeout=1.0)
            if current is not None and current.done() and current is self._worker_task:
                break
        stop.cancel()

    async def _start_api(self) -> Callable[[], object]:
        from relaylane.api.app import create_app
        from relaylane.api.context import ApiContext
        from relaylane.api.server import start_http

        assert self.committer is not None
        board = self.worker.board if self.worker else None
        stats = self.worker.stats if self.worker else None
        context = ApiContext(
            self.config,
            self.store,
            self.committer,
            self.clock,
            board,
            ingest=self.ingest,
            stats=stats,
        )
        self._api_context = context
        app = create_app(context)
        running = await start_http(app, self.config.http)
        scheme = "https" if self.config.http.tls_cert else "http"
        self.listening.append(Listening(Part.API, scheme, self.config.http.host, running.port))
        return running.stop

    async def _start_metrics(self, listen: str) -> Callable[[], object]:
        from relaylane.monitor.endpoint import start_metrics
        from relaylane.monitor.prometheus import Metrics

        assert self.worker is not None
        metrics = Metrics(self.config, self.store.engine, self.worker.stats, self.clock.now)
        running = await start_metrics(metrics, listen, "[worker] metrics_listen")
        self.listening.append(Listening(Part.WORKER, "metrics", running.host, running.port))
        return running.stop

    def _start_events(self) -> Callable[[], object]:
        """The webhook dispatcher. Stopping it lets the POSTs under way finish (within
        the grace period; an event cut short is sent again: at least once)."""
        from relaylane.events.runner import dispatcher_for

        dispatcher = dispatcher_for(self.config, self.store.engine, self.clock)
        self.dispatcher = dispatcher
        task = asyncio.create_task(dispatcher.run(), name="events")

        async def stop() -> None:
            dispatcher.request_stop()
            done, _ = await asyncio.wait([task], timeout=self.grace)
            if not done:
                task.cancel()
                await asyncio.wait([task])
            elif not task.cancelled() and task.exception() is not None:
                log.error("the webhook dispatcher had failed: %r", task.exception())

        return stop

    async def _start_smtp(self) -> Callable[[], object]:
        from relaylane.submission.server import SubmissionServer

        assert self.committer is not None
        server = SubmissionServer(self.config, self.store.credentials, self.committer, self.clock)
        await server.start()
        self._reconfigurable.append(server)
        for host, port, mode in server.addresses:
            name = "smtp (starttls)" if mode == "starttls" else "smtp (implicit tls)"
            self.listening.append(Listening(Part.SMTP, name, host, port))
        return lambda: server.stop(self.grace)

    async def _start_bounces(self) -> Callable[[], object]:
        assert self.ingest is not None
        receiver = BounceReceiver(self.config, self.ingest)
        await receiver.start()
        self._reconfigurable.append(receiver)
        for host, port in receiver.addresses:
            self.listening.append(Listening(Part.BOUNCES, "smtp (bounces)", host, port))
        return lambda: receiver.stop(self.grace)

    async def _shutdown(
        self, stops: Iterable[Callable[[], object]], tasks: list[asyncio.Task[object]]
    ) -> None:
        for stop in stops:  # 1. stop accepting; finish what is under way
            try:
                result = stop()
                if asyncio.iscoroutine(result):
                    await result
            except Exception:
                log.exception("error while stopping a listener")
        try:
            if self.committer is not None:  # 2. commit what was submitted
                await self.committer.close()
            for task in tasks:
                task.cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            for task, outcome in zip(tasks, results, strict=True):
                if isinstance(outcome, Exception):
                    log.error("%s had failed: %r", task.get_name(), outcome)
        finally:
            if self.worker is not None:  # 3. release or finish deliveries in flight
                self.worker.request_stop()
