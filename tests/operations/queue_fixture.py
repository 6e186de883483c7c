"""A mixed queue for the queue-control tests: two lanes, three relays, two providers,
every waiting state, health and operator holds, failed (one a campaign's), sent and in
flight deliveries, old and new."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import sqlalchemy as sa

from relaylane.config import Config
from relaylane.store import Store
from relaylane.store.schema import campaigns, deliveries, lists
from tests.helpers import lane, make_config, queue, relay

D = deliveries.c
NOW = 1_800_000_000.0
HOUR = 3600.0


def mixed_config(store_url: str, tmp_path: Path, ports: tuple[int, int, int] = (1, 1, 1)) -> Config:
    return make_config(
        store_url,
        [relay("a", ports[0]), relay("b", ports[1]), relay("c", ports[2])],
        [lane("tx", ["a", "b"]), lane("news", ["c"], purpose="marketing")],
        tmp_path,
    )


# (lane, recipient, state, relay, provider, age in hours, extra columns)
ROWS: list[tuple[str, str, str, str | None, str | None, float, dict[str, Any]]] = [
    ("tx", "q1@gmail.example", "queued", None, None, 0.1, {}),
    ("tx", "q2@yahoo.example", "queued", "a", "yahoo", 3, {}),
    ("tx", "d1@gmail.example", "deferred", "a", "google", 2, {"pinned": True, "retries": 1}),
    ("tx", "d2@yahoo.example", "deferred", "b", "yahoo", 0.2, {"retries": 2}),
    ("tx", "b1@gmail.example", "blocked", "a", "google", 5, {"pinned": True, "retries": 1}),
    ("tx", "h1@gmail.example", "held", "a", "google", 4, {"pinned": True, "due_at": None,
                                                         "last_reply": "held on a: paused"}),
    ("tx", "s1@gmail.example", "sending", "a", "google", 6, {"due_at": None,
                                                             "lease_owner": "w1"}),
    ("tx", "f1@gmail.example", "failed", "a", "google", 30, {"due_at": None,
                                                             "bounce_class": "expired"}),
    ("tx", "f2@yahoo.example", "failed", "b", "yahoo", 1, {"due_at": None,
                                                           "bounce_class": "unclassified"}),
    ("tx", "ok@gmail.example", "sent", "a", "google", 2, {"due_at": None}),
    ("news", "n1@gmail.example", "queued", None, None, 0.5, {}),
    ("news", "n2@gmail.example", "deferred", "c", "google", 7, {"retries": 1}),
    ("news", "n3@yahoo.example", "blocked", "c", "yahoo", 1, {"pinned": True}),
    ("news", "n4@yahoo.example", "sending", "c", "yahoo", 9, {"due_at": None}),
    ("news", "n5@gmail.example", "failed", "c", "google", 3, {"due_at": None, "campaign": True}),
    ("news", "n6@gmail.example", "queued", "c", "google", 12, {"campaign": True}),
]  # fmt: skip


def build(store: Store, cfg: Config) -> dict[str, int]:
    """The queue above; returns delivery ids by recipient."""
    with store.engine.begin() as conn:
        made = conn.execute(lists.insert().values(name="people", created_at=NOW))
        lid = made.inserted_primary_key[0]  # type: ignore[index]
        cid = conn.execute(
            campaigns.insert().values(
                name="spring", list_id=lid, template="t", lane="news", from_header="x",
                strategy="sticky", state="running", created_at=NOW,
            )
        ).inserted_primary_key[0]  # type: ignore[index]  # fmt: skip
    ids: dict[str, int] = {}
    for i, (lane_name, rcpt, state, relay_name, provider, hours, extra) in enumerate(ROWS):
        [did] = queue(store, cfg, lane_name, [rcpt], NOW - hours * HOUR)
        extra = dict(extra)
        values: dict[str, Any] = {
            "state": state,
            "relay": relay_name,
            "provider": provider,
            "due_at": extra.pop("due_at", NOW - hours * HOUR),
            "contact_id": i if extra.get("campaign") else None,
            "campaign_id": cid if extra.pop("campaign", False) else None,
            **extra,
        }
        with store.engine.begin() as conn:
            conn.execute(deliveries.update().where(D.id == did).values(values))
        ids[rcpt] = did
    return ids


def snapshot(store: Store) -> dict[int, dict[str, Any]]:
    with store.engine.connect() as conn:
        return {r.id: dict(r._mapping) for r in conn.execute(sa.select(deliveries))}


def changed(before: dict[int, dict[str, Any]], after: dict[int, dict[str, Any]]) -> set[int]:
    return {i for i in before if before[i] != after[i]}
