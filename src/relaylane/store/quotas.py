"""Message quotas in the store: charged inside the intake commit, read for `list`.

`charge_in(conn, ...)` runs inside the transaction that queues the messages, so a count
only ever includes committed mail. For a principal with a quota, its `quota_counts`
rows (this hour, today) are created if missing and locked (SELECT ... FOR UPDATE on
PostgreSQL; SQLite's write transactions are serialised by BEGIN IMMEDIATE) before the
check, so concurrent commits in other processes wait and see each other's counts: a
quota is never exceeded. Rows are locked in one global order (principal, period,
period_start), so two commits never deadlock. A principal without a quota is counted
with a plain increment upsert (its use is shown by `keys list`). A submission over
quota is refused on its own: the rest of the group commit goes in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from relaylane.intake.quota import OverQuota, QuotaAsk, check, principal_key
from relaylane.policy.pacing.caps import Period
from relaylane.store.schema import api_keys, quota_counts, smtp_users

__all__ = ["Charge", "charge_in", "limits_in", "usage_in"]

Q = quota_counts.c
Charge = tuple[int, QuotaAsk, int]  # (item index, the ask, messages)
_Row = tuple[str, str, float]  # principal, period, period_start
Insert = Callable[[sa.Table], Any]  # relaylane.store.upsert.insert_for, bound to a store


def limits_in(conn: sa.Connection, kind: str, name: str) -> tuple[int | None, int | None]:
    """(hourly, daily) quotas of the API key or SMTP user; (None, None) if none."""
    if kind == "api_key":
        stmt = sa.select(api_keys.c.hourly_quota, api_keys.c.daily_quota).where(
            api_keys.c.key_id == name
        )
    else:
        stmt = sa.select(smtp_users.c.hourly_quota, smtp_users.c.daily_quota).where(
            smtp_users.c.name == name
        )
    row = conn.execute(stmt).first()
    return (None, None) if row is None else (row[0], row[1])


def charge_in(
    conn: sa.Connection, insert: Insert, charges: Sequence[Charge]
) -> dict[int, OverQuota]:
    """Count each charge against its principal's quotas, in order; returns the refused
    ones by item index (those are not counted)."""
    groups: dict[tuple[str, float, float], list[Charge]] = {}
    for charge in charges:
        ask = charge[1]
        groups.setdefault((ask.principal, ask.hour.start, ask.day.start), []).append(charge)
    limits: dict[str, tuple[int | None, int | None]] = {}
    for members in groups.values():
        ask = members[0][1]
        if ask.principal not in limits:
            limits[ask.principal] = limits_in(conn, ask.kind, ask.name)
    # Every row this commit touches, each locked (or incremented) in one global order.
    free: dict[_Row, int] = {}  # rows of principals without a quota: messages to add
    held: set[_Row] = set()
    for (principal, hour, day), members in groups.items():
        rows = ((principal, Period.HOUR.value, hour), (principal, Period.DAY.value, day))
        if limits[principal] == (None, None):
            total = sum(count for _, _, count in members)
            for row in rows:
                free[row] = free.get(row, 0) + total
        else:
            held.update(rows)
    counts: dict[_Row, int] = {}
    for row in sorted(set(free) | held):
        if row in free:
            _increment(conn, insert, row, free[row])
        else:
            counts[row] = _lock(conn, insert, row)
    refused: dict[int, OverQuota] = {}
    added: dict[_Row, int] = {}
    for (principal, hour, day), members in groups.items():
        hourly, daily = limits[principal]
        if hourly is None and daily is None:
            continue
        hour_row = (principal, Period.HOUR.value, hour)
        day_row = (principal, Period.DAY.value, day)
        for index, ask, count in members:
            used_hour = counts[hour_row] + added.get(hour_row, 0)
            used_day = counts[day_row] + added.get(day_row, 0)
            over = check(ask, count, used_hour, used_day, hourly, daily)
            if over is not None:
                refused[index] = over
                continue
            added[hour_row] = added.get(hour_row, 0) + count
            added[day_row] = added.get(day_row, 0) + count
    for row, n in sorted(added.items()):
        if n:
            conn.execute(quota_counts.update().where(*_match(row)).values(n=Q.n + n))
    return refused


def _match(row: _Row) -> tuple[sa.ColumnElement[bool], ...]:
    principal, period, start = row
    return (Q.principal == principal, Q.period == period, Q.period_start == start)


def _increment(conn: sa.Connection, insert: Insert, row: _Row, n: int) -> None:
    principal, period, start = row
    stmt = insert(quota_counts).values(principal=principal, period=period, period_start=start, n=n)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[Q.principal, Q.period, Q.period_start],
            set_={"n": Q.n + stmt.excluded.n},
        )
    )


def _lock(conn: sa.Connection, insert: Insert, row: _Row) -> int:
    """Create the row if missing, lock it until the commit, and return its count."""
    principal, period, start = row
    conn.execute(
        insert(quota_counts)
        .values(principal=principal, period=period, period_start=start, n=0)
        .on_conflict_do_nothing(index_elements=[Q.principal, Q.period, Q.period_start])
    )
    stmt = sa.select(Q.n).where(*_match(row)).with_for_update()
    return int(conn.execute(stmt).scalar_one())


def usage_in(
    conn: sa.Connection, kind: str, names: Sequence[str], hour_start: float, day_start: float
) -> dict[str, tuple[int, int]]:
    """(this hour, today) messages accepted, by key id or user name."""
    by_principal = {principal_key(kind, name): name for name in names}
    if not by_principal:
        return {}
    stmt = sa.select(Q.principal, Q.period, Q.n).where(
        Q.principal.in_(list(by_principal)),
        sa.or_(
            sa.and_(Q.period == Period.HOUR.value, Q.period_start == hour_start),
            sa.and_(Q.period == Period.DAY.value, Q.period_start == day_start),
        ),
    )
    found = {name: [0, 0] for name in names}
    for principal, period, n in conn.execute(stmt):
        found[by_principal[principal]][0 if period == Period.HOUR.value else 1] = int(n)
    return {name: (hour, day) for name, (hour, day) in found.items()}
