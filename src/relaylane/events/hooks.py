"""The configured endpoints as plain records, and which of them want an event. No I/O."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from relaylane.events.kinds import EventKind


@dataclass(frozen=True, slots=True)
class Hook:
    """One endpoint ([[events.webhook]]) and what it subscribed to.

    `lanes` and `submitters` are None when the endpoint takes every lane or submitter.
    An event without a lane (or submitter), such as relay_state_changed, goes only to
    endpoints that do not filter on lanes (or submitters)."""

    name: str
    url: str
    secret: bytes
    kinds: frozenset[EventKind]
    lanes: frozenset[str] | None = None
    submitters: frozenset[str] | None = None
    timeout: float = 10.0
    give_up_after: float = 3 * 86400.0

    def __repr__(self) -> str:  # never show the secret
        return f"Hook(name={self.name!r}, url={self.url!r})"

    def wants(self, kind: EventKind, lane: str | None, submitter: str | None) -> bool:
        return (
            kind in self.kinds and _passes(self.lanes, lane) and _passes(self.submitters, submitter)
        )


def _passes(allowed: frozenset[str] | None, value: str | None) -> bool:
    return allowed is None or (value is not None and value in allowed)


@dataclass(frozen=True, slots=True)
class Hooks:
    """Every configured endpoint. Empty (false) when none is: emitting then costs nothing."""

    endpoints: tuple[Hook, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.endpoints)

    def __iter__(self) -> Iterator[Hook]:
        return iter(self.endpoints)

    def want_any(self, kinds: Iterable[EventKind]) -> bool:
        """Does some endpoint take one of `kinds` (before lanes and submitters are known)?"""
        wanted = set(kinds)
        return any(hook.kinds & wanted for hook in self.endpoints)

    def wanting(
        self, kind: EventKind, lane: str | None = None, submitter: str | None = None
    ) -> list[Hook]:
        return [hook for hook in self.endpoints if hook.wants(kind, lane, submitter)]

    def get(self, name: str) -> Hook | None:
        return next((hook for hook in self.endpoints if hook.name == name), None)


NO_HOOKS = Hooks()
