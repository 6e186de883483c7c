"""A token bucket for a message rate: at most `rate × window + burst` messages in any window.

The bucket holds up to `burst` tokens and gains `rate` tokens per second; each message takes
one. It starts full. Over any window of length w the tokens spent are at most the tokens held
at its start (<= burst) plus those gained in it (rate × w): the bound is exact, up to float
rounding of the token count (about 1e-15 of a token per call).

The default burst is `max(DEFAULT_MIN_BURST, rate × DEFAULT_BURST_SECONDS)`: one second's
worth, and at least two messages. A fast rate ("20/s") is not forced into lock-step single
messages; a slow one ("1/min") may send two back to back after two idle minutes. Two and
not one because a pair's token that falls due while the relay's own bucket is busy must
wait for the relay: with room for one token the pair would lose that wait every message
(a 1/s pair sharing a 2.4/s relay gets about 0.83/s), with two it catches up.
`ready_at(now)` is exact: `take` at that moment succeeds.

Unlike the state machines in this package the bucket is a small mutable object: it is
consulted for every message, holds nothing worth persisting (after a restart a bucket
starts full, which the bound already allows) and `take` answers yes or no.
"""

from __future__ import annotations

import math

from relaylane.policy.pacing.zones import check_time

__all__ = ["DEFAULT_BURST_SECONDS", "DEFAULT_MIN_BURST", "TokenBucket", "default_burst"]

DEFAULT_BURST_SECONDS = 1.0
DEFAULT_MIN_BURST = 2.0
_MAX_NUDGES = 64  # float steps ready_at may add so that take() surely succeeds then


def default_burst(rate: float) -> float:
    """One second's worth of messages, at least DEFAULT_MIN_BURST."""
    if not math.isfinite(rate) or rate <= 0:
        return DEFAULT_MIN_BURST
    return max(DEFAULT_MIN_BURST, rate * DEFAULT_BURST_SECONDS)


class TokenBucket:
    """`rate` messages per second (>= 0) with bursts of up to `burst` (>= 1) messages."""

    __slots__ = ("_at", "_auto_burst", "_burst", "_rate", "_tokens")

    def __init__(self, rate: float, burst: float | None = None) -> None:
        self._rate = _check_rate(rate)
        self._auto_burst = burst is None  # the burst follows the rate (see set_rate)
        self._burst = _check_burst(default_burst(rate) if burst is None else burst)
        self._tokens = self._burst
        self._at: float | None = None  # when _tokens was last brought up to date

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> float:
        return self._burst

    def tokens(self, now: float) -> float:
        """Tokens available at `now` (a time before the last update counts as that update)."""
        return self._refilled(check_time(now))

    def take(self, now: float, n: int = 1) -> bool:
        """Take `n` tokens at `now` if there are enough; n <= 0 takes nothing and succeeds."""
        now = check_time(now)
        if n <= 0:
            return True
        self._advance(now)
        if self._tokens >= n:
            self._tokens -= n
            return True
        return False

    def ready_at(self, now: float, n: int = 1) -> float:
        """The first moment >= now at which `take(moment, n)` succeeds; inf if never
        (n > burst, or rate 0 with too few tokens)."""
        now = check_time(now)
        if n <= 0 or self._refilled(now) >= n:
            return now
        if n > self._burst or self._rate == 0:
            return math.inf
        base = now if self._at is None else max(now, self._at)
        moment = base + (n - self._refilled(base)) / self._rate
        for _ in range(_MAX_NUDGES):  # absorb the rounding of the division above
            if self._refilled(moment) >= n:
                break
            moment = math.nextafter(moment, math.inf)
        return moment

    def set_rate(self, now: float, rate: float) -> None:
        """Change the rate from `now` on. Tokens gained so far are kept, except that a bucket
        made with the default burst gets the new rate's default burst (a pair slowed to
        1/min may not burst as it did at 10/s), and its tokens are cut to it."""
        rate = _check_rate(rate)
        self._advance(check_time(now))
        self._rate = rate
        if self._auto_burst:
            self._burst = default_burst(rate)
            self._tokens = min(self._tokens, self._burst)

    def _refilled(self, now: float) -> float:
        if self._at is None or now <= self._at:
            return self._tokens
        return min(self._burst, self._tokens + (now - self._at) * self._rate)

    def _advance(self, now: float) -> None:
        self._tokens = self._refilled(now)
        if self._at is None or now > self._at:
            self._at = now


def _check_burst(burst: float) -> float:
    if not (isinstance(burst, (int, float)) and math.isfinite(burst) and burst >= 1):
        raise ValueError(f"burst must be a finite number >= 1, got {burst!r}")
    return float(burst)


def _check_rate(rate: float) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)):
        raise ValueError(f"rate must be a number of messages per second, got {rate!r}")
    if not (math.isfinite(rate) and rate >= 0):
        raise ValueError(f"rate must be finite and >= 0 messages per second, got {rate!r}")
    return float(rate)
