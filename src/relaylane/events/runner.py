"""Running the dispatcher from a process (`relaylane serve`, `relaylane worker`)."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from relaylane.clock import Clock
from relaylane.config.models import Config
from relaylane.events.dispatch import Dispatcher, DispatchStats
from relaylane.store import Store
from relaylane.store.outbox import SqlOutbox


def dispatcher_for(config: Config, engine: sa.Engine, clock: Clock | None = None) -> Dispatcher:
    """A dispatcher for the configured endpoints, with [events] retry and concurrency."""
    events = config.events
    return Dispatcher(
        SqlOutbox(engine),
        events.hooks(),
        clock=clock,
        schedule=events.retry_schedule(),
        concurrency=events.concurrency,
    )


async def run_dispatcher(
    config: Config, store: Store, stop: asyncio.Event, *, clock: Clock | None = None
) -> DispatchStats:
    """Send the outbox's events until `stop` is set, then finish the POSTs under way.
    Returns at once when no [[events.webhook]] is configured."""
    dispatcher = dispatcher_for(config, store.engine, clock)
    if not dispatcher.hooks:
        return dispatcher.stats
    watcher = asyncio.create_task(_stop_on(stop, dispatcher), name="events-stop")
    try:
        return await dispatcher.run()
    finally:
        watcher.cancel()


async def _stop_on(stop: asyncio.Event, dispatcher: Dispatcher) -> None:
    await stop.wait()
    dispatcher.request_stop()
