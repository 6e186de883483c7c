"""`serve`'s automatic pruning: every [retention] interval, `store.retention.prune` in
a thread (never on the event loop), in short batches with a pause between two, so
sending never waits on more than one batch. It logs what went and, when anything did,
records a DB_PRUNE audit entry by "serve". A stop ends it between two batches."""

from __future__ import annotations

import asyncio
import logging
import threading
from dataclasses import dataclass, field

from relaylane.clock import Clock
from relaylane.config.models import Config
from relaylane.store import Store
from relaylane.store.retention import PruneResult, prune

log = logging.getLogger("relaylane.retention")
ACTOR = "serve"


@dataclass
class Pruner:
    config: Config
    store: Store
    clock: Clock
    _stop: threading.Event = field(default_factory=threading.Event)

    async def run(self) -> None:
        """Prune every [retention] interval until cancelled (0: never)."""
        interval = self.config.retention.interval
        if interval <= 0:
            return
        try:
            while True:
                await asyncio.sleep(interval)
                try:
                    await self.once()
                except Exception:  # a failed pass is retried at the next interval
                    log.exception("pruning failed; retrying in %.0fs", interval)
        finally:
            self._stop.set()  # a pass under way in its thread ends after its batch

    async def once(self) -> PruneResult:
        result = await asyncio.to_thread(
            prune,
            self.store.engine,
            self.config,
            self.clock.now(),
            actor=ACTOR,
            stop=self._stop.is_set,
            audit_when_empty=False,
        )
        if result.total:
            counts = ", ".join(f"{k} {n}" for k, n in result.counts.items() if n)
            log.info(
                "retention pruned %d rows (%s) in %d batches", result.total, counts, result.batches
            )
        else:
            log.debug("retention: nothing to prune")
        return result
