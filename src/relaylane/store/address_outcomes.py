"""Outcomes about an address, turned into ledger entries inside the recording transaction.

- A hard bounce (invalid recipient, bad domain, inactive mailbox) suppresses the address
  in its lane's `hard_bounces` scope (global by default).
- A full mailbox suppresses it (reason `soft_bounce_limit`, same scope) once
  `mailbox_full_limit` distinct messages found it full within `mailbox_full_window`;
  every such finding is an attempt row (SMTP time or `report`), so one count covers both.
Relay-level classes never reach this module: they are about the path, not the address.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from relaylane.policy.suppression import Reason, Source, SuppressionPolicy, address_key
from relaylane.policy.vocabulary import BounceClass, DeliveryState
from relaylane.records import DeliveryResult
from relaylane.store.schema import attempts, deliveries
from relaylane.store.suppressions import NewSuppression, insert_entry, stop_waiting

D = deliveries.c
A = attempts.c
HARD_CLASSES = frozenset(
    {BounceClass.INVALID_RECIPIENT, BounceClass.BAD_DOMAIN, BounceClass.INACTIVE_MAILBOX}
)


@dataclass(frozen=True, slots=True)
class AddressOutcome:
    """An address-level class observed for a delivery."""

    delivery_id: int
    lane: str
    recipient: str
    bounce_class: BounceClass
    source: Source
    note: str


def outcomes_of_results(
    conn: sa.Connection, results: Sequence[DeliveryResult]
) -> list[AddressOutcome]:
    """The address-level outcomes among recorded SMTP results (one query, only when any)."""
    wanted = {
        r.id: r.last.bounce_class
        for r in results
        if r.last is not None
        and (
            (r.state is DeliveryState.BOUNCED and r.last.bounce_class in HARD_CLASSES)
            or r.last.bounce_class is BounceClass.MAILBOX_FULL
        )
    }
    if not wanted:
        return []
    rows = conn.execute(
        sa.select(D.id, D.lane, D.recipient, D.last_reply)
        .where(D.id.in_(sorted(wanted)))
        .order_by(D.id)
    )
    return [
        AddressOutcome(did, lane, rcpt, wanted[did], Source.SMTP, (reply or "")[:200])
        for did, lane, rcpt, reply in rows
    ]


def apply_address_outcomes(
    conn: sa.Connection,
    outcomes: Sequence[AddressOutcome],
    policy: SuppressionPolicy,
    now: float,
) -> list[int]:
    """Suppress where the policy says so; returns the new entries' ids."""
    added: list[int] = []
    for outcome in outcomes:
        entry = _entry_for(conn, outcome, policy, now)
        if entry is None:
            continue
        entry_id = insert_entry(conn, entry, now)
        if entry_id is not None:
            stop_waiting(conn, entry, entry_id, now)
            added.append(entry_id)
    return added


def _entry_for(
    conn: sa.Connection, outcome: AddressOutcome, policy: SuppressionPolicy, now: float
) -> NewSuppression | None:
    scope = policy.hard_bounce_scope(outcome.lane)
    if scope is None:
        return None
    if outcome.bounce_class in HARD_CLASSES:
        reason = Reason.HARD_BOUNCE
    elif outcome.bounce_class is BounceClass.MAILBOX_FULL:
        limit, window = policy.mailbox_full_limit(outcome.lane)
        if limit <= 0 or mailbox_full_messages(conn, outcome.recipient, now - window) < limit:
            return None
        reason = Reason.SOFT_BOUNCE_LIMIT
    else:
        return None
    return NewSuppression(
        outcome.recipient,
        scope,
        reason,
        outcome.source,
        note=outcome.note or None,
        delivery_id=outcome.delivery_id,
    )


def mailbox_full_messages(conn: sa.Connection, recipient: str, since: float) -> int:
    """Distinct messages that found this address's mailbox full since `since`."""
    stmt = (
        sa.select(sa.func.count(sa.distinct(D.message_id)))
        .select_from(attempts.join(deliveries, A.delivery_id == D.id))
        .where(
            D.recipient_key == address_key(recipient),
            A.bounce_class == BounceClass.MAILBOX_FULL.value,
            A.at >= since,
            A.stale.is_(False),
        )
    )
    return int(conn.execute(stmt).scalar() or 0)
