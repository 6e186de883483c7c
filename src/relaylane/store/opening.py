"""The store as a whole: every table's access object over one engine, and opening it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from relaylane.store.audit import SqlAudit
from relaylane.store.campaigns import SqlCampaigns
from relaylane.store.contacts import SqlContacts
from relaylane.store.credentials import SqlCredentials
from relaylane.store.dkim_rotations import SqlRotations
from relaylane.store.engine import create_engine, ensure_schema
from relaylane.store.feedback import SqlFeedback
from relaylane.store.health import SqlHealth
from relaylane.store.intake import SqlIntake
from relaylane.store.limits import SqlLimits
from relaylane.store.metrics import SqlMetrics
from relaylane.store.pacing import SqlPacing
from relaylane.store.processes import SqlProcesses
from relaylane.store.queue import SqlQueue
from relaylane.store.reads import Reads
from relaylane.store.suppressions import SqlSuppressions
from relaylane.store.templates import SqlTemplates
from relaylane.store.token_keys import SqlTokenKeys
from relaylane.store.tracking import SqlTracking


@dataclass
class Store:
    engine: sa.Engine
    queue: SqlQueue
    reads: Reads
    intake: SqlIntake
    credentials: SqlCredentials
    suppressions: SqlSuppressions
    token_keys: SqlTokenKeys
    feedback: SqlFeedback
    rotations: SqlRotations
    pacing: SqlPacing
    metrics: SqlMetrics
    health: SqlHealth
    contacts: SqlContacts
    templates: SqlTemplates
    campaigns: SqlCampaigns
    tracking: SqlTracking
    audit: SqlAudit
    processes: SqlProcesses
    limits: SqlLimits

    def close(self) -> None:
        self.engine.dispose()


def open_store(url: str, base_dir: Path | None = None, *, migrate: bool = True) -> Store:
    """Open the store at `url`; SQLite is migrated on open, PostgreSQL must be current."""
    engine = create_engine(url, base_dir)
    if migrate:
        ensure_schema(engine)
    return Store(
        engine=engine,
        queue=SqlQueue(engine),
        reads=Reads(engine),
        intake=SqlIntake(engine),
        credentials=SqlCredentials(engine),
        suppressions=SqlSuppressions(engine),
        token_keys=SqlTokenKeys(engine),
        feedback=SqlFeedback(engine),
        rotations=SqlRotations(engine),
        pacing=SqlPacing(engine),
        metrics=SqlMetrics(engine),
        health=SqlHealth(engine),
        contacts=SqlContacts(engine),
        templates=SqlTemplates(engine),
        campaigns=SqlCampaigns(engine),
        tracking=SqlTracking(engine),
        audit=SqlAudit(engine),
        processes=SqlProcesses(engine),
        limits=SqlLimits(engine),
    )


__all__ = ["Store", "open_store"]
