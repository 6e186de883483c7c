"""Group commit: acknowledged only after the durable commit; many submissions share
one transaction; store trouble and a full queue give `Unavailable`, never a loss."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import pytest
import sqlalchemy as sa

from relaylane.clock import FakeClock
from relaylane.config.serving import IntakeConfig
from relaylane.delivery.addresses import parse_address
from relaylane.delivery.compose import compose
from relaylane.delivery.submit import build_message
from relaylane.errors import InputError, Unavailable
from relaylane.intake.committer import Committer
from relaylane.records import NewMessage
from relaylane.store import Store
from relaylane.store.intake import IntakeItem, IntakeOutcome
from tests.helpers import lane, make_config, relay


def item(tmp_path: Path, rcpt: str) -> IntakeItem:
    config = make_config("sqlite://", [relay("r1", 2525)], [lane("tx", ["r1"])], tmp_path)
    composed = compose(from_="a@tx.acme.test", subject="Hi", text="Hello\n")
    msg: NewMessage = build_message(config, "tx", composed, [parse_address(rcpt)], 1000.0)
    return IntakeItem(messages=(msg,))


async def test_acknowledged_only_after_commit_and_batched(store: Store, tmp_path: Path) -> None:
    committer = Committer(store.intake, IntakeConfig(commit_window=0.01), FakeClock(1000.0))
    await committer.start()
    outcomes = await asyncio.gather(
        *(committer.submit(item(tmp_path, f"u{i}@b.test")) for i in range(50))
    )
    stored = {r.id for r in store.reads.list_deliveries(limit=100)}
    assert {o.ids[0][0] for o in outcomes} == stored and len(stored) == 50
    assert committer.commits < 10  # 50 concurrent submissions shared a few transactions
    await committer.close()


class BrokenStore:
    def commit(self, items: Sequence[IntakeItem], now: float) -> list[IntakeOutcome]:
        raise sa.exc.OperationalError("INSERT", {}, Exception("database is locked"))

    def queued_count(self) -> int:
        return 0


async def test_store_failure_is_unavailable_for_every_waiter(tmp_path: Path) -> None:
    committer = Committer(BrokenStore(), IntakeConfig(), FakeClock(1000.0))
    await committer.start()
    results = await asyncio.gather(
        *(committer.submit(item(tmp_path, f"u{i}@b.test")) for i in range(3)),
        return_exceptions=True,
    )
    assert all(isinstance(r, Unavailable) and r.retry_after > 0 for r in results)
    assert "store is unavailable" in str(results[0])
    await committer.close()


async def test_back_pressure_over_max_queued(store: Store, tmp_path: Path) -> None:
    clock = FakeClock(1000.0)
    committer = Committer(store.intake, IntakeConfig(max_queued=2), clock)
    await committer.start()
    await committer.submit(item(tmp_path, "a@b.test"))
    await committer.submit(item(tmp_path, "c@b.test"))
    with pytest.raises(Unavailable, match="over \\[intake\\] max_queued = 2"):
        await committer.submit(item(tmp_path, "e@b.test"))
    assert len(store.reads.list_deliveries(limit=10)) == 2
    await committer.close()


async def test_close_commits_what_was_submitted(store: Store, tmp_path: Path) -> None:
    committer = Committer(store.intake, IntakeConfig(commit_window=0.05), FakeClock(1000.0))
    await committer.start()
    pending = [
        asyncio.create_task(committer.submit(item(tmp_path, f"u{i}@b.test"))) for i in range(5)
    ]
    await asyncio.sleep(0)  # submitted, not yet committed
    await committer.close()
    assert all(t.done() and t.result().ids for t in pending)
    assert len(store.reads.list_deliveries(limit=10)) == 5
    with pytest.raises(Unavailable, match="shutting down"):
        await committer.submit(item(tmp_path, "late@b.test"))


class PickyStore:
    """The real store, except that a batch holding a message to `bad` fails like
    PostgreSQL refusing a value (DataError) and nothing of it is stored."""

    def __init__(self, store: Store, bad: str) -> None:
        self.store, self.bad = store, bad
        self.batches: list[int] = []

    def commit(self, items: Sequence[IntakeItem], now: float) -> list[IntakeOutcome]:
        self.batches.append(len(items))
        if any(d.recipient == self.bad for i in items for m in i.messages for d in m.deliveries):
            raise sa.exc.DataError("INSERT", {}, Exception("value too long"))
        return self.store.intake.commit(items, now)

    def queued_count(self) -> int:
        return 0


async def test_one_refused_message_does_not_fail_the_others(store: Store, tmp_path: Path) -> None:
    picky = PickyStore(store, "bad@b.test")
    committer = Committer(picky, IntakeConfig(commit_window=0.05), FakeClock(1000.0))
    await committer.start()
    rcpts = ["a@b.test", "bad@b.test", "c@b.test"]
    results = await asyncio.gather(
        *(committer.submit(item(tmp_path, r)) for r in rcpts), return_exceptions=True
    )
    await committer.close()
    ok = [r for r in results if isinstance(r, IntakeOutcome)]
    [refused] = [r for r in results if isinstance(r, InputError)]
    assert len(ok) == 2 and "the store refused it" in str(refused)
    assert {d.recipient for d in store.reads.list_deliveries(limit=10)} == {"a@b.test", "c@b.test"}
    assert picky.batches[0] == 3  # one commit first, then one by one


async def test_a_long_own_message_id_is_stored(store: Store, tmp_path: Path) -> None:
    """A submitted message keeps its own Message-ID, however long (PostgreSQL included)."""
    from relaylane.delivery.eml import compose_eml

    long_id = "<" + "a" * 600 + "@tx.acme.test>"
    raw = f"From: a@tx.acme.test\r\nMessage-ID: {long_id}\r\n\r\nHi\r\n".encode()
    config = make_config("sqlite://", [relay("r1", 2525)], [lane("tx", ["r1"])], tmp_path)
    msg = build_message(config, "tx", compose_eml(raw), [parse_address("x@b.test")], 1000.0)
    committer = Committer(store.intake, IntakeConfig(), FakeClock(1000.0))
    await committer.start()
    await committer.submit(IntakeItem(messages=(msg,)))
    await committer.close()
    [row] = store.reads.list_deliveries(limit=10)
    assert row.header_message_id == long_id


class RecordingStore:
    """Commits nothing; remembers which items each commit held, in order."""

    def __init__(self) -> None:
        self.commits: list[list[str]] = []

    def commit(self, items: Sequence[IntakeItem], now: float) -> list[IntakeOutcome]:
        self.commits.append([m.deliveries[0].recipient for i in items for m in i.messages])
        return [IntakeOutcome(ids=[[n]]) for n in range(len(items))]

    def queued_count(self) -> int:
        return 0


async def test_urgent_items_are_committed_first_on_their_own(tmp_path: Path) -> None:
    recorder = RecordingStore()

    def urgent(it: IntakeItem) -> bool:
        return it.messages[0].deliveries[0].recipient.startswith("reset")

    committer = Committer(recorder, IntakeConfig(commit_window=0.05), FakeClock(1000.0),
                          urgent=urgent)  # fmt: skip
    await committer.start()
    names = ["news1", "news2", "reset1", "news3", "reset2"]
    await asyncio.gather(*(committer.submit(item(tmp_path, f"{n}@b.test")) for n in names))
    await committer.close()
    # the five queued together make one group: its urgent items go first, on their own
    assert recorder.commits == [
        ["reset1@b.test", "reset2@b.test"],
        ["news1@b.test", "news2@b.test", "news3@b.test"],
    ]


async def test_a_group_of_one_kind_stays_one_commit(tmp_path: Path) -> None:
    recorder = RecordingStore()
    committer = Committer(recorder, IntakeConfig(commit_window=0.05), FakeClock(1000.0),
                          urgent=lambda it: True)  # fmt: skip
    await committer.start()
    await asyncio.gather(*(committer.submit(item(tmp_path, f"r{i}@b.test")) for i in range(6)))
    await committer.close()
    assert sum(len(c) for c in recorder.commits) == 6 and len(recorder.commits) <= 2
