"""Counters a worker keeps while it runs: for live progress and the demo's summary.

The store holds the truth; these are cheap in-memory tallies of this process's work,
in constant memory (durations and latencies go to fixed-bucket histograms), read by the
demo, `relaylane worker`'s summary and the Prometheus collector at scrape time.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from relaylane.monitor.histogram import LATENCY_BUCKETS, TRANSACTION_BUCKETS, Histogram
from relaylane.policy.vocabulary import Outcome
from relaylane.records import DeliveryResult


@dataclass
class RelayTally:
    outcomes: Counter[str] = field(default_factory=Counter)
    # seconds per answered transaction (relay faults are not timed: they are counted)
    durations: Histogram = field(default_factory=lambda: Histogram(TRANSACTION_BUCKETS))
    failovers: int = 0  # deliveries moved from this relay to another of the lane


@dataclass
class LaneTally:
    states: Counter[str] = field(default_factory=Counter)
    # queued -> accepted by the relay, seconds
    latencies: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS))


@dataclass
class WorkerStats:
    relays: dict[str, RelayTally] = field(default_factory=dict)
    lanes: dict[str, LaneTally] = field(default_factory=dict)
    recorded: int = 0  # results committed to the store
    claimed: int = 0  # deliveries claimed (leased) by this worker
    stale: int = 0  # results refused because the lease had passed to another worker

    @property
    def sent(self) -> int:
        """Deliveries this worker had accepted by a relay."""
        return sum(lane.states.get("sent", 0) for lane in self.lanes.values())

    def totals(self) -> dict[str, int]:
        """Deliveries finished by this worker, by state, over all lanes."""
        out: Counter[str] = Counter()
        for lane in self.lanes.values():
            out.update(lane.states)
        return dict(out)

    def attempt(self, relay: str, outcome: Outcome, duration: float, failover: bool) -> None:
        tally = self.relays.get(relay)
        if tally is None:  # built once: a histogram is not free to set up
            tally = self.relays[relay] = RelayTally()
        tally.outcomes[outcome.value] += 1
        if outcome is not Outcome.RELAY_FAULT:
            tally.durations.observe(duration)
        if failover:
            tally.failovers += 1

    def finished(self, lane: str, result: DeliveryResult, created_at: float) -> None:
        tally = self.lanes.get(lane)
        if tally is None:
            tally = self.lanes[lane] = LaneTally()
        tally.states[result.state.value] += 1
        if result.sent_at is not None:
            tally.latencies.observe(max(0.0, result.sent_at - created_at))
