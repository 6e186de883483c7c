"""Builders shared by the events tests."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from relaylane.events.hooks import Hook, Hooks
from relaylane.events.kinds import EventKind
from relaylane.policy.vocabulary import BounceClass, DeliveryState, Outcome, Stage
from relaylane.records import AttemptRecord, Claimed, DeliveryResult, NewDelivery, NewMessage
from relaylane.store import Store
from relaylane.store.engine import reading
from relaylane.store.schema import event_outbox

T0 = 1_800_000_000.0
SECRET = b"test-secret-0123456789abcdef"


def hook(
    name: str = "app",
    url: str = "http://127.0.0.1:9/hook",
    kinds: Iterable[EventKind] = EventKind,
    lanes: Iterable[str] | None = None,
    submitters: Iterable[str] | None = None,
    **extra: Any,
) -> Hook:
    return Hook(
        name=name,
        url=url,
        secret=SECRET,
        kinds=frozenset(kinds),
        lanes=frozenset(lanes) if lanes is not None else None,
        submitters=frozenset(submitters) if submitters is not None else None,
        **extra,
    )


def hooks(*endpoints: Hook) -> Hooks:
    return Hooks(endpoints or (hook(),))


def message(
    recipients: list[str],
    lane: str = "tx",
    submitter: str | None = "shop",
    at: float = T0,
) -> NewMessage:
    return NewMessage(
        lane=lane,
        mail_from="no-reply@tx.acme.test",
        from_domain="tx.acme.test",
        body=b"Subject: hi\r\n\r\nhello\r\n",
        smtputf8=False,
        created_at=at,
        expires_at=at + 86400,
        deliveries=tuple(
            NewDelivery(r, f"<{i}.{r}@tx.acme.test>", f"To: {r}\r\n".encode())
            for i, r in enumerate(recipients)
        ),
        source="api",
        submitter=submitter,
        tags=("receipt",),
        metadata=(("order", "1042"),),
    )


def attempt(at: float, code: int, reply: str, outcome: Outcome, cls: BounceClass) -> AttemptRecord:
    return AttemptRecord(at, "r1", Stage.RCPT, code, reply, outcome, cls, 2.0)


def result(claim: Claimed, state: DeliveryState, at: float, **kw: Any) -> DeliveryResult:
    """A result with the attempt that usually leads to `state`."""
    attempts = {
        DeliveryState.SENT: attempt(
            at, 250, "2.0.0 Ok: queued as Q1", Outcome.SENT, BounceClass.NONE
        ),
        DeliveryState.DEFERRED: attempt(
            at, 451, "4.2.0 try later", Outcome.DEFERRED, BounceClass.TRANSIENT
        ),
        DeliveryState.BLOCKED: attempt(
            at, 550, "5.7.1 blocked", Outcome.BLOCKED, BounceClass.REPUTATION_BLOCK
        ),
        DeliveryState.BOUNCED: attempt(
            at, 550, "5.1.1 no such user", Outcome.BOUNCED, BounceClass.INVALID_RECIPIENT
        ),
    }
    retrying = state in (DeliveryState.DEFERRED, DeliveryState.BLOCKED)
    fields: dict[str, Any] = {
        "id": claim.id,
        "token": claim.token,
        "state": state,
        "due_at": at + 60 if retrying else None,
        "relay": "r1",
        "pinned": state is DeliveryState.BLOCKED,
        "retries": claim.retries + 1 if retrying else claim.retries,
        "attempts": (attempts[state],),
        "relay_queue_id": "Q1" if state is DeliveryState.SENT else None,
        "sent_at": at if state is DeliveryState.SENT else None,
    }
    return DeliveryResult(**(fields | kw))


def outbox(store: Store) -> list[dict[str, Any]]:
    """Every outbox row, oldest first, with its payload parsed."""
    with reading(store.engine) as conn:
        rows = conn.execute(sa.select(event_outbox).order_by(event_outbox.c.id)).mappings()
        return [dict(r) | {"body": json.loads(r["payload"])} for r in rows]
