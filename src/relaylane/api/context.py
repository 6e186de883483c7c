"""What the API runs on: configuration, store, the intake committer, a clock, and
optionally the relay board and stats of a worker running in the same process."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

import sqlalchemy as sa

from relaylane.bounces.ingest import FeedbackIngest
from relaylane.clock import Clock
from relaylane.config.models import Config
from relaylane.delivery.board import RelayState
from relaylane.delivery.stats import WorkerStats
from relaylane.doctor.dns import Resolver
from relaylane.errors import Unavailable
from relaylane.intake.committer import STORE_RETRY_AFTER, Committer
from relaylane.store import Store

T = TypeVar("T")


class BoardView(Protocol):
    """What the API reads of a `relaylane.delivery.board.RelayBoard`."""

    def snapshot(self) -> Sequence[RelayState]: ...


@dataclass
class ApiContext:
    config: Config
    store: Store
    committer: Committer  # started by the caller, closed by the caller
    clock: Clock
    board: BoardView | None = None  # the RelayBoard of an in-process worker, if any
    key_cache_seconds: float = 2.0  # how long a checked API key is trusted (revocation lag)
    ingest: FeedbackIngest | None = None  # records provider webhook events
    stats: WorkerStats | None = None  # an in-process worker's counters, for /metrics
    resolver: Resolver | None = None  # the dashboard doctor's DNS; None: the system's

    async def in_thread(self, fn: Callable[..., T], *args: object) -> T:
        """Run a blocking store call off the event loop; a store that cannot be reached
        raises Unavailable (503) instead of an error."""
        try:
            return await asyncio.to_thread(fn, *args)
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError) as exc:
            name = exc.orig.__class__.__name__ if isinstance(exc, sa.exc.DBAPIError) else "timeout"
            raise Unavailable(f"the store is unavailable ({name})", STORE_RETRY_AFTER) from exc
