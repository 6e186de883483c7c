"""The I/O half of the DNS checks: ask a pure check what it misses, fetch, ask again."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, TypeVar

from relaylane.doctor.dmarc import DmarcResult, find_dmarc
from relaylane.doctor.dns import Answer, Answers, Query, Resolver, resolve_all

MAX_ROUNDS = 25  # the deepest include chain worth following is shorter than this


class Pending(Protocol):
    @property
    def missing(self) -> set[Query]: ...


T = TypeVar("T", bound=Pending)


async def settle(
    resolver: Resolver,
    answers: dict[Query, Answer],
    step: Callable[[Answers], T],
    rounds: int = MAX_ROUNDS,
) -> T:
    """Run `step` over `answers`, fetching what it reports missing, until it misses
    nothing new (or after `rounds` fetches). `answers` keeps everything fetched."""
    result = step(answers)
    for _ in range(rounds):
        wanted = [q for q in result.missing if q not in answers]
        if not wanted:
            break
        answers.update(await resolve_all(resolver, sorted(wanted)))
        result = step(answers)
    return result


async def fetch(resolver: Resolver, answers: dict[Query, Answer], queries: list[Query]) -> None:
    """Fetch the `queries` not already in `answers`."""
    wanted = [q for q in queries if q not in answers]
    if wanted:
        answers.update(await resolve_all(resolver, wanted))


async def lookup_dmarc(domain: str, resolver: Resolver) -> DmarcResult:
    """The DMARC record that applies to `domain` (`.policy`, `.adkim`, `.found_at`)."""
    return await settle(resolver, {}, lambda answers: find_dmarc(domain, answers))
