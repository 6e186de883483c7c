"""Limits shared through the store (relaylane.store.limits), on SQLite and PostgreSQL:
grants never pass a slot's capacity however many workers ask at once, connection slots
are held by one worker at a time until freed or their lease runs out, and an adaptive
rate is written once per change."""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor

import hypothesis.strategies as st
from hypothesis import example, given, settings

from relaylane.policy.pacing.allotment import Ask, Slot, cap_chunk, rate_chunk, rate_slot
from relaylane.store import Store, open_store
from relaylane.store.limits import RateRow
from relaylane.store.pacing import WarmupDelta

NOW = 1_800_000_000.0


def test_grants_never_pass_the_capacity_whoever_asks(store: Store, store_url: str) -> None:
    """Eight workers (each its own engine, as separate processes have) ask for chunks of
    one slot at once until it runs dry: together they get exactly its capacity."""
    slot = Slot(NOW, NOW + 3600, 1000)
    stores = [open_store(store_url) for _ in range(8)]
    got: list[int] = []
    lock = threading.Lock()

    def ask_until_dry(worker: Store, want: int) -> None:
        while True:
            [n] = worker.limits.grant([Ask("hour|r1", slot, want)], NOW)
            assert 0 <= n <= want
            if n == 0:
                return
            with lock:
                got.append(n)

    try:
        with ThreadPoolExecutor(8) as pool:
            for i, worker in enumerate(stores):
                pool.submit(ask_until_dry, worker, 3 + i)
    finally:
        for worker in stores:
            worker.close()
    assert sum(got) == 1000
    assert store.limits.granted(["hour|r1"], NOW) == {("hour|r1", NOW): 1000}


def test_several_limits_in_one_grant_and_a_seed(store: Store) -> None:
    day = Slot(NOW, NOW + 86400, 10)
    second = Slot(NOW, NOW + 1, 4)
    asks = [Ask("rate|r1", second, 3), Ask("day|r1", day, 6, seed=7)]
    assert store.limits.grant(asks, NOW) == [3, 3]  # the day's row starts at the 7 sent
    assert store.limits.grant(asks, NOW) == [1, 0]
    store.limits.give_back([("day|r1", NOW, 2)])  # a stopping worker's unused share
    assert store.limits.grant(asks, NOW) == [0, 2]


def test_passed_slots_are_pruned(store: Store) -> None:
    old = Slot(NOW - 7200, NOW - 7199, 5)
    store.limits.grant([Ask("rate|r1", old, 5)], NOW - 7200)
    store.limits.grant([Ask("rate|r1", Slot(NOW, NOW + 1, 5), 1)], NOW, prune=True)
    assert store.limits.granted(["rate|r1"], 0) == {("rate|r1", NOW): 1}


def test_connection_slots_are_held_once_until_freed_or_expired(store: Store) -> None:
    limits = store.limits
    a = limits.take_connection("r1", 2, "w1#1", NOW, 20)
    b = limits.take_connection("r1", 2, "w2#1", NOW, 20)
    assert {a, b} == {0, 1}
    assert limits.take_connection("r1", 2, "w3#1", NOW, 20) is None  # both held
    assert limits.connections(NOW) == {"r1": 2}
    assert a is not None
    assert limits.free_connection("r1", a, "w1#1", NOW + 0.5) is True  # w3 is waiting
    assert limits.take_connection("r1", 2, "w3#1", NOW + 0.5, 20) == a
    assert limits.renew_connections("w2", NOW + 15, 20) == 1  # w2 lives: renewed
    # w3 died: its slot's lease runs out, and only then is it taken again
    assert limits.take_connection("r1", 2, "w4#1", NOW + 19, 20) is None
    assert limits.take_connection("r1", 2, "w4#1", NOW + 21, 20) == a
    # a late free of a lost slot frees nothing; nobody was refused for a while
    assert limits.free_connection("r1", a, "w3#1", NOW + 30) is False
    assert limits.take_connection("r1", 2, "w5#1", NOW + 22, 20) is None
    # a smaller max_connections after a reload: slots past it are never handed out
    assert limits.take_connection("r1", 1, "w6#1", NOW + 50, 20) == 0


def test_a_rate_change_is_written_once(store: Store) -> None:
    state = {"factor": 0.5, "held_until": NOW + 60, "suspended_until": None,
             "last_decrease": NOW, "next_step_at": NOW + 60}  # fmt: skip
    row = RateRow("r1", "google", state, NOW)
    assert store.limits.write_rates([row]) == {("r1", "google")}
    assert store.limits.write_rates([row]) == set()  # the same change from another worker
    older = RateRow("r1", "google", {**state, "factor": 0.25}, NOW - 1)
    assert store.limits.write_rates([older]) == set()
    [stored] = store.limits.rates(None)
    assert stored == row
    assert store.limits.rates(NOW) == []


def test_warm_up_attempts_add_up_across_workers(store: Store) -> None:
    def merge(delta: WarmupDelta, stored: dict[str, object] | None) -> dict[str, object]:
        before = int(stored["sent"]) if stored else 0  # type: ignore[call-overload]
        return {"sent": before + delta.outcomes.get("sent", 0)}

    for worker in range(3):
        delta = WarmupDelta("r1", "", {"sent": 10 + worker}, NOW)
        store.limits.merge_warmups([delta], NOW, merge)
    [row] = store.pacing.warmups()
    assert row.state == {"sent": 33}


@settings(max_examples=200, deadline=None)
@example(rate=0.75, start=7 * (1 / 0.75), span=1.0)  # a boundary the division rounds down
@given(
    rate=st.floats(min_value=0.001, max_value=5000, allow_nan=False),
    start=st.floats(min_value=0, max_value=2e9),
    span=st.floats(min_value=1, max_value=300),
)
def test_rate_slots_hold_the_rate_over_any_span(rate: float, start: float, span: float) -> None:
    """Over [start, start + span) the slots overlapping it grant at most rate × L ×
    (ceil(span / L) + 1) + 1 (L: the slot's length; for a whole number of slots, rate ×
    (span + L), the token bucket's bound), and every slot is contiguous with the next."""
    slot = rate_slot(rate, start)
    assert slot.start <= start < slot.end
    total = 0
    while slot.start < start + span:
        total += slot.capacity
        following = rate_slot(rate, slot.end)
        assert abs(following.start - slot.end) < 1e-6 * max(1.0, slot.end)
        slot = following
    length = max(1.0, 1 / rate)
    assert total <= rate * length * (math.ceil(span / length) + 1) + 1 + 1e-6
    assert rate_chunk(slot) >= 1 and cap_chunk(0) == 1 and cap_chunk(10_000) == 50
