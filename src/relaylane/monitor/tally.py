"""The worker's in-memory metric counts, drained to the store about once a second. Pure.

Filling it is a dict increment per metric; nothing is validated on this path (the store
refuses names outside the vocabulary when the counts are written).
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

from relaylane.monitor.metrics import Metric, latency_bucket, metrics_of_attempt
from relaylane.policy.vocabulary import BounceClass, Outcome, Stage

__all__ = ["CAMPAIGN_KEY", "MINUTE", "BucketCount", "MetricTally", "campaign_of", "minute_start"]

MINUTE = 60.0

# (minute start, relay, provider, lane, campaign, metric)
_Key = tuple[float, str, str, str, str, str]


CAMPAIGN_KEY = "campaign"  # the message metadata key that names its campaign
_CAMPAIGN_MAX = 128  # metric_buckets.campaign's length


def campaign_of(meta: str | None) -> str:
    """The campaign a message belongs to: its metadata's "campaign" value (`meta` is the
    stored JSON object), else "". Never raises."""
    if not meta:
        return ""
    try:
        value = json.loads(meta).get(CAMPAIGN_KEY)
    except (ValueError, AttributeError):
        return ""
    return value[:_CAMPAIGN_MAX] if isinstance(value, str) else ""


def minute_start(at: float) -> float:
    """The start of the minute (unix seconds) that contains `at`."""
    return float(at // MINUTE * MINUTE)


@dataclass(frozen=True, slots=True)
class BucketCount:
    """`n` more of `metric` in the minute starting at `start`, for one relay, provider,
    lane and campaign ("" in a dimension: not about one)."""

    start: float
    relay: str
    provider: str
    lane: str
    campaign: str
    metric: str
    n: int


class MetricTally:
    """Counts by (minute, relay, provider, lane, campaign, metric) until drained."""

    def __init__(self) -> None:
        self._counts: dict[_Key, int] = {}

    def __len__(self) -> int:
        return len(self._counts)

    def count(
        self,
        at: float,
        relay: str,
        provider: str,
        lane: str,
        campaign: str,
        metric: str,
        n: int = 1,
    ) -> None:
        """Add `n` to `metric` in the minute containing `at`."""
        key = (minute_start(at), relay, provider, lane, campaign, str(metric))
        self._counts[key] = self._counts.get(key, 0) + n

    def attempt(
        self,
        at: float,
        relay: str,
        provider: str,
        lane: str,
        campaign: str,
        *,
        stage: Stage,
        outcome: Outcome,
        bounce_class: BounceClass,
    ) -> None:
        """Count one attempt's metrics (`metrics_of_attempt` of its stage, outcome and
        bounce class)."""
        start = minute_start(at)
        counts = self._counts
        for metric in metrics_of_attempt(stage, outcome, bounce_class):
            key = (start, relay, provider, lane, campaign, metric)
            counts[key] = counts.get(key, 0) + 1

    def latency(
        self, at: float, relay: str, provider: str, lane: str, campaign: str, seconds: float
    ) -> None:
        """Record one delivery's latency (submit -> relay accepted) in the histogram."""
        self.count(at, relay, provider, lane, campaign, latency_bucket(seconds))
        self.count(at, relay, provider, lane, campaign, Metric.LATENCY_COUNT.value)
        millis = round(seconds * 1000) if math.isfinite(seconds) and seconds > 0 else 0
        self.count(at, relay, provider, lane, campaign, Metric.LATENCY_SUM_MS.value, millis)

    def drain(self) -> list[BucketCount]:
        """Every count held, as rows, and start again from nothing."""
        counts, self._counts = self._counts, {}
        return [BucketCount(*key, n) for key, n in counts.items() if n]

    def restore(self, rows: Iterable[BucketCount]) -> None:
        """Take back drained rows the store could not write (they go with the next drain)."""
        for r in rows:
            key = (r.start, r.relay, r.provider, r.lane, r.campaign, r.metric)
            self._counts[key] = self._counts.get(key, 0) + r.n
