"""SPF macros (RFC 7208 7): checking their syntax and expanding them for one sender."""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from dataclasses import dataclass

_MACRO = re.compile(r"%\{([slodiphcrtv])(\d*)(r?)([.\-+,/_=]*)\}|%%|%_|%-", re.IGNORECASE)
_LITERAL = re.compile(r"[\x21-\x24\x26-\x7e]*")


@dataclass(frozen=True, slots=True)
class MacroContext:
    """Who is sending: the connecting address, the envelope sender and the HELO name."""

    ip: str
    sender: str  # local@domain
    helo: str


def has_macros(spec: str) -> bool:
    return "%" in spec


def macro_error(spec: str) -> str | None:
    """Why `spec` is not a valid macro-string, or None."""
    rest = _MACRO.sub("", spec)
    if not _LITERAL.fullmatch(rest):
        return f"{spec!r} has a bad macro (a lone '%' or an unknown %{{letter}})"
    return None


def expand(spec: str, domain: str, ctx: MacroContext) -> str:
    """`spec` with its macros expanded for the current `domain` and sender `ctx`.

    Domain names are shortened from the left to 253 characters (RFC 7208 7.3).
    """
    expanded = _MACRO.sub(lambda m: _one(m, domain, ctx), spec)
    while len(expanded) > 253 and "." in expanded:
        expanded = expanded.split(".", 1)[1]
    return expanded


def _one(m: re.Match[str], domain: str, ctx: MacroContext) -> str:
    text = m.group(0)
    if text in ("%%", "%_", "%-"):
        return {"%%": "%", "%_": " ", "%-": "%20"}[text]
    letter, digits, reverse, delimiters = m.groups()
    value = _value(letter.lower(), domain, ctx)
    parts = re.split("[" + re.escape(delimiters or ".") + "]", value)
    if reverse:
        parts.reverse()
    if digits and int(digits) > 0:
        parts = parts[-int(digits) :]
    joined = ".".join(parts)
    return urllib.parse.quote(joined, safe="") if letter.isupper() else joined


def _value(letter: str, domain: str, ctx: MacroContext) -> str:
    local, _, sender_domain = ctx.sender.rpartition("@")
    address = ipaddress.ip_address(ctx.ip)
    if letter == "i":
        if address.version == 6:
            return ".".join(address.exploded.replace(":", ""))
        return str(address)
    values = {
        "s": ctx.sender,
        "l": local or "postmaster",
        "o": sender_domain,
        "d": domain,
        "p": "unknown",  # the validated PTR name: doctor does not guess it
        "v": "in-addr" if address.version == 4 else "ip6",
        "h": ctx.helo,
        "c": str(address),
        "r": "unknown",
        "t": "0",
    }
    return values[letter]
