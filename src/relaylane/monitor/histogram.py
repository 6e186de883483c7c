"""A fixed-bucket histogram: constant memory however many values it sees. Pure.

`bounds` are the buckets' upper bounds, inclusive (Prometheus' `le`); values above the
last bound fall in an overflow bucket. Besides the counts it keeps the sum, the count
and the smallest and largest value seen.

`percentile` estimates like Prometheus' `histogram_quantile`: it finds the bucket that
holds the rank and interpolates linearly inside it, then clamps to the smallest and
largest value seen. The estimate is never further from the truth than the width of that
bucket, and exact when every value is the same.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass, field

from relaylane.monitor.metrics import LATENCY_BOUNDS

__all__ = ["LATENCY_BUCKETS", "TRANSACTION_BUCKETS", "Histogram"]

# Steps of at most x1.67 below one second (1, 1.5, 2, 3, 5, 7.5 per decade), so a
# percentile estimate stays within a third or so of the true value where it matters.
_FINE: tuple[float, ...] = tuple(
    round(m * 10.0**e, 6) for e in (-3, -2, -1) for m in (1, 1.5, 2, 3, 5, 7.5)
)
# One SMTP transaction with a relay (seconds): loopback relays answer in a millisecond,
# a slow ESP in seconds; the last bound is the default timeout after the final dot.
TRANSACTION_BUCKETS: tuple[float, ...] = (*_FINE, 1, 2, 5, 10, 20, 60, 120, 300, 600)
# Submission -> relay accepted (seconds): every bound of the stored latency metric
# (`monitor.metrics.LATENCY_BOUNDS`, up to three days), so Prometheus and the stored
# counts agree at each of them, plus the fine steps below one second.
LATENCY_BUCKETS: tuple[float, ...] = tuple(
    sorted({b for b in (*_FINE, *LATENCY_BOUNDS) if math.isfinite(b) and b >= 0.005})
)


@dataclass
class Histogram:
    bounds: tuple[float, ...]
    counts: list[int] = field(init=False)  # one per bound, then the overflow bucket
    sum: float = 0.0
    count: int = 0
    min: float | None = None
    max: float | None = None

    def __post_init__(self) -> None:
        pairs = zip(self.bounds, self.bounds[1:], strict=False)
        if not self.bounds or any(b >= c for b, c in pairs):
            raise ValueError(f"bounds must be increasing and not empty: {self.bounds!r}")
        if not all(math.isfinite(b) for b in self.bounds):
            raise ValueError(f"bounds must be finite (overflow is implied): {self.bounds!r}")
        self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        if math.isnan(value):
            return
        self.counts[bisect.bisect_left(self.bounds, value)] += 1
        self.sum += value
        self.count += 1
        self.min = value if self.min is None else min(self.min, value)
        self.max = value if self.max is None else max(self.max, value)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, values <= it) per bucket, ending with (inf, count)."""
        out: list[tuple[float, int]] = []
        running = 0
        for bound, n in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out

    def percentile(self, p: float) -> float | None:
        """An estimate of the p-th percentile (0..100); None when empty."""
        if not 0 <= p <= 100:
            raise ValueError(f"a percentile is between 0 and 100, not {p}")
        if self.count == 0 or self.min is None or self.max is None:
            return None
        rank = max(1.0, p / 100 * self.count)
        below = 0
        for index, n in enumerate(self.counts):
            if n and below + n >= rank:
                low = self.bounds[index - 1] if index > 0 else self.min
                high = self.bounds[index] if index < len(self.bounds) else self.max
                estimate = low + (high - low) * (rank - below) / n
                return min(max(estimate, self.min), self.max)
            below += n
        return self.max  # not reached: the counts add up to count
