"""The worker's health board and the store: no spinning on a cool-down that just ended,
canary places that come back, automatic transitions that never overwrite an operator,
and held mail that a missed resume cannot strand."""

from __future__ import annotations

import time
from pathlib import Path

import sqlalchemy as sa

from relaylane.delivery.health import CANARY_TIMEOUT, HOLD_AT_LEAST, GateAction, HealthBoard
from relaylane.policy import health as ph
from relaylane.policy.health import Cause, HealthState, PathHealth, Transition
from relaylane.policy.vocabulary import BounceClass, Outcome
from relaylane.store import Store
from relaylane.store.schema import deliveries
from tests.health.test_control_loop import health_config
from tests.helpers import queue


def paused(now: float, until: float | None) -> PathHealth:
    return PathHealth(HealthState.PAUSED, Cause.REPUTATION, now, until, 1.0, "blocks")


def board_with(store_url: str, tmp_path: Path, h: PathHealth) -> HealthBoard:
    board = HealthBoard(health_config(store_url, tmp_path, 1, 2, 3))
    board.set("a", "google", h, h.since, "test")
    board.drain()
    return board


def test_a_cool_down_that_ended_starts_probing_at_the_gate(store_url: str, tmp_path: Path) -> None:
    board = board_with(store_url, tmp_path, paused(100.0, 101.0))
    hold = board.gate("a", "google", 1, 100.5)
    assert hold.action is GateAction.HOLD and hold.until == 100.5 + HOLD_AT_LEAST
    first = board.gate("a", "google", 2, 101.0)  # over: probing starts here, 2 is a canary
    assert first.action is GateAction.SEND
    assert board.path("a", "google").state is HealthState.PROBING
    assert [t.after.state for t in board.drain()] == [HealthState.PROBING]
    canary = board.rules.canary  # 3 in this configuration
    sends = [board.gate("a", "google", i, 101.0).action for i in range(3, 3 + canary)]
    assert sends.count(GateAction.SEND) == canary - 1  # the places are taken
    assert board.gate("a", "google", 99, 101.0).until == 101.0 + 60.0


def test_canary_places_come_back(store_url: str, tmp_path: Path) -> None:
    board = board_with(store_url, tmp_path, paused(0.0, 1.0))
    for i in range(board.rules.canary):
        assert board.gate("a", "google", i, 1.0).action is GateAction.SEND
    assert board.gate("a", "google", 50, 2.0).action is GateAction.HOLD
    # a canary that met an infrastructure fault says nothing about the pair: place freed
    board.on_answer("a", "google", 0, Outcome.RELAY_FAULT, BounceClass.RELAY_UNAVAILABLE,
                    "refused", 2.0)  # fmt: skip
    assert board.gate("a", "google", 51, 2.0).action is GateAction.SEND
    # canaries that never answer (set aside, parked) give their places back in time
    assert board.gate("a", "google", 52, 3.0).action is GateAction.HOLD
    assert board.gate("a", "google", 52, 3.0 + CANARY_TIMEOUT + 1).action is GateAction.SEND


def test_an_automatic_transition_never_overwrites_an_operator(store: Store) -> None:
    now = time.time()
    healthy = ph.healthy(0.0)
    by_hand = ph.operator_pause(healthy, now, "operator:ops", "maintenance", failover=False)
    store.health.apply([Transition("a", "google", healthy, by_hand, {}, "operator:ops")], now)
    degraded = PathHealth(HealthState.DEGRADED, Cause.DEFERRALS, now + 1, None, 0.0, "d")
    auto = Transition("a", "google", healthy, degraded, {}, "auto")  # made before adopting
    applied, skipped = store.queue.apply_health([auto], now + 1)
    assert (applied, skipped) == (0, [auto])
    assert store.health.current("a", "google", now).cause is Cause.OPERATOR
    assert [e.actor for e in store.health.events("a")] == ["operator:ops"]
    # two workers probing the same path: the second one's move is skipped
    probing = ph.cool_down_over(paused(now, now + 1), now + 2)
    assert probing is not None
    p = paused(now, now + 1)
    store.health.apply([Transition("b", "yahoo", healthy, p, {}, "operator:x")], now)
    first = Transition("b", "yahoo", p, probing, {}, "auto")
    assert store.queue.apply_health([first], now + 2)[1] == []
    assert store.queue.apply_health([first], now + 2)[1] == [first]


def test_held_mail_of_a_resumed_path_is_never_stranded(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    cfg = health_config(store_url, tmp_path, 1, 2, 3)
    ids = queue(store, cfg, "tx", ["a@gmail.example", "b@gmail.example"], time.time())
    with store.engine.begin() as conn:  # held on an operator's pause, no time
        conn.execute(
            deliveries.update()
            .where(deliveries.c.id.in_(ids))
            .values(state="held", due_at=None, relay="a", provider="google")
        )
    now = time.time()
    by_hand = ph.operator_pause(ph.healthy(0.0), now, "operator:ops", "", failover=False)
    store.health.apply([Transition("a", "google", ph.healthy(0.0), by_hand, {}, "op")], now)
    assert store.queue.release_stranded(now) == 0  # still paused: they wait
    resumed = ph.operator_resume(by_hand, now + 1, "operator:ops")
    with store.engine.begin() as conn:  # the resume row, as if its release was missed
        conn.execute(sa.text("UPDATE relay_health SET state = 'healthy', cause = 'none'"))
    assert resumed.state is HealthState.HEALTHY
    assert store.queue.release_stranded(now + 2) == 2
    with store.engine.connect() as conn:
        due = conn.execute(sa.select(deliveries.c.due_at).where(deliveries.c.id.in_(ids)))
        assert {d for (d,) in due} == {now + 2}
