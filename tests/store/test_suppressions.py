"""The suppression ledger: checked in the claim transaction, so a suppressed address is
never handed to a relay; adding an entry stops waiting deliveries in its scope."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaylane.policy.suppression import Reason, Scope, ScopeKind, Source, address_key
from relaylane.store import Store
from relaylane.store.suppressions import NewSuppression
from tests.helpers import lane, make_config, queue, relay


def setup(store_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_config(
        store_url,
        [relay("r1", 2525), relay("r2", 2526)],
        [lane("tx", ["r1"]), lane("news", ["r2"], purpose="marketing")],
        tmp_path,
    )


def entry(address: str, scope: str = "global", reason: Reason = Reason.HARD_BOUNCE,
          expires_at: float | None = None) -> NewSuppression:  # fmt: skip
    return NewSuppression(address, Scope.parse(scope), reason, Source.CLI, expires_at=expires_at)


def test_a_suppressed_recipient_is_never_claimed(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    config = setup(store_url, tmp_path)
    store.suppressions.add([entry("Gone@B.test")], 900.0)  # matched case-insensitively
    ids = queue(store, config, "tx", ["gone@b.test", "ok@b.test"], 1000.0)
    claims = store.queue.claim("tx", 1001.0, 10, "w", 60)
    assert [c.recipient for c in claims] == ["ok@b.test"]
    gone = store.reads.delivery(ids[0])
    assert gone.delivery.state == "suppressed" and gone.delivery.due_at is None
    [attempt] = gone.attempts
    assert attempt.outcome == "suppressed" and attempt.relay is None
    assert "hard_bounce (global)" in attempt.reply and "entry #1" in attempt.reply
    assert store.queue.claim("tx", 2000.0, 10, "w", 60) == []  # and never later either


def test_a_lane_scope_covers_only_that_lane(store: Store, store_url: str, tmp_path: Path) -> None:
    config = setup(store_url, tmp_path)
    store.suppressions.add([entry("u@b.test", "lane:news", Reason.UNSUBSCRIBE)], 900.0)
    queue(store, config, "tx", ["u@b.test"], 1000.0)
    queue(store, config, "news", ["u@b.test"], 1000.0)
    assert [c.recipient for c in store.queue.claim("tx", 1001.0, 10, "w", 60)] == ["u@b.test"]
    assert store.queue.claim("news", 1001.0, 10, "w", 60) == []


def test_adding_stops_waiting_deliveries_in_scope(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    config = setup(store_url, tmp_path)
    [tx] = queue(store, config, "tx", ["x@b.test"], 1000.0)
    [news] = queue(store, config, "news", ["X@b.test"], 1000.0)
    added = store.suppressions.add([entry("x@b.test", "lane:news")], 1001.0)
    assert (added.added, added.stopped) == (1, 1)
    assert store.reads.delivery(news).delivery.state == "suppressed"
    assert store.reads.delivery(tx).delivery.state == "queued"
    again = store.suppressions.add([entry("X@B.TEST", "lane:news")], 1002.0)
    assert (again.added, again.stopped) == (0, 0)  # one entry per address and scope


def test_expired_entries_no_longer_suppress(store: Store, store_url: str, tmp_path: Path) -> None:
    config = setup(store_url, tmp_path)
    store.suppressions.add([entry("t@b.test", expires_at=1500.0)], 900.0)
    queue(store, config, "tx", ["t@b.test"], 1000.0)
    queue(store, config, "tx", ["t@b.test"], 1000.0, subject="later")
    assert store.queue.claim("tx", 1001.0, 1, "w", 60) == []  # still in force
    assert [c.recipient for c in store.queue.claim("tx", 1600.0, 10, "w", 60)] == ["t@b.test"]


def test_remove_and_list(store: Store) -> None:
    store.suppressions.add([entry("a@b.test"), entry("a@b.test", "lane:tx")], 900.0)
    assert [r.scope for r in store.suppressions.list(address="A@b.test")] == ["global", "lane:tx"]
    assert store.suppressions.remove("a@B.test", Scope(ScopeKind.GLOBAL)) == 1
    assert [r.scope for r in store.suppressions.list()] == ["lane:tx"]


def test_scope_and_key_rules() -> None:
    assert Scope.parse("lane:news").covers("news") and not Scope.parse("lane:news").covers("tx")
    assert Scope.parse("global").covers("tx")
    assert Scope.parse("list:weekly").covers("news", "weekly")
    assert not Scope.parse("list:weekly").covers("news")
    for bad in ("lane", "lane:", "world", "global:x"):
        with pytest.raises(ValueError, match="global, lane:NAME or list:NAME"):
            Scope.parse(bad)
    assert address_key("Ünïcode.User@Example.test") == "ünïcode.user@example.test"


async def test_the_relay_never_sees_a_suppressed_address(store: Store, tmp_path: Path) -> None:
    import time

    from relaylane.sim import SimRelay
    from tests.helpers import deliver

    async with SimRelay() as sim:
        config = make_config(
            f"sqlite:///{tmp_path / 'unused.db'}",
            [relay("r1", sim.port)],
            [lane("tx", ["r1"])],
            tmp_path,
        )
        store.suppressions.add([entry("gone@b.test")], time.time())
        now = time.time()
        queue(store, config, "tx", ["gone@b.test", "ok@b.test", "GONE@b.test"], now)
        await deliver(config, store)
    assert [r for m in sim.received for r in m.rcpt_tos] == ["ok@b.test"]
    states = sorted(d.state for d in store.reads.list_deliveries(limit=10))
    assert states == ["sent", "suppressed", "suppressed"]


async def test_a_hard_bounce_suppresses_but_a_reputation_block_does_not(
    store: Store, tmp_path: Path
) -> None:
    import time

    from relaylane.sim import Behaviour, SimRelay
    from tests.helpers import deliver

    rules = [
        ("^gone@", "550 5.1.1 <gone@b.test>: Recipient address rejected: User unknown"),
        ("^vip@", "550 5.7.1 Service unavailable, client host blocked due to low reputation"),
    ]
    async with SimRelay(Behaviour(rcpt_rules=rules)) as sim:
        config = make_config(
            f"sqlite:///{tmp_path / 'unused.db'}",
            [relay("r1", sim.port), relay("r2", 2526)],
            [lane("tx", ["r1"]), lane("news", ["r2"], purpose="marketing")],
            tmp_path,
        )
        now = time.time()
        queue(store, config, "tx", ["gone@b.test", "vip@b.test"], now)
        [later] = queue(store, config, "news", ["Gone@b.test"], now + 3600)  # not due yet
        await deliver(config, store)
    [suppressed] = store.suppressions.list()
    assert suppressed.address == "gone@b.test" and suppressed.scope == "global"
    assert suppressed.reason == "hard_bounce" and suppressed.source == "smtp"
    assert suppressed.delivery_id is not None and "5.1.1" in (suppressed.note or "")
    assert store.reads.delivery(later).delivery.state == "suppressed"  # stopped at once
    states = {d.recipient: d.state for d in store.reads.list_deliveries(limit=10)}
    assert states["vip@b.test"] == "blocked"  # held on its relay, the address untouched
