"""relaylane's Prometheus exposition, built at scrape time.

`RelaylaneCollector` reads the in-process `WorkerStats` (counters and fixed-bucket
histograms the worker keeps anyway: the send path pays nothing for metrics) and the last
`StoreSnapshot` (queue depth and age, relay health; see `monitor.gauges`). `Metrics`
ties it to its own registry and renders the text format; the store is read at most once
per `CACHE_SECONDS`, off the event loop, and the stats are read on the loop that owns
them. Every family is listed in docs/monitoring.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from relaylane.config.models import Config
from relaylane.delivery.stats import WorkerStats
from relaylane.monitor.gauges import (
    CACHE_SECONDS,
    SnapshotCache,
    StoreSnapshot,
)
from relaylane.monitor.histogram import Histogram
from relaylane.policy.health import HealthState
from relaylane.store.backlog import WAITING_STATES

__all__ = ["CONTENT_TYPE_LATEST", "HEALTH_STATES", "Metrics", "RelaylaneCollector"]

# Every state a relay_health gauge is written for; a relay without a row is healthy.
HEALTH_STATES: tuple[str, ...] = tuple(s.value for s in HealthState)


class RelaylaneCollector(Collector):
    def __init__(
        self,
        config: Config,
        stats: WorkerStats | None,
        snapshot: Callable[[], StoreSnapshot | None],
    ) -> None:
        self.config = config
        self.stats = stats  # None: no worker in this process (only the gauges)
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        if self.stats is not None:
            yield from worker_families(self.stats)
        snapshot = self.snapshot()
        up = GaugeMetricFamily(
            "relaylane_store_up", "1 when the last read of the store for these gauges worked"
        )
        up.add_metric([], 0.0 if snapshot is None else 1.0)
        yield up
        if snapshot is not None:
            yield from queue_families(self.config, snapshot)
            if snapshot.health is not None:
                yield health_family(self.config, snapshot)


def worker_families(stats: WorkerStats) -> Iterator[Metric]:
    """Counters and histograms of this process's worker since it started."""
    attempts = CounterMetricFamily(
        "relaylane_attempts_total",
        "SMTP transactions with a relay, by outcome",
        labels=["relay", "outcome"],
    )
    failovers = CounterMetricFamily(
        "relaylane_failovers_total",
        "Deliveries moved from this relay to another of its lane after a relay fault",
        labels=["relay"],
    )
    transaction = HistogramMetricFamily(
        "relaylane_relay_transaction_seconds",
        "Duration of one answered SMTP transaction with the relay",
        labels=["relay"],
    )
    for relay, tally in sorted(stats.relays.items()):
        for outcome, n in sorted(tally.outcomes.items()):
            attempts.add_metric([relay, outcome], n)
        failovers.add_metric([relay], tally.failovers)
        _add_histogram(transaction, [relay], tally.durations)
    yield from (attempts, failovers, transaction)
    yield from _lane_families(stats)
    yield from _result_families(stats)


def _lane_families(stats: WorkerStats) -> Iterator[Metric]:
    finished = CounterMetricFamily(
        "relaylane_deliveries_finished_total",
        "Deliveries this worker finished handling, by the state it left them in",
        labels=["lane", "state"],
    )
    latency = HistogramMetricFamily(
        "relaylane_delivery_latency_seconds",
        "Submission to acceptance by a relay, per accepted delivery",
        labels=["lane"],
    )
    for lane, tally in sorted(stats.lanes.items()):
        for state, n in sorted(tally.states.items()):
            finished.add_metric([lane, state], n)
        _add_histogram(latency, [lane], tally.latencies)
    yield from (finished, latency)


def _result_families(stats: WorkerStats) -> Iterator[Metric]:
    recorded = CounterMetricFamily(
        "relaylane_results_recorded_total", "Delivery results committed to the store"
    )
    recorded.add_metric([], stats.recorded)
    stale = CounterMetricFamily(
        "relaylane_results_stale_total",
        "Results refused because the lease had passed to another worker",
    )
    stale.add_metric([], stats.stale)
    yield from (recorded, stale)


def _add_histogram(family: HistogramMetricFamily, labels: list[str], h: Histogram) -> None:
    buckets = [(_le(bound), float(n)) for bound, n in h.cumulative()]
    family.add_metric(labels, buckets, h.sum)


def _le(bound: float) -> str:
    """A bucket's `le` label as Prometheus writes it: "0.005", "1.0", "+Inf"."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def queue_families(config: Config, snapshot: StoreSnapshot) -> Iterator[Metric]:
    """Every configured lane, with zeros, plus any other lane the store still holds."""
    lanes = _names((lane.name for lane in config.lane), (k[0] for k in snapshot.depth))
    depth = GaugeMetricFamily(
        "relaylane_queue_depth",
        "Deliveries not yet final (queued, sending, deferred, blocked, held)",
        labels=["lane", "state"],
    )
    oldest = GaugeMetricFamily(
        "relaylane_queue_oldest_age_seconds",
        "Age of the lane's oldest delivery not yet final (0 when none waits)",
        labels=["lane"],
    )
    for lane in lanes:
        for state in WAITING_STATES:
            depth.add_metric([lane, state], snapshot.depth.get((lane, state), 0))
        oldest.add_metric([lane], snapshot.oldest_age(lane))
    yield from (depth, oldest)


def health_family(config: Config, snapshot: StoreSnapshot) -> GaugeMetricFamily:
    """1 for each configured relay's (and relay x provider's) current state, 0 for the
    others; a relay without a row for the relay as a whole (provider "") is healthy."""
    family = GaugeMetricFamily(
        "relaylane_relay_health",
        "Health of a relay (provider empty) or of a relay x provider: 1 for its state",
        labels=["relay", "provider", "state"],
    )
    configured = {relay.name for relay in config.relay}
    current = {(row.relay, row.provider): row.state for row in snapshot.health or ()}
    for name in configured:
        current.setdefault((name, ""), HealthState.HEALTHY.value)
    for (relay, provider), state in sorted(current.items()):
        if relay not in configured:
            continue  # a relay no longer configured
        for known in _names(HEALTH_STATES, [state]):
            family.add_metric([relay, provider, known], 1.0 if known == state else 0.0)
    return family


def _names(first: Iterable[str], then: Iterable[str]) -> list[str]:
    """`first` in order, then any new names of `then`, sorted."""
    out = list(dict.fromkeys(first))
    seen = set(out)
    return out + sorted({n for n in then if n not in seen})


class Metrics:
    """A registry holding only the relaylane collector, and the store cache it reads."""

    def __init__(
        self,
        config: Config,
        engine: sa.Engine,
        stats: WorkerStats | None,
        now: Callable[[], float],
        cache_seconds: float = CACHE_SECONDS,
    ) -> None:
        self.cache = SnapshotCache(engine, now, cache_seconds)
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = RelaylaneCollector(config, stats, lambda: self.cache.snapshot)
        self.registry.register(self.collector)

    async def render(self) -> bytes:
        """The text exposition (refreshing the store snapshot first when stale)."""
        await self.cache.refresh()
        return generate_latest(self.registry)
