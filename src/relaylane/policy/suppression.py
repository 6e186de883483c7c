"""The suppression vocabulary and its pure rules: who is suppressed, why, and where.

An entry suppresses one address in one scope: everywhere (`global`), in one lane, or
for one list. The address is matched case-insensitively on its local part; the domain
is already lower-case ASCII (IDNs as punycode) everywhere in relaylane.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Reason(StrEnum):
    """Why an address is suppressed."""

    HARD_BOUNCE = "hard_bounce"  # the address does not exist (or the domain)
    COMPLAINT = "complaint"  # the recipient reported the mail as spam
    UNSUBSCRIBE = "unsubscribe"  # the recipient asked to stop
    MANUAL = "manual"  # an operator (CLI, API) added it
    SOFT_BOUNCE_LIMIT = "soft_bounce_limit"  # mailbox full too often


class Source(StrEnum):
    """Where the evidence for an entry came from."""

    SMTP = "smtp"  # a relay's reply at send time
    DSN = "dsn"  # an RFC 3464 bounce
    ARF = "arf"  # an RFC 5965 complaint report
    WEBHOOK = "webhook"  # a provider's event
    API = "api"
    IMPORT = "import"  # a file, e.g. from the previous sending platform
    CLI = "cli"


class ScopeKind(StrEnum):
    GLOBAL = "global"  # every lane and list
    LANE = "lane"  # mail sent in one lane
    LIST = "list"  # mail sent to one list (campaigns)


@dataclass(frozen=True, slots=True)
class Scope:
    kind: ScopeKind
    name: str = ""  # the lane or list; "" for global

    @classmethod
    def parse(cls, text: str) -> Scope:
        """'global', 'lane:NAME' or 'list:NAME'; raises ValueError naming the forms."""
        kind, sep, name = text.strip().partition(":")
        try:
            scope_kind = ScopeKind(kind.lower())
        except ValueError:
            scope_kind = None
        if scope_kind is ScopeKind.GLOBAL and not sep:
            return cls(ScopeKind.GLOBAL)
        if scope_kind in (ScopeKind.LANE, ScopeKind.LIST) and sep and name.strip():
            return cls(scope_kind, name.strip())
        raise ValueError(f"{text!r} is not a scope; write global, lane:NAME or list:NAME")

    def __str__(self) -> str:
        return self.kind.value if self.kind is ScopeKind.GLOBAL else f"{self.kind}:{self.name}"

    def covers(self, lane: str, list_name: str | None = None) -> bool:
        """Does an entry in this scope stop mail sent in `lane` (to `list_name`)?"""
        if self.kind is ScopeKind.GLOBAL:
            return True
        if self.kind is ScopeKind.LANE:
            return self.name == lane
        return list_name is not None and self.name == list_name


def address_key(address: str) -> str:
    """What suppression matches on: the address with its local part case-folded
    (the domain is already lower-case ASCII)."""
    local, _, domain = address.rpartition("@")
    return f"{local.casefold()}@{domain.lower()}"
