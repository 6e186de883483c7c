"""A pacing flush that failed (a PostgreSQL deadlock, the store away) is not lost: its
counts and events go out with the next flush; and flushes write rows in key order."""

from __future__ import annotations

from pathlib import Path

from relaylane.delivery.pacer import Pacer
from relaylane.store import Store
from relaylane.store.pacing import PacingEvent, SentCount
from tests.helpers import lane, make_config, relay


def test_counts_and_events_given_back_go_out_with_the_next_flush(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    config = make_config(
        store_url, [relay("r1", 1), relay("r2", 1)], [lane("tx", ["r1", "r2"])], tmp_path
    )
    pacer = Pacer(config, config.providers())
    failed = [SentCount("r2", "", "hour", 0.0, 3), SentCount("r1", "", "hour", 0.0, 2)]
    event = PacingEvent(at=1.0, relay="r1", provider="google", action="slow", rate=5.0,
                        until=None, cause="421 4.7.0 slow down")  # fmt: skip
    pacer.give_back(failed, [event])
    pacer.give_back([SentCount("r1", "", "hour", 0.0, 1)], [])
    counts, events, _ = pacer.drain()
    assert sorted((c.relay, c.sent) for c in counts) == [("r1", 3), ("r2", 3)]
    assert events == [event]
    store.pacing.flush(counts, events)  # in key order, whatever order they came in
    assert sorted((c.relay, c.sent) for c in store.pacing.counts_since(0.0)) == [
        ("r1", 3),
        ("r2", 3),
    ]
