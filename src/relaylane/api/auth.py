"""`Authorization: Bearer <key>`: the API key's principal, and scope checks.

Keys are stored as SHA-256 hashes; a key that checked out is trusted for
`ApiContext.key_cache_seconds` (2 s), so a revoked key stops working within that.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from relaylane.api.context import ApiContext
from relaylane.api.errors import forbidden, unauthorized
from relaylane.auth.principal import Principal, Scope
from relaylane.auth.secrets import api_key_id, api_key_matches, hash_api_key
from relaylane.errors import NotFoundError

MAX_CACHED_KEYS = 10_000
_FIX = 'send "Authorization: Bearer <key>" with a key from `relaylane keys create`'

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="ApiKey",
    description="An API key: `Authorization: Bearer rl_<key id>_<secret>`.",
)


class KeyCache:
    """Checked keys by token hash, each trusted until its expiry."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[float, Principal]] = {}

    async def principal(self, ctx: ApiContext, token: str) -> Principal | None:
        digest = hash_api_key(token)
        now = ctx.clock.now()
        cached = self._keys.get(digest)
        if cached is not None and cached[0] > now:
            return cached[1]
        found = await ctx.in_thread(_lookup, ctx, token)
        if found is None:
            self._keys.pop(digest, None)
            return None
        if len(self._keys) >= MAX_CACHED_KEYS:
            self._keys = {k: v for k, v in self._keys.items() if v[0] > now}
            if len(self._keys) >= MAX_CACHED_KEYS:
                self._keys.clear()
        self._keys[digest] = (now + ctx.key_cache_seconds, found)
        return found


def _lookup(ctx: ApiContext, token: str) -> Principal | None:
    key_id = api_key_id(token)
    if key_id is None:
        return None
    try:
        row = ctx.store.credentials.api_key(key_id)
    except NotFoundError:
        return None
    if row.revoked_at is not None or not api_key_matches(token, row.secret_hash):
        return None
    return row.principal()


def context(request: Request) -> ApiContext:
    ctx: ApiContext = request.app.state.ctx
    return ctx


async def authenticate(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None:
        raise unauthorized("no API key given", _FIX)
    cache: KeyCache = request.app.state.keys
    principal = await cache.principal(context(request), credentials.credentials)
    if principal is None:
        raise unauthorized("the API key is not valid, or was revoked", _FIX)
    return principal


def require(scope: Scope) -> Any:
    """A dependency: the principal, if it has `scope` (else 403)."""

    async def check(principal: Annotated[Principal, Depends(authenticate)]) -> Principal:
        if not principal.has(scope):
            have = ", ".join(sorted(s.value for s in principal.scopes)) or "none"
            raise forbidden(
                f"API key {principal.name} lacks the {scope.value!r} scope (it has: {have})",
                f"use a key with the {scope.value!r} scope",
            )
        return principal

    return Depends(check)


Sender = Annotated[Principal, require(Scope.SEND)]
Reader = Annotated[Principal, require(Scope.READ)]
Ctx = Annotated[ApiContext, Depends(context)]
