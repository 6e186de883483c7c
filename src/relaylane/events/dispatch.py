"""The dispatcher: POST due outbox events to their endpoints, signed, at least once.

Each turn is one commit: record the outcomes of finished POSTs, then claim due events
per endpoint, up to `PREFETCH` x `concurrency` claimed and not yet recorded; at most
`concurrency` POSTs are in flight per endpoint (so a slow endpoint never delays
another), the others wait in memory under their lease. Turns come every
`FLUSH_INTERVAL` while busy (group commit: one fsync for many events), at once when a
batch of outcomes is ready or an endpoint runs dry. A 2xx answer delivers an event;
anything else (an error status, a refused or dropped connection, a timeout) schedules a retry with
exponential backoff and records why, until `give_up_after`, when the event is kept as
given up (`relaylane events retry` sends it again).

Several dispatchers may run at once (claims skip locked rows; leases fence outcomes).
One that dies leaves its claims leased; they are due again when the lease ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx
import sqlalchemy as sa

from relaylane import __version__
from relaylane.clock import Clock, SystemClock
from relaylane.config.durations import format_duration
from relaylane.events.backoff import DEFAULT_SCHEDULE, next_try
from relaylane.events.hooks import Hook, Hooks
from relaylane.events.signing import SIGNATURE_HEADER, signature_header
from relaylane.policy.retry import RetrySchedule
from relaylane.store.outbox import ClaimedEvent, ClaimPlan, PostOutcome, SqlOutbox

log = logging.getLogger("relaylane.events")

USER_AGENT = f"relaylane/{__version__} (webhooks)"
DEFAULT_CONCURRENCY = 8  # POSTs in flight per endpoint
DEFAULT_IDLE_POLL = 1.0  # seconds between looks for new events when idle
LEASE_MARGIN = 60.0  # seconds a claim outlives its endpoint's timeout
ERROR_LIMIT = 500  # characters of an error kept in last_error
ANSWER_LIMIT = 200  # bytes of a failed answer's body kept in the error
PREFETCH = 8  # claimed per endpoint: this many times its concurrency
FLUSH_INTERVAL = 0.05  # seconds between commits while POSTs are under way


@dataclass
class DispatchStats:
    delivered: int = 0
    retried: int = 0  # failed POSTs whose event is due again later
    given_up: int = 0


class Dispatcher:
    def __init__(
        self,
        outbox: SqlOutbox,
        hooks: Hooks,
        *,
        clock: Clock | None = None,
        schedule: RetrySchedule = DEFAULT_SCHEDULE,
        concurrency: int = DEFAULT_CONCURRENCY,
        idle_poll: float = DEFAULT_IDLE_POLL,
        client: httpx.AsyncClient | None = None,
        owner: str | None = None,
    ) -> None:
        self.outbox = outbox
        self.hooks = hooks
        self.clock = clock or SystemClock()
        self.schedule = schedule
        self.concurrency = concurrency
        self.idle_poll = idle_poll
        self.owner = owner or _default_owner()
        self.stats = DispatchStats()
        self._client = client
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._outcomes: list[PostOutcome] = []
        self._inflight = {hook.name: 0 for hook in hooks}
        self._waiting: dict[str, list[ClaimedEvent]] = {hook.name: [] for hook in hooks}
        self._tasks: set[asyncio.Task[None]] = set()

    def request_stop(self) -> None:
        """Stop claiming; POSTs under way finish and are recorded, then `run` returns."""
        self._stop.set()
        self._wake.set()

    def poke(self) -> None:
        """New events may be due now: look at once instead of at the next poll."""
        self._wake.set()

    async def run(self, until_idle: bool = False) -> DispatchStats:
        """Send until stopped; with `until_idle`, until no event is due now and none is
        in flight (events retried later stay in the outbox)."""
        if not self.hooks:
            return self.stats
        async with self._http() as client:
            try:
                await self._loop(client, until_idle)
            finally:
                await self._cancel_inflight()  # only left when cancelled: leases expire
        return self.stats

    async def _loop(self, client: httpx.AsyncClient, until_idle: bool) -> None:
        while True:
            stopping = self._stop.is_set()
            claimed = await self._step(claim=not stopping)
            for event in claimed or ():
                self._waiting[event.endpoint].append(event)
            if not stopping:
                self._start_ready(client)
            if not self._tasks and (stopping or (until_idle and claimed == [])):
                await self._release_waiting()
                return
            await self._wait()

    async def _release_waiting(self) -> None:
        """Claimed events never POSTed go back to the outbox, due now."""
        ids = [event.id for waiting in self._waiting.values() for event in waiting]
        for waiting in self._waiting.values():
            waiting.clear()
        if ids:
            with contextlib.suppress(sa.exc.SQLAlchemyError):  # else their leases expire
                await asyncio.to_thread(self.outbox.release, ids, self.clock.now(), self.owner)

    async def _step(self, *, claim: bool) -> list[ClaimedEvent] | None:
        """Record finished POSTs and claim more; None when the store failed (retried)."""
        outcomes, self._outcomes = self._outcomes, []
        plan = self._plan() if claim else []
        try:
            return await asyncio.to_thread(
                self.outbox.step, outcomes, plan, self.clock.now(), self.owner
            )
        except sa.exc.SQLAlchemyError:
            log.exception("webhook outbox: the store failed; trying again")
            self._outcomes = outcomes + self._outcomes
            return None

    def _plan(self) -> list[ClaimPlan]:
        """Claim for each endpoint what fits under its prefetch; the lease covers the
        rounds of POSTs the claimed events may wait for, each up to the timeout."""
        plans = []
        for hook in self.hooks:
            held = self._inflight[hook.name] + len(self._waiting[hook.name])
            room = PREFETCH * self.concurrency - held
            if room >= self.concurrency or (held == 0 and room > 0):
                rounds = 1 + (held + room) // self.concurrency
                plans.append(ClaimPlan(hook.name, room, rounds * hook.timeout + LEASE_MARGIN))
        return plans

    async def _wait(self) -> None:
        busy = bool(self._tasks) and len(self._outcomes) < PREFETCH * self.concurrency
        try:
            async with asyncio.timeout(FLUSH_INTERVAL if busy else self.idle_poll):
                await self._wake.wait()
        except TimeoutError:
            pass
        self._wake.clear()

    def _start_ready(self, client: httpx.AsyncClient) -> None:
        """Start waiting POSTs while their endpoint has a free slot."""
        for hook in self.hooks:
            waiting = self._waiting[hook.name]
            while waiting and self._inflight[hook.name] < self.concurrency:
                self._start(client, hook, waiting.pop(0))

    def _start(self, client: httpx.AsyncClient, hook: Hook, event: ClaimedEvent) -> None:
        self._inflight[hook.name] += 1
        task = asyncio.create_task(self._send(client, hook, event), name=f"event:{event.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, client: httpx.AsyncClient, hook: Hook, event: ClaimedEvent) -> None:
        try:
            outcome = await self._post(client, hook, event)
            self._outcomes.append(outcome)
            self._count(outcome)
        finally:
            self._inflight[hook.name] -= 1
            waiting = self._waiting[hook.name]
            if waiting and not self._stop.is_set():
                self._start(client, hook, waiting.pop(0))
            elif not self._inflight[hook.name] or len(self._outcomes) >= self.concurrency:
                self._wake.set()  # an endpoint ran dry, or a batch is ready to record

    async def _post(
        self, client: httpx.AsyncClient, hook: Hook, event: ClaimedEvent
    ) -> PostOutcome:
        body = event.payload.encode("utf-8")
        headers = event_headers(hook, event, body, int(self.clock.now()))
        try:
            async with asyncio.timeout(hook.timeout):
                error = await _answer(client, hook, body, headers)
        except Exception as exc:  # no answer, whatever the reason, is a failed attempt
            error = _describe(exc)
        if error is None:
            return PostOutcome(event.id, delivered_at=self.clock.now(), due_at=None, error=None)
        return self._failed(hook, event, error)

    def _failed(self, hook: Hook, event: ClaimedEvent, error: str) -> PostOutcome:
        failures = event.attempts + 1
        now = self.clock.now()
        due = next_try(
            self.schedule, event.event_id, failures, event.created_at, hook.give_up_after, now
        )
        if due is None:
            error = (
                f"gave up after {failures} attempt(s) over "
                f"{format_duration(round(now - event.created_at))}: {error}"
            )
            log.warning("webhook %s: event %s %s", hook.name, event.event_id, error)
        return PostOutcome(event.id, delivered_at=None, due_at=due, error=error[:ERROR_LIMIT])

    def _count(self, outcome: PostOutcome) -> None:
        if outcome.delivered_at is not None:
            self.stats.delivered += 1
        elif outcome.due_at is not None:
            self.stats.retried += 1
        else:
            self.stats.given_up += 1

    async def _cancel_inflight(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    @asynccontextmanager
    async def _http(self) -> AsyncIterator[httpx.AsyncClient]:
        if self._client is not None:
            yield self._client
            return
        async with httpx.AsyncClient(
            follow_redirects=False, headers={"User-Agent": USER_AGENT}
        ) as client:
            yield client


def event_headers(hook: Hook, event: ClaimedEvent, body: bytes, timestamp: int) -> dict[str, str]:
    """The headers of one POST; the signature is made afresh for each attempt."""
    return {
        "Content-Type": "application/json",
        "Relaylane-Event-Id": event.event_id,
        "Relaylane-Event-Type": event.kind,
        SIGNATURE_HEADER: signature_header(hook.secret, body, timestamp),
    }


async def _answer(
    client: httpx.AsyncClient, hook: Hook, body: bytes, headers: dict[str, str]
) -> str | None:
    """POST `body`; None for a 2xx answer, else the status and the start of the answer
    (only that much is read, whatever the endpoint sends)."""
    request = client.stream("POST", hook.url, content=body, headers=headers, timeout=hook.timeout)
    async with request as response:
        if response.is_success:
            return None
        start = b""
        async for chunk in response.aiter_bytes():
            start += chunk
            if len(start) >= ANSWER_LIMIT:
                break
    text = " ".join(start[:ANSWER_LIMIT].decode("utf-8", "replace").split())
    reason = f"HTTP {response.status_code}"
    return f"{reason}: {text}" if text else reason


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | httpx.TimeoutException):
        return "timed out waiting for the endpoint"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _default_owner() -> str:
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(4)}"
