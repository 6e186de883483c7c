"""API keys and SMTP users at rest (hashes only; see relaylane.auth.secrets)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from relaylane.auth.principal import Notify, Principal, Scope
from relaylane.errors import InputError, NotFoundError
from relaylane.store.schema import api_keys, smtp_users

K = api_keys.c
U = smtp_users.c


@dataclass(frozen=True, slots=True)
class ApiKeyRow:
    id: int
    key_id: str
    name: str
    secret_hash: str
    scopes: tuple[str, ...]
    lanes: tuple[str, ...]
    created_at: float
    revoked_at: float | None

    def principal(self) -> Principal:
        return Principal(
            kind="api_key",
            name=self.key_id,
            scopes=frozenset(Scope(s) for s in self.scopes),
            lanes=self.lanes,
            record_id=self.id,
        )


@dataclass(frozen=True, slots=True)
class SmtpUserRow:
    id: int
    name: str
    password_hash: str
    lanes: tuple[str, ...]
    notify: str
    created_at: float
    revoked_at: float | None

    def principal(self) -> Principal:
        return Principal(
            kind="smtp_user",
            name=self.name,
            scopes=frozenset({Scope.SEND}),
            lanes=self.lanes,
            notify=Notify(self.notify),
            record_id=self.id,
        )


def _split(value: str) -> tuple[str, ...]:
    return tuple(v for v in value.split(",") if v)


class SqlCredentials:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- API keys ------------------------------------------------------------------------
    def add_api_key(
        self,
        *,
        key_id: str,
        name: str,
        secret_hash: str,
        scopes: frozenset[Scope],
        lanes: tuple[str, ...],
        now: float,
    ) -> ApiKeyRow:
        values = {
            "key_id": key_id,
            "name": name,
            "secret_hash": secret_hash,
            "scopes": ",".join(sorted(s.value for s in scopes)),
            "lanes": ",".join(lanes),
            "created_at": now,
        }
        with self.engine.begin() as conn:
            conn.execute(api_keys.insert().values(values))
        return self.api_key(key_id)

    def api_key(self, key_id: str) -> ApiKeyRow:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(api_keys).where(K.key_id == key_id)).first()
        if row is None:
            raise NotFoundError(f"no API key {key_id!r}; `relaylane keys list` shows them")
        return _api_key_row(row)

    def api_keys(self, *, include_revoked: bool = False) -> list[ApiKeyRow]:
        stmt = sa.select(api_keys).order_by(K.id)
        if not include_revoked:
            stmt = stmt.where(K.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [_api_key_row(r) for r in conn.execute(stmt)]

    def revoke_api_key(self, key_id: str, now: float) -> ApiKeyRow:
        with self.engine.begin() as conn:
            conn.execute(
                api_keys.update()
                .where(K.key_id == key_id, K.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return self.api_key(key_id)

    # -- SMTP users ------------------------------------------------------------------------
    def add_smtp_user(
        self, *, name: str, password_hash: str, lanes: tuple[str, ...], notify: Notify, now: float
    ) -> SmtpUserRow:
        with self.engine.begin() as conn:
            taken = conn.execute(sa.select(U.revoked_at).where(U.name == name)).first()
            if taken is not None:
                state = "a revoked" if taken[0] is not None else "an"
                raise InputError(
                    "NAME",
                    f"{state} SMTP user named {name!r} already exists",
                    "choose another name (names are never reused, so old credentials "
                    "cannot come back)",
                )
            conn.execute(
                smtp_users.insert().values(
                    name=name,
                    password_hash=password_hash,
                    lanes=",".join(lanes),
                    notify=notify.value,
                    created_at=now,
                )
            )
        return self.smtp_user(name)

    def smtp_user(self, name: str) -> SmtpUserRow:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(smtp_users).where(U.name == name)).first()
        if row is None:
            raise NotFoundError(f"no SMTP user {name!r}; `relaylane smtp-users list` shows them")
        return _smtp_user_row(row)

    def smtp_users(self, *, include_revoked: bool = False) -> list[SmtpUserRow]:
        stmt = sa.select(smtp_users).order_by(U.id)
        if not include_revoked:
            stmt = stmt.where(U.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [_smtp_user_row(r) for r in conn.execute(stmt)]

    def revoke_smtp_user(self, name: str, now: float) -> SmtpUserRow:
        with self.engine.begin() as conn:
            conn.execute(
                smtp_users.update()
                .where(U.name == name, U.revoked_at.is_(None))
                .values(revoked_at=now)
            )
        return self.smtp_user(name)


def _api_key_row(row: sa.Row[tuple[object, ...]]) -> ApiKeyRow:
    m = row._mapping
    return ApiKeyRow(
        id=m["id"],
        key_id=m["key_id"],
        name=m["name"],
        secret_hash=m["secret_hash"],
        scopes=_split(m["scopes"]),
        lanes=_split(m["lanes"]),
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
    )


def _smtp_user_row(row: sa.Row[tuple[object, ...]]) -> SmtpUserRow:
    m = row._mapping
    return SmtpUserRow(
        id=m["id"],
        name=m["name"],
        password_hash=m["password_hash"],
        lanes=_split(m["lanes"]),
        notify=m["notify"],
        created_at=m["created_at"],
        revoked_at=m["revoked_at"],
    )
