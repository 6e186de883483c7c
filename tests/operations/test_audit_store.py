"""The audit log at rest: entries newest first, filtered by time, action family and actor,
paged by id; an entry written in the caller's transaction rolls back with it."""

from __future__ import annotations

import pytest

from relaylane.store import Store
from relaylane.store.audit import AuditAction, record_in


def test_entries_are_listed_newest_first_and_filtered(store: Store) -> None:
    audit = store.audit
    audit.record(100.0, "operator:ann", AuditAction.RELAY_PAUSE, "relay r1", {"reason": "x"})
    audit.record(200.0, "dashboard:k1", AuditAction.RELAY_RESUME, "relay r1", {}, {"released": 4})
    audit.record(300.0, "operator:ann", AuditAction.LANE_PAUSE, "lane marketing")
    every = audit.entries()
    assert [e.action for e in every] == ["lane.pause", "relay.resume", "relay.pause"]
    assert every[1].effect == {"released": 4} and every[2].args == {"reason": "x"}
    assert [e.at for e in audit.entries(since=150.0)] == [300.0, 200.0]
    assert [e.action for e in audit.entries(action="relay")] == ["relay.resume", "relay.pause"]
    assert [e.action for e in audit.entries(action="relay.pause")] == ["relay.pause"]
    assert [e.at for e in audit.entries(actor="operator:ann")] == [300.0, 100.0]
    first = audit.entries(limit=1)
    assert [e.at for e in audit.entries(before_id=first[0].id, limit=1)] == [200.0]


def test_an_entry_in_a_failed_transaction_is_not_kept(store: Store) -> None:
    def failing_action() -> None:
        with store.engine.begin() as conn:
            record_in(conn, 1.0, "operator:ann", AuditAction.QUEUE_CANCEL, "", {}, {"n": 3})
            raise RuntimeError("the action failed")

    with pytest.raises(RuntimeError):
        failing_action()
    assert store.audit.entries() == []
