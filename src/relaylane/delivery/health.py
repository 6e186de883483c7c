"""One worker's view of path health, over the pure decisions in relaylane.policy.health.

The worker asks `relay_usable` while routing (an infrastructure pause sends deliveries to
the lane's other relays) and `gate` just before a send (a reputation, complaint or
operator pause holds the delivery on its path; a probing path lets a few canaries
through). Answers come back through `on_answer`; `tick` starts probes when cool-downs
end. Transitions are collected for the store (`drain`), and states written by other
workers or operators are adopted (`adopt`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from relaylane.config.models import Config
from relaylane.policy import health as ph
from relaylane.policy.health import RELAY_WIDE, HealthState, PathCounts, PathHealth, Transition
from relaylane.policy.vocabulary import BounceClass, Outcome
from relaylane.store.health import StoredPath

PROBE_RECHECK = 60.0  # a delivery held while its path probes is looked at again after this
HOLD_AT_LEAST = 5.0  # a hold is never due sooner than this (no claim-and-hold spinning)
CANARY_TIMEOUT = 120.0  # a canary place is given back when no answer came in this long

Key = tuple[str, str]


class GateAction(StrEnum):
    SEND = "send"  # go ahead
    AVOID = "avoid"  # this relay is out (infrastructure): route to another of the lane
    HOLD = "hold"  # wait on this path until `until`


@dataclass(frozen=True, slots=True)
class Gate:
    action: GateAction
    until: float | None = None  # HOLD: when to look again (None: when released)
    reason: str = ""


SEND = Gate(GateAction.SEND)
NEVER_CHANGED = ph.healthy(0.0)  # a path with no transition yet


class HealthBoard:
    def __init__(self, config: Config) -> None:
        self.rules = config.health.rules()
        self.complaint_providers = frozenset(config.health.complaint_providers)
        self._relays = [r.name for r in config.relay]
        self._paths: dict[Key, PathHealth] = {}
        self._stamps: dict[Key, float] = {}  # when each path's state was last set
        self._counts: dict[Key, PathCounts] = {}
        self._canaries: dict[Key, dict[int, float]] = {}  # delivery id -> when it went
        self._pending: list[Transition] = []
        self.seen_until = 0.0  # the newest stored change adopted

    # -- reads ------------------------------------------------------------------------
    def path(self, relay: str, provider: str = RELAY_WIDE) -> PathHealth:
        return self._paths.get((relay, provider)) or NEVER_CHANGED

    def paths(self) -> dict[Key, PathHealth]:
        return dict(self._paths)

    def relay_usable(self, relay: str, now: float) -> bool:
        """May routing pick this relay? Not while it is paused for an infrastructure
        cause, nor while probing with every canary place taken."""
        h = self._paths.get((relay, RELAY_WIDE))
        if h is None or not h.avoided:
            return True
        if h.state is HealthState.PAUSED:  # its cool-down may be over: gate() starts probing
            return h.until is not None and now >= h.until
        return self._canary_room((relay, RELAY_WIDE), h, now)

    def next_usable(self, relay: str, now: float) -> float | None:
        """When an avoided relay may be tried again (its cool-down end), else None."""
        h = self._paths.get((relay, RELAY_WIDE))
        if h is None or not h.avoided:
            return None
        return h.until if h.until is not None else now + PROBE_RECHECK

    def gate(self, relay: str, provider: str, delivery_id: int, now: float) -> Gate:
        """May this delivery go to `relay` now? Checked just before the send. A pause
        whose cool-down is over starts probing here, not only at the next tick."""
        for key in ((relay, RELAY_WIDE), (relay, provider)):
            h = self._paths.get(key)
            if h is None or h.state in (HealthState.HEALTHY, HealthState.DEGRADED):
                continue
            probing = ph.cool_down_over(h, now)
            if probing is not None:
                self._canaries[key] = {}
                h = self._move(key, h, probing, {"cool_down": h.cool_down}, now).after
            if h.state is HealthState.PROBING and self._take_canary(key, h, delivery_id, now):
                continue
            if h.avoided:
                return Gate(GateAction.AVOID, h.until, h.reason)
            until = h.until if h.state is HealthState.PAUSED else now + PROBE_RECHECK
            if until is not None:
                until = max(until, now + HOLD_AT_LEAST)
            return Gate(GateAction.HOLD, until, h.reason)
        return SEND

    def _canary_room(self, key: Key, h: PathHealth, now: float) -> bool:
        """Places left for canaries; a place whose canary never answered (set aside,
        parked by pacing, routed elsewhere) is given back after CANARY_TIMEOUT."""
        canaries = self._canaries.get(key, {})
        for stale in [d for d, at in canaries.items() if now - at > CANARY_TIMEOUT]:
            del canaries[stale]
        return len(canaries) + h.canaries_ok < self.rules.canary

    def _take_canary(self, key: Key, h: PathHealth, delivery_id: int, now: float) -> bool:
        canaries = self._canaries.setdefault(key, {})
        if delivery_id in canaries:
            return True
        if self._canary_room(key, h, now):
            canaries[delivery_id] = now
            return True
        return False

    # -- answers ----------------------------------------------------------------------
    def on_answer(
        self,
        relay: str,
        provider: str,
        delivery_id: int,
        outcome: Outcome,
        bounce_class: BounceClass,
        reply: str,
        now: float,
    ) -> list[Transition]:
        """Count one answer on the relay's path and its pair's; returns the transitions it
        caused (also kept for `drain`)."""
        signal = ph.signal_of(outcome, bounce_class)
        if signal is None:
            return []
        found: list[Transition] = []
        for key in ((relay, RELAY_WIDE), (relay, provider)):
            if key[1] != RELAY_WIDE and signal is ph.Signal.INFRA:
                # infrastructure is the relay's, not the pair's: a pair's canary that met
                # a fault said nothing about the pair; its place is free for another
                self._canaries.get(key, {}).pop(delivery_id, None)
                continue
            t = self._observe(key, signal, delivery_id, reply, now)
            if t is not None:
                found.append(t)
        return found

    def _observe(
        self, key: Key, signal: ph.Signal, delivery_id: int, reply: str, now: float
    ) -> Transition | None:
        h = self.path(*key)
        canaries = self._canaries.get(key)
        if canaries is not None and delivery_id in canaries:
            del canaries[delivery_id]
            after = ph.after_canary(h, signal, self.rules, now, reply)
            if after is None:
                return None
            if after.state is h.state:  # one more good canary: counted, no transition
                self._paths[key] = after
                return None
            if after.state is HealthState.HEALTHY:
                self._counts_of(key).reset()
            return self._move(key, h, after, {"canary": signal.value, "reply": reply[:300]}, now)
        counts = self._counts_of(key)
        counts.add(signal, now, reply)
        if signal is ph.Signal.OK and h.state is HealthState.HEALTHY:
            return None  # a healthy path is judged when a refusal or fault arrives
        judged = ph.after_observation(h, counts, self.rules, now, key[1])
        if judged is None:
            return None
        return self._move(key, h, judged[0], judged[1], now)

    def on_complaints(self, counts: dict[Key, tuple[int, int]], now: float) -> list[Transition]:
        """Judge complaint rates: (complaints, sent) per relay x provider in the window,
        for feedback-loop providers only."""
        found = []
        for key, (complaints, sent) in counts.items():
            if key[1] not in self.complaint_providers or key[0] not in self._relays:
                continue
            h = self.path(*key)
            judged = ph.after_complaints(h, complaints, sent, self.rules, now, key[1])
            if judged is not None:
                found.append(self._move(key, h, judged[0], judged[1], now))
        return found

    def tick(self, now: float) -> list[Transition]:
        """Paused paths whose cool-down is over start probing."""
        found = []
        for key, h in list(self._paths.items()):
            after = ph.cool_down_over(h, now)
            if after is not None:
                self._canaries[key] = {}
                found.append(self._move(key, h, after, {"cool_down": h.cool_down}, now))
        return found

    def pause_relay(self, relay: str, reason: str, now: float) -> Transition:
        """A fault that no retry can fix soon (the relay's connection cannot even be set
        up, e.g. an unreadable CA file): an infrastructure pause at once."""
        key = (relay, RELAY_WIDE)
        before = self.path(*key)
        why = f"paused the relay: {reason}"
        after = ph.pause(before, ph.Cause.INFRASTRUCTURE, self.rules, now, why)
        return self._move(key, before, after, {"reason": reason}, now)

    def set(
        self, relay: str, provider: str, after: PathHealth, now: float, actor: str
    ) -> Transition:
        """An operator's change (pause or resume), applied here and recorded."""
        key = (relay, provider)
        before = self.path(*key)
        if after.state is HealthState.HEALTHY:
            self._counts_of(key).reset()
        return self._move(key, before, after, {}, now, actor)

    def _move(
        self,
        key: Key,
        before: PathHealth,
        after: PathHealth,
        evidence: dict[str, object],
        now: float,
        actor: str = "auto",
    ) -> Transition:
        self._paths[key] = after
        self._stamps[key] = now
        if after.state is not HealthState.PROBING:
            self._canaries.pop(key, None)
        t = Transition(key[0], key[1], before, after, dict(evidence), actor)
        self._pending.append(t)
        return t

    def _counts_of(self, key: Key) -> PathCounts:
        found = self._counts.get(key)
        if found is None:
            found = self._counts[key] = PathCounts(self.rules.window)
        return found

    # -- the store ----------------------------------------------------------------------
    @property
    def pending(self) -> bool:
        """Are there transitions the store has not taken yet?"""
        return bool(self._pending)

    def drain(self) -> list[Transition]:
        out, self._pending = self._pending, []
        return out

    def stored(self, transitions: list[Transition], at: float) -> None:
        """The store took `transitions` with updated_at = `at`: reading those rows back
        must not undo a newer change made here meanwhile."""
        for t in transitions:
            key = (t.relay, t.provider)
            self._stamps[key] = max(self._stamps.get(key, at), at)

    def forget(self, transitions: list[Transition]) -> None:
        """These transitions lost to a newer stored state: forget when they were made, so
        the stored row is adopted at the next read."""
        for t in transitions:
            self._stamps.pop((t.relay, t.provider), None)

    def requeue(self, transitions: list[Transition]) -> None:
        """Transitions the store could not take: kept, in order, for the next try."""
        self._pending[:0] = transitions

    def adopt(self, stored: list[StoredPath]) -> list[Key]:
        """States written by other workers or operators since the last look; returns the
        paths that changed here."""
        changed = []
        for row in stored:
            self.seen_until = max(self.seen_until, row.updated_at)
            key = (row.relay, row.provider)
            if row.relay not in self._relays or self._stamps.get(key, -1.0) >= row.updated_at:
                continue
            before = self._paths.get(key)
            self._paths[key] = row.health
            self._stamps[key] = row.updated_at
            if row.health.state is HealthState.PROBING:
                self._canaries.setdefault(key, {})
            if row.health.state is HealthState.HEALTHY and before is not None:
                self._counts_of(key).reset()
            changed.append(key)
        return changed
