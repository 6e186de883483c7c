"""Sums over a window, rates and latency percentiles from metric counts. Pure.

Rates and their denominators (None when the denominator is 0):

| rate | numerator | denominator |
|---|---|---|
| block_rate | blocked | answered (attempts the relay judged: not relay faults) |
| deferral_rate | deferred | answered |
| bounce_rate | every bounced:<class> | answered |
| bounce_rates[class] | bounced:<class> | answered |
| relay_fault_rate | relay_faults | attempts |
| throttle_rate | throttled | attempts |
| delivered_rate | delivered | sent (only relays that report deliveries) |
| complaint_rate | complaints | sent |
| unsubscribe_rate | unsubscribes | sent |
| open_rate, click_rate | opens, clicks (people only) | sent |

Counts come from different moments: an attempt counts when it is answered, a report
(delivery, bounce, complaint) when it arrives. Over short windows a rate about sent mail
can therefore exceed what the same window sent; the 24 h and 7 d windows are the ones
to judge by.

Latency percentiles come from the histogram (`latency_le:<bound>` buckets): the
nearest-rank percentile is located in its bucket exactly and interpolated linearly
inside it, so the estimate and the true value always share a bucket: the error is less
than that bucket's width (50 ms up to 0.1 s, 1 s up to 2 s, 20 s up to 30 s, 30 min up
to 1 h; each bound is at most 4 times the one before). A percentile in the last bucket
(over three days) reports that bucket's lower bound.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from relaylane.monitor.metrics import (
    BOUNCED_PREFIX,
    LATENCY_BOUNDS,
    LATENCY_PREFIX,
    Metric,
    latency_bucket_bound,
)
from relaylane.monitor.tally import BucketCount

__all__ = [
    "PERCENTILES",
    "WINDOWS",
    "Latency",
    "Rates",
    "bounces_by_class",
    "histogram",
    "latency",
    "percentile",
    "rates",
    "ratio",
    "sum_window",
]

# The standard rolling windows: name -> seconds.
WINDOWS: dict[str, float] = {"15m": 900.0, "1h": 3_600.0, "24h": 86_400.0, "7d": 604_800.0}
PERCENTILES: dict[str, float] = {"p50": 0.50, "p95": 0.95, "p99": 0.99}


def sum_window(
    rows: Iterable[BucketCount],
    since: float,
    until: float,
    *,
    relay: str | None = None,
    provider: str | None = None,
    lane: str | None = None,
    campaign: str | None = None,
) -> Counter[str]:
    """Each metric's total over the buckets starting in [since, until) that match every
    filter given (None: any)."""
    wanted = {"relay": relay, "provider": provider, "lane": lane, "campaign": campaign}
    totals: Counter[str] = Counter()
    for row in rows:
        if not since <= row.start < until:
            continue
        if any(v is not None and getattr(row, k) != v for k, v in wanted.items()):
            continue
        totals[row.metric] += row.n
    return totals


def ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator > 0 else None


def bounces_by_class(totals: Mapping[str, int]) -> dict[str, int]:
    """bounced:<class> totals by class name, classes with none left out."""
    return {
        name.removeprefix(BOUNCED_PREFIX): n
        for name, n in sorted(totals.items())
        if name.startswith(BOUNCED_PREFIX) and n
    }


@dataclass(frozen=True, slots=True)
class Rates:
    """Rates over one window; see the module's table for each denominator."""

    block_rate: float | None
    deferral_rate: float | None
    bounce_rate: float | None
    relay_fault_rate: float | None
    throttle_rate: float | None
    delivered_rate: float | None
    complaint_rate: float | None
    unsubscribe_rate: float | None
    open_rate: float | None
    click_rate: float | None
    bounce_rates: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rates(totals: Mapping[str, int]) -> Rates:
    """The rates of one window's totals."""

    def n(metric: Metric) -> int:
        return totals.get(metric.value, 0)

    answered, attempts, sent = n(Metric.ANSWERED), n(Metric.ATTEMPTS), n(Metric.SENT)
    by_class = bounces_by_class(totals)
    return Rates(
        block_rate=ratio(n(Metric.BLOCKED), answered),
        deferral_rate=ratio(n(Metric.DEFERRED), answered),
        bounce_rate=ratio(sum(by_class.values()), answered),
        relay_fault_rate=ratio(n(Metric.RELAY_FAULTS), attempts),
        throttle_rate=ratio(n(Metric.THROTTLED), attempts),
        delivered_rate=ratio(n(Metric.DELIVERED), sent),
        complaint_rate=ratio(n(Metric.COMPLAINTS), sent),
        unsubscribe_rate=ratio(n(Metric.UNSUBSCRIBES), sent),
        open_rate=ratio(n(Metric.OPENS), sent),
        click_rate=ratio(n(Metric.CLICKS), sent),
        bounce_rates={c: k / answered for c, k in by_class.items()} if answered else {},
    )


def histogram(totals: Mapping[str, int]) -> list[tuple[float, int]]:
    """The latency histogram in `totals`: (upper bound, count) for every bucket, in order."""
    counts = dict.fromkeys(LATENCY_BOUNDS, 0)
    for name, n in totals.items():
        bound = latency_bucket_bound(name) if name.startswith(LATENCY_PREFIX) else None
        if bound is not None:
            counts[bound] += n
    return list(counts.items())


def percentile(buckets: Sequence[tuple[float, int]], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) of a histogram of (upper bound, count) buckets in
    increasing order, each holding the values in (previous bound, bound] (the first from
    0): the nearest-rank value's bucket, interpolated linearly inside it. None when empty."""
    total = sum(n for _, n in buckets)
    if total <= 0:
        return None
    rank = max(1, math.ceil(q * total - 1e-9))
    lower, seen = 0.0, 0
    for upper, n in buckets:
        if n > 0 and seen + n >= rank:
            if math.isinf(upper):
                return lower
            share = (rank - seen) / n
            return min(upper, lower + (upper - lower) * share)
        seen += n
        lower = upper
    return lower


@dataclass(frozen=True, slots=True)
class Latency:
    """Delivery latency (submit -> relay accepted) over one window, in seconds."""

    count: int
    mean: float | None
    p50: float | None
    p95: float | None
    p99: float | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def latency(totals: Mapping[str, int]) -> Latency:
    """Count, mean and percentiles of the latency histogram in `totals`."""
    buckets = histogram(totals)
    count = totals.get(Metric.LATENCY_COUNT.value, 0)
    total_ms = totals.get(Metric.LATENCY_SUM_MS.value, 0)
    return Latency(
        count=count,
        mean=total_ms / count / 1000 if count else None,
        p50=percentile(buckets, PERCENTILES["p50"]),
        p95=percentile(buckets, PERCENTILES["p95"]),
        p99=percentile(buckets, PERCENTILES["p99"]),
    )
