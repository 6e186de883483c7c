"""The intake side of the store: one commit for many submissions, idempotency keys,
the back-pressure gauge, migrations from the previous schema. SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from relaylane.delivery.addresses import parse_address
from relaylane.delivery.compose import compose
from relaylane.delivery.submit import Origin, build_message
from relaylane.records import NewMessage
from relaylane.store import Store, open_store
from relaylane.store.engine import create_engine, head_revision, upgrade
from relaylane.store.intake import IdempotencyKey, IntakeItem, SqlIntake
from relaylane.store.schema import metadata
from tests.helpers import lane, make_config, relay


def message(tmp_path: Path, store_url: str, *rcpts: str, **origin: object) -> NewMessage:
    config = make_config(store_url, [relay("r1", 2525)], [lane("tx", ["r1"])], tmp_path)
    composed = compose(from_="a@tx.acme.test", subject="Hi", text="Hello\n")
    recipients = [parse_address(r) for r in rcpts]
    return build_message(config, "tx", composed, recipients, 1000.0, origin=Origin(**origin))  # type: ignore[arg-type]


def answer(ids: list[list[int]]) -> tuple[int, str]:
    return 202, json.dumps(ids)


def test_one_commit_for_many_items(store: Store, store_url: str, tmp_path: Path) -> None:
    items = [IntakeItem(messages=(message(tmp_path, store_url, f"u{i}@b.test"),)) for i in range(5)]
    outcomes = store.intake.commit(items, 1000.0)
    ids = [o.ids[0][0] for o in outcomes]
    assert len(set(ids)) == 5
    rows = store.reads.list_deliveries(limit=10)
    assert sorted(r.id for r in rows) == sorted(ids)


def test_origin_is_stored(store: Store, store_url: str, tmp_path: Path) -> None:
    msg = message(
        tmp_path,
        store_url,
        "u@b.test",
        source="api",
        submitter="k1",
        notify="dsn",
        tags=("welcome",),
        metadata=(("user", "42"),),
    )
    store.intake.commit([IntakeItem(messages=(msg,))], 1000.0)
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.text("SELECT source, submitter, notify, tags, meta FROM messages")
        ).one()
    assert tuple(row) == ("api", "k1", "dsn", '["welcome"]', '{"user": "42"}')


def test_idempotency_key_replays_and_never_queues_twice(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    key = IdempotencyKey(principal="k1", key="order-7", request_hash="h1")
    item = IntakeItem(
        messages=(message(tmp_path, store_url, "u@b.test"),), idempotency=key, answer=answer
    )
    [first] = store.intake.commit([item], 1000.0)
    [again] = store.intake.commit([item], 1001.0)
    assert first.ids and again.ids == []
    assert again.replay == (202, json.dumps(first.ids))
    [other] = store.intake.commit(
        [IntakeItem(messages=item.messages, idempotency=IdempotencyKey("k1", "order-7", "h2"))],
        1002.0,
    )
    assert other.conflict and other.ids == []
    [mine] = store.intake.commit(  # the same key under another API key is another key
        [IntakeItem(messages=item.messages, idempotency=IdempotencyKey("k2", "order-7", "h1"))],
        1003.0,
    )
    assert mine.ids
    assert len(store.reads.list_deliveries(limit=10)) == 2


def test_same_key_twice_in_one_commit(store: Store, store_url: str, tmp_path: Path) -> None:
    key = IdempotencyKey(principal="k1", key="dup", request_hash="h")
    msg = message(tmp_path, store_url, "u@b.test")
    item = IntakeItem(messages=(msg,), idempotency=key, answer=answer)
    a, b = store.intake.commit([item, item], 1000.0)
    assert a.ids and b.replay == (202, json.dumps(a.ids))
    assert len(store.reads.list_deliveries(limit=10)) == 1


def test_racing_front_ends_queue_once(store: Store, store_url: str, tmp_path: Path) -> None:
    """Two processes' commits with the same key at the same time: one queues, one replays."""
    key = IdempotencyKey(principal="k1", key="race", request_hash="h")
    item = IntakeItem(
        messages=(message(tmp_path, store_url, "u@b.test"),), idempotency=key, answer=answer
    )
    other = open_store(store_url)
    results: list[object] = []
    barrier = threading.Barrier(2)

    def go(intake: SqlIntake) -> None:
        barrier.wait()
        results.extend(intake.commit([item], 1000.0))

    threads = [threading.Thread(target=go, args=(s.intake,)) for s in (store, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.close()
    assert len(store.reads.list_deliveries(limit=10)) == 1
    assert sum(1 for r in results if getattr(r, "ids", None)) == 1


def test_queued_count_and_purge(store: Store, store_url: str, tmp_path: Path) -> None:
    key = IdempotencyKey(principal="k1", key="old", request_hash="h")
    store.intake.commit(
        [
            IntakeItem(
                messages=(message(tmp_path, store_url, "a@b.test", "c@d.test"),), idempotency=key
            )
        ],
        1000.0,
    )
    assert store.intake.queued_count() == 2
    assert store.intake.purge_idempotency(older_than=999.0) == 0
    assert store.intake.purge_idempotency(older_than=1001.0) == 1


def test_migrations_match_the_schema_and_keep_data(tmp_path: Path) -> None:
    """An issue-2 store (revision 0001) upgrades in place; its mail is still there."""
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    from alembic import command

    from relaylane.store.engine import _alembic_config

    with engine.begin() as conn:
        command.upgrade(_alembic_config(conn), "0001")
        conn.execute(
            sa.text(
                "INSERT INTO messages (ref, created_at, lane, mail_from, from_domain, body, size,"
                " smtputf8) VALUES ('r', 1, 'tx', 'a@b.test', 'b.test', x'41', 1, 0)"
            )
        )
    before, after = upgrade(engine)
    assert (before, after) == ("0001", head_revision())
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT source FROM messages")).scalar_one() == "cli"
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []
