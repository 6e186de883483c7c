"""AUTH for the submission listener: SMTP users from the store, checked off the loop.

aiosmtpd's `authenticator` callback is synchronous, and checking a password means a
store query and ~0.1 s of scrypt: on the event loop that would stall every other
session. So the listener brings its own PLAIN and LOGIN mechanisms (`read_plain`,
`read_login`: aiosmtpd calls a handler's `auth_<NAME>` methods instead of its own) and
`Authenticator.check` runs the lookup and scrypt on two dedicated threads (two, so a
burst of AUTH attempts costs at most two cores and 2 x 32 MiB).

- The user row is read on every AUTH, so a revoked user or a changed password counts
  at once; a verified (user, password, stored hash) is remembered (only a SHA-256 of
  the password is kept), so an application that connects for every message pays
  scrypt once, not per connection.
- Failures are counted per client IP (`AuthThrottle`); a locked-out IP is answered
  454 without its password being checked. An unknown or revoked user costs the same
  scrypt as a wrong password, so timing does not tell which names exist.
"""

from __future__ import annotations

import asyncio
import binascii
import functools
import hashlib
import ipaddress
import logging
import secrets
from base64 import b64decode
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword

from relaylane.auth.secrets import hash_password, verify_password
from relaylane.auth.throttle import AuthThrottle
from relaylane.clock import Clock
from relaylane.errors import NotFoundError
from relaylane.store.credentials import SmtpUserRow
from relaylane.submission import replies

T = TypeVar("T")
log = logging.getLogger("relaylane.submission")
AUTH_THREADS = 2
CACHE_SIZE = 10_000  # verified credentials remembered (least recently used dropped)
_BAD_BASE64 = "501 5.5.2 Cannot decode base64"
_Key = tuple[str, bytes, str]  # user name, SHA-256 of the password, the stored hash


class UserDirectory(Protocol):
    """Where SMTP users live (`SqlCredentials`); raises NotFoundError for an unknown name."""

    def smtp_user(self, name: str) -> SmtpUserRow: ...


class Authenticator:
    def __init__(
        self, users: UserDirectory, throttle: AuthThrottle, clock: Clock, *, cache_size: int = 0
    ) -> None:
        self.users = users
        self.throttle = throttle
        self.clock = clock
        self.cache_size = cache_size or CACHE_SIZE
        self.verifications = 0  # scrypt checks of real hashes (cache misses); for tests
        self._verified: OrderedDict[_Key, None] = OrderedDict()
        self._pending: dict[_Key, asyncio.Future[bool]] = {}
        self._threads = ThreadPoolExecutor(AUTH_THREADS, thread_name_prefix="relaylane-auth")

    def lockout_reply(self, ip: str) -> str | None:
        """The 454 reply while `ip` is locked out, else None."""
        wait = self.throttle.locked_for(ip, self.clock.now())
        return replies.locked_out(ip, wait) if wait > 0 else None

    async def check(self, ip: str, creds: LoginPassword) -> AuthResult:
        """Success with the user's `Principal` as auth_data, or a failure with its reply.

        Credentials already verified (or being verified for another connection) cost no
        password check and no throttle allowance: an application opening a pool of
        connections is not mistaken for a guesser. Every other attempt must get the
        throttle's go-ahead first (`begin`), so parallel guesses stay within the limit."""
        locked = self.lockout_reply(ip)
        if locked is not None:
            return _refused(locked)
        try:
            row = await self._usable_row(creds.login)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("AUTH from %s: store unavailable (%s)", ip, exc.__class__.__name__)
            return _refused(replies.AUTH_TEMPORARY)
        password = creds.password.decode("utf-8", "surrogateescape")
        key = None if row is None else _key(row, creds.password)
        if key is not None and (key in self._verified or key in self._pending):
            ok = await self._verify(key, password)  # from memory, or the shared check
            if not ok:
                self.throttle.failed(ip, self.clock.now())
        else:
            wait = self.throttle.begin(ip, self.clock.now())
            if wait > 0:  # as many checks under way as this IP has failures left
                return _refused(replies.locked_out(ip, wait))
            ok = False
            try:
                if key is None:
                    await self._run(_verify_dummy, password)  # same cost for unknown users
                else:
                    ok = await self._verify(key, password)
            finally:
                self.throttle.end(ip, self.clock.now(), ok=ok)
        if not ok or row is None:
            return _refused(replies.AUTH_INVALID)
        return AuthResult(success=True, auth_data=row.principal())

    def close(self) -> None:
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def _usable_row(self, login: bytes) -> SmtpUserRow | None:
        try:
            name = login.decode("utf-8")
        except UnicodeDecodeError:
            return None
        if not name or not name.isprintable():
            return None
        try:
            row = await self._run(self.users.smtp_user, name)
        except NotFoundError:
            return None
        return None if row.revoked_at is not None else row

    async def _verify(self, key: _Key, password: str) -> bool:
        """From memory, else by scrypt; clients that connect at the same moment with the
        same credentials share one check (an application starting its connection pool)."""
        if key in self._verified:
            self._verified.move_to_end(key)
            return True
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._scrypt(key, password))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(pending)  # one client leaving does not cancel it

    async def _scrypt(self, key: _Key, password: str) -> bool:
        self.verifications += 1
        if not await self._run(verify_password, password, key[2]):
            return False
        self._verified[key] = None
        if len(self._verified) > self.cache_size:
            self._verified.popitem(last=False)
        return True

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)


@functools.cache
def _dummy_hash() -> str:
    """A hash no password matches (made once, on an AUTH thread)."""
    return hash_password(secrets.token_urlsafe(24))


def _verify_dummy(password: str) -> None:
    """What checking a password costs, for unknown and revoked users."""
    verify_password(password, _dummy_hash())


def _refused(reply: str) -> AuthResult:
    return AuthResult(success=False, handled=False, message=reply)


def client_ip(peer: Any) -> str:
    """The client's IP from aiosmtpd's `session.peer` (an IPv4-mapped IPv6 as IPv4)."""
    host = str(peer[0]) if isinstance(peer, tuple) and peer else str(peer)
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return host
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped or address)


# -- the mechanisms: what the client sends, decoded (None: already answered) -----------


async def read_plain(server: SMTP, args: list[str]) -> LoginPassword | None:
    """AUTH PLAIN [initial-response] (RFC 4616); an authorization identity other than
    the user itself is refused."""
    blob = await _initial_or_challenge(server, args, "")
    if blob is None:
        return None
    parts = blob.split(b"\x00")
    if len(parts) != 3:
        await server.push("501 5.5.2 Cannot split the PLAIN response into its three parts")
        return None
    authzid, login, password = parts
    if authzid and authzid != login:
        await server.push("535 5.7.8 Acting as another user (authzid) is not supported")
        return None
    return LoginPassword(login, password)


async def read_login(server: SMTP, args: list[str]) -> LoginPassword | None:
    """AUTH LOGIN [username]: username and password as base64 challenges."""
    login = await _initial_or_challenge(server, args, "Username:")
    if login is None:
        return None
    password = await _challenge(server, "Password:")
    if password is None:
        return None
    return LoginPassword(login, password)


async def _initial_or_challenge(server: SMTP, args: list[str], prompt: str) -> bytes | None:
    if len(args) == 1:
        return await _challenge(server, prompt)
    try:
        return b64decode(args[1].encode(), validate=True)
    except (binascii.Error, UnicodeEncodeError):
        await server.push(_BAD_BASE64)
        return None


async def _challenge(server: SMTP, prompt: str) -> bytes | None:
    """aiosmtpd sends `334 <prompt>`; on `*` or bad base64 it has answered already."""
    answer = await server.challenge_auth(prompt)
    return answer if isinstance(answer, bytes) else None


def _key(row: SmtpUserRow, raw_password: bytes) -> _Key:
    """What a verified credential is remembered by: a new password hash (or a revoked
    and recreated user) never matches an old entry."""
    return (row.name, hashlib.sha256(raw_password).digest(), row.password_hash)
