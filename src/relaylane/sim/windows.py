"""What a relay saw, over time: the most acceptances in any window of a given width (how
tests and benchmarks check a rate limit at the relay, as an upper bound)."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["most_in_window"]


def most_in_window(stamps: Iterable[float], width: float) -> int:
    """The most stamps in any half-open window [t, t + width)."""
    ordered = sorted(stamps)
    best = start = 0
    for end, t in enumerate(ordered):
        while t - ordered[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best
