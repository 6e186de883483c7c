"""What `plan.forecast` and `simulate.simulate` are given: a lane's relays with their
limits and warm-up paths, and N deliveries split across providers."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from relaylane.policy.pacing.providers import DEFAULT_PROVIDER
from relaylane.policy.pacing.warmup import Spill, WarmupPolicy, WarmupState
from relaylane.policy.pacing.windows import SendWindow
from relaylane.policy.pacing.zones import UTC_NAME, check_time, zone

__all__ = [
    "ALL_RELAYS",
    "OTHER",
    "Queue",
    "RelayFacts",
    "WarmupPath",
    "Workload",
    "parse_split",
    "split_counts",
]

ALL_RELAYS = "*"  # the queue key when any relay of the lane may take a delivery
OTHER = "other"  # the split's name for every provider not listed; paced like `default`
_SPLIT_PART = re.compile(r"\s*([A-Za-z0-9_.-]+)\s*=\s*(\d+(?:\.\d+)?)\s*(%?)\s*")
SPLIT_FORMS = 'write it like "google=60%,microsoft=25%,other=15%"'

Queue = tuple[str, str]  # (relay name or ALL_RELAYS, provider)


@dataclass(frozen=True, slots=True)
class WarmupPath:
    """One warming path: its schedule and where it stands."""

    policy: WarmupPolicy
    state: WarmupState = field(default_factory=WarmupState)


@dataclass(frozen=True, slots=True)
class RelayFacts:
    """One relay of the lane as pacing sees it now (rates in messages/s; None: no limit)."""

    name: str
    rate: float | None = None
    hourly_cap: int | None = None
    daily_cap: int | None = None
    sent_this_hour: int = 0
    sent_today: int = 0
    warmup: WarmupPath | None = None  # the relay's own path
    # scope relay_and_domain: the sending domain × provider paths on this relay
    provider_warmups: Mapping[str, WarmupPath] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Workload:
    """`count` deliveries from `start`, split across providers, over a lane's relays.

    `provider_rates` are the per relay × provider rates in force (after adaptive
    backoff); a provider missing from it is paced like `default`. With spill "hold" each
    relay gets an equal share of every provider's deliveries and keeps it; with "lane"
    any relay with room takes the next one.
    """

    count: int
    relays: tuple[RelayFacts, ...]
    start: float
    split: Mapping[str, float] = field(default_factory=lambda: {DEFAULT_PROVIDER: 1.0})
    provider_rates: Mapping[str, float | None] = field(default_factory=dict)
    timezone: str = UTC_NAME
    spill: Spill = Spill.LANE
    windows: tuple[SendWindow, ...] = ()
    not_before: float | None = None

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 0:
            raise ValueError(f"count must be a whole number >= 0, got {self.count!r}")
        check_time(self.start)
        zone(self.timezone)
        names = [relay.name for relay in self.relays]
        if len(set(names)) != len(names):
            raise ValueError(f"relay names must be unique, got {names!r}")
        for relay in self.relays:
            _check_relay(relay)
        for name, rate in self.provider_rates.items():
            if rate is not None and not (math.isfinite(rate) and rate > 0):
                raise ValueError(f"the rate for {name!r} must be positive or None, got {rate!r}")

    def pair_rate(self, provider: str) -> float | None:
        """The per relay × provider rate for `provider` (None: no limit)."""
        if provider in self.provider_rates:
            return self.provider_rates[provider]
        return self.provider_rates.get(DEFAULT_PROVIDER)

    def queues(self) -> dict[Queue, int]:
        """Deliveries per queue: per provider, and per relay too with spill "hold"."""
        counts = split_counts(self.count, self.split)
        if self.spill == Spill.LANE or not self.relays:
            return {(ALL_RELAYS, p): n for p, n in counts.items() if n > 0}
        names = [relay.name for relay in self.relays]
        queues: dict[Queue, int] = {}
        for provider, n in counts.items():
            share, extra = divmod(n, len(names))
            for index, name in enumerate(names):
                if share + (index < extra) > 0:
                    queues[(name, provider)] = share + (index < extra)
        return queues


def _check_relay(relay: RelayFacts) -> None:
    if relay.rate is not None and not (math.isfinite(relay.rate) and relay.rate > 0):
        raise ValueError(f"relay {relay.name!r}: rate must be positive or None")
    for cap in (relay.hourly_cap, relay.daily_cap):
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 0):
            raise ValueError(f"relay {relay.name!r}: caps must be whole numbers >= 0 or None")


def split_counts(count: int, split: Mapping[str, float]) -> dict[str, int]:
    """`count` divided by the fractions in `split` (normalised), largest remainder first."""
    weights = {name: float(w) for name, w in split.items()}
    if any(not math.isfinite(w) or w < 0 for w in weights.values()):
        raise ValueError(f"split fractions must be finite and >= 0, got {dict(split)!r}")
    total = sum(weights.values())
    if count <= 0:
        return dict.fromkeys(weights, 0)
    if total <= 0:
        raise ValueError(f"split must give some provider a share, got {dict(split)!r}")
    exact = {name: count * w / total for name, w in weights.items()}
    counts = {name: math.floor(value) for name, value in exact.items()}
    left = count - sum(counts.values())
    by_remainder = sorted(exact, key=lambda name: (counts[name] - exact[name], name))
    for name in by_remainder[:left]:
        counts[name] += 1
    return counts


def parse_split(text: str) -> dict[str, float]:
    """ "google=60%,microsoft=25%,other=15%" → fractions. Percentages or fractions; what is
    left below 100% goes to "other"; ValueError naming the problem."""
    shares: dict[str, float] = {}
    for part in text.split(","):
        found = _SPLIT_PART.fullmatch(part)
        if found is None:
            raise ValueError(f"{part.strip()!r} is not a provider share; {SPLIT_FORMS}")
        name, number, percent = found.groups()
        if name.lower() in shares:
            raise ValueError(f"{name!r} is listed twice; {SPLIT_FORMS}")
        shares[name.lower()] = float(number) / (100.0 if percent else 1.0)
    total = sum(shares.values())
    if total > 1.0 + 1e-9:
        raise ValueError(f"the shares add up to {total:.0%}, more than 100%; {SPLIT_FORMS}")
    if total < 1.0 - 1e-9:
        shares[OTHER] = shares.get(OTHER, 0.0) + 1.0 - total
    return shares
