"""Configuration reload (SIGHUP) for `serve` and `worker`, and the heartbeat that tells
`relaylane workers` which configuration each process runs.

A reload reads and validates the file again. A bad file keeps the running configuration
and logs every problem; so does a change to a setting that needs a restart (listen
addresses, the store, TLS files: `restart_only_changes`). A good one takes effect: the
worker is handed over to a new one built on the new configuration (the old one stops
claiming, finishes what it is sending and closes its connections afterwards; nothing
in use is dropped), and the front ends read the new configuration from their next
request or transaction on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from relaylane.config import Config
from relaylane.delivery.operator import drain_path
from relaylane.errors import ConfigError, RelaylaneError
from relaylane.store.audit import AuditAction
from relaylane.store.processes import HEARTBEAT, process_id

if TYPE_CHECKING:
    from relaylane.delivery.stats import WorkerStats
    from relaylane.delivery.worker import Worker
    from relaylane.store import Store

__all__ = [
    "Heartbeat",
    "Reloaded",
    "WorkerSlot",
    "audit_reload",
    "drain_removed",
    "load_again",
    "restart_only_changes",
]

log = logging.getLogger("relaylane.reload")

# (section, key) pairs a running process cannot change without a restart.
RESTART_ONLY: tuple[tuple[str, str], ...] = (
    ("store", "url"),
    ("http", "listen"),
    ("http", "tls_cert"),
    ("http", "tls_key"),
    ("submission", "listen"),
    ("submission", "tls_listen"),
    ("submission", "hostname"),
    ("submission", "tls_cert"),
    ("submission", "tls_key"),
    ("bounces", "listen"),
    ("bounces", "enabled"),
    ("worker", "metrics_listen"),
    ("events", "webhook"),
)


def restart_only_changes(old: Config, new: Config) -> list[str]:
    """The restart-only settings that differ, as "[section] key" strings."""
    changed = []
    for section, key in RESTART_ONLY:
        before = getattr(getattr(old, section), key, None)
        after = getattr(getattr(new, section), key, None)
        if before != after:
            changed.append(f"[{section}] {key}")
    return changed


@dataclass(frozen=True, slots=True)
class Reloaded:
    """What a reload did: the new configuration, or why the old one stays."""

    config: Config | None
    problem: str | None

    @property
    def ok(self) -> bool:
        return self.config is not None


def load_again(running: Config, load: Callable[[], Config]) -> Reloaded:
    """Read the configuration again with `load` and decide whether it may replace
    `running`. Pure apart from `load`'s reading of the file."""
    try:
        new = load()
    except ConfigError as exc:
        return Reloaded(
            None, f"the file is invalid, keeping the running configuration: {exc.render()}"
        )
    except (OSError, RelaylaneError) as exc:
        return Reloaded(None, f"cannot read the configuration, keeping the running one: {exc}")
    changed = restart_only_changes(running, new)
    if changed:
        return Reloaded(
            None,
            f"{', '.join(changed)} changed: these take effect only on a restart; keeping the "
            "running configuration (restart the process, or revert them to reload the rest)",
        )
    return Reloaded(new, None)


def drain_removed(store: Store, relays: set[str], now: float) -> int:
    """Relays gone from the configuration drain: their waiting deliveries move to their
    lanes' other relays (what they are sending finishes on the retiring worker)."""
    moved = 0
    for relay in sorted(relays):
        why = "removed from the configuration"
        moved += drain_path(store, relay, None, now, "reload", why)
    if moved:
        log.warning("relays %s were removed: %d waiting deliveries moved", sorted(relays), moved)
    return moved


def audit_reload(store: Store, now: float, actor: str, old: Config, outcome: Reloaded) -> None:
    args = {"file": str(old.source_path), "from_hash": old.hash}
    if outcome.config is not None:
        effect: dict[str, Any] = {"applied": True, "to_hash": outcome.config.hash}
    else:
        effect = {"applied": False, "problem": outcome.problem}
    store.audit.record(now, actor, AuditAction.CONFIG_RELOAD, "config", args, effect)


class Heartbeat:
    """Writes this process's row every `HEARTBEAT` seconds with the configuration it runs
    now (`config()`), and removes it on a clean stop."""

    def __init__(
        self,
        store: Store,
        role: str,
        config: Callable[[], Config],
        now: Callable[[], float],
        stats: Callable[[], WorkerStats | None] = lambda: None,
    ) -> None:
        self.store = store
        self.role = role
        self.config = config
        self.now = now
        self.stats = stats
        self.started_at = now()
        self.id = process_id(self.started_at)
        self.loaded_at = self.started_at

    def reloaded(self) -> None:
        self.loaded_at = self.now()

    def beat(self) -> None:
        cfg = self.config()
        stats = self.stats()
        claimed, sent = (stats.claimed, stats.sent) if stats is not None else (0, 0)
        self.store.processes.beat(
            self.id, self.role, self.started_at, cfg.hash, self.loaded_at, self.now(),
            claimed, sent,
        )  # fmt: skip

    async def run(self) -> None:
        try:
            while True:
                try:
                    await asyncio.to_thread(self.beat)
                except Exception as exc:  # the store is away: try again next time
                    log.warning("heartbeat not written: %r", exc)
                await asyncio.sleep(HEARTBEAT)
        finally:
            # a stop while the store is away leaves the row to go stale
            with contextlib.suppress(Exception):
                await asyncio.shield(asyncio.to_thread(self.store.processes.gone, self.id))


class WorkerSlot:
    """A standalone `relaylane worker` with its heartbeat and reloads: on a good reload
    the running worker is replaced by one built on the new configuration (sharing its
    stats); the old one stops claiming and finishes what it is sending."""

    def __init__(
        self,
        worker: Worker,
        make: Callable[[Config, WorkerStats | None], Worker],
        store: Store,
        until_idle: bool = False,
    ) -> None:
        self.worker = worker
        self.make = make
        self.store = store
        self.until_idle = until_idle
        self.heartbeat = Heartbeat(
            store, "worker", lambda: self.worker.config, worker.clock.now, lambda: self.worker.stats
        )
        self._task: asyncio.Task[WorkerStats] | None = None
        self._retiring: list[asyncio.Task[WorkerStats]] = []
        self._lock = asyncio.Lock()

    def request_stop(self) -> None:
        self.worker.request_stop()

    def request_reload(self, load: Callable[[], Config]) -> None:
        asyncio.get_running_loop().create_task(self.reload(load), name="reload")

    async def reload(self, load: Callable[[], Config]) -> Reloaded:
        async with self._lock:
            old = self.worker.config
            outcome = await asyncio.to_thread(load_again, old, load)
            now = self.worker.clock.now()
            actor = f"worker:{self.heartbeat.id}"
            await asyncio.to_thread(audit_reload, self.store, now, actor, old, outcome)
            if outcome.config is None:
                log.error("configuration not reloaded: %s", outcome.problem)
                return outcome
            retiring = self.worker
            self.worker = self.make(outcome.config, retiring.stats)
            if self._task is not None:
                self._retiring.append(self._task)
                self._task = asyncio.create_task(self._run_current(), name="worker")
            retiring.request_stop()
            removed = {r.name for r in old.relay} - {r.name for r in outcome.config.relay}
            if removed:
                await asyncio.to_thread(drain_removed, self.store, removed, now)
            self.heartbeat.reloaded()
            log.warning("configuration reloaded (%s)", outcome.config.hash[:12])
            return outcome

    async def _run_current(self) -> WorkerStats:
        return await self.worker.run(until_idle=self.until_idle)

    async def run(self) -> WorkerStats:
        """Until the current worker ends (a stop, or idle with `until_idle`)."""
        beating = asyncio.create_task(self.heartbeat.run(), name="heartbeat")
        self._task = asyncio.create_task(self._run_current(), name="worker")
        try:
            while True:
                current = self._task
                await asyncio.wait([current])
                if current is self._task:
                    return current.result()
        finally:
            if self._retiring:
                await asyncio.wait(self._retiring)
            beating.cancel()
            await asyncio.gather(beating, return_exceptions=True)
