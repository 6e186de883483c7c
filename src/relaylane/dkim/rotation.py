"""DKIM key rotation as plain data and pure decisions.

`relaylane dkim rotate DOMAIN` adds a new key (`pending`). relaylane keeps signing with the
old selector until `doctor` sees the new record published, then switches (`switched`).
The old public key must stay published for `KEEP_OLD_PUBLISHED` (7 days) after the switch,
so that mail signed just before it still verifies; after that the rotation is `done`.
Running doctor moves rotations on; it is idempotent, safe in cron.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

KEEP_OLD_PUBLISHED = 7 * 86400.0


class RotationState(StrEnum):
    PENDING = "pending"  # the new key waits for its DNS record
    SWITCHED = "switched"  # the new key signs; the old record must stay published
    DONE = "done"  # the old record may be removed


@dataclass(frozen=True, slots=True)
class Rotation:
    id: int
    domain: str
    kind: str  # rsa | ed25519
    old_selector: str | None
    new_selector: str
    key_file: str
    state: RotationState
    created_at: float
    switched_at: float | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """What doctor should do about a rotation now, and what to tell the operator."""

    rotation: Rotation
    to: RotationState | None  # the new state, or None to leave it
    status: str  # pass | warn | fail
    message: str


def next_step(rotation: Rotation, published: bool, now: float) -> Step:
    """`published`: the new selector's record is in DNS and matches the new key."""
    old = rotation.old_selector or "(none)"
    new = rotation.new_selector
    if rotation.state is RotationState.PENDING:
        if published:
            return Step(rotation, RotationState.SWITCHED, "pass",
                        f"{new} is published: relaylane now signs with it instead of {old}; "
                        f"keep {old} published for 7 more days")  # fmt: skip
        return Step(rotation, None, "warn",
                    f"rotation to {new} waits for its DNS record; relaylane still signs "
                    f"with {old}")  # fmt: skip
    if rotation.state is RotationState.SWITCHED:
        assert rotation.switched_at is not None
        left = rotation.switched_at + KEEP_OLD_PUBLISHED - now
        if left <= 0:
            return Step(rotation, RotationState.DONE, "pass",
                        f"{old} may now be removed from DNS; replace it by {new} in "
                        "relaylane.toml")  # fmt: skip
        return Step(rotation, None, "warn",
                    f"keep {old}._domainkey published for {left / 86400:.1f} more days "
                    f"(mail signed before the switch to {new} must still verify)")  # fmt: skip
    return Step(rotation, None, "pass", f"rotation to {new} is complete")


def effective_selectors(
    configured: Sequence[tuple[str, str]], rotations: Sequence[Rotation]
) -> list[tuple[str, str]]:
    """(selector, key file) pairs that sign now: the configured keys, each replaced by the
    newest switched rotation away from it (a switched rotation from no configured
    selector adds its key)."""
    current = dict(configured)
    order = [s for s, _ in configured]
    live = [r for r in rotations if r.state is not RotationState.PENDING]
    for rotation in sorted(live, key=lambda r: (r.switched_at or 0.0, r.id)):
        if rotation.old_selector in current:
            index = order.index(rotation.old_selector)
            del current[rotation.old_selector]
            order[index] = rotation.new_selector
        elif rotation.new_selector not in current:
            order.append(rotation.new_selector)
        current[rotation.new_selector] = rotation.key_file
    return [(s, current[s]) for s in order]
