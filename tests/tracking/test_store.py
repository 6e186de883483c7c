"""SqlTracking on SQLite and PostgreSQL: events attributed to the delivery's campaign,
contact and relay; counts per campaign and relay; last engagement; erasure (also through
SqlContacts.delete)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa

from relaylane.config import Config
from relaylane.contacts.csv_rows import Contact
from relaylane.policy.suppression import address_key
from relaylane.store import Store
from relaylane.store.schema import deliveries, tracking_events
from relaylane.store.tracking import NO_RELAY
from tests.helpers import lane, make_config, queue, relay

NOW = 1_700_000_000.0


@pytest.fixture
def config(store_url: str, tmp_path: Path) -> Config:
    return make_config(
        store_url,
        [relay("r1", 1), relay("r2", 1)],
        [lane("marketing", ["r1", "r2"], "marketing")],
        tmp_path,
    )


def delivery(
    store: Store, config: Config, campaign_id: int | None, contact_id: int | None, relay: str | None
) -> int:
    [delivery_id] = queue(store, config, "marketing", [f"c{contact_id}@example.test"], NOW)
    with store.engine.begin() as conn:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.id == delivery_id)
            .values(campaign_id=campaign_id, contact_id=contact_id, relay=relay)
        )
    return delivery_id


def events(store: Store) -> list[tuple[object, ...]]:
    T = tracking_events.c
    stmt = sa.select(T.kind, T.delivery_id, T.campaign_id, T.contact_id, T.relay, T.url, T.at)
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(stmt.order_by(T.id))]


def test_events_are_attributed_from_the_delivery(store: Store, config: Config) -> None:
    d = delivery(store, config, 5, 11, "r1")
    assert store.tracking.record("open", d, None, NOW + 1)
    assert store.tracking.record("click", d, "https://a.test/", NOW + 2)
    assert events(store) == [
        ("open", d, 5, 11, "r1", None, NOW + 1),
        ("click", d, 5, 11, "r1", "https://a.test/", NOW + 2),
    ]


def test_an_unknown_delivery_records_nothing(store: Store, config: Config) -> None:
    assert not store.tracking.record("open", 999_999, None, NOW)
    assert events(store) == []


def test_a_delivery_outside_campaigns_is_recorded_unattributed(
    store: Store, config: Config
) -> None:
    d = delivery(store, config, None, None, None)
    assert store.tracking.record("open", d, None, NOW)
    assert events(store) == [("open", d, None, None, None, None, NOW)]


def test_only_open_and_click(store: Store, config: Config) -> None:
    d = delivery(store, config, 5, 11, "r1")
    with pytest.raises(ValueError, match="bounce"):
        store.tracking.record("bounce", d, None, NOW)


def test_counts_per_campaign_and_relay(store: Store, config: Config) -> None:
    a = delivery(store, config, 5, 1, "r1")
    b = delivery(store, config, 5, 2, "r2")
    c = delivery(store, config, 5, 3, "r1")
    other = delivery(store, config, 6, 1, "r1")
    for d in (a, a, a, b, other):
        store.tracking.record("open", d, None, NOW)
    for d in (a, a, c):
        store.tracking.record("click", d, "https://a.test/", NOW)
    assert store.tracking.campaign_counts(5) == {
        "opens": 4,
        "unique_opens": 2,
        "clicks": 3,
        "unique_clicks": 2,
    }
    assert store.tracking.counts_by_relay(5) == {
        "r1": {"opens": 3, "unique_opens": 1, "clicks": 3, "unique_clicks": 2},
        "r2": {"opens": 1, "unique_opens": 1, "clicks": 0, "unique_clicks": 0},
    }
    assert store.tracking.campaign_counts(7) == {
        "opens": 0,
        "unique_opens": 0,
        "clicks": 0,
        "unique_clicks": 0,
    }
    assert store.tracking.counts_by_relay(7) == {}


def test_an_unsent_delivery_counts_under_no_relay(store: Store, config: Config) -> None:
    d = delivery(store, config, 5, 1, None)
    store.tracking.record("open", d, None, NOW)
    assert store.tracking.counts_by_relay(5) == {
        NO_RELAY: {"opens": 1, "unique_opens": 1, "clicks": 0, "unique_clicks": 0}
    }


def test_last_engagement(store: Store, config: Config) -> None:
    a = delivery(store, config, 5, 1, "r1")
    b = delivery(store, config, 6, 1, "r1")
    c = delivery(store, config, 5, 2, "r1")
    store.tracking.record("open", a, None, NOW + 1)
    store.tracking.record("open", b, None, NOW + 5)
    store.tracking.record("click", a, "https://a.test/", NOW + 3)
    store.tracking.record("open", c, None, NOW + 2)
    assert store.tracking.last_engagement([1, 2, 3]) == {
        1: (NOW + 5, NOW + 3),
        2: (NOW + 2, None),
        3: (None, None),
    }
    assert store.tracking.last_engagement([]) == {}
    many = [*range(100, 1300), 1]
    assert store.tracking.last_engagement(many)[1] == (NOW + 5, NOW + 3)


def test_erase_contact(store: Store, config: Config) -> None:
    a = delivery(store, config, 5, 1, "r1")
    b = delivery(store, config, 5, 2, "r1")
    store.tracking.record("open", a, None, NOW)
    store.tracking.record("click", a, "https://a.test/", NOW)
    store.tracking.record("open", b, None, NOW)
    assert store.tracking.erase_contact(None, 1) == 2
    assert [e[3] for e in events(store)] == [2]
    with store.engine.begin() as conn:
        assert store.tracking.erase_contact(conn, 2) == 1
    assert events(store) == []


def test_deleting_a_contact_erases_its_events(store: Store, config: Config) -> None:
    news = store.contacts.ensure_list("news")
    people = [
        Contact(n, email, address_key(email), {}, None, None)
        for n, email in enumerate(["ann@example.test", "bo@example.test"], start=2)
    ]
    store.contacts.import_batch(news, people, NOW)
    ann = store.contacts.show("ann@example.test")
    bo = store.contacts.show("bo@example.test")
    assert ann is not None and bo is not None
    store.tracking.record("open", delivery(store, config, 5, ann.id, "r1"), None, NOW)
    store.tracking.record("open", delivery(store, config, 5, bo.id, "r1"), None, NOW)
    assert store.contacts.delete("ann@example.test")
    assert [e[3] for e in events(store)] == [bo.id]
    assert store.tracking.last_engagement([ann.id]) == {ann.id: (None, None)}
