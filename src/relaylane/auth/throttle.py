"""Failed-AUTH throttling per client IP: pure policy over an injected clock.

After `max_failures` failures within `window` seconds, an IP is refused AUTH for
`lockout` seconds (its attempts are not even checked, so a password cannot be guessed
faster than that). A success clears the IP's failures. Memory stays bounded: old
entries are dropped as the clock moves on.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

MAX_TRACKED_IPS = 100_000


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)
    locked_until: float = 0.0


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

    def failed(self, ip: str, now: float) -> float:
        """Note a failure; returns the lockout now in force for `ip` (0: none)."""
        if len(self._by_ip) >= MAX_TRACKED_IPS:
            self._forget_old(now)
        record = self._by_ip.setdefault(ip, _Record())
        record.failures.append(now)
        while record.failures and record.failures[0] <= now - self.window:
            record.failures.popleft()
        if len(record.failures) >= self.max_failures:
            record.locked_until = now + self.lockout
            record.failures.clear()
        return self.locked_for(ip, now)

    def succeeded(self, ip: str) -> None:
        self._by_ip.pop(ip, None)

    def _forget_old(self, now: float) -> None:
        stale = [
            ip
            for ip, r in self._by_ip.items()
            if r.locked_until <= now and (not r.failures or r.failures[-1] <= now - self.window)
        ]
        for ip in stale:
            del self._by_ip[ip]
