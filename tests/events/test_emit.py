"""Events written to the outbox in the transaction of the change they report, on SQLite
and PostgreSQL: what each carries, who gets it, once-per-delivery kinds, and no cost at
all without endpoints."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from relaylane.bounces.decide import Action, Decision
from relaylane.events.emit import emit_event
from relaylane.events.hooks import Hooks
from relaylane.events.kinds import EventKind
from relaylane.policy.suppression import Reason, Scope, Source, SuppressionPolicy
from relaylane.policy.vocabulary import DeliveryState
from relaylane.records import Claimed, DeliveryResult
from relaylane.store import Store
from relaylane.store.feedback import FeedbackRow, Recording
from relaylane.store.suppressions import NewSuppression
from tests.events.helpers import T0, hook, hooks, message, outbox, result


def claim_one(store: Store, at: float, lane: str = "tx", hooked: Hooks | None = None) -> Claimed:
    step = store.queue.step([], [(lane, 1)], set(), at, "w1", 60.0, hooks=hooked)
    [claimed] = step.claims[lane]
    return claimed


def record(store: Store, results: list[DeliveryResult], at: float, hooked: Hooks | None) -> int:
    step = store.queue.step(results, [], set(), at, "w1", 60.0, hooks=hooked)
    return step.applied


@contextmanager
def counted(store: Store) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(conn: object, cursor: object, sql: str, *args: object) -> None:
        statements.append(sql)

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)


def test_a_sent_delivery_makes_the_documented_event(store: Store) -> None:
    [[did]] = store.queue.enqueue([message(["bob@example.test"])])
    claimed = claim_one(store, T0)
    assert record(store, [result(claimed, DeliveryState.SENT, T0 + 1)], T0 + 1, hooks()) == 1
    [row] = outbox(store)
    assert (row["endpoint"], row["kind"], row["attempts"]) == ("app", "sent", 0)
    assert row["due_at"] == row["created_at"] == T0 + 1
    body = row["body"]
    assert body["id"] == row["event_id"] and uuid.UUID(body["id"]).version == 4
    assert (body["type"], body["created_at"]) == ("sent", T0 + 1)
    data = body["data"]
    assert data["delivery_id"] == did
    assert data["recipient"] == "bob@example.test"
    assert data["header_message_id"] == "<0.bob@example.test@tx.acme.test>"
    assert (data["lane"], data["submitter"]) == ("tx", "shop")
    assert (data["tags"], data["metadata"]) == (["receipt"], {"order": "1042"})
    assert (data["relay"], data["relay_queue_id"], data["smtp_code"]) == ("r1", "Q1", 250)
    assert data["next_retry_at"] is None


def test_each_endpoint_gets_what_it_subscribed_to(store: Store) -> None:
    store.queue.enqueue([message(["a@example.test"], submitter="shop")])
    store.queue.enqueue([message(["b@example.test"], submitter="blog")])
    store.queue.enqueue([message(["c@example.test"], lane="news", submitter="shop")])
    endpoints = hooks(
        hook("all"),
        hook("bounces-only", kinds=[EventKind.BOUNCED]),
        hook("tx-only", lanes=["tx"]),
        hook("shop", submitters=["shop"]),
    )
    claims = store.queue.step([], [("tx", 10), ("news", 10)], set(), T0, "w1", 60.0).claims
    results = [result(c, DeliveryState.SENT, T0) for cs in claims.values() for c in cs]
    record(store, results, T0 + 1, endpoints)
    got = {(r["endpoint"], r["body"]["data"]["recipient"]) for r in outbox(store)}
    assert got == {
        ("all", "a@example.test"),
        ("all", "b@example.test"),
        ("all", "c@example.test"),
        ("tx-only", "a@example.test"),
        ("tx-only", "b@example.test"),
        ("shop", "a@example.test"),
        ("shop", "c@example.test"),
    }


def test_deferred_and_blocked_are_emitted_once_per_delivery(store: Store) -> None:
    [[did]] = store.queue.enqueue([message(["slow@example.test"])])
    endpoints = hooks(hook("a"), hook("b", kinds=[EventKind.DEFERRED, EventKind.SENT]))
    at = T0
    for state in (
        DeliveryState.DEFERRED,
        DeliveryState.DEFERRED,
        DeliveryState.BLOCKED,
        DeliveryState.DEFERRED,
        DeliveryState.BLOCKED,
        DeliveryState.SENT,
    ):
        claimed = claim_one(store, at)
        record(store, [result(claimed, state, at)], at, endpoints)
        at += 120.0
    kinds = [(r["endpoint"], r["kind"]) for r in outbox(store)]
    assert kinds == [
        ("a", "deferred"),
        ("b", "deferred"),
        ("a", "blocked"),
        ("a", "sent"),
        ("b", "sent"),
    ]
    deferred = outbox(store)[0]["body"]["data"]
    assert deferred["delivery_id"] == did
    assert (deferred["retries"], deferred["next_retry_at"]) == (1, T0 + 60)
    assert (deferred["smtp_code"], deferred["bounce_class"]) == (451, "transient")


def test_a_wait_without_an_attempt_is_not_an_event(store: Store) -> None:
    store.queue.enqueue([message(["paced@example.test"])])
    claimed = claim_one(store, T0)
    paced = result(claimed, DeliveryState.DEFERRED, T0, attempts=(), retries=0)
    record(store, [paced], T0, hooks())
    assert outbox(store) == []


def test_a_stale_result_makes_no_event(store: Store) -> None:
    store.queue.enqueue([message(["late@example.test"])])
    claimed = claim_one(store, T0)
    store.queue.reclaim_expired(T0 + 61.0)  # the lease ran out: the token moved on
    assert record(store, [result(claimed, DeliveryState.SENT, T0 + 62)], T0 + 62, hooks()) == 0
    assert outbox(store) == []


def test_without_endpoints_nothing_is_read_or_written(store: Store) -> None:
    store.queue.enqueue([message([f"u{i}@example.test" for i in range(3)])])
    claims = store.queue.step([], [("tx", 10)], set(), T0, "w1", 60.0).claims["tx"]
    results = [result(c, DeliveryState.SENT, T0) for c in claims]
    with counted(store) as plain:
        store.queue.record(results[:1], T0, "w1")
    with counted(store) as empty:
        store.queue.record(results[1:2], T0, "w1", hooks=Hooks())
    uninterested = hooks(hook(kinds=[EventKind.OPENED]))
    with counted(store) as other_kinds:
        store.queue.record(results[2:], T0, "w1", hooks=uninterested)
    assert len(plain) == len(empty) == len(other_kinds)
    assert outbox(store) == []


def test_one_query_reads_the_facts_of_a_whole_batch(store: Store) -> None:
    store.queue.enqueue([message([f"u{i}@example.test" for i in range(20)])])
    claims = store.queue.step([], [("tx", 50)], set(), T0, "w1", 60.0).claims["tx"]
    results = [result(c, DeliveryState.SENT, T0) for c in claims]
    with counted(store) as without:
        store.queue.record(results[:10], T0, "w1")
    with counted(store) as with_hooks:
        store.queue.record(results[10:], T0, "w1", hooks=hooks(hook("a"), hook("b")))
    assert len(with_hooks) - len(without) == 2  # one SELECT, one INSERT for every row
    assert len(outbox(store)) == 20


def test_suppressed_at_claim_time(store: Store) -> None:
    entry = NewSuppression(
        "gone@example.test", Scope.parse("global"), Reason.HARD_BOUNCE, Source.CLI
    )
    store.suppressions.add([entry], T0 - 10)
    store.queue.enqueue([message(["gone@example.test", "ok@example.test"])])
    step = store.queue.step([], [("tx", 10)], set(), T0, "w1", 60.0, hooks=hooks())
    assert [c.recipient for c in step.claims["tx"]] == ["ok@example.test"]
    [row] = outbox(store)
    assert row["kind"] == "suppressed"
    data = row["body"]["data"]
    assert data["recipient"] == "gone@example.test"
    assert (data["reason"], data["scope"], data["suppression_id"]) == ("hard_bounce", "global", 1)


def feedback_row(did: int, event: str, cls: str = "none", code: int | None = None) -> FeedbackRow:
    return FeedbackRow(
        received_at=T0,
        source="webhook:ses",
        kind="webhook",
        event=event,
        delivery_id=did,
        relay="r1",
        recipient="bob@example.test",
        bounce_class=cls,
        code=code,
        status="5.1.1" if code else None,
        diagnostic="smtp; 550 5.1.1 no such user" if code else "",
        action="",
    )


def finding(
    store: Store,
    did: int,
    event: str,
    decision: Decision,
    cls: str = "none",
    code: int | None = None,
) -> Recording:
    facts = store.feedback.facts([did])[did]
    return Recording(feedback_row(did, event, cls, code), decision, facts, Source.WEBHOOK)


def test_reported_findings_make_events(store: Store) -> None:
    [[ok, gone]] = store.queue.enqueue([message(["bob@example.test", "gone@example.test"])])
    claims = store.queue.step([], [("tx", 10)], set(), T0, "w1", 60.0).claims["tx"]
    record(store, [result(c, DeliveryState.SENT, T0) for c in claims], T0, None)
    policy = SuppressionPolicy()
    delivered = Decision(Action.DELIVERED, DeliveryState.DELIVERED)
    complained = Decision(Action.SUPPRESSED, None)
    bounced = Decision(Action.BOUNCED, DeliveryState.BOUNCED)
    items = [
        finding(store, ok, "delivered", delivered),
        finding(store, ok, "delivered", delivered),  # a duplicate: moves nothing
        finding(store, ok, "complained", complained),
        finding(store, ok, "complained", complained),  # an ARF report and a webhook
        finding(store, gone, "bounced", bounced, cls="invalid_recipient", code=550),
    ]
    store.feedback.record(items, policy, T0 + 5, hooks=hooks())
    rows = outbox(store)
    assert [(r["kind"], r["body"]["data"]["delivery_id"]) for r in rows] == [
        ("delivered", ok),
        ("complained", ok),
        ("bounced", gone),
    ]
    bounce = rows[2]["body"]["data"]
    assert (bounce["source"], bounce["report"]) == ("webhook:ses", "webhook")
    assert (bounce["bounce_class"], bounce["smtp_code"], bounce["status"]) == (
        "invalid_recipient",
        550,
        "5.1.1",
    )
    assert bounce["submitter"] == "shop" and bounce["metadata"] == {"order": "1042"}


def test_relay_state_changed_goes_to_endpoints_without_lane_or_submitter_filters(
    store: Store,
) -> None:
    endpoints = hooks(hook("ops"), hook("tx", lanes=["tx"]), hook("shop", submitters=["shop"]))
    data = {"relay": "r1", "provider": "google", "from": "healthy", "to": "paused",
            "cause": "blocks", "reason": "5.7.1 rate", "evidence": {"blocks": 12}}  # fmt: skip
    with store.engine.begin() as conn:
        assert emit_event(conn, endpoints, EventKind.RELAY_STATE_CHANGED, data, T0) == 1
    [row] = outbox(store)
    assert row["endpoint"] == "ops"
    assert row["body"]["type"] == "relay_state_changed" and row["body"]["data"] == data


def test_an_event_exists_only_if_its_change_was_committed(store: Store) -> None:
    def change_that_fails() -> None:
        with store.engine.begin() as conn:
            emit_event(conn, hooks(), EventKind.RELAY_STATE_CHANGED, {"relay": "r1"}, T0)
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        change_that_fails()
    assert outbox(store) == []


def test_deliveries_stopped_while_waiting_make_suppressed_events(store: Store) -> None:
    [[sent_id]] = store.queue.enqueue([message(["bob@example.test"])])
    claims = store.queue.step([], [("tx", 10)], set(), T0, "w1", 60.0).claims["tx"]
    record(store, [result(c, DeliveryState.SENT, T0) for c in claims], T0, None)
    [[waiting]] = store.queue.enqueue([message(["bob@example.test"], at=T0 + 1)])
    complaint = Decision(
        Action.SUPPRESSED, None, scopes=((Scope.parse("lane:tx"), Reason.COMPLAINT),)
    )
    items = [finding(store, sent_id, "complained", complaint)]
    store.feedback.record(items, SuppressionPolicy(), T0 + 5, hooks=hooks())
    [complained, suppressed] = sorted(outbox(store), key=lambda r: str(r["kind"]))
    assert complained["kind"] == "complained"
    assert suppressed["kind"] == "suppressed"
    data = suppressed["body"]["data"]
    assert (data["delivery_id"], data["reason"], data["scope"]) == (
        waiting,
        "complaint",
        "lane:tx",
    )

    [[later]] = store.queue.enqueue([message(["ann@example.test"], at=T0 + 6)])
    entry = NewSuppression("ann@example.test", Scope.parse("global"), Reason.MANUAL, Source.CLI)
    assert store.suppressions.add([entry], T0 + 7, hooks=hooks()).stopped == 1
    assert outbox(store)[-1]["body"]["data"]["delivery_id"] == later
