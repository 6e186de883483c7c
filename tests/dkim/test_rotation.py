"""Key rotation rules: pending until published, switched, old record kept 7 days."""

from __future__ import annotations

from relaylane.dkim.rotation import (
    KEEP_OLD_PUBLISHED,
    Rotation,
    RotationState,
    effective_selectors,
    next_step,
)

DAY = 86400.0


def rotation(state: RotationState, switched_at: float | None = None) -> Rotation:
    return Rotation(1, "news.acme.test", "rsa", "rl1", "rl2", "keys/rl2.pem", state, 0.0,
                    switched_at)  # fmt: skip


def test_pending_waits_for_its_record_then_switches() -> None:
    waiting = next_step(rotation(RotationState.PENDING), published=False, now=DAY)
    assert (
        waiting.to is None
        and waiting.status == "warn"
        and "still signs with rl1" in waiting.message
    )
    ready = next_step(rotation(RotationState.PENDING), published=True, now=DAY)
    assert ready.to is RotationState.SWITCHED and "keep rl1 published" in ready.message


def test_the_old_record_stays_published_for_seven_days() -> None:
    switched = rotation(RotationState.SWITCHED, switched_at=10 * DAY)
    early = next_step(switched, published=True, now=10 * DAY + 3 * DAY)
    assert early.to is None and "4.0 more days" in early.message
    late = next_step(switched, published=True, now=10 * DAY + KEEP_OLD_PUBLISHED + 1)
    assert late.to is RotationState.DONE and "may now be removed" in late.message


def test_effective_selectors_replace_the_old_key_only_after_the_switch() -> None:
    configured = [("rl1", "keys/rl1.pem"), ("rl1e", "keys/rl1e.pem")]
    assert effective_selectors(configured, [rotation(RotationState.PENDING)]) == configured
    switched = rotation(RotationState.SWITCHED, switched_at=DAY)
    assert effective_selectors(configured, [switched]) == [
        ("rl2", "keys/rl2.pem"),
        ("rl1e", "keys/rl1e.pem"),
    ]
