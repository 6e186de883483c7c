"""The suppression ledger at rest, and its enforcement inside the claim transaction.

`stop_suppressed` runs in the same transaction that claims deliveries: one indexed query
for the claimed recipients, and those suppressed in the lane's scope become
`suppressed` (with the entry that stopped them and an attempt saying why) instead of
being handed to a relay. Adding an entry stops the address's waiting deliveries in its
scope at once, in the same transaction.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from relaylane.events.emit import Stopped, emit_suppressed
from relaylane.events.hooks import Hooks
from relaylane.policy.suppression import Reason, Scope, ScopeKind, Source, address_key
from relaylane.policy.vocabulary import CLAIMABLE_STATES, BounceClass, DeliveryState, Outcome
from relaylane.records import Claimed
from relaylane.store.audit import AuditAction, record_in
from relaylane.store.engine import reading
from relaylane.store.schema import attempts, campaigns, deliveries, lists, suppressions

D = deliveries.c
S = suppressions.c


@dataclass(frozen=True, slots=True)
class NewSuppression:
    address: str  # local@domain as parsed (domain lower-case ASCII)
    scope: Scope
    reason: Reason
    source: Source
    note: str | None = None
    expires_at: float | None = None
    delivery_id: int | None = None


@dataclass(frozen=True, slots=True)
class SuppressionRow:
    id: int
    address: str
    scope: str
    reason: str
    source: str
    note: str | None
    created_at: float
    expires_at: float | None
    delivery_id: int | None


@dataclass(frozen=True, slots=True)
class Added:
    added: int  # new entries (an existing one for the same address and scope is kept)
    stopped: int  # waiting deliveries that became `suppressed`


class SqlSuppressions:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add(
        self,
        entries: Sequence[NewSuppression],
        now: float,
        *,
        hooks: Hooks | None = None,
        actor: str | None = None,
    ) -> Added:
        """Add entries (one transaction) and stop the waiting deliveries they cover (with
        `hooks`, each stopped delivery makes a `suppressed` event). An operator's addition
        (`actor`) is audited in the same transaction."""
        added = stopped = 0
        with self.engine.begin() as conn:
            for entry in entries:
                entry_id = insert_entry(conn, entry, now)
                if entry_id is None:
                    continue
                added += 1
                stopped += stop_waiting(conn, entry, entry_id, now, hooks)
            if actor is not None:
                _audit_add(conn, entries, now, actor, added, stopped)
        return Added(added, stopped)

    def remove(
        self, address: str, scope: Scope, *, actor: str | None = None, now: float | None = None
    ) -> int:
        """Remove an entry; an operator's removal (`actor`) is audited with it."""
        stmt = suppressions.delete().where(
            S.address_key == address_key(address),
            S.scope_kind == scope.kind.value,
            S.scope_name == scope.name,
        )
        with self.engine.begin() as conn:
            removed = int(conn.execute(stmt).rowcount)
            if actor is not None:
                args = {"address": address, "scope": str(scope)}
                record_in(conn, now or time.time(), actor, AuditAction.SUPPRESSION_REMOVE, address,
                          args, {"removed": removed})  # fmt: skip
            return removed

    def search(
        self,
        *,
        contains: str = "",
        scope: Scope | None = None,
        reason: Reason | None = None,
        newest_first: bool = True,
        limit: int = 1000,
        offset: int = 0,
    ) -> list[SuppressionRow]:
        """Entries whose address contains `contains` (matched like suppression matches:
        the local part case-insensitively), in `scope`, for `reason`; newest first, or
        oldest first as `list` gives them."""
        order = S.id.desc() if newest_first else S.id
        stmt = sa.select(suppressions).order_by(order).limit(limit).offset(offset)
        if contains.strip():
            stmt = stmt.where(S.address_key.contains(contains.strip().casefold(), autoescape=True))
        if scope is not None:
            stmt = stmt.where(S.scope_kind == scope.kind.value, S.scope_name == scope.name)
        if reason is not None:
            stmt = stmt.where(S.reason == reason.value)
        with reading(self.engine) as conn:
            return [_row(r) for r in conn.execute(stmt)]

    def list(
        self, *, address: str | None = None, scope: Scope | None = None, limit: int = 1000
    ) -> list[SuppressionRow]:
        stmt = sa.select(suppressions).order_by(S.id).limit(limit)
        if address is not None:
            stmt = stmt.where(S.address_key == address_key(address))
        if scope is not None:
            stmt = stmt.where(S.scope_kind == scope.kind.value, S.scope_name == scope.name)
        with reading(self.engine) as conn:
            return [_row(r) for r in conn.execute(stmt)]


def stop_suppressed(
    conn: sa.Connection,
    lane: str,
    claimed: list[Claimed],
    now: float,
    hooks: Hooks | None = None,
) -> list[Claimed]:
    """Inside the claim transaction: mark claimed deliveries whose recipient is
    suppressed for `lane` as `suppressed`; returns the claims that may be sent. With
    `hooks`, a `suppressed` event for each one goes to the outbox."""
    if not claimed:
        return claimed
    keys = {c.id: address_key(c.recipient) for c in claimed}
    lists = _campaign_lists(conn, {c.campaign_id for c in claimed if c.campaign_id is not None})
    scopes = [
        S.scope_kind == ScopeKind.GLOBAL.value,
        sa.and_(S.scope_kind == ScopeKind.LANE.value, S.scope_name == lane),
    ]
    if lists:
        names = sorted(set(lists.values()))
        scopes.append(sa.and_(S.scope_kind == ScopeKind.LIST.value, S.scope_name.in_(names)))
    stmt = sa.select(S.id, S.address_key, S.reason, S.scope_kind, S.scope_name).where(
        S.address_key.in_(sorted(set(keys.values()))),
        sa.or_(*scopes),
        sa.or_(S.expires_at.is_(None), S.expires_at > now),
    )
    entries: dict[str, list[tuple[int, str, Scope]]] = {}
    for entry_id, key, reason, kind, name in conn.execute(stmt):
        entries.setdefault(key, []).append((entry_id, reason, Scope(ScopeKind(kind), name)))
    if not entries:
        return claimed
    sendable = []
    stopped = []
    for c in claimed:
        found = _applying(entries.get(keys[c.id], ()), lists.get(c.campaign_id or 0))
        if found is None:
            sendable.append(c)
        else:
            entry_id, reason, scope = found
            _mark(conn, c.id, entry_id, f"{reason} ({scope})", now)
            stopped.append(Stopped(c.id, entry_id, reason, str(scope)))
    emit_suppressed(conn, stopped, hooks, now)
    return sendable


def _campaign_lists(conn: sa.Connection, campaign_ids: set[int]) -> dict[int, str]:
    """The list each campaign sends to (list-scoped entries apply to its deliveries)."""
    if not campaign_ids:
        return {}
    stmt = (
        sa.select(campaigns.c.id, lists.c.name)
        .join(lists, lists.c.id == campaigns.c.list_id)
        .where(campaigns.c.id.in_(sorted(campaign_ids)))
    )
    return {cid: name for cid, name in conn.execute(stmt)}


def _applying(
    found: Sequence[tuple[int, str, Scope]], list_name: str | None
) -> tuple[int, str, Scope] | None:
    """The first entry that applies to a delivery (global and lane entries always do; a
    list entry only to a campaign delivery to that list)."""
    for entry in found:
        scope = entry[2]
        if scope.kind is not ScopeKind.LIST or scope.name == list_name:
            return entry
    return None


def insert_entry(conn: sa.Connection, entry: NewSuppression, now: float) -> int | None:
    key = address_key(entry.address)
    exists = conn.execute(
        sa.select(S.id).where(
            S.address_key == key,
            S.scope_kind == entry.scope.kind.value,
            S.scope_name == entry.scope.name,
        )
    ).first()
    if exists is not None:
        return None
    result = conn.execute(
        suppressions.insert().values(
            address_key=key,
            address=entry.address,
            scope_kind=entry.scope.kind.value,
            scope_name=entry.scope.name,
            reason=entry.reason.value,
            source=entry.source.value,
            note=entry.note,
            created_at=now,
            expires_at=entry.expires_at,
            delivery_id=entry.delivery_id,
        )
    )
    primary_key = result.inserted_primary_key
    assert primary_key is not None
    return int(primary_key[0])


def stop_waiting(
    conn: sa.Connection,
    entry: NewSuppression,
    entry_id: int,
    now: float,
    hooks: Hooks | None = None,
) -> int:
    """Waiting (not in-flight) deliveries to the address, in the entry's scope. With
    `hooks`, a `suppressed` event for each one goes to the outbox."""
    if entry.scope.kind is ScopeKind.LIST:
        return 0  # list scopes apply to campaign mail, which carries its list (later)
    stmt = sa.select(D.id).where(
        D.recipient_key == address_key(entry.address),
        D.state.in_([s.value for s in CLAIMABLE_STATES]),
    )
    if entry.scope.kind is ScopeKind.LANE:
        stmt = stmt.where(D.lane == entry.scope.name)
    ids = [row[0] for row in conn.execute(stmt)]
    for did in ids:
        _mark(conn, did, entry_id, f"{entry.reason.value} ({entry.scope})", now)
    stopped = [Stopped(did, entry_id, entry.reason.value, str(entry.scope)) for did in ids]
    emit_suppressed(conn, stopped, hooks, now)
    return len(ids)


def _mark(conn: sa.Connection, delivery_id: int, entry_id: int, why: str, now: float) -> None:
    reply = f"suppressed: {why}, entry #{entry_id}; never handed to a relay"
    conn.execute(
        deliveries.update()
        .where(D.id == delivery_id)
        .values(
            state=DeliveryState.SUPPRESSED.value,
            due_at=None,
            lease_owner=None,
            lease_expires=None,
            lease_token=D.lease_token + 1,
            suppressed_by=entry_id,
            last_code=None,
            last_reply=reply,
            bounce_class=BounceClass.NONE.value,
            updated_at=now,
        )
    )
    conn.execute(
        attempts.insert().values(
            delivery_id=delivery_id,
            at=now,
            relay=None,
            stage="local",
            code=None,
            reply=reply,
            outcome=Outcome.SUPPRESSED.value,
            bounce_class=BounceClass.NONE.value,
            duration_ms=0.0,
        )
    )


def _row(r: sa.Row[tuple[object, ...]]) -> SuppressionRow:
    m = r._mapping
    return SuppressionRow(
        id=m["id"],
        address=m["address"],
        scope=str(Scope(ScopeKind(m["scope_kind"]), m["scope_name"])),
        reason=m["reason"],
        source=m["source"],
        note=m["note"],
        created_at=m["created_at"],
        expires_at=m["expires_at"],
        delivery_id=m["delivery_id"],
    )


AUDITED_ADDRESSES = 20  # addresses named in one audit entry; the count covers the rest


def _audit_add(
    conn: sa.Connection,
    entries: Sequence[NewSuppression],
    now: float,
    actor: str,
    added: int,
    stopped: int,
) -> None:
    shown = [e.address for e in entries[:AUDITED_ADDRESSES]]
    args = {
        "addresses": shown,
        "more": max(0, len(entries) - len(shown)),
        "scopes": sorted({str(e.scope) for e in entries}),
        "reasons": sorted({e.reason.value for e in entries}),
    }
    target = shown[0] if len(entries) == 1 else f"{len(entries)} addresses"
    effect = {"added": added, "stopped": stopped}
    record_in(conn, now, actor, AuditAction.SUPPRESSION_ADD, target, args, effect)
