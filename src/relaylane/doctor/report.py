"""One doctor finding: a subject (domain, relay or lane), a check, its status, why, and
what to do about it."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal

Status = Literal["pass", "warn", "fail"]
_RANK: dict[Status, int] = {"pass": 0, "warn": 1, "fail": 2}


@dataclass(frozen=True, slots=True)
class Check:
    subject: str  # "news.acme.test", "relay mkt-a", "lane marketing"
    name: str  # "SPF record", "DKIM rl2026a", ...
    status: Status
    reason: str
    fix: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def passed(subject: str, name: str, reason: str) -> Check:
    return Check(subject, name, "pass", reason)


def warned(subject: str, name: str, reason: str, fix: str | None = None) -> Check:
    return Check(subject, name, "warn", reason, fix)


def failed(subject: str, name: str, reason: str, fix: str | None = None) -> Check:
    return Check(subject, name, "fail", reason, fix)


def worst(statuses: Iterable[Status]) -> Status:
    """The most serious status ("pass" for none)."""
    return max(statuses, key=_RANK.__getitem__, default="pass")


def exit_code(checks: Sequence[Check]) -> int:
    """1 when any check fails, else 0."""
    return 1 if any(c.status == "fail" for c in checks) else 0


def counts(checks: Sequence[Check]) -> dict[str, int]:
    return {s: sum(1 for c in checks if c.status == s) for s in _RANK}
