"""The audit log: every operator action with who did it, when, its arguments and its
effect (counts). Written by the shared code behind each CLI command, API endpoint and
dashboard button, so an action is recorded the same way whichever way it came.

`record_in` writes inside the caller's transaction (the action and its entry commit
together); `SqlAudit.record` in a transaction of its own, right after an action whose
code commits by itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import sqlalchemy as sa

from relaylane.store.engine import reading
from relaylane.store.schema import audit_log

__all__ = ["AuditAction", "AuditEntry", "SqlAudit", "record_in"]

A = audit_log.c


class AuditAction(StrEnum):
    """What an operator did. Closed: a new kind of action gets a member here."""

    RELAY_PAUSE = "relay.pause"  # a relay or relay x provider path paused by hand
    RELAY_RESUME = "relay.resume"
    RELAY_DRAIN = "relay.drain"  # its waiting deliveries moved to the lane's other relays
    LANE_PAUSE = "lane.pause"  # a whole lane stopped: nothing of it is claimed
    LANE_RESUME = "lane.resume"
    QUEUE_HOLD = "queue.hold"  # waiting deliveries held where they are
    QUEUE_RELEASE = "queue.release"  # held deliveries due again
    QUEUE_REQUEUE = "queue.requeue"  # deferred or blocked deliveries due now
    QUEUE_CANCEL = "queue.cancel"  # waiting deliveries cancelled (final)
    QUEUE_RETRY = "queue.retry"  # failed deliveries queued again
    SUPPRESSION_ADD = "suppression.add"
    SUPPRESSION_REMOVE = "suppression.remove"
    KEY_CREATE = "key.create"  # an API key
    KEY_REVOKE = "key.revoke"
    KEY_QUOTA = "key.quota"  # an API key's quotas changed
    SMTP_USER_CREATE = "smtp_user.create"
    SMTP_USER_REVOKE = "smtp_user.revoke"
    SMTP_USER_QUOTA = "smtp_user.quota"
    CAMPAIGN_START = "campaign.start"
    CAMPAIGN_PAUSE = "campaign.pause"
    CAMPAIGN_RESUME = "campaign.resume"
    CAMPAIGN_CANCEL = "campaign.cancel"
    CAMPAIGN_RETRY = "campaign.retry_failed"
    CONFIG_RELOAD = "config.reload"  # a process took a new configuration (or refused it)
    DB_PRUNE = "db.prune"  # retention removed old data
    DB_BACKUP = "db.backup"
    DB_COPY = "db.copy"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    at: float
    actor: str
    action: str
    target: str
    args: dict[str, Any]
    effect: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "args": self.args,
            "effect": self.effect,
        }


def record_in(
    conn: sa.Connection,
    at: float,
    actor: str,
    action: AuditAction,
    target: str = "",
    args: Mapping[str, Any] | None = None,
    effect: Mapping[str, Any] | None = None,
) -> None:
    """One entry, in the caller's transaction. `args` and `effect` must be JSON-ready."""
    conn.execute(
        audit_log.insert().values(
            at=at,
            actor=actor[:128],
            action=action.value,
            target=target[:255],
            args=json.dumps(dict(args or {}), sort_keys=True, default=str),
            effect=json.dumps(dict(effect or {}), sort_keys=True, default=str),
        )
    )


class SqlAudit:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def record(
        self,
        at: float,
        actor: str,
        action: AuditAction,
        target: str = "",
        args: Mapping[str, Any] | None = None,
        effect: Mapping[str, Any] | None = None,
    ) -> None:
        with self.engine.begin() as conn:
            record_in(conn, at, actor, action, target, args, effect)

    def entries(
        self,
        *,
        since: float | None = None,
        action: str | None = None,
        actor: str | None = None,
        before_id: int | None = None,
        limit: int = 100,
    ) -> list[AuditEntry]:
        """Newest first. `action` matches a whole action ("relay.pause") or a family
        ("relay"); `before_id` pages back."""
        stmt = sa.select(audit_log).order_by(A.id.desc()).limit(limit)
        if since is not None:
            stmt = stmt.where(A.at >= since)
        if action:
            stmt = stmt.where(sa.or_(A.action == action, A.action.startswith(action + ".")))
        if actor:
            stmt = stmt.where(A.actor == actor)
        if before_id is not None:
            stmt = stmt.where(A.id < before_id)
        with reading(self.engine) as conn:
            rows = conn.execute(stmt).all()
        return [
            AuditEntry(
                int(r.id),
                float(r.at),
                r.actor,
                r.action,
                r.target,
                json.loads(r.args or "{}"),
                json.loads(r.effect or "{}"),
            )
            for r in rows
        ]
