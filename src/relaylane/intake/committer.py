"""Group commit: many concurrent submissions, one durable transaction.

Front ends (HTTP requests, SMTP DATA) call `submit(item)` and wait. One task takes what
has queued up meanwhile (up to `commit_batch` items), commits it in ONE transaction on a
dedicated database thread, and only then resolves each waiter, so an acknowledgement
always follows a durable commit. While one commit runs the next batch gathers, so
throughput grows with load. Under concurrent load (the last commit was shared) it also
waits up to `commit_window` for more company; a lone submitter is committed at once.

When the store fails, every waiter of that batch gets `Unavailable` (nothing of it was
stored, so the client's retry cannot duplicate it). When more than `max_queued`
deliveries wait to be sent, new submissions get `Unavailable` at once: back-pressure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

import sqlalchemy as sa

from relaylane.clock import Clock
from relaylane.config.serving import IntakeConfig
from relaylane.errors import InputError, Unavailable
from relaylane.store.intake import IntakeItem, IntakeOutcome

T = TypeVar("T")
# A commit that failed because of one submission's data (too long, a constraint) is
# retried item by item so the others still go in; anything else from the store (lost
# connection, locked database, an exhausted pool) makes the whole batch `Unavailable`.
REFUSED_DATA = (sa.exc.DataError, sa.exc.IntegrityError)
UNAVAILABLE = (sa.exc.DBAPIError, sa.exc.TimeoutError)
log = logging.getLogger("relaylane.intake")
DEPTH_REFRESH = 1.0  # seconds between queue-depth readings for back-pressure
STORE_RETRY_AFTER = 5.0  # what a client is told to wait when the store failed
QUEUE_FULL_RETRY_AFTER = 60.0


class IntakeStore(Protocol):
    def commit(self, items: Sequence[IntakeItem], now: float) -> list[IntakeOutcome]: ...
    def queued_count(self) -> int: ...


Waiter = tuple[IntakeItem, "asyncio.Future[IntakeOutcome]"]


class Committer:
    def __init__(
        self,
        store: IntakeStore,
        config: IntakeConfig,
        clock: Clock,
        *,
        on_commit: Callable[[], None] | None = None,
        urgent: Callable[[IntakeItem], bool] | None = None,
    ) -> None:
        self.store = store
        self.config = config
        self.clock = clock
        self.on_commit = on_commit  # e.g. wake the worker: new mail is due now
        # Items that should not wait for a bulk commit (transactional mail): a group that
        # holds both commits these first, on their own.
        self.urgent = urgent
        self._waiting: asyncio.Queue[Waiter] = asyncio.Queue(maxsize=8 * config.commit_batch)
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relaylane-intake")
        self._task: asyncio.Task[None] | None = None
        self._depth = 0
        self._depth_at = float("-inf")
        self.commits = 0  # transactions committed (for tests and metrics)
        self.committed = 0  # items committed

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="intake-committer")

    async def submit(self, item: IntakeItem) -> IntakeOutcome:
        """Store `item` durably; returns once committed. Raises `Unavailable`."""
        if self._task is None or self._task.done():
            raise Unavailable("relaylane is shutting down", STORE_RETRY_AFTER)
        await self._check_depth()
        future: asyncio.Future[IntakeOutcome] = asyncio.get_running_loop().create_future()
        await self._waiting.put((item, future))
        return await future

    async def close(self) -> None:
        """Commit everything already submitted, then stop."""
        if self._task is not None:
            await self._waiting.join()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._thread.shutdown(wait=True)

    async def _check_depth(self) -> None:
        limit = self.config.max_queued
        if limit is None:
            return
        now = self.clock.now()
        if now - self._depth_at >= DEPTH_REFRESH:
            self._depth_at = now
            try:
                self._depth = await self._in_thread(self.store.queued_count)
            except UNAVAILABLE as exc:
                raise Unavailable(_store_reason(exc), STORE_RETRY_AFTER) from exc
        if self._depth >= limit:
            raise Unavailable(
                f"the queue holds {self._depth} deliveries, over [intake] max_queued = {limit}",
                QUEUE_FULL_RETRY_AFTER,
            )

    async def _run(self) -> None:
        last = 1
        while True:
            batch = [await self._waiting.get()]
            self._take(batch)
            if self._worth_waiting(len(batch), last):
                await asyncio.sleep(self.config.commit_window)
                self._take(batch)
            last = len(batch)
            try:
                for group in self._urgent_first(batch):
                    await self._commit(group)
            finally:
                for _ in batch:
                    self._waiting.task_done()

    def _urgent_first(self, batch: list[Waiter]) -> list[list[Waiter]]:
        """The batch as one commit, or as two (urgent items first) when it mixes urgent
        items with others: a password reset then waits for a small commit, not for the
        fsync of a newsletter's 500 messages."""
        if self.urgent is None or len(batch) < 2:
            return [batch]
        first = [w for w in batch if self.urgent(w[0])]
        if not first or len(first) == len(batch):
            return [batch]
        return [first, [w for w in batch if not self.urgent(w[0])]]

    def _worth_waiting(self, size: int, last: int) -> bool:
        """Wait `commit_window` for company only under concurrent load (the last commit
        was shared, or several are waiting now): a lone submitter is committed at once."""
        return (
            self.config.commit_window > 0
            and size < self.config.commit_batch
            and (last > 1 or size > 1)
        )

    def _take(self, batch: list[Waiter]) -> None:
        while len(batch) < self.config.commit_batch and not self._waiting.empty():
            batch.append(self._waiting.get_nowait())

    async def _commit(self, batch: list[Waiter]) -> None:
        live = [(item, fut) for item, fut in batch if not fut.done()]  # skip cancelled
        if not live:
            return
        try:
            outcomes = await self._in_thread(
                self.store.commit, [item for item, _ in live], self.clock.now()
            )
        except REFUSED_DATA as exc:  # one item's data, not the store: find it, spare the rest
            if len(live) > 1:
                for one in live:
                    await self._commit([one])
                return
            _fail(live, _refused(exc))
            return
        except UNAVAILABLE as exc:
            log.error("intake commit failed: %s", exc.__class__.__name__)
            _fail(live, Unavailable(_store_reason(exc), STORE_RETRY_AFTER))
            return
        except Exception as exc:  # a bug: fail the waiters loudly, keep the committer alive
            log.exception("intake commit raised")
            _fail(live, exc)
            return
        self.commits += 1
        self.committed += len(live)
        if any(o.ids for o in outcomes):
            self._depth += sum(len(ids) for o in outcomes for ids in o.ids)
        for (_, fut), outcome in zip(live, outcomes, strict=True):
            if not fut.done():  # a client gone meanwhile: its mail is queued all the same
                fut.set_result(outcome)
        if self.on_commit is not None:
            self.on_commit()

    async def _in_thread(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)


def _fail(waiters: list[Waiter], error: BaseException) -> None:
    for _, fut in waiters:
        if not fut.done():
            fut.set_exception(error)


def _refused(exc: sa.exc.DBAPIError) -> InputError:
    return InputError(
        "message",
        f"the store refused it ({exc.orig.__class__.__name__}: {str(exc.orig)[:120]})",
        "shorten over-long values (a Message-ID, tags, metadata) and send it again",
    )


def _store_reason(exc: sa.exc.SQLAlchemyError) -> str:
    cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    return f"the store is unavailable ({cause.__class__.__name__})"
