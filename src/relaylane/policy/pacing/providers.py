"""Which provider a recipient domain belongs to: its domain first, then its MX hosts.

Providers are matched by exact recipient domain ("gmail.com"), then by glob patterns over
the domain's MX host names ("*.google.com" matches "gmail-smtp-in.l.google.com"). A domain
that matches nothing belongs to the catch-all `default` provider.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Protocol, TypeVar

__all__ = ["DEFAULT_PROVIDER", "ProviderMatch", "mx_matches", "provider_for", "rules_for"]

DEFAULT_PROVIDER = "default"
_T = TypeVar("_T")


class ProviderMatch(Protocol):
    """What matching needs of a provider table (ProviderConfig satisfies it)."""

    @property
    def domains(self) -> tuple[str, ...]: ...

    @property
    def mx(self) -> tuple[str, ...]: ...


def _host(name: str) -> str:
    return name.strip().rstrip(".").lower()


def mx_matches(pattern: str, host: str) -> bool:
    """Does MX host `host` match glob `pattern` (case-insensitive, trailing dot ignored)?"""
    return fnmatchcase(_host(host), _host(pattern))


def provider_for(
    domain: str,
    providers: Mapping[str, ProviderMatch],
    mx_hosts: Iterable[str] = (),
    default: str = DEFAULT_PROVIDER,
) -> str:
    """The provider name for a recipient domain (and its MX hosts, if known)."""
    name = _host(domain)
    for provider, table in providers.items():
        if name in table.domains:
            return provider
    hosts = [_host(h) for h in mx_hosts]
    for provider, table in providers.items():
        if any(mx_matches(pattern, host) for pattern in table.mx for host in hosts):
            return provider
    return default


def rules_for(provider: str, rules: Mapping[str, Sequence[_T]]) -> tuple[_T, ...]:
    """A provider's own rules, then the `default` provider's (the catch-all patterns, as
    KumoMTA's default automation applies to every destination)."""
    own = tuple(rules.get(provider, ()))
    if provider == DEFAULT_PROVIDER:
        return own
    return own + tuple(rules.get(DEFAULT_PROVIDER, ()))
