"""Retention: pruning keeps everything a live delivery or a suppression still points to,
removes what is old and final, in batches; a dry run changes nothing; counts and the
audit entry are right; `db prune` and `db size` from the command line. Data is aged
with an injected `now`, never by sleeping. SQLite and PostgreSQL (the `store` fixture)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sqlalchemy as sa

from relaylane.config import Config, load_config_data
from relaylane.store import Store
from relaylane.store.retention import KINDS, cutoffs_for, prune
from relaylane.store.schema import (
    attempts,
    campaigns,
    deliveries,
    feedback,
    lists,
    messages,
    metric_buckets,
    suppressions,
    tracking_events,
)
from tests.cli_run import run
from tests.helpers import lane, queue, relay, signing_domains

DAY = 86_400.0
T0 = 1_700_000_000.0
NOW = T0 + 200 * DAY  # bodies 7d, attempts 90d, tracking 180d (defaults): all old at T0
D = deliveries.c


def config(store_url: str, tmp_path: Path, **retention: Any) -> Config:
    data = {
        "store": {"url": store_url},
        "domain": signing_domains(),
        "retention": retention,
        "relay": [relay("r1", 2599)],
        "lane": [lane("tx", ["r1"])],
    }
    return load_config_data(data, source="<test>", base_dir=tmp_path, env={})


def finish(store: Store, ids: list[int], state: str, at: float, **extra: Any) -> None:
    with store.engine.begin() as conn:
        conn.execute(
            deliveries.update()
            .where(D.id.in_(ids))
            .values(**{"state": state, "updated_at": at, "due_at": None, **extra})
        )


def attempt(conn: sa.Connection, delivery_id: int, at: float) -> None:
    conn.execute(
        attempts.insert().values(
            delivery_id=delivery_id,
            at=at,
            relay="r1",
            stage="data",
            code=250,
            reply="250 ok",
            outcome="sent",
            bounce_class="none",
            duration_ms=1.0,
        )
    )


def finding(conn: sa.Connection, delivery_id: int | None, at: float) -> None:
    conn.execute(
        feedback.insert().values(
            received_at=at,
            source="receiver",
            kind="dsn",
            event="bounced",
            delivery_id=delivery_id,
            bounce_class="invalid_recipient",
            action="suppressed",
            raw=b"x" * 100,
        )
    )


def opened(conn: sa.Connection, delivery_id: int, at: float) -> None:
    conn.execute(tracking_events.insert().values(at=at, kind="open", delivery_id=delivery_id))


def suppress(
    conn: sa.Connection, address: str, expires_at: float | None, delivery_id: int | None = None
) -> None:
    conn.execute(
        suppressions.insert().values(
            address_key=address,
            address=address,
            scope_kind="global",
            scope_name="",
            reason="hard_bounce",
            source="bounce",
            created_at=T0,
            expires_at=expires_at,
            delivery_id=delivery_id,
        )
    )


def bucket(conn: sa.Connection, start: float) -> None:
    conn.execute(
        metric_buckets.insert().values(
            relay="r1",
            resolution="hour",
            start=start,
            provider="",
            lane="tx",
            campaign="",
            metric="sent",
            n=3,
        )
    )


class World:
    """A store with one of each case; the ids of what must stay and what must go."""

    def __init__(self, store: Store, cfg: Config) -> None:
        self.store = store
        q = lambda *rcpts: queue(store, cfg, "tx", list(rcpts), T0)  # noqa: E731
        self.old = q("a1@x.test", "a2@x.test")  # all final long ago: body goes
        self.mixed = q("b1@x.test", "b2@x.test")  # one still deferred: body stays
        self.source = q("c1@x.test")  # bounced, a suppression's source: evidence stays
        self.recent = q("d1@x.test")  # final only yesterday: everything stays
        self.owed = q("e1@x.test")  # failed, a DSN still owed to its submitter
        self.campaign = q("f1@x.test")  # a finished campaign's message: may retry-failed
        finish(store, self.old, "sent", T0)
        finish(store, self.mixed[:1], "sent", T0)
        finish(store, self.mixed[1:], "deferred", T0, due_at=NOW + 60)
        finish(store, self.source, "bounced", T0)
        finish(store, self.recent, "sent", NOW - DAY)
        finish(store, self.owed, "failed", T0)
        finish(store, self.campaign, "sent", T0)
        with store.engine.begin() as conn:
            owed_msg = conn.execute(sa.select(D.message_id).where(D.id == self.owed[0]))
            conn.execute(
                messages.update().where(messages.c.id == owed_msg.scalar_one()).values(notify="dsn")
            )
            conn.execute(lists.insert().values(id=1, name="news", created_at=T0))
            camp_msg = conn.execute(sa.select(D.message_id).where(D.id == self.campaign[0]))
            conn.execute(
                campaigns.insert().values(
                    name="spring",
                    list_id=1,
                    template="t",
                    lane="tx",
                    from_header="a@tx.acme.test",
                    strategy="sticky",
                    state="finished",
                    created_at=T0,
                    message_id=camp_msg.scalar_one(),
                )
            )
            everyone = self.old + self.mixed + self.source + self.recent
            for did in everyone:
                attempt(conn, did, T0)
                finding(conn, did, T0)
                opened(conn, did, T0)
            opened(conn, self.recent[0], NOW - DAY)
            finding(conn, None, T0)  # unmatched, old: goes
            finding(conn, None, NOW - DAY)  # unmatched, recent: stays
            suppress(conn, "c1@x.test", None, delivery_id=self.source[0])
            suppress(conn, "gone@x.test", NOW - DAY)  # expired: goes
            suppress(conn, "later@x.test", NOW + DAY)  # not yet expired: stays
            bucket(conn, NOW - 401 * DAY)  # goes
            bucket(conn, NOW - 10 * DAY)  # stays

    # what a full run at NOW removes, per kind
    expected: ClassVar[dict[str, int]] = {
        "suppressions": 1,
        "bodies": 2,  # old, source (emptied: the row stays for the suppression)
        "attempts": 3,  # old x2, mixed's sent one
        "feedback": 4,  # the same three, and the old unmatched one
        "tracking": 4,  # by age: old x2, mixed's sent one, recent's first (not: deferred, source)
        "metrics": 1,
    }

    def snapshot(self) -> dict[str, Any]:
        with self.store.engine.connect() as conn:
            counts = {
                t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
                for t in (
                    attempts,
                    feedback,
                    tracking_events,
                    suppressions,
                    metric_buckets,
                    deliveries,
                    messages,
                )
            }
            bodies = dict(
                conn.execute(
                    sa.select(D.id, sa.func.length(messages.c.body)).join(
                        messages, messages.c.id == D.message_id
                    )
                ).all()
            )
        return {"counts": counts, "bodies": bodies}

    def of(self, table: sa.Table, ids: list[int]) -> int:
        with self.store.engine.connect() as conn:
            stmt = sa.select(sa.func.count()).select_from(table)
            return int(conn.execute(stmt.where(table.c.delivery_id.in_(ids))).scalar_one())


@pytest.mark.postgres
def test_prune_keeps_what_is_referenced_and_removes_what_is_old(
    store: Store, tmp_path: Path
) -> None:
    cfg = config(store.engine.url.render_as_string(hide_password=False), tmp_path)
    w = World(store, cfg)
    before = w.snapshot()

    dry = prune(store.engine, cfg, NOW, actor="operator:ann", dry_run=True, batch=2)
    assert dry.counts == w.expected
    assert w.snapshot() == before  # a dry run changes nothing
    assert store.audit.entries(action="db.prune") == []

    done = prune(store.engine, cfg, NOW, actor="operator:ann", batch=2, pause=lambda: None)
    assert done.counts == w.expected
    assert done.batches > len(KINDS)  # windows of two rows, each its own transaction
    after = w.snapshot()
    bodies = after["bodies"]
    for did in w.old + w.source:
        assert bodies[did] == 0
    for did in w.mixed + w.recent + w.owed + w.campaign:
        assert bodies[did] > 0
    assert after["counts"]["deliveries"] == before["counts"]["deliveries"]  # never deleted
    assert after["counts"]["messages"] == before["counts"]["messages"]
    # live delivery, suppression source and recent delivery keep every row
    for ids in (w.mixed[1:], w.source, w.recent):
        assert w.of(attempts, ids) == 1
        assert w.of(feedback, ids) == 1
    assert w.of(tracking_events, w.recent) == 1  # yesterday's open
    assert w.of(tracking_events, w.mixed[1:] + w.source) == 2
    assert w.of(attempts, w.old) == w.of(feedback, w.old) == w.of(tracking_events, w.old) == 0
    with store.engine.connect() as conn:
        left = set(conn.execute(sa.select(suppressions.c.address)).scalars())
        pruned_at = conn.execute(
            sa.select(messages.c.pruned_at).where(messages.c.body == b"")
        ).scalars()
        assert set(pruned_at) == {NOW}
        starts = list(conn.execute(sa.select(metric_buckets.c.start)).scalars())
    assert left == {"c1@x.test", "later@x.test"}
    assert starts == [NOW - 10 * DAY]

    [entry] = store.audit.entries(action="db.prune")
    assert entry.actor == "operator:ann" and entry.effect == w.expected

    again = prune(store.engine, cfg, NOW, actor="operator:ann")
    assert again.total == 0  # idempotent


@pytest.mark.postgres
def test_bodies_wait_for_the_last_delivery_to_be_final_long_enough(
    store: Store, tmp_path: Path
) -> None:
    cfg = config(store.engine.url.render_as_string(hide_password=False), tmp_path)
    [a, b] = queue(store, cfg, "tx", ["a@x.test", "b@x.test"], T0)
    finish(store, [a], "sent", T0)
    finish(store, [b], "bounced", T0 + 5 * DAY)  # the last one final on day 5
    assert prune(store.engine, cfg, T0 + 11 * DAY, actor="t").counts["bodies"] == 0
    assert prune(store.engine, cfg, T0 + 12.5 * DAY, actor="t").counts["bodies"] == 1
    # a shorter [retention] bodies applies
    short = config(
        str(store.engine.url.render_as_string(hide_password=False)), tmp_path, bodies="1h"
    )
    [c] = queue(store, cfg, "tx", ["c@x.test"], T0)
    finish(store, [c], "sent", T0 + 13 * DAY)
    assert prune(store.engine, short, T0 + 13 * DAY + 7200, actor="t").counts["bodies"] == 1


def test_the_attempts_limit_never_undercuts_the_mailbox_full_window(tmp_path: Path) -> None:
    cfg = config("sqlite:///x.db", tmp_path, attempts="1d")
    cut = cutoffs_for(cfg, NOW)
    assert cut.attempts == NOW - 14 * DAY  # the default mailbox_full_window
    assert cut.bodies == NOW - 7 * DAY and cut.tracking == NOW - 180 * DAY


def test_retention_config_names_defaults_and_refuses_unknown_keys(tmp_path: Path) -> None:
    cfg = config("sqlite:///x.db", tmp_path)
    r = cfg.retention
    assert (r.bodies, r.attempts, r.tracking, r.metrics) == (
        7 * DAY,
        90 * DAY,
        180 * DAY,
        400 * DAY,
    )
    assert (r.batch, r.interval) == (500, 300.0)
    from relaylane.errors import ConfigError

    with pytest.raises(ConfigError) as bad:
        config("sqlite:///x.db", tmp_path, bodys="7d")
    assert "bodys" in bad.value.render()
    with pytest.raises(ConfigError):
        config("sqlite:///x.db", tmp_path, batch=0)


def _toml(tmp_path: Path, url: str) -> str:
    path = tmp_path / "relaylane.toml"
    path.write_text(
        f'[store]\nurl = "{url}"\n\n[[relay]]\nname = "r1"\nhost = "127.0.0.1"\n'
        'port = 2599\ntls = "none"\n\n[[lane]]\nname = "tx"\npurpose = "transactional"\n'
        'relays = ["r1"]\n'
    )
    return str(path)


@pytest.mark.postgres
def test_db_prune_and_size_from_the_command_line(store: Store, tmp_path: Path) -> None:
    url = store.engine.url.render_as_string(hide_password=False)
    cfg = config(url, tmp_path)
    World(store, cfg)  # data of T0: old enough for everything at today's time
    path = _toml(tmp_path, url)

    code, out = run("db", "size", "--config", path, "--json")
    assert code == 0, out
    size = json.loads(out)
    assert size["method"] in ("dbstat", "estimate (value lengths)", "pg_total_relation_size")
    kinds = size["kinds"]
    for kind in ("bodies", "deliveries", "attempts", "feedback", "tracking", "metrics"):
        assert kinds[kind]["rows"] > 0 and kinds[kind]["bytes"] > 0, kind
    assert kinds["bodies"]["rows"] == 6 and kinds["deliveries"]["rows"] == 8
    code, out = run("db", "size", "--config", path)
    assert code == 0 and "bodies" in out and size["method"] in " ".join(out.split())

    code, out = run("db", "prune", "--dry-run", "--config", path, "--json")
    assert code == 0, out
    dry = json.loads(out)
    # today is long after T0: the "recent" message of World is old too
    assert dry["dry_run"] is True and dry["counts"]["bodies"] == 3
    assert store.audit.entries(action="db.prune") == []
    code, out = run("db", "prune", "--config", path)
    assert code == 0, out
    assert "pruned" in out and "bodies" in out
    [entry] = store.audit.entries(action="db.prune")
    assert entry.actor.startswith("operator:") and entry.effect["bodies"] == 3


def test_serve_prunes_in_the_background(tmp_path: Path) -> None:
    import asyncio

    from relaylane.serve.retention import Pruner
    from relaylane.store import open_store

    url = f"sqlite:///{tmp_path / 'serve.db'}"
    store = open_store(url)
    cfg = config(url, tmp_path, interval="50ms")
    World(store, cfg)

    class Clock:
        def now(self) -> float:
            return NOW

    async def main() -> None:
        task = asyncio.create_task(Pruner(cfg, store, Clock()).run())
        for _ in range(200):
            if store.audit.entries(action="db.prune"):
                break
            await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    asyncio.run(main())
    entries = store.audit.entries(action="db.prune")
    assert entries and entries[-1].actor == "serve"
    assert entries[-1].effect == World.expected  # later passes found nothing: no entry
    store.close()
