"""Contacts and list membership at rest: what `relaylane contacts` reads and writes.

A contact is one row per address (`email_key`, the suppression key, is unique) with its
custom fields as a JSON object; a list member row joins a contact to a list with the
consent facts of that list (`subscribed_at`, `source`) and a status (`subscribed`,
`pending`, `unsubscribed`).

Import (`import_batch`) upserts a batch of valid CSV rows in one transaction: a new
address is inserted; a known one has its attributes merged (the new values win, fields
the row leaves empty are kept) and its address spelling updated. Membership: a contact
not yet on the list joins it as `subscribed` with the row's `subscribed_at` and `source`;
an existing `subscribed` or `pending` member keeps its status and takes the row's consent
facts where the row gives them; an `unsubscribed` member stays unsubscribed (an import
never resubscribes anyone: the person said no) and is counted.

Concurrent imports of the same new address are safe (the insert does nothing on
conflict and the row is then treated as known); two imports updating the same contact at
the same moment merge attributes read before either wrote, so one may lose the other's
new fields.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from relaylane.contacts.csv_rows import Contact
from relaylane.errors import NotFoundError
from relaylane.policy.suppression import address_key
from relaylane.store.engine import reading
from relaylane.store.schema import contacts, list_members, lists
from relaylane.store.tracking import erase_contact_events
from relaylane.store.upsert import insert_for

C = contacts.c
L = lists.c
M = list_members.c

BATCH = 1000  # contacts per transaction in import_batch


class MemberStatus:
    """The values of `list_members.status`."""

    SUBSCRIBED = "subscribed"  # may be sent the list's mail
    PENDING = "pending"  # double opt-in: waiting for the confirmation
    UNSUBSCRIBED = "unsubscribed"  # said no; never resubscribed by an import


@dataclass(frozen=True, slots=True)
class Imported:
    """What one `import_batch` did."""

    new: int  # contacts inserted
    updated: int  # contacts that existed (attributes merged)
    kept_unsubscribed: int  # members of the list who had unsubscribed and stay so


@dataclass(frozen=True, slots=True)
class ContactRow:
    id: int
    email: str
    attributes: dict[str, str]
    created_at: float
    updated_at: float
    status: str | None = None  # membership status when listing one list


@dataclass(frozen=True, slots=True)
class Membership:
    list: str
    status: str
    subscribed_at: float | None
    source: str | None
    added_at: float


@dataclass(frozen=True, slots=True)
class ContactDetail:
    id: int
    email: str
    attributes: dict[str, str]
    created_at: float
    updated_at: float
    lists: list[Membership]


class SqlContacts:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def ensure_list(self, name: str, double_opt_in: bool | None = None) -> int:
        """The id of the list `name`, created (single opt-in unless `double_opt_in`) if it
        does not exist; `double_opt_in` True or False also sets an existing list's rule."""
        with self.engine.begin() as conn:
            conn.execute(
                insert_for(conn, lists)
                .values(name=name, created_at=time.time(), double_opt_in=bool(double_opt_in))
                .on_conflict_do_nothing(index_elements=["name"])
            )
            found: int = conn.execute(sa.select(L.id).where(L.name == name)).scalar_one()
            if double_opt_in is not None:
                conn.execute(
                    lists.update().where(L.id == found).values(double_opt_in=double_opt_in)
                )
        return found

    def pending_since(self, list_id: int, since: float) -> list[tuple[int, str]]:
        """(contact id, email) of the list's members waiting for their confirmation who
        were added at or after `since` (an import's new members)."""
        stmt = (
            sa.select(M.contact_id, C.email)
            .join(contacts, C.id == M.contact_id)
            .where(M.list_id == list_id, M.status == MemberStatus.PENDING, M.added_at >= since)
            .order_by(M.contact_id)
        )
        with reading(self.engine) as conn:
            return [(cid, email) for cid, email in conn.execute(stmt)]

    def confirm(self, list_id: int, contact_id: int, now: float) -> bool | None:
        """A pending member confirmed (double opt-in): subscribed from now. True when it
        changed now, False when it was already subscribed, None when there is no such
        pending or subscribed member (unsubscribed members stay unsubscribed)."""
        with self.engine.begin() as conn:
            status = conn.execute(
                sa.select(M.status).where(M.list_id == list_id, M.contact_id == contact_id)
            ).scalar()
            if status == MemberStatus.SUBSCRIBED:
                return False
            if status != MemberStatus.PENDING:
                return None
            conn.execute(
                list_members.update()
                .where(M.list_id == list_id, M.contact_id == contact_id)
                .values(
                    status=MemberStatus.SUBSCRIBED,
                    subscribed_at=now,
                    source=sa.func.coalesce(M.source, "double opt-in"),
                )
            )
        return True

    def list_name(self, list_id: int) -> str | None:
        with reading(self.engine) as conn:
            return conn.execute(sa.select(L.name).where(L.id == list_id)).scalar()

    def import_batch(self, list_id: int, batch: Sequence[Contact], now: float) -> Imported:
        """Upsert contacts and their membership of `list_id`: one transaction per
        `BATCH` (1,000) contacts (see the module docstring for the rules)."""
        new = updated = kept = 0
        for start in range(0, len(batch), BATCH):
            with self.engine.begin() as conn:
                done = _import_chunk(conn, list_id, batch[start : start + BATCH], now)
            new += done.new
            updated += done.updated
            kept += done.kept_unsubscribed
        return Imported(new, updated, kept)

    def list_contacts(
        self, list_name: str | None = None, *, limit: int = 100, after_id: int = 0
    ) -> list[ContactRow]:
        """Contacts by id after `after_id` (keyset paging), at most `limit`; with
        `list_name`, only that list's members, with their status. Raises NotFoundError
        for an unknown list."""
        with reading(self.engine) as conn:
            if list_name is None:
                stmt = sa.select(C.id, C.email, C.attributes, C.created_at, C.updated_at)
            else:
                list_id = conn.execute(sa.select(L.id).where(L.name == list_name)).scalar()
                if list_id is None:
                    raise NotFoundError(
                        f"no list named {list_name!r}; see `relaylane contacts list`"
                    )
                stmt = (
                    sa.select(C.id, C.email, C.attributes, C.created_at, C.updated_at, M.status)
                    .join(list_members, M.contact_id == C.id)
                    .where(M.list_id == list_id)
                )
            stmt = stmt.where(C.id > after_id).order_by(C.id).limit(limit)
            return [
                ContactRow(
                    r.id,
                    r.email,
                    json.loads(r.attributes),
                    r.created_at,
                    r.updated_at,
                    r.status if list_name is not None else None,
                )
                for r in conn.execute(stmt)
            ]

    def show(self, email: str) -> ContactDetail | None:
        """The contact at `email` (matched on its suppression key) with its lists."""
        with reading(self.engine) as conn:
            row = conn.execute(sa.select(contacts).where(C.email_key == address_key(email))).first()
            if row is None:
                return None
            members = conn.execute(
                sa.select(L.name, M.status, M.subscribed_at, M.source, M.added_at)
                .join(lists, L.id == M.list_id)
                .where(M.contact_id == row.id)
                .order_by(L.name)
            )
            return ContactDetail(
                row.id,
                row.email,
                json.loads(row.attributes),
                row.created_at,
                row.updated_at,
                [Membership(*m) for m in members],
            )

    def delete(self, email: str) -> bool:
        """Erase the contact at `email`: its row, attributes, every list membership and
        its opens and clicks, in one transaction. False when there is no such contact.

        This is erasure (a person's request to be forgotten), not unsubscribing. The
        contact's opens and clicks (`tracking_events`) are erased in the same
        transaction. Suppression entries are not contacts and are kept: they are what
        stops mail to the address if it is imported again.
        """
        with self.engine.begin() as conn:
            contact_id = conn.execute(
                sa.select(C.id).where(C.email_key == address_key(email))
            ).scalar()
            if contact_id is None:
                return False
            erase_contact_events(conn, contact_id)
            conn.execute(list_members.delete().where(M.contact_id == contact_id))
            conn.execute(contacts.delete().where(C.id == contact_id))
        return True


def _attributes_json(attributes: dict[str, str]) -> str:
    return json.dumps(attributes, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _import_chunk(
    conn: sa.Connection, list_id: int, chunk: Sequence[Contact], now: float
) -> Imported:
    # The reader drops duplicates; should a batch still name an address twice, the later
    # row wins (its attributes merged over the earlier one's).
    by_key: dict[str, Contact] = {}
    merged: dict[str, dict[str, str]] = {}
    for contact in chunk:
        merged[contact.email_key] = {**merged.get(contact.email_key, {}), **contact.attributes}
        by_key[contact.email_key] = contact
    if not by_key:
        return Imported(0, 0, 0)
    keys = list(by_key)  # file order: ids follow the file

    known_before = {
        r.email_key for r in conn.execute(sa.select(C.email_key).where(C.email_key.in_(keys)))
    }
    fresh = [
        {
            "email": by_key[k].email,
            "email_key": k,
            "attributes": _attributes_json(merged[k]),
            "created_at": now,
            "updated_at": now,
        }
        for k in keys
        if k not in known_before
    ]
    inserted: set[str] = set()
    if fresh:
        stmt = (
            insert_for(conn, contacts)
            .on_conflict_do_nothing(index_elements=["email_key"])
            .returning(C.email_key)
        )
        inserted = set(conn.execute(stmt, fresh).scalars())
    # Who is in the table now; a key inserted by someone else since our select counts as
    # known (its attributes are merged below like any other).
    rows = conn.execute(
        sa.select(C.id, C.email_key, C.attributes).where(C.email_key.in_(keys))
    ).all()
    ids: dict[str, int] = {}
    updates = []
    for r in rows:
        ids[r.email_key] = r.id
        if r.email_key in inserted:
            continue
        attributes = {**json.loads(r.attributes), **merged[r.email_key]}
        updates.append(
            {
                "b_id": r.id,
                "b_email": by_key[r.email_key].email,
                "b_attributes": _attributes_json(attributes),
                "b_updated_at": now,
            }
        )
    if updates:
        conn.execute(
            contacts.update()
            .where(C.id == sa.bindparam("b_id"))
            .values(
                email=sa.bindparam("b_email"),
                attributes=sa.bindparam("b_attributes"),
                updated_at=sa.bindparam("b_updated_at"),
            ),
            updates,
        )

    status_of = {
        r.contact_id: r.status
        for r in conn.execute(
            sa.select(M.contact_id, M.status).where(
                M.list_id == list_id, M.contact_id.in_(sorted(ids.values()))
            )
        )
    }
    joins = []
    refreshes = []
    kept = 0
    double = bool(conn.execute(sa.select(L.double_opt_in).where(L.id == list_id)).scalar())
    for key, contact_id in ids.items():
        contact = by_key[key]
        status = status_of.get(contact_id)
        if status is None:
            joins.append(
                {
                    "list_id": list_id,
                    "contact_id": contact_id,
                    # double opt-in: consent counts from the confirmation
                    "status": MemberStatus.PENDING if double else MemberStatus.SUBSCRIBED,
                    "subscribed_at": None if double else contact.subscribed_at,
                    "source": contact.source,
                    "added_at": now,
                }
            )
        elif status == MemberStatus.UNSUBSCRIBED:
            kept += 1
        elif contact.subscribed_at is not None or contact.source is not None:
            refreshes.append(
                {
                    "b_contact_id": contact_id,
                    "b_subscribed_at": contact.subscribed_at,
                    "b_source": contact.source,
                }
            )
    if joins:
        conn.execute(
            insert_for(conn, list_members).on_conflict_do_nothing(
                index_elements=["list_id", "contact_id"]
            ),
            joins,
        )
    if refreshes:
        conn.execute(
            list_members.update()
            .where(M.list_id == list_id, M.contact_id == sa.bindparam("b_contact_id"))
            .values(
                subscribed_at=sa.func.coalesce(
                    sa.bindparam("b_subscribed_at", type_=sa.Float), M.subscribed_at
                ),
                source=sa.func.coalesce(sa.bindparam("b_source", type_=sa.String), M.source),
            ),
            refreshes,
        )
    return Imported(len(inserted), len(ids) - len(inserted), kept)


__all__ = [
    "BATCH",
    "ContactDetail",
    "ContactRow",
    "Imported",
    "MemberStatus",
    "Membership",
    "SqlContacts",
]
