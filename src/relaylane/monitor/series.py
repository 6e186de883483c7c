"""Time series of metric counts for charts: stored bucket totals put into equal steps over
a range (a minute over the last hour, ten minutes over a day, an hour over a week), with
latency percentiles per step. Pure.

Buckets are minute rows for the last two days and hour rows before that (see
`store.metrics`); a step never splits a bucket as long as it is a whole number of the
buckets' size, which every `RANGES` step is.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from relaylane.monitor.metrics import LATENCY_BOUNDS, LATENCY_PREFIX, Metric, bounced
from relaylane.monitor.rates import PERCENTILES, histogram, percentile
from relaylane.policy.vocabulary import BounceClass

__all__ = ["CHART_METRICS", "RANGES", "ChartRange", "Series", "series", "series_metrics"]


@dataclass(frozen=True, slots=True)
class ChartRange:
    """A chart's span and the width of one point, both in seconds."""

    seconds: float
    step: float


# The ranges the dashboard charts: name -> (span, step).
RANGES: dict[str, ChartRange] = {
    "1h": ChartRange(3_600.0, 60.0),
    "24h": ChartRange(86_400.0, 600.0),
    "7d": ChartRange(604_800.0, 3_600.0),
}

# The counts charted, in the order of their lines.
CHART_METRICS: tuple[str, ...] = (
    Metric.SENT.value,
    Metric.DEFERRED.value,
    Metric.BLOCKED.value,
    "bounced",  # every bounced:<class>, summed
    Metric.COMPLAINTS.value,
    Metric.OPENS.value,
    Metric.CLICKS.value,
)
_LATENCY_NAMES = tuple(
    LATENCY_PREFIX + ("inf" if math.isinf(b) else format(b, "g")) for b in LATENCY_BOUNDS
)


def series_metrics() -> list[str]:
    """The stored metric names a chart reads: the counts, every bounce class and the
    latency histogram."""
    counts = [m for m in CHART_METRICS if m != "bounced"]
    return [*counts, *(bounced(c) for c in BounceClass), *_LATENCY_NAMES]


@dataclass(frozen=True, slots=True)
class Series:
    """Aligned columns, one value per step: `times` are step starts (Unix seconds)."""

    times: list[float]
    counts: dict[str, list[int]]
    latency: dict[str, list[float | None]]  # p50/p95/p99 in seconds; None: nothing sent

    def as_dict(self) -> dict[str, Any]:
        return {"times": self.times, "counts": self.counts, "latency": self.latency}


def series(rows: Sequence[tuple[float, str, int]], until: float, chart: ChartRange) -> Series:
    """`rows` of (bucket start, metric, total) into the steps of `chart` ending at `until`
    (the last step holds `until`). Rows outside the range are ignored."""
    step = chart.step
    last = math.floor(until / step) * step
    count = round(chart.seconds / step)
    first = last - (count - 1) * step
    per_step: list[Counter[str]] = [Counter() for _ in range(count)]
    for start, metric, n in rows:
        index = int((start - first) // step)
        if 0 <= index < count:
            per_step[index]["bounced" if metric.startswith("bounced:") else metric] += n
    times = [first + i * step for i in range(count)]
    counts = {m: [c.get(m, 0) for c in per_step] for m in CHART_METRICS}
    buckets = [histogram(c) for c in per_step]
    latency = {name: [percentile(b, q) for b in buckets] for name, q in PERCENTILES.items()}
    return Series(times, counts, latency)
