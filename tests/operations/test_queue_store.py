"""Queue control in the store, on a mixed queue: each action changes exactly what its
filter and states select (never `sending`, nothing else), in one transaction with its
audit entry; operator holds and health holds stay apart."""

from __future__ import annotations

from pathlib import Path

import pytest

from relaylane.errors import InputError
from relaylane.policy.health import (
    RELAY_WIDE,
    Transition,
    operator_pause,
    operator_resume,
)
from relaylane.policy.queue_filter import QueueAction, QueueFilter, parse_filter
from relaylane.store import Store
from relaylane.store.queue_control import SqlQueueControl
from tests.operations.queue_fixture import HOUR, NOW, build, changed, mixed_config, snapshot

LANES, RELAYS = ["tx", "news"], ["a", "b", "c"]


def f(**kw: object) -> QueueFilter:
    return parse_filter(lanes=LANES, relays=RELAYS, **kw)  # type: ignore[arg-type]


@pytest.fixture
def mixed(store: Store, store_url: str, tmp_path: Path) -> tuple[SqlQueueControl, dict[str, int]]:
    cfg = mixed_config(store_url, tmp_path)
    return SqlQueueControl(store.engine), build(store, cfg)


def ids_of(ids: dict[str, int], *names: str) -> set[int]:
    return {ids[n] for n in names}


def test_list_and_count_filter_newest_first(mixed: tuple[SqlQueueControl, dict[str, int]]) -> None:
    qc, _ = mixed
    every = qc.list(f(), NOW, 100)
    assert [r["id"] for r in every] == sorted((r["id"] for r in every), reverse=True)
    assert {r["state"] for r in every} == {"queued", "deferred", "blocked", "held", "sending"}
    assert qc.count(f(), NOW) == 12
    assert qc.count(f(lane="news"), NOW) == 5
    assert {r["recipient"] for r in qc.list(f(relay="a", provider="google"), NOW)} == {
        "d1@gmail.example", "b1@gmail.example", "h1@gmail.example", "s1@gmail.example",
    }  # fmt: skip
    assert qc.count(f(domain="YAHOO.example"), NOW) == 4
    assert qc.count(f(state="deferred,blocked", older_than="1h30m"), NOW) == 3
    assert [r["recipient"] for r in qc.list(f(campaign="spring"), NOW)] == ["n6@gmail.example"]
    dead = qc.list(f(state="failed"), NOW)
    assert {r["recipient"] for r in dead} == {
        "f1@gmail.example", "f2@yahoo.example", "n5@gmail.example",
    }  # fmt: skip
    assert {r["campaign"] for r in dead} == {None, "spring"}
    page = qc.list(f(), NOW, 5)
    rest = qc.list(f(), NOW, 100, before_id=page[-1]["id"])
    assert len(page) + len(rest) == 12 and not {r["id"] for r in page} & {r["id"] for r in rest}


def test_bad_filters_name_the_option_and_the_fix(
    mixed: tuple[SqlQueueControl, dict[str, int]],
) -> None:
    qc, _ = mixed
    with pytest.raises(InputError) as lane:
        f(lane="bulk")
    assert lane.value.field == "--lane" and "tx, news" in lane.value.fix
    with pytest.raises(InputError) as relay:
        parse_filter(lanes=LANES, relays=RELAYS, relay="zz", cli=False)
    assert relay.value.field == "relay" and "a, b, c" in relay.value.fix
    with pytest.raises(InputError) as state:
        f(state="queued,stuck")
    assert state.value.field == "--state" and "stuck" in state.value.problem
    with pytest.raises(InputError) as older:
        f(older_than="soon")
    assert older.value.field == "--older-than" and "1h" in older.value.fix
    with pytest.raises(InputError, match="no campaign named"):
        qc.list(f(campaign="autumn"), NOW)
    with pytest.raises(InputError, match="never changes deliveries that are sending"):
        qc.apply(QueueAction.HOLD, f(state="sending"), NOW, "operator:ann")
    with pytest.raises(InputError, match="campaign retry-failed spring"):
        qc.apply(QueueAction.RETRY, f(campaign="spring"), NOW, "operator:ann")


def _act(
    store: Store,
    qc: SqlQueueControl,
    action: QueueAction,
    where: QueueFilter,
    **kw: object,
) -> tuple[int, set[int], dict[int, dict[str, object]], dict[int, dict[str, object]]]:
    before = snapshot(store)
    done = qc.apply(action, where, NOW, "operator:ann", **kw)  # type: ignore[arg-type]
    after = snapshot(store)
    return done.count, changed(before, after), before, after


def test_hold_then_release(store: Store, mixed: tuple[SqlQueueControl, dict[str, int]]) -> None:
    qc, ids = mixed
    n, moved, _, after = _act(store, qc, QueueAction.HOLD, f(lane="tx"), reason="incident 7")
    want = ids_of(ids, "q1@gmail.example", "q2@yahoo.example", "d1@gmail.example",
                  "d2@yahoo.example", "b1@gmail.example", "h1@gmail.example")  # fmt: skip
    assert n == 6 and moved == want  # not s1 (sending), not failed or sent, not news
    for i in want:
        assert after[i]["state"] == "held" and after[i]["due_at"] is None
        assert after[i]["last_reply"] == "held by operator:ann: incident 7"
    assert (
        after[ids["d1@gmail.example"]]["relay"] == "a" and after[ids["d1@gmail.example"]]["pinned"]
    )
    [entry] = store.audit.entries()
    assert (entry.actor, entry.action, entry.args, entry.effect) == (
        "operator:ann", "queue.hold", {"lane": "tx", "reason": "incident 7"}, {"held": 6},
    )  # fmt: skip
    # holding again changes nothing: they are the operator's already
    assert qc.apply(QueueAction.HOLD, f(lane="tx"), NOW, "operator:ann").count == 0

    n, moved, _, after = _act(store, qc, QueueAction.RELEASE, f(provider="google"))
    assert n == 3 and moved == ids_of(ids, "d1@gmail.example", "b1@gmail.example",
                                      "h1@gmail.example")  # fmt: skip
    for i in moved:
        assert after[i]["state"] == "queued" and after[i]["due_at"] == NOW
    assert store.audit.entries()[0].effect == {"released": 3}


def test_health_and_operator_holds_stay_apart(
    store: Store, mixed: tuple[SqlQueueControl, dict[str, int]]
) -> None:
    qc, ids = mixed
    qc.apply(QueueAction.HOLD, f(state="deferred", relay="a"), NOW, "operator:ann")
    ours, theirs = ids["d1@gmail.example"], ids["h1@gmail.example"]  # both on a x google
    # an operator's release leaves health's hold alone
    assert qc.apply(QueueAction.RELEASE, f(relay="a"), NOW, "operator:ann").count == 1
    assert snapshot(store)[theirs]["state"] == "held"
    qc.apply(QueueAction.HOLD, f(state="queued,deferred", relay="a"), NOW, "operator:ann")
    # a health pause and resume of relay a (retimes and releases its held deliveries)
    # never releases the operator's hold
    before = store.health.current("a", RELAY_WIDE, NOW)
    paused = operator_pause(before, NOW, "operator:bob", "maintenance", False)
    store.health.apply([Transition("a", RELAY_WIDE, before, paused, {}, "operator:bob")], NOW)
    resumed = operator_resume(paused, NOW + 1, "operator:bob")
    store.health.apply([Transition("a", RELAY_WIDE, paused, resumed, {}, "operator:bob")], NOW + 1)
    with store.engine.begin() as conn:
        from relaylane.store.health import release_stranded

        release_stranded(conn, NOW + 2)
    rows = snapshot(store)
    assert rows[ours]["state"] == "held" and rows[ours]["due_at"] is None
    assert rows[ids["q2@yahoo.example"]]["due_at"] is None  # also the operator's
    assert rows[theirs]["due_at"] == NOW + 1  # health's own: released by the resume
    # asked for every hold, release takes health's too
    store_rows = qc.apply(QueueAction.RELEASE, f(relay="a"), NOW + 3, "operator:ann",
                          all_holds=True)  # fmt: skip
    assert store_rows.count == 3


def test_requeue_keeps_relay_and_pin(
    store: Store, mixed: tuple[SqlQueueControl, dict[str, int]]
) -> None:
    qc, ids = mixed
    n, moved, before, after = _act(store, qc, QueueAction.REQUEUE, f(older_than="90m"))
    want = ids_of(ids, "d1@gmail.example", "b1@gmail.example", "n2@gmail.example")
    assert n == 3 and moved == want
    for i in want:
        assert after[i]["due_at"] == NOW and after[i]["state"] == before[i]["state"]
        assert (after[i]["relay"], after[i]["pinned"]) == (before[i]["relay"], before[i]["pinned"])
    assert store.audit.entries()[0].args == {"older_than": 5400.0}


def test_cancel(store: Store, mixed: tuple[SqlQueueControl, dict[str, int]]) -> None:
    qc, ids = mixed
    n, moved, _, after = _act(store, qc, QueueAction.CANCEL, f(lane="news"), reason="bad copy")
    want = ids_of(ids, "n1@gmail.example", "n2@gmail.example", "n3@yahoo.example",
                  "n6@gmail.example")  # fmt: skip
    assert n == 4 and moved == want  # n4 is in flight, n5 already failed
    for i in want:
        assert after[i]["state"] == "cancelled" and after[i]["due_at"] is None
        assert after[i]["last_reply"] == "cancelled by operator:ann: bad copy"
    entry = store.audit.entries()[0]
    assert (entry.action, entry.effect, entry.target) == (
        "queue.cancel", {"cancelled": 4}, "lane=news",
    )  # fmt: skip


def test_retry_dead_letters(store: Store, mixed: tuple[SqlQueueControl, dict[str, int]]) -> None:
    qc, ids = mixed
    n, moved, _, after = _act(
        store, qc, QueueAction.RETRY, f(), max_ages={"tx": HOUR, "news": 2 * HOUR}
    )
    want = ids_of(ids, "f1@gmail.example", "f2@yahoo.example")  # not the campaign's n5
    assert n == 2 and moved == want
    for i in want:
        row = after[i]
        assert (row["state"], row["due_at"], row["retries"], row["relay"]) == (
            "queued", NOW, 0, None,
        )  # fmt: skip
        assert row["expires_at"] == NOW + HOUR
    assert store.audit.entries()[0].effect == {"retried": 2}


def test_dry_run_changes_nothing(
    store: Store, mixed: tuple[SqlQueueControl, dict[str, int]]
) -> None:
    qc, _ = mixed
    before = snapshot(store)
    want = {"hold": 10, "release": 0, "requeue": 5, "cancel": 10, "retry": 2}
    for action in QueueAction:
        done = qc.apply(action, f(), NOW, "operator:ann", dry_run=True)
        assert done.dry_run and done.count == want[action.value]
        assert len(done.sample) == min(done.count, 10)
        assert done.as_dict()[action.past] == 0
    assert snapshot(store) == before and store.audit.entries() == []


def test_lane_pause_and_resume(store: Store, mixed: tuple[SqlQueueControl, dict[str, int]]) -> None:
    qc, _ = mixed
    assert qc.pause_lane("news", NOW, "operator:ann", "bad copy")
    assert not qc.pause_lane("news", NOW, "operator:ann", "still bad")
    assert qc.paused_lanes() == {"news"}
    assert qc.lanes()["news"].reason == "still bad"
    assert qc.resume_lane("news", NOW + 5, "operator:bob")
    assert not qc.resume_lane("news", NOW + 6, "operator:bob")
    assert qc.paused_lanes() == set()
    entries = store.audit.entries()
    assert [(e.action, e.actor, e.target) for e in entries] == [
        ("lane.resume", "operator:bob", "lane news"),
        ("lane.pause", "operator:ann", "lane news"),
    ]
    assert entries[1].effect == {"waiting": 4} and entries[1].args == {"reason": "bad copy"}
