"""Open and click events at rest (`tracking_events`) and their counts per campaign.

An event is attributed when it is recorded, in the same INSERT ... SELECT that writes it:
campaign, contact and relay are copied from the delivery's row, so counts per campaign
and per relay need no join, and an event stays attributed to the relay that carried the
message even after the delivery rows are purged.

Counts are of fetches, not of people: an image proxy (Apple Mail Privacy Protection,
Gmail's proxy) may fetch the pixel without anyone reading, and link scanners follow links
before the recipient does. `unique_*` counts distinct deliveries (one per contact per
campaign).

Erasure: `erase_contact` deletes a contact's events; `SqlContacts.delete` calls it in its
own transaction, so erasing a contact erases its opens and clicks with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from relaylane.store.engine import reading
from relaylane.store.schema import deliveries, tracking_events
from relaylane.tracking import TrackingKind

__all__ = ["NO_RELAY", "SqlTracking", "erase_contact_events"]

D = deliveries.c
T = tracking_events.c

NO_RELAY = ""  # counts_by_relay's key for events of deliveries with no relay recorded
_CHUNK = 500  # contact ids per IN list in last_engagement


class SqlTracking:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def record(self, kind: str, delivery_id: int, url: str | None, now: float) -> bool:
        """Record an open or a click of a delivery, attributed to its campaign, contact and
        relay in the same statement. False (nothing recorded) when the delivery does not
        exist. `url` is the click's target (None for opens)."""
        kind = TrackingKind(kind).value  # ValueError for anything else
        source = sa.select(
            sa.literal(now, sa.Float),
            sa.literal(kind, sa.String),
            D.id,
            D.campaign_id,
            D.contact_id,
            D.relay,
            sa.literal(url, sa.Text),
        ).where(D.id == delivery_id)
        stmt = (
            tracking_events.insert()
            .from_select(
                ["at", "kind", "delivery_id", "campaign_id", "contact_id", "relay", "url"], source
            )
            .returning(T.id)
        )
        with self.engine.begin() as conn:
            return conn.execute(stmt).first() is not None

    def campaign_counts(self, campaign_id: int) -> dict[str, int]:
        """opens, unique_opens, clicks and unique_clicks of a campaign (zeros when none)."""
        stmt = _counts().where(T.campaign_id == campaign_id).group_by(T.kind)
        counts = _zeros()
        with reading(self.engine) as conn:
            for row in conn.execute(stmt):
                _add(counts, row.kind, row.total, row.deliveries)
        return counts

    def counts_by_relay(self, campaign_id: int) -> dict[str, dict[str, int]]:
        """The same counts per relay that carried the message (`NO_RELAY` for none)."""
        stmt = (
            _counts(T.relay)
            .where(T.campaign_id == campaign_id)
            .group_by(T.relay, T.kind)
            .order_by(T.relay)
        )
        out: dict[str, dict[str, int]] = {}
        with reading(self.engine) as conn:
            for row in conn.execute(stmt):
                counts = out.setdefault(row.relay or NO_RELAY, _zeros())
                _add(counts, row.kind, row.total, row.deliveries)
        return out

    def last_engagement(
        self, contact_ids: Sequence[int]
    ) -> dict[int, tuple[float | None, float | None]]:
        """(last open at, last click at) for each contact id asked for; (None, None) for
        one without events."""
        out: dict[int, tuple[float | None, float | None]] = dict.fromkeys(contact_ids, (None, None))
        ids = sorted(set(contact_ids))
        with reading(self.engine) as conn:
            for start in range(0, len(ids), _CHUNK):
                stmt = (
                    sa.select(
                        T.contact_id,
                        sa.func.max(sa.case((T.kind == TrackingKind.OPEN.value, T.at))),
                        sa.func.max(sa.case((T.kind == TrackingKind.CLICK.value, T.at))),
                    )
                    .where(T.contact_id.in_(ids[start : start + _CHUNK]))
                    .group_by(T.contact_id)
                )
                for contact_id, last_open, last_click in conn.execute(stmt):
                    out[contact_id] = (last_open, last_click)
        return out

    def erase_contact(self, conn: sa.Connection | None, contact_id: int) -> int:
        """Delete every event of a contact, in `conn`'s transaction or in one of its own;
        the number of events deleted."""
        if conn is not None:
            return erase_contact_events(conn, contact_id)
        with self.engine.begin() as own:
            return erase_contact_events(own, contact_id)


def erase_contact_events(conn: sa.Connection, contact_id: int) -> int:
    """Delete every tracking event of a contact in `conn`'s transaction (erasure)."""
    result = conn.execute(tracking_events.delete().where(T.contact_id == contact_id))
    return int(result.rowcount)


def _counts(*columns: sa.ColumnElement[object]) -> sa.Select[tuple[object, ...]]:
    return sa.select(
        *columns,
        T.kind,
        sa.func.count().label("total"),
        sa.func.count(sa.distinct(T.delivery_id)).label("deliveries"),
    )


def _zeros() -> dict[str, int]:
    return {"opens": 0, "unique_opens": 0, "clicks": 0, "unique_clicks": 0}


def _add(counts: dict[str, int], kind: str, total: int, unique: int) -> None:
    name = "opens" if kind == TrackingKind.OPEN.value else "clicks"
    counts[name] += int(total)
    counts[f"unique_{name}"] += int(unique)
