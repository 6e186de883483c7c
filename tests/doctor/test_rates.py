"""Complaint rates per lane from the ledger, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from relaylane.doctor.rates import LaneRate, complaint_rates, rate_check
from relaylane.store import Store
from relaylane.store.schema import deliveries, feedback, messages

NOW = 1_800_000_000.0
DAY = 86_400.0


def add_sent(
    store: Store,
    lane: str,
    count: int,
    complaints: int = 0,
    *,
    age: float = DAY,
    state: str = "sent",
    now: float = NOW,
) -> None:
    """`count` deliveries in `lane` sent `age` seconds ago, the first `complaints` of
    them complained about."""
    sent_at = now - age
    with store.engine.begin() as conn:
        ref = f"{lane}-{state}-{age}-{count}"
        message_id = conn.execute(
            sa.insert(messages)
            .values(
                ref=ref[:32],
                created_at=sent_at,
                lane=lane,
                mail_from="a@news.acme.test",
                from_domain="news.acme.test",
                body=b"x",
                size=1,
                smtputf8=False,
            )
            .returning(messages.c.id)
        ).scalar_one()
        rows = [
            {
                "message_id": message_id,
                "lane": lane,
                "recipient": f"r{i}@example.test",
                "state": state,
                "created_at": sent_at,
                "updated_at": sent_at,
                "expires_at": now,
                "header_message_id": f"<{ref}.{i}@acme.test>",
                "header_prefix": b"",
                "sent_at": sent_at,
            }
            for i in range(count)
        ]
        conn.execute(sa.insert(deliveries), rows)
        ids = conn.execute(
            sa.select(deliveries.c.id).where(deliveries.c.message_id == message_id)
        ).scalars()
        for delivery_id in list(ids)[:complaints]:
            conn.execute(
                sa.insert(feedback).values(
                    received_at=now,
                    source="receiver",
                    kind="arf",
                    event="complained",
                    delivery_id=delivery_id,
                    bounce_class="none",
                    action="suppressed",
                )
            )


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("complaints", "status"), [(0, "pass"), (1, "warn"), (2, "warn"), (3, "fail")]
)
def test_thresholds(store: Store, complaints: int, status: str) -> None:
    add_sent(store, "news", 1000, complaints)
    rate = complaint_rates(store.engine, ["news"], NOW)["news"]
    assert (rate.sent, rate.complaints) == (1000, complaints)
    check = rate_check(rate)
    assert check.status == status
    assert f"{complaints} complaints / 1000 sent in 30 days" in check.reason
    assert "Gmail reports its own in Postmaster Tools" in check.reason


@pytest.mark.postgres
def test_only_the_lane_and_the_last_30_days_count(store: Store) -> None:
    add_sent(store, "news", 400, 1)
    add_sent(store, "news", 600, 0, state="delivered")
    add_sent(store, "news", 500, 5, age=31 * DAY)  # too old
    add_sent(store, "news", 50, 0, state="bounced")  # not sent
    add_sent(store, "promo", 10, 10)
    rates = complaint_rates(store.engine, ["news", "promo", "quiet"], NOW)
    assert rates["news"] == LaneRate("news", 1000, 1)
    assert rates["promo"] == LaneRate("promo", 10, 10)
    assert rates["quiet"] == LaneRate("quiet", 0, 0)


@pytest.mark.postgres
def test_duplicate_complaints_count_once(store: Store) -> None:
    add_sent(store, "news", 1000, 1)
    with store.engine.begin() as conn:
        row = dict(conn.execute(sa.select(feedback).limit(1)).mappings().one())
        del row["id"]
        conn.execute(sa.insert(feedback).values({**row, "source": "webhook:ses"}))
    assert complaint_rates(store.engine, ["news"], NOW)["news"].complaints == 1


def test_no_sends_pass() -> None:
    check = rate_check(LaneRate("news", 0, 0))
    assert (check.status, check.reason) == ("pass", "no mail sent in 30 days")
    assert check.subject == "lane news"
