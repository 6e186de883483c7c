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
    ONE_CLICK = "oneclick"  # the recipient's List-Unsubscribe one-click POST (RFC 8058)
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


class HardBounceScope(StrEnum):
    """Where a hard bounce (invalid recipient, bad domain, inactive mailbox) suppresses."""

    GLOBAL = "global"  # every lane and list (the default)
    LANE = "lane"  # only the lane the bounced mail was sent in
    NONE = "none"  # record it, suppress nothing (e.g. a lane that tests addresses)


@dataclass(frozen=True, slots=True)
class LaneRules:
    """One lane's suppression policy ([lane.suppression]), as plain data."""

    name: str
    transactional: bool
    hard_bounces: HardBounceScope = HardBounceScope.GLOBAL
    complaints: bool = True
    unsubscribes: bool = True
    mailbox_full_limit: int = 3  # 0: never
    mailbox_full_window: float = 14 * 86400.0


@dataclass(frozen=True, slots=True)
class SuppressionPolicy:
    """Which scopes each kind of evidence suppresses. Pure; built from the configuration.

    A lane that is no longer configured (old deliveries) gets the defaults.
    """

    lanes: tuple[LaneRules, ...] = ()

    def rules(self, lane: str) -> LaneRules:
        for rules in self.lanes:
            if rules.name == lane:
                return rules
        return LaneRules(lane, transactional=False)

    def hard_bounce_scope(self, lane: str) -> Scope | None:
        scope = self.rules(lane).hard_bounces
        if scope is HardBounceScope.NONE:
            return None
        return Scope(ScopeKind.GLOBAL) if scope is HardBounceScope.GLOBAL else lane_scope(lane)

    def complaint_scopes(self, lane: str) -> list[Scope]:
        """Every non-transactional lane that listens to complaints, plus the complained-about
        lane itself when it listens (a transactional lane only hears about its own mail)."""
        names = [
            r.name for r in self.lanes if r.complaints and (not r.transactional or r.name == lane)
        ]
        if lane not in names and self.rules(lane).complaints and not self._known(lane):
            names.append(lane)
        return [lane_scope(name) for name in names]

    def unsubscribe_scope(self, lane: str, list_name: str | None) -> Scope | None:
        """The list it came from, else the lane; None when the lane opted out."""
        if not self.rules(lane).unsubscribes:
            return None
        return Scope(ScopeKind.LIST, list_name) if list_name else lane_scope(lane)

    def mailbox_full_limit(self, lane: str) -> tuple[int, float]:
        rules = self.rules(lane)
        return rules.mailbox_full_limit, rules.mailbox_full_window

    def _known(self, lane: str) -> bool:
        return any(r.name == lane for r in self.lanes)


def lane_scope(name: str) -> Scope:
    return Scope(ScopeKind.LANE, name)
