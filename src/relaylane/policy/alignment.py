"""DMARC identifier alignment (RFC 7489 3.1): which configured domain signs mail From a
domain, so that its DKIM signature aligns. Pure, apart from the Public Suffix List that
`publicsuffixlist` ships offline.

- strict: the signing domain (d=) is the From domain itself;
- relaxed (the default): both have the same organizational domain, e.g. d=acme.test
  aligns with From news.acme.test.

Names under reserved test TLDs (.test, .example, .invalid, .localhost) are not in the
PSL: their organizational domain is their last two labels.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

from publicsuffixlist import PublicSuffixList


@lru_cache(maxsize=1)
def _psl() -> PublicSuffixList:
    return PublicSuffixList()


@lru_cache(maxsize=4096)
def organizational_domain(domain: str) -> str:
    """The registrable domain: news.acme.co.uk -> acme.co.uk; tx.acme.test -> acme.test."""
    name = domain.strip(".").lower()
    found = _psl().privatesuffix(name)
    if found:
        return str(found)
    labels = name.split(".")
    return ".".join(labels[-2:]) if len(labels) >= 2 else name


def aligned(from_domain: str, signing_domain: str, strict: bool) -> bool:
    if from_domain == signing_domain:
        return True
    return not strict and organizational_domain(from_domain) == organizational_domain(
        signing_domain
    )


def signing_domain_for(
    from_domain: str, signers: Mapping[str, bool], strict: bool = False
) -> str | None:
    """The configured domain whose signature aligns with `from_domain`, or None.

    `signers` maps each domain that signs (relaylane's keys or the relay's) to True.
    The From domain itself wins; then, relaxed, its organizational domain; then any other
    signing domain under the same organizational domain (sorted, so the choice is stable).
    """
    if signers.get(from_domain):
        return from_domain
    if strict:
        return None
    org = organizational_domain(from_domain)
    if signers.get(org):
        return org
    same_org = sorted(d for d, signs in signers.items() if signs and aligned(from_domain, d, False))
    return same_org[0] if same_org else None
