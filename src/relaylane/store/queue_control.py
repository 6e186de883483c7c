"""Queue control in the store: list, count, hold, release, requeue, cancel and retry the
deliveries a `QueueFilter` selects, and pause or resume whole lanes.

Each action is ONE transaction: the deliveries' update and its audit entry commit
together, and the answer is the count that changed. A delivery in `sending` (claimed,
in flight under a lease) is never touched, nor anything outside the filter.

Operator holds. Health holds a path's deliveries as `held` on their relay (due at the
end of the cool-down, or without a time while an operator's path pause lasts), a send
window or not-before time holds them with a due time, a paused campaign without one.
An operator's hold uses the same `held` state, with no due time (never claimed) and
`held_by` naming the actor: that column is what marks it (no other code writes it), and
`last_reply` says "held by <actor>: <reason>" for people. Health's releases
(`store.health`: a path resumed, a cool-down ended, a stranded hold, a drain) and a
campaign's resume leave operator holds alone;
`release` frees only operator holds unless asked for every hold (`all_holds`), when
health's, windows' and campaigns' holds are due now too (a worker holds them again at
once when their reason still stands). Holding a delivery that something else held makes
it the operator's hold. Relay and pin are kept throughout: held where it is.

Paused lanes (`lane_states`): `SqlQueue.step` claims nothing of a paused lane, read in
the claim's own transaction, so every running worker stops claiming it at its next tick
(in flight sends finish); intake keeps accepting its mail, which waits queued.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from relaylane.errors import InputError
from relaylane.policy.queue_filter import (
    LISTED_STATES,
    QueueAction,
    QueueFilter,
    action_states,
)
from relaylane.policy.vocabulary import DeliveryState
from relaylane.store.audit import AuditAction, record_in
from relaylane.store.engine import reading
from relaylane.store.schema import campaigns, deliveries, lane_states, messages

__all__ = [
    "OPERATOR_HOLD",
    "LaneState",
    "QueueChange",
    "SqlQueueControl",
    "operator_held",
    "paused_lanes_in",
]

D = deliveries.c
M = messages.c
C = campaigns.c
L = lane_states.c

OPERATOR_HOLD = "held by "  # how last_reply starts on a delivery an operator holds (for people)
DEFAULT_MAX_AGE = 5 * 86400.0  # a retried delivery's lifetime when its lane is unknown
SAMPLE = 10  # deliveries shown by a dry run

_AUDIT = {
    QueueAction.HOLD: AuditAction.QUEUE_HOLD,
    QueueAction.RELEASE: AuditAction.QUEUE_RELEASE,
    QueueAction.REQUEUE: AuditAction.QUEUE_REQUEUE,
    QueueAction.CANCEL: AuditAction.QUEUE_CANCEL,
    QueueAction.RETRY: AuditAction.QUEUE_RETRY,
}


def operator_held() -> sa.ColumnElement[bool]:
    """A delivery an operator holds (see the module's docstring)."""
    return sa.and_(D.state == DeliveryState.HELD.value, D.held_by.is_not(None))


def not_operator_held() -> sa.ColumnElement[bool]:
    return sa.not_(operator_held())


def paused_lanes_in(conn: sa.Connection) -> set[str]:
    """The lanes an operator paused, in the caller's transaction."""
    return set(conn.execute(sa.select(L.lane).where(L.paused == sa.true())).scalars())


@dataclass(frozen=True, slots=True)
class QueueChange:
    """What an action did (or, for a dry run, would do)."""

    action: QueueAction
    count: int
    dry_run: bool
    sample: tuple[dict[str, Any], ...] = ()  # dry runs: some of the deliveries

    def as_dict(self) -> dict[str, Any]:
        return {
            "action": self.action.value,
            "dry_run": self.dry_run,
            "count": self.count,
            self.action.past: 0 if self.dry_run else self.count,
            "sample": list(self.sample),
        }


@dataclass(frozen=True, slots=True)
class LaneState:
    lane: str
    paused: bool
    reason: str
    actor: str
    at: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "lane": self.lane,
            "paused": self.paused,
            "reason": self.reason,
            "actor": self.actor,
            "at": self.at,
        }


def _target(where: QueueFilter) -> str:
    args = where.as_args()
    return " ".join(f"{k}={v}" for k, v in sorted(args.items())) or "every lane"


class SqlQueueControl:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- filters ----------------------------------------------------------------------
    def _conditions(
        self, conn: sa.Connection, where: QueueFilter, now: float
    ) -> list[sa.ColumnElement[bool]]:
        out: list[sa.ColumnElement[bool]] = []
        if where.lane is not None:
            out.append(D.lane == where.lane)
        if where.relay is not None:
            out.append(D.relay == where.relay)
        if where.provider is not None:
            out.append(D.provider == where.provider)
        if where.domain is not None:
            out.append(sa.func.lower(D.recipient).endswith("@" + where.domain, autoescape=True))
        if where.campaign is not None:
            out.append(D.campaign_id == self._campaign_id(conn, where.campaign))
        if where.older_than is not None:
            out.append(D.created_at <= now - where.older_than)
        return out

    @staticmethod
    def _campaign_id(conn: sa.Connection, name: str) -> int:
        found = conn.execute(sa.select(C.id).where(C.name == name)).scalar()
        if found is None:
            known = list(conn.execute(sa.select(C.name).order_by(C.name).limit(10)).scalars())
            listed = ", ".join(known) or "there are none yet"
            raise InputError(
                "campaign", f'no campaign named "{name}"', f"use a campaign's name: {listed}"
            )
        return int(found)

    def _targets(
        self,
        conn: sa.Connection,
        action: QueueAction,
        where: QueueFilter,
        now: float,
        all_holds: bool,
    ) -> list[sa.ColumnElement[bool]]:
        """What `action` changes: the filter, the action's states, never `sending`."""
        if action is QueueAction.RETRY and where.campaign is not None:
            raise InputError(
                "campaign",
                "a campaign's failed deliveries are retried with the campaign",
                f"run `relaylane campaign retry-failed {where.campaign}` instead",
            )
        states = [s.value for s in action_states(action, where)]
        out = self._conditions(conn, where, now)
        out.append(D.state.in_(states))
        out.append(D.state != DeliveryState.SENDING.value)  # never in flight, whatever else
        if action is QueueAction.HOLD:
            out.append(not_operator_held())  # already held by an operator: nothing to do
        elif action is QueueAction.RELEASE and not all_holds:
            out.append(operator_held())
        elif action is QueueAction.RETRY:
            out.append(D.campaign_id.is_(None))  # transactional (not a campaign's) only
            kept = sa.select(M.id).where(M.id == D.message_id, M.pruned_at.is_(None))
            out.append(kept.exists())  # retention emptied its body: nothing left to send
        return out

    # -- reads ------------------------------------------------------------------------
    def _listed(
        self, conn: sa.Connection, where: QueueFilter, now: float
    ) -> list[sa.ColumnElement[bool]]:
        out = self._conditions(conn, where, now)
        states = where.states or LISTED_STATES
        out.append(D.state.in_([s.value for s in states]))
        return out

    def count(self, where: QueueFilter, now: float) -> int:
        with reading(self.engine) as conn:
            stmt = sa.select(sa.func.count()).select_from(deliveries)
            stmt = stmt.where(*self._listed(conn, where, now))
            return int(conn.execute(stmt).scalar_one())

    def counts_by_state(self, where: QueueFilter, now: float) -> dict[str, int]:
        with reading(self.engine) as conn:
            stmt = (
                sa.select(D.state, sa.func.count())
                .where(*self._listed(conn, where, now))
                .group_by(D.state)
            )
            return {state: int(n) for state, n in conn.execute(stmt)}

    def list(
        self, where: QueueFilter, now: float, limit: int = 50, before_id: int | None = None
    ) -> list[dict[str, Any]]:
        """Up to `limit` deliveries, newest (highest id) first; `before_id` pages back."""
        with reading(self.engine) as conn:
            conds = self._listed(conn, where, now)
            if before_id is not None:
                conds.append(D.id < before_id)
            return _rows(conn, conds, now, limit)

    # -- actions ----------------------------------------------------------------------
    def apply(
        self,
        action: QueueAction,
        where: QueueFilter,
        now: float,
        actor: str,
        *,
        reason: str = "",
        dry_run: bool = False,
        all_holds: bool = False,
        max_ages: Mapping[str, float] | None = None,
    ) -> QueueChange:
        """Change the deliveries `where` selects that `action` applies to, with the audit
        entry, in one transaction; a dry run counts them and shows a sample instead.
        `max_ages` (the lanes' max_age) sets a retried delivery's new expiry."""
        with self.engine.begin() as conn:
            conds = self._targets(conn, action, where, now, all_holds)
            if dry_run:
                n = conn.execute(
                    sa.select(sa.func.count()).select_from(deliveries).where(*conds)
                ).scalar_one()
                sample = tuple(_rows(conn, conds, now, SAMPLE))
                return QueueChange(action, int(n), True, sample)
            values = _values(action, now, actor, reason, max_ages or {})
            changed = int(conn.execute(deliveries.update().where(*conds).values(values)).rowcount)
            args: dict[str, Any] = {**where.as_args()}
            if reason:
                args["reason"] = reason
            if all_holds:
                args["all_holds"] = True
            record_in(conn, now, actor, _AUDIT[action], _target(where), args,
                      {action.past: changed})  # fmt: skip
        return QueueChange(action, changed, False)

    # -- lanes ------------------------------------------------------------------------
    def lanes(self) -> dict[str, LaneState]:
        with reading(self.engine) as conn:
            return {
                row.lane: LaneState(row.lane, bool(row.paused), row.reason, row.actor, row.at)
                for row in conn.execute(sa.select(lane_states))
            }

    def paused_lanes(self) -> set[str]:
        with reading(self.engine) as conn:
            return paused_lanes_in(conn)

    def pause_lane(self, lane: str, now: float, actor: str, reason: str = "") -> bool:
        """Pause `lane` (workers stop claiming it); False when it already was paused (the
        reason is updated, nothing else)."""
        return self._set_lane(lane, True, now, actor, reason)

    def resume_lane(self, lane: str, now: float, actor: str) -> bool:
        """Resume `lane`; False when it was not paused (nothing recorded)."""
        return self._set_lane(lane, False, now, actor, "")

    def _set_lane(self, lane: str, paused: bool, now: float, actor: str, reason: str) -> bool:
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(lane_states).where(L.lane == lane)).first()
            was = bool(row.paused) if row is not None else False
            if not paused and not was:
                return False
            values = {"paused": paused, "reason": reason, "actor": actor[:128], "at": now}
            if row is None:
                conn.execute(lane_states.insert().values(lane=lane, **values))
            elif paused and was:
                conn.execute(lane_states.update().where(L.lane == lane).values(reason=reason))
                return False
            else:
                conn.execute(lane_states.update().where(L.lane == lane).values(values))
            waiting = conn.execute(
                sa.select(sa.func.count())
                .select_from(deliveries)
                .where(D.lane == lane, D.state.in_([DeliveryState.QUEUED.value,
                       DeliveryState.DEFERRED.value, DeliveryState.BLOCKED.value]))
            ).scalar_one()  # fmt: skip
            action = AuditAction.LANE_PAUSE if paused else AuditAction.LANE_RESUME
            args = {"reason": reason} if reason else {}
            record_in(conn, now, actor, action, f"lane {lane}", args, {"waiting": int(waiting)})
        return True


def _values(
    action: QueueAction, now: float, actor: str, reason: str, max_ages: Mapping[str, float]
) -> dict[str, Any]:
    why = f": {reason}" if reason else ""
    if action is QueueAction.HOLD:
        return {
            "state": DeliveryState.HELD.value,
            "due_at": None,
            "held_by": actor[:128],
            "last_reply": f"{OPERATOR_HOLD}{actor}{why}",
            "updated_at": now,
        }
    if action is QueueAction.RELEASE:
        return {
            "state": DeliveryState.QUEUED.value,
            "due_at": now,
            "held_by": None,
            "updated_at": now,
        }
    if action is QueueAction.REQUEUE:  # state, relay and pin kept: retried where it is
        return {"due_at": now, "updated_at": now}
    if action is QueueAction.CANCEL:
        return {
            "state": DeliveryState.CANCELLED.value,
            "due_at": None,
            "last_reply": f"cancelled by {actor}{why}",
            "updated_at": now,
        }
    default = max(max_ages.values(), default=DEFAULT_MAX_AGE)
    if max_ages:
        expires: Any = sa.case(
            *((D.lane == name, now + age) for name, age in max_ages.items()), else_=now + default
        )
    else:
        expires = now + default
    return {  # RETRY: a fresh start, routed again in its lane
        "state": DeliveryState.QUEUED.value,
        "due_at": now,
        "expires_at": expires,
        "retries": 0,
        "relay": None,
        "pinned": False,
        "updated_at": now,
    }


def _rows(
    conn: sa.Connection, conds: list[sa.ColumnElement[bool]], now: float, limit: int
) -> list[dict[str, Any]]:
    stmt = (
        sa.select(
            D.id, D.message_id, D.lane, D.recipient, D.state, D.relay, D.provider, D.pinned,
            D.created_at, D.due_at, D.attempts, D.retries, D.last_code, D.last_reply,
            D.bounce_class, D.held_by, C.name.label("campaign"),
        )
        .select_from(deliveries.outerjoin(campaigns, C.id == D.campaign_id))
        .where(*conds)
        .order_by(D.id.desc())
        .limit(limit)
    )  # fmt: skip
    out = []
    for r in conn.execute(stmt):
        m = dict(r._mapping)
        m["pinned"] = bool(m["pinned"])
        m["age"] = max(0.0, now - float(m["created_at"]))
        m["held_by_operator"] = m["state"] == DeliveryState.HELD.value and bool(m["held_by"])
        out.append(m)
    return out
