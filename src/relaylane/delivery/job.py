"""What the worker moves around, and the store seam it needs."""

from __future__ import annotations

from collections.abc import Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Protocol

from relaylane.bounces.tokens import KeyRing
from relaylane.config.models import LaneConfig
from relaylane.delivery.pacer import DEFAULT_PROVIDER
from relaylane.dkim.rotation import Rotation
from relaylane.events.hooks import Hooks
from relaylane.monitor.tally import BucketCount
from relaylane.policy.health import Transition
from relaylane.policy.suppression import SuppressionPolicy
from relaylane.policy.vocabulary import Strategy
from relaylane.records import AttemptRecord, Claimed, DeliveryResult, Step, StoredBody
from relaylane.store.feedback import FeedbackRow
from relaylane.store.health import StoredPath
from relaylane.store.pacing import PacingEvent, SentCount, WarmupRow


class QueueStore(Protocol):
    """The store seam the worker needs (relaylane.store.queue.SqlQueue implements it)."""

    def record(
        self,
        results: list[DeliveryResult],
        now: float,
        worker: str,
        policy: SuppressionPolicy = ...,
        *,
        hooks: Hooks | None = ...,
    ) -> int: ...
    def release(self, claims: list[Claimed], now: float) -> int: ...
    def renew(self, owner: str, now: float, lease: float) -> int: ...
    def reclaim_expired(self, now: float) -> int: ...
    def key_ring(self, now: float) -> KeyRing: ...
    def dkim_rotations(self) -> list[Rotation]: ...
    def pace_signals(self, after_id: int) -> list[FeedbackRow]: ...
    def last_feedback_id(self) -> int: ...
    def pacing_state(self, since: float) -> tuple[list[SentCount], list[WarmupRow]]: ...
    def flush_pacing(
        self, counts: list[SentCount], events: list[PacingEvent], warmups: list[WarmupRow]
    ) -> None: ...
    def health_paths(self, updated_after: float | None) -> list[StoredPath]: ...
    def apply_health(
        self,
        transitions: Sequence[Transition],
        now: float,
        results: Sequence[DeliveryResult] = ...,
        worker: str = ...,
        policy: SuppressionPolicy = ...,
        *,
        hooks: Hooks | None = ...,
        release: Sequence[tuple[str, str]] = ...,
    ) -> tuple[int, list[Transition]]: ...
    def release_stranded(self, now: float) -> int: ...
    def flush_metrics(self, rows: Sequence[BucketCount]) -> None: ...
    def rollup_metrics(self, now: float) -> None: ...
    def complaint_counts(
        self, since: float, path: tuple[str, str] | None = ...
    ) -> dict[tuple[str, str], tuple[int, int]]: ...
    def step(
        self,
        results: Sequence[DeliveryResult],
        plan: Sequence[tuple[str, int]],
        known_bodies: AbstractSet[int],
        now: float,
        owner: str,
        lease: float,
        policy: SuppressionPolicy = ...,
        *,
        hooks: Hooks | None = ...,
    ) -> Step: ...


@dataclass
class Job:
    """A claimed delivery travelling through this worker."""

    claim: Claimed
    body: StoredBody
    lane: LaneConfig
    attempts: list[AttemptRecord] = field(default_factory=list)
    tried: set[str] = field(default_factory=set)  # relays that had an infrastructure fault
    token: str = ""  # the signed delivery token, made once per claim
    unsubscribe_token: str = ""  # its List-Unsubscribe token (bulk lanes), made once per claim
    group: str = DEFAULT_PROVIDER  # the recipient's provider group (pacing, sticky)
    full: set[str] = field(default_factory=set)  # relays at a warm-up or cap limit for it
    strategy: Strategy | None = None  # a campaign's own strategy; None: the lane's
    admitted: float = 0.0  # when this worker took the claim in hand
    contact: tuple[str, str] | None = None  # a campaign delivery's contact, until rendered
