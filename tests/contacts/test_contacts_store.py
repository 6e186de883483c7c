"""SqlContacts on SQLite and PostgreSQL: upserts with merged attributes, membership and
consent facts, unsubscribed members kept so, paging, show and erasure."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from relaylane.contacts.csv_rows import Contact
from relaylane.errors import NotFoundError
from relaylane.policy.suppression import address_key
from relaylane.store import Store
from relaylane.store.contacts import Imported, MemberStatus
from relaylane.store.schema import list_members

NOW = 1_700_000_000.0


def contact(
    email: str,
    line: int = 2,
    subscribed_at: float | None = None,
    source: str | None = None,
    **attributes: str,
) -> Contact:
    return Contact(line, email, address_key(email), attributes, subscribed_at, source)


def unsubscribe(store: Store, list_id: int, email: str) -> None:
    found = store.contacts.show(email)
    assert found is not None
    with store.engine.begin() as conn:
        conn.execute(
            list_members.update()
            .values(status=MemberStatus.UNSUBSCRIBED)
            .where(list_members.c.list_id == list_id, list_members.c.contact_id == found.id)
        )


def test_ensure_list_is_idempotent(store: Store) -> None:
    first = store.contacts.ensure_list("news")
    assert store.contacts.ensure_list("news") == first
    assert store.contacts.ensure_list("other") != first


def test_import_inserts_then_merges_attributes_new_values_win(store: Store) -> None:
    news = store.contacts.ensure_list("news")
    done = store.contacts.import_batch(
        news,
        [
            contact("ann@a.test", first_name="Ann", city="Oslo"),
            contact("bob@b.test", 3, 1_600_000_000.0, "signup form", first_name="Bob"),
        ],
        NOW,
    )
    assert done == Imported(new=2, updated=0, kept_unsubscribed=0)

    again = store.contacts.import_batch(
        news, [contact("ANN@a.test", first_name="Annie", plan="pro")], NOW + 10
    )
    assert again == Imported(new=0, updated=1, kept_unsubscribed=0)
    ann = store.contacts.show("ann@A.test")
    assert ann is not None
    assert ann.email == "ANN@a.test"  # the latest spelling
    assert ann.attributes == {"first_name": "Annie", "city": "Oslo", "plan": "pro"}
    assert (ann.created_at, ann.updated_at) == (NOW, NOW + 10)
    assert [(m.list, m.status, m.added_at) for m in ann.lists] == [
        ("news", MemberStatus.SUBSCRIBED, NOW)
    ]

    bob = store.contacts.show("bob@b.test")
    assert bob is not None
    assert [(m.subscribed_at, m.source) for m in bob.lists] == [(1_600_000_000.0, "signup form")]


def test_consent_facts_refreshed_only_where_the_row_gives_them(store: Store) -> None:
    news = store.contacts.ensure_list("news")
    store.contacts.import_batch(news, [contact("c@c.test", 2, 100.0, "fair")], NOW)
    store.contacts.import_batch(news, [contact("c@c.test", 2, None, "web")], NOW + 1)
    found = store.contacts.show("c@c.test")
    assert found is not None
    assert [(m.subscribed_at, m.source) for m in found.lists] == [(100.0, "web")]


def test_an_unsubscribed_member_is_not_resubscribed(store: Store) -> None:
    news = store.contacts.ensure_list("news")
    other = store.contacts.ensure_list("other")
    store.contacts.import_batch(news, [contact("u@u.test"), contact("s@s.test")], NOW)
    unsubscribe(store, news, "u@u.test")

    done = store.contacts.import_batch(
        news, [contact("u@u.test", 2, 5.0, "again", x="1"), contact("s@s.test")], NOW + 1
    )
    assert done == Imported(new=0, updated=2, kept_unsubscribed=1)
    found = store.contacts.show("u@u.test")
    assert found is not None
    assert found.attributes == {"x": "1"}  # the contact itself is still updated
    assert [(m.list, m.status, m.subscribed_at) for m in found.lists] == [
        ("news", MemberStatus.UNSUBSCRIBED, None)
    ]

    # another list is another consent: joining it is fine
    assert store.contacts.import_batch(other, [contact("u@u.test")], NOW + 2).kept_unsubscribed == 0
    found = store.contacts.show("u@u.test")
    assert found is not None
    assert [(m.list, m.status) for m in found.lists] == [
        ("news", MemberStatus.UNSUBSCRIBED),
        ("other", MemberStatus.SUBSCRIBED),
    ]


def test_a_batch_naming_an_address_twice_keeps_one_contact(store: Store) -> None:
    news = store.contacts.ensure_list("news")
    done = store.contacts.import_batch(
        news, [contact("d@d.test", a="1", b="1"), contact("D@d.test", 3, b="2")], NOW
    )
    assert done == Imported(new=1, updated=0, kept_unsubscribed=0)
    found = store.contacts.show("d@d.test")
    assert found is not None
    assert found.attributes == {"a": "1", "b": "2"}


def test_large_batches_are_split_and_counted(store: Store) -> None:
    news = store.contacts.ensure_list("news")
    batch = [contact(f"p{i}@bulk.test", i + 2, n=str(i)) for i in range(2500)]
    assert store.contacts.import_batch(news, batch, NOW) == Imported(2500, 0, 0)
    assert store.contacts.import_batch(news, batch[:1200], NOW + 1) == Imported(0, 1200, 0)
    with store.engine.connect() as conn:
        members = conn.execute(sa.select(sa.func.count()).select_from(list_members)).scalar()
    assert members == 2500


def test_list_contacts_pages_by_id_and_filters_by_list(store: Store) -> None:
    news = store.contacts.ensure_list("news")
    other = store.contacts.ensure_list("other")
    store.contacts.import_batch(news, [contact(f"n{i}@x.test", i + 2) for i in range(5)], NOW)
    store.contacts.import_batch(other, [contact("o@x.test", a="b")], NOW)

    everyone = store.contacts.list_contacts(limit=100)
    assert [r.email for r in everyone] == [f"n{i}@x.test" for i in range(5)] + ["o@x.test"]
    assert all(r.status is None for r in everyone)
    page = store.contacts.list_contacts(limit=2, after_id=everyone[1].id)
    assert [r.email for r in page] == ["n2@x.test", "n3@x.test"]

    on_other = store.contacts.list_contacts("other")
    assert [(r.email, r.attributes, r.status) for r in on_other] == [
        ("o@x.test", {"a": "b"}, MemberStatus.SUBSCRIBED)
    ]
    with pytest.raises(NotFoundError):
        store.contacts.list_contacts("missing")


def test_delete_erases_the_contact_and_its_memberships(store: Store) -> None:
    news = store.contacts.ensure_list("news")
    other = store.contacts.ensure_list("other")
    store.contacts.import_batch(news, [contact("e@e.test", a="1"), contact("k@k.test")], NOW)
    store.contacts.import_batch(other, [contact("e@e.test")], NOW)

    assert store.contacts.delete("E@e.test") is True  # matched on the suppression key
    assert store.contacts.show("e@e.test") is None
    assert store.contacts.delete("e@e.test") is False
    assert [r.email for r in store.contacts.list_contacts()] == ["k@k.test"]
    with store.engine.connect() as conn:
        left = conn.execute(sa.select(list_members.c.list_id)).scalars().all()
    assert left == [news]  # k@k.test's membership only


def test_delete_unknown_is_false(store: Store) -> None:
    assert store.contacts.delete("nobody@x.test") is False
    assert store.contacts.show("nobody@x.test") is None
