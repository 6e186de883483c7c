"""Counters a worker keeps while it runs: for live progress and the demo's summary.

The store holds the truth; these are cheap in-memory tallies of this process's work.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from relaylane.policy.vocabulary import Outcome
from relaylane.records import DeliveryResult


@dataclass
class RelayTally:
    outcomes: Counter[str] = field(default_factory=Counter)
    durations: list[float] = field(default_factory=list)  # seconds per answered transaction
    failovers: int = 0  # deliveries moved from this relay to another of the lane


@dataclass
class LaneTally:
    states: Counter[str] = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # queued -> accepted, seconds


@dataclass
class WorkerStats:
    relays: dict[str, RelayTally] = field(default_factory=dict)
    lanes: dict[str, LaneTally] = field(default_factory=dict)
    recorded: int = 0  # results committed to the store
    stale: int = 0  # results refused because the lease had passed to another worker

    def totals(self) -> dict[str, int]:
        """Deliveries finished by this worker, by state, over all lanes."""
        out: Counter[str] = Counter()
        for lane in self.lanes.values():
            out.update(lane.states)
        return dict(out)

    def attempt(self, relay: str, outcome: Outcome, duration: float, failover: bool) -> None:
        tally = self.relays.setdefault(relay, RelayTally())
        tally.outcomes[outcome.value] += 1
        if outcome is not Outcome.RELAY_FAULT:
            tally.durations.append(duration)
        if failover:
            tally.failovers += 1

    def finished(self, lane: str, result: DeliveryResult, created_at: float) -> None:
        tally = self.lanes.setdefault(lane, LaneTally())
        tally.states[result.state.value] += 1
        if result.sent_at is not None:
            tally.latencies.append(result.sent_at - created_at)


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile (0..100) by nearest rank; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]
