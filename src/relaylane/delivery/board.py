"""One worker's view of its relays: path health and per-lane routers.

The decisions are pure functions in relaylane.policy (health, routing); this class only
holds their current state and answers "where may this delivery go now?". A relay paused
for an infrastructure cause is skipped by routing (its deliveries fail over within the
lane); a relay x provider paused for reputation or complaints is still chosen as usual,
and the worker's gate then holds the delivery there, so nothing moves to another path.
"""

from __future__ import annotations

from dataclasses import dataclass

from relaylane.config.models import Config, LaneConfig
from relaylane.delivery.health import HealthBoard
from relaylane.policy.health import RELAY_WIDE
from relaylane.policy.routing import Route, Router
from relaylane.policy.vocabulary import Strategy
from relaylane.records import Claimed

RETRY_WITHOUT_RELAY = 30.0  # seconds: when no relay of a lane says when it comes back


@dataclass(frozen=True, slots=True)
class RelayState:
    """A snapshot of a relay's own health, for progress displays and `status`."""

    relay: str
    state: str  # healthy | degraded | paused | probing
    reopens_at: float | None  # paused: when probing may start
    reason: str
    cause: str = "none"


class RelayBoard:
    def __init__(self, config: Config) -> None:
        self.health = HealthBoard(config)
        self._relays = [r.name for r in config.relay]
        self._lanes = {lane.name: lane for lane in config.lane}
        self._routers: dict[tuple[str, Strategy], Router] = {}

    def choose(
        self,
        lane: LaneConfig,
        claim: Claimed,
        tried: set[str],
        now: float,
        group: str | None = None,
        strategy: Strategy | None = None,
    ) -> str | None:
        """The relay for this delivery now, or None when no relay of its lane may take it.

        `group` is the recipient's provider group (sticky's key); the recipient domain
        when unknown.

        A blocked delivery is pinned to the relay that refused it (a reputation problem
        never moves to another path); a deferred one prefers the relay that deferred it;
        otherwise the lane's strategy (or a campaign's own) decides among relays that are
        not paused for an infrastructure cause (nor drained away from by an operator).
        """
        names = {ref.name for ref in lane.relays}

        def usable(relay: str) -> bool:
            return (
                relay in names
                and relay not in tried
                and relay != claim.avoid
                and self.health.relay_usable(relay, now)
            )

        previous = claim.relay
        if claim.pinned and previous is not None:
            return previous if usable(previous) else None
        if previous is not None and usable(previous):
            return previous
        key = group or claim.recipient.rpartition("@")[2]  # sticky: a provider, one relay
        return self._router(lane.name, strategy or lane.strategy).choose(key, usable)

    def _router(self, lane: str, strategy: Strategy) -> Router:
        found = self._routers.get((lane, strategy))
        if found is None:
            refs = self._lanes[lane].relays
            route = Route(lane, strategy, tuple((ref.name, ref.weight) for ref in refs))
            found = self._routers[(lane, strategy)] = Router(route)
        return found

    def retry_at(self, lane: LaneConfig, now: float) -> float:
        """When a relay of the lane may next be tried (the earliest cool-down end)."""
        times = [
            self.health.next_usable(ref.name, now) or now + RETRY_WITHOUT_RELAY
            for ref in lane.relays
        ]
        return max(now + 1.0, min(times))

    def snapshot(self) -> list[RelayState]:
        out = []
        for name in self._relays:
            h = self.health.path(name, RELAY_WIDE)
            out.append(RelayState(name, h.state.value, h.until, h.reason, h.cause.value))
        return out
