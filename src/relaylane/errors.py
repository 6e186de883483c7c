"""One root for every error relaylane raises on purpose.

User-facing errors carry structured fields and a message that says what is wrong,
where, and how to fix it. The CLI prints them without a traceback.
"""

from __future__ import annotations


class RelaylaneError(Exception):
    """Root of relaylane's own errors."""


class ConfigError(RelaylaneError):
    """The configuration is invalid. `problems` lists every finding, one line each."""

    def __init__(self, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        super().__init__(f"{path}: " + "; ".join(problems))

    def render(self) -> str:
        lines = [f"{self.path}: {len(self.problems)} problem(s):"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class InputError(RelaylaneError, ValueError):
    """Submitted mail is malformed (address, header, body). `field` names the input."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}. Fix: {fix}")


class NotFoundError(RelaylaneError, LookupError):
    """A named object (delivery, lane, relay) does not exist."""


class StoreError(RelaylaneError):
    """The store cannot be opened or used (bad URL, unreachable server, old schema)."""


class PermissionDenied(RelaylaneError, PermissionError):
    """The submitter may not do this (a lane its key or user is not allowed to use)."""

    def __init__(self, field: str, problem: str, fix: str) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(f"{field}: {problem}. Fix: {fix}")


class Unavailable(RelaylaneError):
    """Temporarily unable to accept (store down, queue over its limit). Nothing was
    accepted; the client should retry after `retry_after` seconds."""

    def __init__(self, reason: str, retry_after: float) -> None:
        self.reason = reason
        self.retry_after = retry_after
        super().__init__(f"{reason}; retry in {retry_after:.0f}s")


class ListenError(RelaylaneError):
    """A listener (HTTP, SMTP submission) could not bind its address."""
