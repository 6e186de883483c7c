"""Doctor moves DKIM rotations on (`relaylane dkim rotate`; the rules are in
`relaylane.dkim.rotation`): a pending rotation switches once its new record is published
and matches the new key; a switched one is done 7 days later. Idempotent, safe in cron.
"""

from __future__ import annotations

import sqlalchemy as sa

from relaylane.dkim.keys import public_key_matches
from relaylane.dkim.rotation import Rotation, RotationState, next_step
from relaylane.doctor.dkim_dns import KeyFact, key_name, load_key, publish_fix
from relaylane.doctor.dns import Answer, Answers, Kind, Query, Resolver, query
from relaylane.doctor.gather import fetch
from relaylane.doctor.report import Check, Status, failed
from relaylane.store.dkim_rotations import SqlRotations

_STATUSES: dict[str, Status] = {"pass": "pass", "warn": "warn", "fail": "fail"}


async def advance_rotations(
    engine: sa.Engine, resolver: Resolver, answers: dict[Query, Answer], now: float
) -> tuple[list[Rotation], list[Check]]:
    """Every rotation after moving the open ones on, and a line for each open one."""
    store = SqlRotations(engine)
    try:
        rotations = store.list()
    except sa.exc.SQLAlchemyError:
        return [], []  # a store from before rotations existed: nothing to move on
    open_ = [r for r in rotations if r.state is not RotationState.DONE]
    await fetch(
        resolver, answers, [query(key_name(r.new_selector, r.domain), "TXT") for r in open_]
    )
    lines: list[Check] = []
    for rotation in open_:
        key = load_key(rotation.new_selector, rotation.key_file)
        line, to = rotation_step(rotation, key, answers, now)
        if to is not None:
            store.move(rotation.id, to, now)
        lines.append(line)
    return (store.list() if lines else rotations), lines


def rotation_step(
    rotation: Rotation, key: KeyFact, answers: Answers, now: float
) -> tuple[Check, RotationState | None]:
    """The line for one open rotation and the state to move it to (None: stay). Pure."""
    subject, name = rotation.domain, f"DKIM rotation to {rotation.new_selector}"
    where = key_name(rotation.new_selector, rotation.domain)
    if key.key is None:
        return failed(subject, name, f"key_file {key.key_file} is unusable: {key.error}"), None
    answer = answers.get(query(where, "TXT"))
    published = (
        answer is not None
        and answer.kind is Kind.RECORDS
        and any(public_key_matches(key.key, txt) for txt in answer.records)
    )
    step = next_step(rotation, published, now)
    waiting = rotation.state is RotationState.PENDING and not published
    fix = publish_fix(where, key.key) + ", then run doctor again" if waiting else None
    return Check(subject, name, _STATUSES[step.status], step.message, fix), step.to
