"""One worker's view of its relays: circuit breakers and per-lane routers.

The decisions are the pure functions in relaylane.policy (breaker, routing); this
class only holds their current state and answers "where may this delivery go now?".
A relay whose breaker is open is skipped; once its cool-down has passed, exactly one
delivery is let through as a probe (half-open) and its answer closes or reopens it.
"""

from __future__ import annotations

from dataclasses import dataclass

from relaylane.config.models import Config, LaneConfig
from relaylane.policy import breaker as br
from relaylane.policy.routing import Route, Router
from relaylane.records import Claimed


@dataclass(frozen=True, slots=True)
class RelayState:
    """A snapshot for progress displays and `status`."""

    relay: str
    state: str
    reopens_at: float | None
    reason: str


class RelayBoard:
    def __init__(self, config: Config) -> None:
        self._breakers: dict[str, br.Breaker] = {r.name: br.closed() for r in config.relay}
        self._probe: dict[str, int] = {}  # relay -> id of the delivery sent as its probe
        self._routers: dict[str, Router] = {
            lane.name: Router(
                Route(
                    lane=lane.name,
                    strategy=lane.strategy,
                    relays=tuple((ref.name, ref.weight) for ref in lane.relays),
                )
            )
            for lane in config.lane
        }

    # -- routing ------------------------------------------------------------------
    def choose(
        self,
        lane: LaneConfig,
        claim: Claimed,
        tried: set[str],
        now: float,
        group: str | None = None,
    ) -> str | None:
        """The relay for this delivery now, or None when no relay of its lane may take it.

        `group` is the recipient's provider group (sticky's key); the recipient domain
        when unknown.

        A blocked delivery is pinned to the relay that refused it (a reputation problem
        never moves to another path); a deferred one prefers the relay that deferred it;
        otherwise the lane's strategy decides among relays whose breaker allows it.
        """
        names = {ref.name for ref in lane.relays}

        def usable(relay: str) -> bool:
            return relay in names and relay not in tried and self._admits(relay, now)

        previous = claim.relay
        if claim.pinned and previous is not None:
            chosen: str | None = previous if usable(previous) else None
        elif previous is not None and usable(previous):
            chosen = previous
        else:  # sticky: one provider (group) always sees one relay of the lane
            key = group or claim.recipient.rpartition("@")[2]
            chosen = self._routers[lane.name].choose(key, usable)
        if chosen is not None:
            self._take_probe(chosen, claim.id, now)
        return chosen

    def _admits(self, relay: str, now: float) -> bool:
        b = self._breakers[relay]
        if b.state is br.BreakerState.HALF_OPEN:
            return False  # its probe is in flight
        return br.is_available(b, now)

    def _take_probe(self, relay: str, delivery_id: int, now: float) -> None:
        b = self._breakers[relay]
        if b.state is br.BreakerState.OPEN:
            self._breakers[relay] = br.probe(b, now)
            self._probe[relay] = delivery_id

    def may_send(self, relay: str, delivery_id: int, now: float) -> bool:
        """Checked when a connection picks the delivery up: the breaker may have opened
        since it was routed, in which case it is routed again without an attempt."""
        b = self._breakers[relay]
        if b.state is br.BreakerState.CLOSED:
            return True
        if b.state is br.BreakerState.HALF_OPEN:
            return self._probe.get(relay) == delivery_id
        return False

    # -- feedback -----------------------------------------------------------------
    def on_fault(self, relay: str, now: float, reason: str) -> br.Breaker | None:
        """Record an infrastructure fault; returns the breaker when this fault (re)opened
        it, for the caller to report."""
        before = self._breakers[relay]
        after = br.on_fault(before, now, reason)
        self._breakers[relay] = after
        self._probe.pop(relay, None)
        return after if br.reopens_at(after) != br.reopens_at(before) else None

    def on_answer(self, relay: str, delivery_id: int) -> bool:
        """The relay answered (whatever it said): its infrastructure works. Only the probe
        closes an open breaker; a send that began before the fault changes nothing.
        Returns True when this answer closed the breaker."""
        b = self._breakers[relay]
        if b.state is br.BreakerState.HALF_OPEN and self._probe.get(relay) == delivery_id:
            self._breakers[relay] = br.on_success(b)
            self._probe.pop(relay, None)
            return True
        return False

    def retry_at(self, lane: LaneConfig, now: float) -> float:
        """When a relay of the lane may next be tried (the earliest breaker reopening)."""
        times = [
            br.reopens_at(self._breakers[ref.name]) or now + br.INITIAL_COOL_DOWN
            for ref in lane.relays
        ]
        return max(now + 1.0, min(times))

    def snapshot(self) -> list[RelayState]:
        return [
            RelayState(name, b.state.value, br.reopens_at(b), b.reason)
            for name, b in self._breakers.items()
        ]
