"""relay_state_changed: a health transition as a webhook event, in its own transaction."""

from __future__ import annotations

import sqlalchemy as sa

from relaylane.events.emit import emit_event
from relaylane.events.hooks import Hooks
from relaylane.events.kinds import EventKind
from relaylane.policy.health import Transition
from relaylane.store.health import TransitionHook


def state_changed_hook(hooks: Hooks | None) -> TransitionHook | None:
    """A hook for `relaylane.store.health.apply_in`, or None without endpoints."""
    if not hooks:
        return None

    def emit(conn: sa.Connection, t: Transition, now: float) -> None:
        data = {
            "relay": t.relay,
            "provider": t.provider or None,
            "from": t.before.state.value,
            "to": t.after.state.value,
            "cause": t.after.cause.value,
            "reason": t.after.reason,
            "until": t.after.until,
            "actor": t.actor,
            "evidence": t.evidence,
        }
        emit_event(conn, hooks, EventKind.RELAY_STATE_CHANGED, data, now)

    return emit
