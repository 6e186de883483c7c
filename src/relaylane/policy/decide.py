"""What becomes of a delivery after an attempt: a pure function of facts and time.

The worker reports what the relay said (already classified into a `Verdict`); this
module decides the delivery's next state, when it is due again and on which relay.
"""

from __future__ import annotations

from dataclasses import dataclass

from relaylane.policy.classify import Verdict
from relaylane.policy.retry import RetrySchedule, jitter_unit, next_due, retry_delay
from relaylane.policy.vocabulary import (
    RELAY_LEVEL_CLASSES,
    BounceClass,
    DeliveryState,
    Outcome,
    Stage,
)
from relaylane.records import AttemptRecord, Claimed, DeliveryResult


@dataclass(frozen=True, slots=True)
class LanePolicy:
    """The parts of a lane's configuration that decide retries and expiry."""

    max_age: float
    retry: RetrySchedule


def after_answer(
    claim: Claimed,
    verdict: Verdict,
    relay: str,
    now: float,
    lane: LanePolicy,
    attempts: tuple[AttemptRecord, ...],
    queue_id: str | None = None,
) -> DeliveryResult:
    """The result of an attempt the relay answered (anything but a relay fault)."""
    outcome = verdict.outcome
    if outcome is Outcome.SENT:
        return _final(claim, DeliveryState.SENT, relay, attempts, queue_id=queue_id, sent_at=now)
    if outcome is Outcome.BOUNCED:
        return _final(claim, DeliveryState.BOUNCED, relay, attempts)
    if outcome is Outcome.FAILED:
        return _final(claim, DeliveryState.FAILED, relay, attempts)
    if outcome in (Outcome.DEFERRED, Outcome.BLOCKED):
        held = outcome is Outcome.BLOCKED or verdict.bounce_class in RELAY_LEVEL_CLASSES
        return _retry_later(claim, held, relay, now, lane, attempts)
    raise ValueError(f"after_answer cannot handle {outcome}; relay faults go to no_relay")


def _retry_later(
    claim: Claimed,
    held: bool,
    relay: str,
    now: float,
    lane: LanePolicy,
    attempts: tuple[AttemptRecord, ...],
) -> DeliveryResult:
    """Deferred and blocked deliveries stay with the relay that answered.

    Held ones (a block, or a temporary refusal of a relay-level class such as Yahoo's
    [TSS04] rate limit) become `blocked` and are pinned: only that relay may carry them,
    so a reputation problem never spreads to another path.
    """
    retries = claim.retries + 1
    delay = retry_delay(lane.retry, retries, jitter_unit(claim.id, retries))
    due = next_due(now, claim.created_at, lane.max_age, delay)
    if due is None:
        return expired(claim, now, attempts, relay=relay)
    state = DeliveryState.BLOCKED if held else DeliveryState.DEFERRED
    return DeliveryResult(
        id=claim.id,
        token=claim.token,
        state=state,
        due_at=due,
        relay=relay,
        pinned=held,
        retries=retries,
        attempts=attempts,
    )


def no_relay(
    claim: Claimed,
    now: float,
    retry_at: float,
    lane: LanePolicy,
    attempts: tuple[AttemptRecord, ...],
    reason: str,
) -> DeliveryResult:
    """No relay of the lane can take the delivery now (every relay paused for an
    infrastructure fault, or its pinned relay is down). It waits for the earliest relay
    to come back; this is not the recipient's fault, so the retry count does not grow."""
    if retry_at >= claim.created_at + lane.max_age:
        return expired(claim, now, attempts, relay=claim.relay)
    note = AttemptRecord(
        at=now,
        relay=None,
        stage=Stage.LOCAL,
        code=None,
        reply=reason,
        outcome=Outcome.DEFERRED,
        bounce_class=BounceClass.RELAY_UNAVAILABLE,
        duration_ms=0.0,
    )
    state = DeliveryState.BLOCKED if claim.pinned else DeliveryState.DEFERRED
    return DeliveryResult(
        id=claim.id,
        token=claim.token,
        state=state,
        due_at=retry_at,
        relay=claim.relay,
        pinned=claim.pinned,
        retries=claim.retries,
        attempts=(*attempts, note),
    )


def waiting(
    claim: Claimed, state: DeliveryState, due_at: float, attempts: tuple[AttemptRecord, ...]
) -> DeliveryResult:
    """Not tried now, not the recipient's fault: back to the store as `state` (queued,
    deferred, held), due at `due_at`, with its retries unchanged."""
    return DeliveryResult(
        id=claim.id,
        token=claim.token,
        state=state,
        due_at=due_at,
        relay=claim.relay,
        pinned=claim.pinned,
        retries=claim.retries,
        attempts=attempts,
    )


def expired(
    claim: Claimed, now: float, attempts: tuple[AttemptRecord, ...], relay: str | None = None
) -> DeliveryResult:
    """Give up: the lane's max_age has passed (or would pass before the next try)."""
    note = AttemptRecord(
        at=now,
        relay=None,
        stage=Stage.LOCAL,
        code=None,
        reply="gave up: the lane's max_age passed before the delivery could be sent",
        outcome=Outcome.FAILED,
        bounce_class=BounceClass.EXPIRED,
        duration_ms=0.0,
    )
    return _final(claim, DeliveryState.FAILED, relay or claim.relay, (*attempts, note))


def stopped_with_campaign(claim: Claimed, cancelled: bool, now: float) -> DeliveryResult:
    """A campaign delivery claimed before its campaign was paused (held, with no due time:
    resuming makes it due) or cancelled (cancelled); never sent."""
    if cancelled:
        note = AttemptRecord(now, None, Stage.LOCAL, None, "cancelled with its campaign",
                             Outcome.FAILED, BounceClass.NONE, 0.0)  # fmt: skip
        return _final(claim, DeliveryState.CANCELLED, claim.relay, (note,))
    return DeliveryResult(
        id=claim.id,
        token=claim.token,
        state=DeliveryState.HELD,
        due_at=None,
        relay=claim.relay,
        pinned=claim.pinned,
        retries=claim.retries,
    )


def unrenderable(claim: Claimed, now: float, problem: str) -> DeliveryResult:
    """A campaign delivery whose message cannot be rendered for its contact: failed, never
    sent (the campaign's guard then pauses the campaign)."""
    note = AttemptRecord(
        at=now,
        relay=None,
        stage=Stage.LOCAL,
        code=None,
        reply=f"render error: {problem}",
        outcome=Outcome.FAILED,
        bounce_class=BounceClass.RENDER_ERROR,
        duration_ms=0.0,
    )
    return _final(claim, DeliveryState.FAILED, None, (note,))


def _final(
    claim: Claimed,
    state: DeliveryState,
    relay: str | None,
    attempts: tuple[AttemptRecord, ...],
    *,
    queue_id: str | None = None,
    sent_at: float | None = None,
) -> DeliveryResult:
    return DeliveryResult(
        id=claim.id,
        token=claim.token,
        state=state,
        due_at=None,
        relay=relay,
        pinned=claim.pinned,
        retries=claim.retries,
        attempts=attempts,
        relay_queue_id=queue_id,
        sent_at=sent_at,
    )
