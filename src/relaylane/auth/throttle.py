"""Failed-AUTH throttling per client IP: pure policy over an injected clock.

After `max_failures` failures within `window` seconds, an IP is refused AUTH for
`lockout` seconds (its attempts are not even checked, so a password cannot be guessed
faster than that). Checks under way count too: an IP never has more checks running
than it has failures left (`begin` ... `end`), so many parallel attempts cannot all
slip past the limit before the first one fails. A success does not wipe the IP's
earlier failures (one valid login must not reset guesses at other accounts); they
simply age out of the window. Memory stays bounded: old entries are dropped as the
clock moves on.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_TRACKED_IPS = 100_000
BUSY_RETRY = 1.0  # seconds to suggest when only checks under way hold an IP back


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0
    checking: int = 0  # attempts being checked right now


class AuthThrottle:
    def __init__(self, max_failures: int, window: float, lockout: float) -> None:
        self.max_failures = max_failures
        self.window = window
        self.lockout = lockout
        self._by_ip: dict[str, _Record] = {}

    def locked_for(self, ip: str, now: float) -> float:
        """Seconds left before `ip` may try AUTH again (0: it may now)."""
        record = self._by_ip.get(ip)
        if record is None:
            return 0.0
        return max(0.0, record.locked_until - now)

    def begin(self, ip: str, now: float) -> float:
        """An attempt from `ip` wants checking: 0 to go ahead (then call `end`), else the
        seconds to tell the client to wait."""
        locked = self.locked_for(ip, now)
        if locked > 0:
            return locked
        if len(self._by_ip) >= MAX_TRACKED_IPS:
            self._forget_old(now)
        record = self._by_ip.setdefault(ip, _Record())
        self._expire(record, now)
        if len(record.failures) + record.checking >= self.max_failures:
            return BUSY_RETRY
        record.checking += 1
        return 0.0

    def end(self, ip: str, now: float, *, ok: bool) -> float:
        """The check `begin` allowed is done; returns the lockout now in force (0: none)."""
        record = self._by_ip.get(ip)
        if record is not None:
            record.checking = max(0, record.checking - 1)
        return 0.0 if ok else self.failed(ip, now)

    def failed(self, ip: str, now: float) -> float:
        """Note a failure; returns the lockout now in force for `ip` (0: none)."""
        if len(self._by_ip) >= MAX_TRACKED_IPS:
            self._forget_old(now)
        record = self._by_ip.setdefault(ip, _Record())
        record.failures.append(now)
        self._expire(record, now)
        if len(record.failures) >= self.max_failures:
            record.locked_until = now + self.lockout
            record.failures.clear()
        return self.locked_for(ip, now)

    def _expire(self, record: _Record, now: float) -> None:
        while record.failures and record.failures[0] <= now - self.window:
            record.failures.popleft()

    def _forget_old(self, now: float) -> None:
        stale = [
            ip
            for ip, r in self._by_ip.items()
            if r.checking == 0
            and r.locked_until <= now
            and (not r.failures or r.failures[-1] <= now - self.window)
        ]
        for ip in stale:
            del self._by_ip[ip]
