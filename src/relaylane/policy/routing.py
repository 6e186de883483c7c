"""Choosing a relay inside ONE lane. Never random, never outside the lane.

A `Router` holds the few deterministic counters its strategy needs (smooth-weighted current
weights, the round-robin cursor). It is not thread-safe; use one per lane per event loop.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

from relaylane.policy.vocabulary import Strategy

__all__ = ["Route", "Router", "sticky_score"]


@dataclass(frozen=True, slots=True)
class Route:
    """A lane's relays, in configured order, with their weights (used by `weighted` only)."""

    lane: str
    strategy: Strategy
    relays: tuple[tuple[str, int], ...]  # (relay name, weight)

    def __post_init__(self) -> None:
        names = [name for name, _ in self.relays]
        problems = []
        if not names:
            problems.append("a lane needs at least one relay")
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            problems.append(f"relays listed twice: {', '.join(duplicates)}")
        bad = [f"{name}={weight!r}" for name, weight in self.relays if weight < 1]
        if bad:
            problems.append(f"weights must be integers >= 1: {', '.join(bad)}")
        if problems:
            raise ValueError(f"lane {self.lane!r}: " + "; ".join(problems))


def sticky_score(recipient_domain: str, relay: str) -> int:
    """The rendezvous score of (domain, relay): BLAKE2b, 64 bits, stable across runs.

    The domain is compared lower-case and without a trailing dot. Both parts are
    length-prefixed, so no two (domain, relay) pairs hash the same input.
    """
    domain = recipient_domain.lower().rstrip(".")
    data = f"{len(domain)}:{domain}{len(relay)}:{relay}".encode()
    digest = hashlib.blake2b(data, digest_size=8, person=b"relaylane-hrw").digest()
    return int.from_bytes(digest, "big")


class Router:
    """Picks one relay of a lane per attempt, by the lane's strategy."""

    def __init__(self, route: Route) -> None:
        self.route = route
        self._index = {name: i for i, (name, _) in enumerate(route.relays)}
        self._rr_next = 0  # round_robin: configured index to start looking from
        self._current: dict[str, int] = {}  # weighted: current weight per available relay

    def choose(self, recipient_domain: str, available: Callable[[str], bool]) -> str | None:
        """The relay for the next attempt, or None when no relay of the lane is available.

        `available` is asked once about each of the lane's relays, in configured order.
        """
        candidates = [(name, weight) for name, weight in self.route.relays if available(name)]
        if not candidates:
            return None
        strategy = self.route.strategy
        if strategy is Strategy.FAILOVER:
            return candidates[0][0]
        if strategy is Strategy.ROUND_ROBIN:
            return self._round_robin([name for name, _ in candidates])
        if strategy is Strategy.WEIGHTED:
            return self._weighted(candidates)
        return self._sticky(recipient_domain, [name for name, _ in candidates])

    def _round_robin(self, names: list[str]) -> str:
        """The first available relay at or after the cursor (wrapping); the cursor moves past it.

        An unavailable relay is skipped without disturbing the others' turns.
        """
        count = len(self.route.relays)
        pick = min(names, key=lambda n: (self._index[n] - self._rr_next) % count)
        self._rr_next = (self._index[pick] + 1) % count
        return pick

    def _weighted(self, candidates: list[tuple[str, int]]) -> str:
        """Smooth weighted round robin (nginx): add each weight to its current weight, pick the
        largest (ties: configured order), subtract the total from it.

        Over the available relays only. When the set of available relays changes, the current
        weights restart from zero, so every run of a fixed set repeats with period equal to its
        total weight and holds exact proportions in every window of that length.
        """
        if set(self._current) != {name for name, _ in candidates}:
            self._current = {name: 0 for name, _ in candidates}
        total = 0
        best: str | None = None
        for name, weight in candidates:
            self._current[name] += weight
            total += weight
            if best is None or self._current[name] > self._current[best]:
                best = name
        assert best is not None  # candidates is not empty
        self._current[best] -= total
        return best

    def _sticky(self, recipient_domain: str, names: list[str]) -> str:
        """Rendezvous hashing: the available relay with the highest score for this domain.

        Weights are ignored. When a relay goes away only its domains move; they come back with
        it. Ties (vanishingly rare) go to the earlier relay in configured order.
        """
        return max(names, key=lambda n: (sticky_score(recipient_domain, n), -self._index[n]))
