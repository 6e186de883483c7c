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
from relaylane.store import Store
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
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def request_stop(self) -> None:
        """Begin a graceful stop (safe from a signal handler)."""
        self._stop.set()

    async def run(
        self, ready: Callable[[list[Listening]], None] | None = None
    ) -> WorkerStats | None:
        tasks: list[asyncio.Task[object]] = []
        worker_task: asyncio.Task[WorkerStats] | None = None
        if Part.WORKER in self.parts:
            self.worker = Worker(
                self.config,
                self.store.queue,
                clock=self.clock,
                sessions=self.sessions,
                classifier=classifier_for(self.config.classification),
                feeder=CampaignFeeder(self.store.campaigns, self.store.tracking, self.config),
            )
        stops: list[Callable[[], object]] = []
        try:
            await self._start_fronts(stops)  # bind everything first: a taken port stops us
            if self.worker is not None:  # before any delivery is claimed
                worker_task = asyncio.create_task(self.worker.run(), name="worker")
                notifier = DsnNotifier(
                    self.config,
                    SqlNotices(self.store.engine),
                    self.clock,
                    on_queued=self.worker.poke,
                )
                tasks.append(asyncio.create_task(notifier.run(), name="dsn-notifier"))
            if Part.EVENTS in self.parts and self.config.events.webhook:
                stops.append(self._start_events())
            if ready is not None:
                ready(self.listening)
            await self._wait(worker_task)
        finally:
            await self._shutdown(stops, tasks)
            if worker_task is not None:  # let it finish its graceful stop, come what may
                await asyncio.wait([worker_task])
        return worker_task.result() if worker_task is not None else None

    async def _start_fronts(self, stops: list[Callable[[], object]]) -> None:
        if self.parts & {Part.API, Part.BOUNCES}:
            self.ingest = FeedbackIngest(
                self.config,
                self.store.feedback,
                self.store.token_keys,
                self.clock,
                classifier_for(self.config.classification),
            )
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
            on_commit=self.worker.poke if self.worker else None,
        )
        await self.committer.start()
        if Part.API in self.parts:
            stops.append(await self._start_api())
        if Part.SMTP in self.parts:
            stops.append(await self._start_smtp())
        return None

    async def _wait(self, worker_task: asyncio.Task[WorkerStats] | None) -> None:
        stop = asyncio.create_task(self._stop.wait())
        waiting: set[asyncio.Future[Any]] = {stop}
        if worker_task is not None:
            waiting.add(worker_task)  # a worker that ends on its own (a bug) ends serve
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
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
        for host, port, mode in server.addresses:
            name = "smtp (starttls)" if mode == "starttls" else "smtp (implicit tls)"
            self.listening.append(Listening(Part.SMTP, name, host, port))
        return lambda: server.stop(self.grace)

    async def _start_bounces(self) -> Callable[[], object]:
        assert self.ingest is not None
        receiver = BounceReceiver(self.config, self.ingest)
        await receiver.start()
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
