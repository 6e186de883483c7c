"""Who is submitting, and what they may do: scopes and lanes. Pure data."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    """What an API key may do."""

    SEND = "send"  # submit messages (only into the key's lanes)
    READ = "read"  # look up deliveries, status, relays and lanes
    ADMIN = "admin"  # operator actions (queue control, keys); implies read


class Notify(StrEnum):
    """How an SMTP user learns that a message failed after it was accepted."""

    NONE = "none"  # events only (webhooks, once they exist)
    DSN = "dsn"  # an RFC 3464 delivery status notification to the envelope sender


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated API key or SMTP user."""

    kind: str  # "api_key" or "smtp_user"
    name: str  # the key id, or the SMTP user name
    scopes: frozenset[Scope]
    lanes: tuple[str, ...]  # lanes it may send into, in order; the first is its default
    notify: Notify = Notify.NONE
    record_id: int = 0  # the row id of the key or user

    def has(self, scope: Scope) -> bool:
        return scope in self.scopes or (scope is Scope.READ and Scope.ADMIN in self.scopes)

    def may_send_to(self, lane: str) -> bool:
        return Scope.SEND in self.scopes and lane in self.lanes

    @property
    def default_lane(self) -> str | None:
        return self.lanes[0] if self.lanes else None


def parse_scopes(values: list[str] | tuple[str, ...]) -> frozenset[Scope]:
    """Scopes from repeated or comma-separated values; raises ValueError naming the bad one."""
    found: set[Scope] = set()
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if not name:
                continue
            try:
                found.add(Scope(name))
            except ValueError:
                known = ", ".join(s.value for s in Scope)
                raise ValueError(f"unknown scope {part.strip()!r}; use one of {known}") from None
    return frozenset(found)


def split_list(values: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """Names from repeated or comma-separated values, first-seen order, no duplicates."""
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip()
            if name and name not in out:
                out.append(name)
    return tuple(out)
