"""DKIM rotations at rest (see relaylane.dkim.rotation for the rules)."""

from __future__ import annotations

import sqlalchemy as sa

from relaylane.dkim.rotation import Rotation, RotationState
from relaylane.store.engine import reading
from relaylane.store.schema import dkim_rotations

R = dkim_rotations.c


class SqlRotations:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def add(
        self,
        domain: str,
        kind: str,
        old_selector: str | None,
        new_selector: str,
        key_file: str,
        now: float,
    ) -> Rotation:
        values = {
            "domain": domain,
            "kind": kind,
            "old_selector": old_selector,
            "new_selector": new_selector,
            "key_file": key_file,
            "state": RotationState.PENDING.value,
            "created_at": now,
        }
        with self.engine.begin() as conn:
            result = conn.execute(dkim_rotations.insert().values(**values))
            new_id = int(result.inserted_primary_key[0])  # type: ignore[index]
        return Rotation(new_id, domain, kind, old_selector, new_selector, key_file,
                        RotationState.PENDING, now)  # fmt: skip

    def list(self, domain: str | None = None) -> list[Rotation]:
        stmt = sa.select(dkim_rotations).order_by(R.id)
        if domain is not None:
            stmt = stmt.where(R.domain == domain)
        with reading(self.engine) as conn:
            return [_rotation(r._mapping) for r in conn.execute(stmt)]

    def move(self, rotation_id: int, to: RotationState, now: float) -> None:
        values: dict[str, object] = {"state": to.value}
        if to is RotationState.SWITCHED:
            values["switched_at"] = now
        with self.engine.begin() as conn:
            conn.execute(dkim_rotations.update().where(R.id == rotation_id).values(**values))


def _rotation(m: sa.RowMapping) -> Rotation:
    return Rotation(
        id=m["id"],
        domain=m["domain"],
        kind=m["kind"],
        old_selector=m["old_selector"],
        new_selector=m["new_selector"],
        key_file=m["key_file"],
        state=RotationState(m["state"]),
        created_at=m["created_at"],
        switched_at=m["switched_at"],
    )
