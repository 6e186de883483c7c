"""A send's own timing through the API: not_before and send_window make it wait as held,
and a window that cannot be read is a 422 naming the field."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from relaylane.store.schema import deliveries, messages
from tests.api.conftest import StartApi, message


async def test_not_before_and_send_window_hold_the_send(start_api: StartApi) -> None:
    api = await start_api()
    later = (datetime.now(UTC) + timedelta(hours=5)).isoformat()
    shut = (datetime.now(UTC) + timedelta(hours=2)).strftime("%H:%M")
    opens = (datetime.now(UTC) + timedelta(hours=3)).strftime("%H:%M")
    first = await api.send(message(not_before=later))
    second = await api.send(message(send_window=f"{shut}-{opens} UTC"))
    assert first.status_code == 202 and second.status_code == 202, (first.text, second.text)
    with api.store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(deliveries.c.state, deliveries.c.due_at, messages.c.send_window)
            .select_from(deliveries.join(messages, deliveries.c.message_id == messages.c.id))
            .order_by(deliveries.c.id)
        ).all()
    assert [r.state for r in rows] == ["held", "held"]
    assert rows[0].due_at >= time.time() + 5 * 3600 - 60
    assert rows[1].send_window == f"{shut}-{opens} UTC"


async def test_a_bad_window_names_the_field(start_api: StartApi) -> None:
    api = await start_api()
    response = await api.send(message(send_window="whenever"))
    assert response.status_code == 422
    [field] = response.json()["error"]["fields"]
    assert field["field"] == "send_window" and "08:00-18:00" in field["fix"]
    naive = await api.send(message(not_before="2026-12-01T08:00:00"))
    assert naive.status_code == 422
