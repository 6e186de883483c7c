"""Pacing counters add up across flushes (and restarts), on SQLite and PostgreSQL."""

from __future__ import annotations

from relaylane.store import Store
from relaylane.store.pacing import PacingEvent, SentCount


def test_counts_add_up_and_events_are_kept(store: Store) -> None:
    day = 1_800_000_000.0
    store.pacing.flush([SentCount("mkt-a", "", "day", day, 10)], [])
    store.pacing.flush(
        [SentCount("mkt-a", "", "day", day, 5), SentCount("mkt-a", "news|google", "day", day, 3)],
        [PacingEvent(day + 1, "mkt-a", "google", "slow", 5.0, None, "421 4.7.28 unusual rate")],
    )
    counts = {(c.path, c.sent) for c in store.pacing.counts_since(day)}
    assert counts == {("", 15), ("news|google", 3)}
    [event] = store.pacing.events("mkt-a")
    assert (event.action, event.rate, event.cause) == ("slow", 5.0, "421 4.7.28 unusual rate")
    assert store.pacing.prune(day + 1) == 2 and store.pacing.counts_since(0) == []
