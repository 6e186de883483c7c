"""The token keys at rest: the first key is made on first use; `rotate` adds a newer one.

Several workers and hosts may start at once: the first key has the fixed id 1 and is
inserted with ON CONFLICT DO NOTHING semantics (an IntegrityError is simply a lost race),
so every process ends up reading the same key.
"""

from __future__ import annotations

import sqlalchemy as sa

from relaylane.bounces.tokens import KeyRing, TokenKey, new_secret
from relaylane.store.engine import reading
from relaylane.store.schema import token_keys

K = token_keys.c
MAX_KEY_ID = 65535


class SqlTokenKeys:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def ring(self, now: float) -> KeyRing:
        """Every key, the newest signing; makes the first key when there is none."""
        keys = self.keys()
        if not keys:
            self._insert(1, now)
            keys = self.keys()
        return KeyRing(keys)

    def keys(self) -> list[TokenKey]:
        stmt = sa.select(K.id, K.secret, K.created_at, K.retired_at).order_by(K.id)
        with reading(self.engine) as conn:
            return [TokenKey(r[0], bytes(r[1]), r[2], r[3]) for r in conn.execute(stmt)]

    def rotate(self, now: float) -> TokenKey:
        """A new signing key; the previous one keeps verifying for 30 days."""
        with self.engine.begin() as conn:
            newest = conn.execute(sa.select(sa.func.max(K.id))).scalar()
            next_id = int(newest or 0) + 1
            if next_id > MAX_KEY_ID:
                raise ValueError("token key ids are exhausted (65535 rotations)")
            conn.execute(token_keys.update().where(K.retired_at.is_(None)).values(retired_at=now))
            secret = new_secret()
            conn.execute(token_keys.insert().values(id=next_id, secret=secret, created_at=now))
        return TokenKey(next_id, secret, now)

    def _insert(self, key_id: int, now: float) -> None:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    token_keys.insert().values(id=key_id, secret=new_secret(), created_at=now)
                )
        except sa.exc.IntegrityError:
            pass  # another process made it first; its key is the one everybody reads
