"""The durable queue on SQLite and PostgreSQL: enqueue, claim, lease, fence, reclaim."""

from __future__ import annotations

from relaylane.policy.vocabulary import BounceClass, DeliveryState, Outcome, Stage
from relaylane.records import AttemptRecord, DeliveryResult, NewDelivery, NewMessage
from relaylane.store import Store

T0 = 1_800_000_000.0


def message(lane: str, recipients: list[str], at: float = T0, max_age: float = 3600) -> NewMessage:
    return NewMessage(
        lane=lane,
        mail_from="no-reply@tx.acme.test",
        from_domain="tx.acme.test",
        body=b"Subject: hi\r\n\r\nhello\r\n",
        smtputf8=False,
        created_at=at,
        expires_at=at + max_age,
        deliveries=tuple(
            NewDelivery(r, f"<{i}.{r}@tx.acme.test>", f"To: {r}\r\n".encode())
            for i, r in enumerate(recipients)
        ),
    )


def sent(claim_id: int, token: int, at: float, relay: str = "r1") -> DeliveryResult:
    return DeliveryResult(
        id=claim_id,
        token=token,
        state=DeliveryState.SENT,
        due_at=None,
        relay=relay,
        pinned=False,
        retries=0,
        attempts=(
            AttemptRecord(
                at,
                relay,
                Stage.DATA_END,
                250,
                "2.0.0 Ok: queued as ABC",
                Outcome.SENT,
                BounceClass.NONE,
                3.0,
            ),
        ),
        relay_queue_id="ABC",
        sent_at=at,
    )


def test_enqueue_makes_one_delivery_per_recipient_sharing_one_body(store: Store) -> None:
    [ids] = store.queue.enqueue([message("tx", ["a@example.test", "b@example.test"])])
    assert len(ids) == 2
    claims = store.queue.claim("tx", T0, 10, "w1", 60)
    assert {c.recipient for c in claims} == {"a@example.test", "b@example.test"}
    assert len({c.message_id for c in claims}) == 1
    assert {c.prefix for c in claims} == {b"To: a@example.test\r\n", b"To: b@example.test\r\n"}
    bodies = store.queue.bodies([claims[0].message_id])
    assert bodies[claims[0].message_id].body == b"Subject: hi\r\n\r\nhello\r\n"


def test_claim_takes_only_due_work_of_its_lane_oldest_first(store: Store) -> None:
    store.queue.enqueue([message("mkt", ["late@example.test"], at=T0 + 5)])
    store.queue.enqueue([message("mkt", ["early@example.test"], at=T0)])
    store.queue.enqueue([message("tx", ["tx@example.test"], at=T0)])
    claims = store.queue.claim("mkt", T0 + 1, 10, "w1", 60)
    assert [c.recipient for c in claims] == ["early@example.test"]
    claims = store.queue.claim("mkt", T0 + 10, 10, "w1", 60)
    assert [c.recipient for c in claims] == ["late@example.test"]
    assert store.queue.claim("mkt", T0 + 10, 10, "w1", 60) == []


def test_a_claimed_delivery_is_not_claimed_twice(store: Store) -> None:
    store.queue.enqueue([message("tx", [f"u{i}@example.test" for i in range(30)])])
    first = store.queue.claim("tx", T0, 20, "w1", 60)
    second = store.queue.claim("tx", T0, 20, "w2", 60)
    assert len(first) == 20 and len(second) == 10
    assert not {c.id for c in first} & {c.id for c in second}


def test_record_applies_result_and_keeps_attempt(store: Store) -> None:
    [ids] = store.queue.enqueue([message("tx", ["a@example.test"])])
    [c] = store.queue.claim("tx", T0, 1, "w1", 60)
    assert store.queue.record([sent(c.id, c.token, T0 + 1)], T0 + 1, "w1") == 1
    detail = store.reads.delivery(ids[0])
    assert detail.delivery.state == "sent"
    assert detail.delivery.relay_queue_id == "ABC"
    assert detail.delivery.due_at is None
    assert [a.reply for a in detail.attempts] == ["2.0.0 Ok: queued as ABC"]
    assert store.queue.claim("tx", T0 + 100, 10, "w1", 60) == []


def test_a_late_worker_never_overwrites_a_newer_result(store: Store) -> None:
    [ids] = store.queue.enqueue([message("tx", ["a@example.test"])])
    [old] = store.queue.claim("tx", T0, 1, "slow", 10)
    assert store.queue.reclaim_expired(T0 + 11) == 1  # the slow worker's lease ran out
    [new] = store.queue.claim("tx", T0 + 11, 1, "fast", 10)
    assert new.token > old.token
    assert store.queue.record([sent(new.id, new.token, T0 + 12, relay="r2")], T0 + 12, "fast") == 1
    # the slow worker comes back with its own answer: refused by the fence
    late = DeliveryResult(
        old.id,
        old.token,
        DeliveryState.BOUNCED,
        None,
        "r1",
        False,
        0,
        (
            AttemptRecord(
                T0 + 13,
                "r1",
                Stage.RCPT,
                550,
                "5.1.1 unknown",
                Outcome.BOUNCED,
                BounceClass.INVALID_RECIPIENT,
                2.0,
            ),
        ),
    )
    assert store.queue.record([late], T0 + 13, "slow") == 0
    detail = store.reads.delivery(ids[0])
    assert detail.delivery.state == "sent"
    assert detail.delivery.relay == "r2"
    stale = [a for a in detail.attempts if a.stale]
    assert [a.worker for a in stale] == ["slow"]  # its attempt is history, marked stale
    assert any("lease expired" in a.reply for a in detail.attempts)


def test_renew_keeps_a_live_workers_claims(store: Store) -> None:
    store.queue.enqueue([message("tx", ["a@example.test"])])
    store.queue.claim("tx", T0, 1, "w1", 10)
    assert store.queue.renew("w1", T0 + 8, 10) == 1
    assert store.queue.reclaim_expired(T0 + 12) == 0
    assert store.queue.reclaim_expired(T0 + 19) == 1


def test_release_returns_unstarted_claims_due_now(store: Store) -> None:
    store.queue.enqueue([message("tx", ["a@example.test", "b@example.test"])])
    claims = store.queue.claim("tx", T0, 2, "w1", 60)
    assert store.queue.release(claims, T0 + 1) == 2
    again = store.queue.claim("tx", T0 + 1, 10, "w2", 60)
    assert {c.id for c in again} == {c.id for c in claims}


def test_deferred_result_comes_back_when_due(store: Store) -> None:
    store.queue.enqueue([message("tx", ["a@example.test"])])
    [c] = store.queue.claim("tx", T0, 1, "w1", 60)
    deferred = DeliveryResult(
        c.id,
        c.token,
        DeliveryState.DEFERRED,
        T0 + 300,
        "r1",
        False,
        1,
        (
            AttemptRecord(
                T0,
                "r1",
                Stage.RCPT,
                451,
                "4.3.0 try later",
                Outcome.DEFERRED,
                BounceClass.TRANSIENT,
                1.0,
            ),
        ),
    )
    store.queue.record([deferred], T0, "w1")
    assert store.queue.claim("tx", T0 + 299, 1, "w1", 60) == []
    [again] = store.queue.claim("tx", T0 + 300, 1, "w1", 60)
    assert again.retries == 1 and again.relay == "r1"


def test_status_counts_by_state_lane_and_relay(store: Store) -> None:
    store.queue.enqueue([message("tx", ["a@example.test", "b@example.test"], at=T0)])
    store.queue.enqueue([message("mkt", ["c@example.test"], at=T0 + 50)])
    [c, _] = store.queue.claim("tx", T0, 2, "w1", 60)
    store.queue.record([sent(c.id, c.token, T0 + 1)], T0 + 1, "w1")
    report = store.reads.status(T0 + 100)
    assert report.by_state == {"sent": 1, "sending": 1, "queued": 1}
    assert report.by_lane == {"tx": {"sent": 1, "sending": 1}, "mkt": {"queued": 1}}
    assert report.by_relay == {"r1": {"sent": 1}}
    assert report.oldest_pending_age == 100  # the tx delivery still sending
    assert report.total == 3


def test_list_filters_and_newest_first(store: Store) -> None:
    store.queue.enqueue([message("tx", ["a@example.test"]), message("mkt", ["b@example.test"])])
    rows = store.reads.list_deliveries()
    assert [r.recipient for r in rows] == ["b@example.test", "a@example.test"]
    assert [r.lane for r in store.reads.list_deliveries(lane="tx")] == ["tx"]
    assert store.reads.list_deliveries(state=DeliveryState.SENT) == []
