"""API keys and SMTP users at rest (hashes only; see relaylane.auth.secrets).

Creating, revoking and changing the quotas of a key or user records an audit entry in
the same transaction (`actor`: who did it). Entries name the key id or user name,
scopes, lanes and quotas: never a secret, a password or a hash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import sqlalchemy as sa

from relaylane.auth.principal import Notify, Principal, Scope
from relaylane.errors import InputError, NotFoundError
from relaylane.store.audit import AuditAction, record_in
from relaylane.store.engine import reading
from relaylane.store.quotas import usage_in
from relaylane.store.schema import api_keys, smtp_users

K = api_keys.c
U = smtp_users.c
SYSTEM: Final = "system"  # the actor when no operator is named (tests, setup code)


class _Keep:
    """The `set_*_quota` argument that leaves a quota as it is."""


KEEP: Final = _Keep()
QuotaValue = int | None | _Keep  # a limit, None (no quota), or KEEP


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
    hourly_quota: int | None = None  # messages an hour; None: no quota
    daily_quota: int | None = None

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
    hourly_quota: int | None = None
    daily_quota: int | None = None

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
        hourly_quota: int | None = None,
        daily_quota: int | None = None,
        actor: str = SYSTEM,
    ) -> ApiKeyRow:
        _check_quota("--hourly-quota", hourly_quota)
        _check_quota("--daily-quota", daily_quota)
        values = {
            "key_id": key_id,
            "name": name,
            "secret_hash": secret_hash,
            "scopes": ",".join(sorted(s.value for s in scopes)),
            "lanes": ",".join(lanes),
            "created_at": now,
            "hourly_quota": hourly_quota,
            "daily_quota": daily_quota,
        }
        args = {
            "name": name,
            "scopes": sorted(s.value for s in scopes),
            "lanes": list(lanes),
            "hourly_quota": hourly_quota,
            "daily_quota": daily_quota,
        }
        with self.engine.begin() as conn:
            conn.execute(api_keys.insert().values(values))
            record_in(conn, now, actor, AuditAction.KEY_CREATE, key_id, args)
        return self.api_key(key_id)

    def api_key(self, key_id: str) -> ApiKeyRow:
        with reading(self.engine) as conn:
            row = conn.execute(sa.select(api_keys).where(K.key_id == key_id)).first()
        if row is None:
            raise NotFoundError(f"no API key {key_id!r}; `relaylane keys list` shows them")
        return _api_key_row(row)

    def api_keys(self, *, include_revoked: bool = False) -> list[ApiKeyRow]:
        stmt = sa.select(api_keys).order_by(K.id)
        if not include_revoked:
            stmt = stmt.where(K.revoked_at.is_(None))
        with reading(self.engine) as conn:
            return [_api_key_row(r) for r in conn.execute(stmt)]

    def revoke_api_key(self, key_id: str, now: float, actor: str = SYSTEM) -> ApiKeyRow:
        with self.engine.begin() as conn:
            revoked = conn.execute(
                api_keys.update()
                .where(K.key_id == key_id, K.revoked_at.is_(None))
                .values(revoked_at=now)
            ).rowcount
            if revoked:
                record_in(conn, now, actor, AuditAction.KEY_REVOKE, key_id, effect={"revoked": 1})
        return self.api_key(key_id)

    def set_api_key_quota(
        self,
        key_id: str,
        now: float,
        *,
        hourly: QuotaValue = KEEP,
        daily: QuotaValue = KEEP,
        actor: str = SYSTEM,
    ) -> ApiKeyRow:
        """Change an API key's quotas (None lifts one, KEEP leaves it); takes effect at
        the next commit, whatever the API's key cache holds."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(api_keys).where(K.key_id == key_id)).first()
            if row is None:
                raise NotFoundError(f"no API key {key_id!r}; `relaylane keys list` shows them")
            old = _api_key_row(row)
            _set_quota(
                conn, api_keys, K.key_id == key_id, old.hourly_quota, old.daily_quota,
                hourly, daily, now, actor, AuditAction.KEY_QUOTA, key_id,
            )  # fmt: skip
        return self.api_key(key_id)

    # -- SMTP users ------------------------------------------------------------------------
    def add_smtp_user(
        self,
        *,
        name: str,
        password_hash: str,
        lanes: tuple[str, ...],
        notify: Notify,
        now: float,
        hourly_quota: int | None = None,
        daily_quota: int | None = None,
        actor: str = SYSTEM,
    ) -> SmtpUserRow:
        _check_quota("--hourly-quota", hourly_quota)
        _check_quota("--daily-quota", daily_quota)
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
                    hourly_quota=hourly_quota,
                    daily_quota=daily_quota,
                )
            )
            args = {
                "lanes": list(lanes),
                "notify": notify.value,
                "hourly_quota": hourly_quota,
                "daily_quota": daily_quota,
            }
            record_in(conn, now, actor, AuditAction.SMTP_USER_CREATE, name, args)
        return self.smtp_user(name)

    def smtp_user(self, name: str) -> SmtpUserRow:
        with reading(self.engine) as conn:
            row = conn.execute(sa.select(smtp_users).where(U.name == name)).first()
        if row is None:
            raise NotFoundError(f"no SMTP user {name!r}; `relaylane smtp-users list` shows them")
        return _smtp_user_row(row)

    def smtp_users(self, *, include_revoked: bool = False) -> list[SmtpUserRow]:
        stmt = sa.select(smtp_users).order_by(U.id)
        if not include_revoked:
            stmt = stmt.where(U.revoked_at.is_(None))
        with reading(self.engine) as conn:
            return [_smtp_user_row(r) for r in conn.execute(stmt)]

    def revoke_smtp_user(self, name: str, now: float, actor: str = SYSTEM) -> SmtpUserRow:
        with self.engine.begin() as conn:
            revoked = conn.execute(
                smtp_users.update()
                .where(U.name == name, U.revoked_at.is_(None))
                .values(revoked_at=now)
            ).rowcount
            if revoked:
                record_in(
                    conn, now, actor, AuditAction.SMTP_USER_REVOKE, name, effect={"revoked": 1}
                )
        return self.smtp_user(name)

    def set_smtp_user_quota(
        self,
        name: str,
        now: float,
        *,
        hourly: QuotaValue = KEEP,
        daily: QuotaValue = KEEP,
        actor: str = SYSTEM,
    ) -> SmtpUserRow:
        """Change an SMTP user's quotas (None lifts one, KEEP leaves it); takes effect
        at the next commit, also for sessions already logged in."""
        with self.engine.begin() as conn:
            row = conn.execute(sa.select(smtp_users).where(U.name == name)).first()
            if row is None:
                raise NotFoundError(
                    f"no SMTP user {name!r}; `relaylane smtp-users list` shows them"
                )
            old = _smtp_user_row(row)
            _set_quota(
                conn, smtp_users, U.name == name, old.hourly_quota, old.daily_quota,
                hourly, daily, now, actor, AuditAction.SMTP_USER_QUOTA, name,
            )  # fmt: skip
        return self.smtp_user(name)

    # -- quota use -----------------------------------------------------------------------
    def usage(
        self, kind: str, names: Sequence[str], hour_start: float, day_start: float
    ) -> dict[str, tuple[int, int]]:
        """Messages accepted (this hour, today) by key id (`kind` "api_key") or SMTP user
        name ("smtp_user"); the periods start at `hour_start` and `day_start`."""
        with reading(self.engine) as conn:
            return usage_in(conn, kind, names, hour_start, day_start)


def _check_quota(field: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or value < 0):
        raise InputError(field, f"{value!r} is not a quota", "give a whole number >= 0, or none")


def _set_quota(
    conn: sa.Connection,
    table: sa.Table,
    where: sa.ColumnElement[bool],
    old_hourly: int | None,
    old_daily: int | None,
    hourly: QuotaValue,
    daily: QuotaValue,
    now: float,
    actor: str,
    action: AuditAction,
    target: str,
) -> None:
    new_hourly = old_hourly if isinstance(hourly, _Keep) else hourly
    new_daily = old_daily if isinstance(daily, _Keep) else daily
    _check_quota("--hourly", new_hourly)
    _check_quota("--daily", new_daily)
    conn.execute(table.update().where(where).values(hourly_quota=new_hourly, daily_quota=new_daily))
    args = {"hourly_quota": new_hourly, "daily_quota": new_daily}
    effect = {"hourly_quota_was": old_hourly, "daily_quota_was": old_daily}
    record_in(conn, now, actor, action, target, args, effect)


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
        hourly_quota=m["hourly_quota"],
        daily_quota=m["daily_quota"],
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
        hourly_quota=m["hourly_quota"],
        daily_quota=m["daily_quota"],
    )
