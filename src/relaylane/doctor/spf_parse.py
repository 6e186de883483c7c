"""Parsing SPF records (RFC 7208 4.5, 5, 6, 12): terms, modifiers and syntax errors."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from relaylane.doctor.spf_macro import has_macros, macro_error

QUALIFIERS = "+-~?"
MECHANISMS = ("all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists")
LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})  # and redirect=
_VERSION = re.compile(r"v=spf1(?: |$)", re.IGNORECASE)
_MODIFIER = re.compile(r"([A-Za-z][A-Za-z0-9._-]*)=(.*)")
_DIRECTIVE = re.compile(r"([+\-~?]?)([A-Za-z0-9]+)(?::([^/]*))?((?:/\d*)?(?://\d*)?)")
_CIDR = re.compile(r"(?:/(\d*))?(?://(\d*))?")
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?")


@dataclass(frozen=True, slots=True)
class Term:
    """One directive, e.g. "-ip4:192.0.2.0/24": qualifier "-", kind "ip4"."""

    qualifier: str
    kind: str
    target: str | None  # domain-spec or network; None when not written
    cidr4: int | None
    cidr6: int | None
    text: str

    @property
    def queries_dns(self) -> bool:
        return self.kind in LOOKUP_MECHANISMS


@dataclass(frozen=True, slots=True)
class SpfRecord:
    terms: tuple[Term, ...]
    redirect: str | None
    exp: str | None
    errors: tuple[str, ...]  # any error makes the record a permerror

    @property
    def all_term(self) -> Term | None:
        return next((t for t in self.terms if t.kind == "all"), None)


def is_spf(txt: str) -> bool:
    """Does this TXT string start an SPF record ("v=spf1", then a space or the end)?"""
    return _VERSION.match(txt) is not None


def spf_records(txts: Sequence[str]) -> list[str]:
    return [t for t in txts if is_spf(t)]


def parse_spf(text: str) -> SpfRecord:
    words = text.split()
    errors: list[str] = []
    terms: list[Term] = []
    modifiers: dict[str, str] = {}
    if not words or words[0].lower() != "v=spf1":
        return SpfRecord((), None, None, ("does not start with v=spf1",))
    for word in words[1:]:
        mod = _MODIFIER.fullmatch(word)
        if mod and mod.group(1).lower() not in MECHANISMS:
            _modifier(mod.group(1).lower(), mod.group(2), modifiers, errors)
            continue
        term, error = parse_term(word)
        if error:
            errors.append(error)
        elif term is not None:
            terms.append(term)
    return SpfRecord(tuple(terms), modifiers.get("redirect"), modifiers.get("exp"), tuple(errors))


def _modifier(name: str, value: str, seen: dict[str, str], errors: list[str]) -> None:
    if name in ("redirect", "exp"):
        if name in seen:
            errors.append(f"{name}= appears more than once")
        error = domain_spec_error(value)
        if error:
            errors.append(f"{name}={value}: {error}")
        seen[name] = value.lower()
    elif macro_error(value):  # unknown modifiers are ignored, but must parse
        errors.append(f"{name}={value}: {macro_error(value)}")


def parse_term(word: str) -> tuple[Term | None, str | None]:
    m = _DIRECTIVE.fullmatch(word)
    if not m or m.group(2).lower() not in MECHANISMS:
        return None, f"{word!r} is not an SPF mechanism or modifier"
    qualifier, kind, target, cidr = m.group(1) or "+", m.group(2).lower(), m.group(3), m.group(4)
    cidr4, cidr6, error = _cidrs(kind, cidr)
    if error is None:
        error = _target_error(kind, target)
    if error is not None:
        return None, f"{word!r}: {error}"
    if kind in ("ip4", "ip6"):
        assert target is not None
        target = target.lower()
    elif target is not None:
        target = target.rstrip(".").lower() if not has_macros(target) else target
    return Term(qualifier, kind, target, cidr4, cidr6, word), None


def _cidrs(kind: str, cidr: str) -> tuple[int | None, int | None, str | None]:
    if not cidr:
        return None, None, None
    m = _CIDR.fullmatch(cidr)
    assert m is not None  # _DIRECTIVE only lets these through
    first, second = m.group(1), m.group(2)
    if kind in ("ip4", "ip6") and second is None:
        v4, v6 = (first, None) if kind == "ip4" else (None, first)
    elif kind in ("a", "mx"):
        v4, v6 = first, second
    else:
        return None, None, "a CIDR length is not allowed here"
    for value, top in ((v4, 32), (v6, 128)):
        if value is not None and (not value.isdigit() or value != str(int(value))):
            return None, None, f"bad CIDR length /{value}"
        if value is not None and int(value) > top:
            return None, None, f"CIDR length /{value} is over {top}"
    return (int(v4) if v4 else None), (int(v6) if v6 else None), None


def _target_error(kind: str, target: str | None) -> str | None:
    if kind == "all":
        return "all takes no argument" if target is not None else None
    if kind in ("ip4", "ip6"):
        if not target:
            return f"{kind} needs an address"
        try:
            address = ipaddress.ip_address(target)
        except ValueError:
            return f"{target!r} is not an IP address"
        return None if address.version == int(kind[2]) else f"{target} is not IPv{kind[2]}"
    if target is None:
        return f"{kind} needs a domain" if kind in ("include", "exists") else None
    return domain_spec_error(target)


def domain_spec_error(spec: str) -> str | None:
    """Why `spec` is not a domain-spec (RFC 7208 7.1), or None."""
    if not spec:
        return "empty domain"
    if has_macros(spec):
        return macro_error(spec)
    labels = spec.rstrip(".").split(".")
    if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
        return f"{spec!r} is not a domain name"
    if labels[-1].isdigit():
        return f"{spec!r} ends in a numeric label"
    return None
