"""The worker's side of the limits shared by every worker on the store.

The pacer asks, before each send, whether this worker holds a grant for every shared
limit the send touches (`ready`); the grants themselves come from the store in small
chunks, asked for in the background on a thread of their own, so a send never waits
behind the worker's claim and record transactions. While a grant is on its way the send
is parked for `REFILL_WAIT`. A slot the store has no more of makes a send wait for the
slot's end (a rate's second, a cap's hour or day), and is not asked again before
`DRY_RECHECK` (a stopping worker may give some back).

Connection slots are taken the same way, one per connection, and renewed with the
worker's leases; a worker that stops frees its slots and gives its unused cap grants back.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol, TypeVar

import sqlalchemy as sa

from relaylane.clock import Clock
from relaylane.policy.pacing.allotment import Ask
from relaylane.store.limits import RateRow, WarmupMerge
from relaylane.store.pacing import WarmupDelta, WarmupRow

__all__ = ["DRY_RECHECK", "REFILL_WAIT", "LimitStore", "SharedLimits"]

log = logging.getLogger("relaylane.worker")

REFILL_WAIT = 0.05  # seconds a send waits for a grant on its way
DRY_RECHECK = 10.0  # seconds before a used-up cap slot is asked again
PRUNE_EVERY = 60.0  # seconds between deletions of passed slots
RATE_PREFIX = "rate|"  # rate slots expire; every other grant is given back at stop

Key = tuple[str, float]  # (limit key, slot start)
T = TypeVar("T")


class LimitStore(Protocol):
    """The store seam for shared limits (relaylane.store.limits.SqlLimits)."""

    def grant(self, asks: Sequence[Ask], now: float, prune: bool = ...) -> list[int]: ...
    def give_back(self, unused: Sequence[tuple[str, float, int]]) -> None: ...
    def take_connection(
        self, relay: str, size: int, holder: str, now: float, lease: float
    ) -> int | None: ...
    def free_connection(self, relay: str, slot: int, holder: str, now: float = ...) -> bool: ...
    def renew_connections(self, owner: str, now: float, lease: float) -> int: ...
    def write_rates(self, rows: Sequence[RateRow]) -> set[tuple[str, str]]: ...
    def rates(self, changed_after: float | None = ...) -> list[RateRow]: ...
    def merge_warmups(
        self, deltas: Sequence[WarmupDelta], now: float, merge: WarmupMerge
    ) -> list[WarmupRow]: ...


class SharedLimits:
    def __init__(self, store: LimitStore, clock: Clock, owner: str, lease: float) -> None:
        self.store, self.clock, self.owner, self.lease = store, clock, owner, lease
        self._left: dict[Key, int] = {}
        self._ends: dict[Key, float] = {}
        self._dry: dict[Key, float] = {}  # -> when to ask again
        self._wanted: dict[Key, Ask] = {}
        self._refill: asyncio.Task[None] | None = None
        self._pruned_at = -math.inf
        self._seq = 0
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="relaylane-limits")

    # -- grants ---------------------------------------------------------------------------
    def ready(self, asks: Sequence[Ask], now: float) -> float:
        """0.0 when this worker holds a grant for every ask; else when to try again (a
        grant has been asked for, or the slot is used up until its end)."""
        wait = 0.0
        for ask in asks:
            key = (ask.key, ask.slot.start)
            if self._left.get(key, 0) > 0:
                continue
            if ask.slot.capacity <= 0:
                wait = max(wait, ask.slot.end)
                continue
            dry_until = self._dry.get(key)
            if dry_until is not None and dry_until > now:
                # Used up by all workers: a rate until its slot ends, a cap or warm-up
                # volume until its period ends (the worker spills or defers till then).
                wait = max(wait, ask.slot.end)
                continue
            self._wanted[key] = ask
            wait = max(wait, now + REFILL_WAIT)
        if self._wanted and self._refill is None:
            self._refill = asyncio.get_running_loop().create_task(self._ask(), name="limits")
        return wait

    def take(self, asks: Sequence[Ask]) -> None:
        """Use one of each ask's grant (after `ready` said 0.0)."""
        for ask in asks:
            key = (ask.key, ask.slot.start)
            self._left[key] -= 1

    async def _ask(self) -> None:
        try:
            while self._wanted:
                asks = list(self._wanted.values())
                self._wanted.clear()
                now = self.clock.now()
                prune = now - self._pruned_at >= PRUNE_EVERY
                try:
                    got = await self._call(self.store.grant, asks, now, prune)
                except sa.exc.DBAPIError as exc:  # asked again by the next send
                    log.warning("could not take shared limits (%s)", exc.__class__.__name__)
                    return
                if prune:
                    self._pruned_at = now
                self._forget_passed(now)
                for ask, n in zip(asks, got, strict=True):
                    key = (ask.key, ask.slot.start)
                    if n > 0:
                        self._left[key] = self._left.get(key, 0) + n
                        self._ends[key] = ask.slot.end
                        self._dry.pop(key, None)
                    else:
                        self._dry[key] = min(ask.slot.end, now + DRY_RECHECK)
        finally:
            self._refill = None

    def _forget_passed(self, now: float) -> None:
        for key in [k for k, end in self._ends.items() if end <= now]:
            self._ends.pop(key, None)
            self._left.pop(key, None)
        for key in [k for k, until in self._dry.items() if until <= now]:
            del self._dry[key]

    def unused(self, now: float) -> list[tuple[str, float, int]]:
        """Grants of caps and warm-up volumes this worker holds and has not used."""
        return [
            (key, start, n)
            for (key, start), n in self._left.items()
            if n > 0 and not key.startswith(RATE_PREFIX) and self._ends.get((key, start), 0) > now
        ]

    # -- connection slots -------------------------------------------------------------------
    async def take_connection(self, relay: str, size: int) -> tuple[int, str] | None:
        """A connection slot of `relay` (slot, holder), or None when all `size` are held
        by this and other workers."""
        self._seq += 1
        holder = f"{self.owner}#{self._seq}"
        now = self.clock.now()
        slot = await self._call(self.store.take_connection, relay, size, holder, now, self.lease)
        return None if slot is None else (slot, holder)

    async def free_connection(self, relay: str, slot: int, holder: str) -> bool:
        """Free the slot; True when another worker is waiting for one of the relay's."""
        try:
            now = self.clock.now()
            return await self._call(self.store.free_connection, relay, slot, holder, now)
        except sa.exc.DBAPIError as exc:  # its lease runs out instead
            log.warning("could not free a connection slot (%s)", exc.__class__.__name__)
            return False

    async def renew(self) -> None:
        await self._call(self.store.renew_connections, self.owner, self.clock.now(), self.lease)

    # -- adaptive rates ---------------------------------------------------------------------
    async def write_rates(self, rows: Sequence[RateRow]) -> set[tuple[str, str]]:
        return await self._call(self.store.write_rates, rows)

    async def rates(self, changed_after: float | None) -> list[RateRow]:
        return await self._call(self.store.rates, changed_after)

    async def merge_warmups(
        self, deltas: Sequence[WarmupDelta], merge: WarmupMerge
    ) -> list[WarmupRow]:
        return await self._call(self.store.merge_warmups, deltas, self.clock.now(), merge)

    # -- stopping ---------------------------------------------------------------------------
    async def close(self) -> None:
        """Give unused cap grants back; the thread ends."""
        if self._refill is not None:
            await asyncio.gather(self._refill, return_exceptions=True)
        unused = self.unused(self.clock.now())
        try:
            if unused:
                await self._call(self.store.give_back, unused)
        except sa.exc.DBAPIError as exc:  # the limit under-sends by these, never over
            log.warning("could not give back unused limits (%s)", exc.__class__.__name__)
        finally:
            self._left.clear()
            self._thread.shutdown(wait=True)

    async def _call(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn, *args)
