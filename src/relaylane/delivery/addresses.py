"""Email addresses as relaylane accepts them: parsed, validated and normalised once.

Syntax is checked by email-validator (no DNS lookups). The domain is stored as ASCII
(IDNA 2008 punycode), lower-cased; the local part is kept as given (case preserved,
NFC-normalised). The RFC 2606 reserved names `.test`, `.example`, `.invalid` and
`.localhost` are accepted so that test and demo setups work; other special-use names
(`.local`, `.onion`, `.arpa`) are refused by email-validator.

Any CR, LF or NUL (or another control character) in an address is refused: an address
ends up in a header, and a line break there would let the text inject other headers.
"""

from __future__ import annotations

import contextlib
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from email.errors import HeaderParseError, InvalidHeaderDefect
from email.header import Header, decode_header, make_header
from email.headerregistry import Address as _MailboxParts
from email.headerregistry import AddressHeader, BaseHeader
from email.policy import default as _default_policy
from functools import lru_cache

from email_validator import EmailNotValidError, validate_email

from relaylane.errors import InputError

__all__ = [
    "Address",
    "encode_phrase",
    "parse_address",
    "parse_recipient_lines",
    "refuse_unsafe_chars",
    "unique_addresses",
]

ADDRESS_FIX = "write it as name@domain, e.g. bob@example.com"

# The longest text parse_address looks at; a real address plus display name is far shorter.
_MAX_INPUT = 998

# CR, LF and NUL: a header-injection attempt (or a pasted multi-line value).
_INJECTION_CHARS = re.compile(r"[\r\n\x00]")
# Other characters that must never reach a header: C0 controls except TAB, DEL, the
# Unicode line separators (Python's str.splitlines() splits on them) and lone surrogates
# (undecodable bytes from a command line or file decoded with surrogateescape).
_CONTROL_CHARS = re.compile("[\x01-\x08\x0b-\x1f\x7f\x85\u2028\u2029\ud800-\udfff]")
_ANY_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029\ud800-\udfff]")

# RFC 2606 reserved top-level names that email-validator refuses but tests and demos use.
# `.test` is allowed by email-validator's test_environment option; `.example` is allowed
# as is; `.invalid` and `.localhost` are validated as if they were `.test`.
_RESERVED_TLDS = ("invalid", "localhost")

# A local part that email-validator accepts as it is: an ASCII dot-atom (RFC 5322 3.2.3).
# Such an address is checked here and its domain once per domain (see _validate_addr_spec).
_DOT_ATOM = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*")
_MAX_LOCAL = 64  # octets (RFC 5321 4.5.3.1.1)
_MAX_ADDRESS = 254  # octets of local@domain, as email-validator counts them
_DOMAIN_CACHE = 4096  # distinct domains whose validation is remembered

# A display name that needs no quoting: atext words separated by single spaces (RFC 5322
# 3.2.3); non-ASCII counts as atext (RFC 6532) for the UTF-8 form.
_ATEXT = r"[A-Za-z0-9!#$%&'*+\-/=?^_`{|}~\u0080-\U0010ffff]+"
_PLAIN_PHRASE = re.compile(f"{_ATEXT}(?: {_ATEXT})*")


@dataclass(frozen=True, slots=True)
class Address:
    """One mailbox: an optional display name and local@domain."""

    display_name: str  # may be ""
    local: str  # as given (case preserved, NFC-normalised)
    domain: str  # ASCII, lower-cased; an IDN is converted to punycode

    @property
    def addr(self) -> str:
        """local@domain: what goes in MAIL FROM / RCPT TO."""
        return f"{self.local}@{self.domain}"

    @property
    def needs_smtputf8(self) -> bool:
        """True when the local part is not ASCII (the relay must offer SMTPUTF8)."""
        return not self.local.isascii()

    @property
    def dedupe_key(self) -> str:
        """The address compared case-insensitively: two addresses with the same key are
        the same recipient (the rule parse_recipient_lines dedupes by)."""
        return f"{self.local.casefold()}@{self.domain}"

    def header(self) -> str:
        """The mailbox formatted for a header, on one line.

        `bob@x.test`, `Bob <bob@x.test>`, `"Smith, J" <j@x.test>`; a non-ASCII display
        name becomes RFC 2047 encoded-words (by the email package) so the result is ASCII,
        unless the address itself needs SMTPUTF8, in which case it is UTF-8 throughout.
        """
        # headerregistry quotes a local part that is not a dot-atom (never the case for an
        # address from parse_address, but compose re-renders addresses from .eml files).
        addr_spec = _MailboxParts(username=self.local, domain=self.domain).addr_spec
        if not self.display_name:
            return addr_spec
        return f"{encode_phrase(self.display_name, utf8=self.needs_smtputf8)} <{addr_spec}>"


def encode_phrase(text: str, *, utf8: bool = False) -> str:
    """A display name (or group name) as header text on one line.

    ASCII text is quoted when it holds anything but atext and spaces (or looks like an
    encoded-word); non-ASCII text becomes RFC 2047 encoded-words made by the email
    package (each at most 75 characters, separated by spaces), unless `utf8`, when it is
    kept as UTF-8 (for a header that needs SMTPUTF8 anyway).
    """
    if (utf8 or text.isascii()) and not _ANY_CONTROL.search(text):
        if _PLAIN_PHRASE.fullmatch(text) and "=?" not in text:
            return text
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    # Control characters (possible in a name decoded from an .eml) are only safe encoded.
    encoded = Header(text, "utf-8").encode(splitchars=" ", maxlinelen=75, linesep="\r\n")
    return encoded.replace("\r\n", "")


def parse_address(text: str, *, field: str = "address", allow_display_name: bool = True) -> Address:
    """Parse and validate one address, `bob@x.test` or `Bob <bob@x.test>`.

    Raises InputError naming `field` when the text is not one valid address.
    """
    refuse_unsafe_chars(field, text, what="address")
    stripped = text.strip()
    if not stripped:
        raise InputError(field, "the address is empty", ADDRESS_FIX)
    shown = _show(stripped)
    if len(stripped) > _MAX_INPUT:
        raise InputError(
            field, f"{shown} is too long to be an address ({len(stripped)} characters)", ADDRESS_FIX
        )

    addr_spec = stripped
    phrase = ""
    lt = stripped.rfind("<")
    if lt != -1 or ">" in stripped:
        if not allow_display_name:
            raise InputError(
                field,
                f"{shown} has a display name or angle brackets, which are not allowed here",
                "give only the address, e.g. bob@example.com",
            )
        if lt == -1 or not stripped.endswith(">"):
            raise InputError(
                field,
                f"{shown} is not a valid address: expected Name <name@domain>, with the "
                "address in angle brackets at the end",
                "write it as name@domain or Name <name@domain>, e.g. Bob <bob@example.com>",
            )
        addr_spec = stripped[lt + 1 : -1].strip()
        phrase = stripped[:lt].strip()

    local, domain = _validate_addr_spec(addr_spec, field=field, shown=shown)
    display_name = _display_name(stripped, addr_spec, field=field, shown=shown) if phrase else ""
    return Address(display_name=display_name, local=local, domain=domain)


def parse_recipient_lines(lines: Iterable[str], *, source: str) -> list[Address]:
    """Parse a recipient file (`--to-file`): one address per line.

    Blank lines and lines starting with '#' are skipped; a leading byte-order mark is
    ignored. Addresses are deduplicated case-insensitively on local@domain, keeping the
    first. The first invalid line raises InputError whose field is `source:line`.
    An empty result is returned as []; the caller decides whether that is an error.
    """
    result: list[Address] = []
    for number, line in enumerate(lines, start=1):
        if number == 1:
            line = line.removeprefix("\ufeff")
        # strip() drops the line ending ("\n" or "\r\n") with the surrounding blanks; a CR
        # or LF left inside the line is refused by parse_address.
        entry = line.strip()
        if not entry or entry.startswith("#"):
            continue
        result.append(parse_address(entry, field=f"{source}:{number}"))
    return unique_addresses(result)


def unique_addresses(addresses: Iterable[Address]) -> list[Address]:
    """Each address once (`Address.dedupe_key`: case-insensitive local part), in
    first-seen order."""
    seen: set[str] = set()
    result: list[Address] = []
    for address in addresses:
        if address.dedupe_key not in seen:
            seen.add(address.dedupe_key)
            result.append(address)
    return result


def refuse_unsafe_chars(field: str, text: str, *, what: str) -> None:
    """Raise InputError if `text` holds CR, LF, NUL or another control character."""
    if _INJECTION_CHARS.search(text):
        raise InputError(
            field,
            f"the {what} {_show(text)} contains a line break (CR/LF) or NUL character, "
            "which could inject extra headers",
            f"put the {what} on one line without control characters",
        )
    bad = _CONTROL_CHARS.search(text)
    if bad:
        char = bad.group()
        if "\ud800" <= char <= "\udfff":
            problem = f"the {what} {_show(text)} contains bytes that are not valid UTF-8"
            fix = f"write the {what} as UTF-8 text"
        else:
            problem = f"the {what} {_show(text)} contains the control character U+{ord(char):04X}"
            fix = f"remove control characters from the {what}"
        raise InputError(field, problem, fix)


def _show(text: str, limit: int = 80) -> str:
    """`text` quoted for an error message (repr, so control characters are visible)."""
    shown = repr(text)
    return shown if len(shown) <= limit else shown[: limit - 4] + "...'"


def _display_name(text: str, addr_spec: str, *, field: str, shown: str) -> str:
    """The display name of `Name <addr>`, parsed by the email package's header parser."""
    problem = f"{shown} is not a valid address: the display name cannot be parsed"
    fix = 'put a display name with commas or quotes in double quotes, e.g. "Smith, J" <j@x.test>'
    try:
        parsed = _default_policy.header_factory("To", text)
    except Exception as exc:  # the header parser raises assorted errors on malformed text
        raise InputError(field, problem, fix) from exc
    if not (
        isinstance(parsed, AddressHeader) and isinstance(parsed, BaseHeader)
    ):  # pragma: no cover
        raise InputError(field, problem, fix)
    if any(isinstance(defect, InvalidHeaderDefect) for defect in parsed.defects):
        raise InputError(field, problem, fix)
    groups = parsed.groups
    if len(groups) != 1 or groups[0].display_name is not None or len(groups[0].addresses) != 1:
        raise InputError(field, f"{shown} is not one address", fix)
    mailbox = groups[0].addresses[0]
    # The parser and our split must agree on which part is the address.
    if mailbox.addr_spec.casefold() != addr_spec.casefold():
        raise InputError(field, problem, fix)
    name = mailbox.display_name
    phrase = text[: text.rfind("<")]
    if "=?" in phrase and '"' not in phrase and "(" not in phrase:
        # The header parser (3.11) puts a space between adjacent RFC 2047 encoded-words,
        # which RFC 2047 6.2 says to ignore; the older decoder gets them right.
        with contextlib.suppress(HeaderParseError, UnicodeError, LookupError, ValueError):
            name = str(make_header(decode_header(phrase.strip())))
    refuse_unsafe_chars(field, name, what="display name")
    return " ".join(name.split())


def _validate_addr_spec(addr_spec: str, *, field: str, shown: str) -> tuple[str, str]:
    """Validate local@domain; return (local, ASCII domain).

    The common case, an ASCII dot-atom local part at an ASCII domain, is checked here,
    and its domain by email-validator once per domain (a batch to many people at one
    provider validates the domain once). Anything else (email-validator measures an
    internationalised domain in more than one way), and every refusal, goes through
    email-validator whole, so the answer and its error are the same either way
    (tests/test_fast_paths.py compares them).
    """
    local, at, domain = addr_spec.rpartition("@")
    if at and len(local) <= _MAX_LOCAL and domain.isascii() and _DOT_ATOM.fullmatch(local):
        ascii_domain = _valid_domain(domain)
        if ascii_domain is not None and len(local) + 1 + len(ascii_domain) <= _MAX_ADDRESS:
            return local, ascii_domain
    return _validate_with_library(addr_spec, field=field, shown=shown)


@lru_cache(maxsize=_DOMAIN_CACHE)
def _valid_domain(domain: str) -> str | None:
    """The ASCII form of `domain` if an address at it can be valid, else None."""
    try:
        return _validate_with_library(f"postmaster@{domain}", field="", shown="")[1]
    except InputError:
        return None


def _validate_with_library(addr_spec: str, *, field: str, shown: str) -> tuple[str, str]:
    """Validate local@domain with email-validator; return (local, ASCII domain)."""
    local_given, at, domain_given = addr_spec.rpartition("@")
    probe = addr_spec
    reserved = ""
    if at:
        head, dot, tld = domain_given.rpartition(".")
        if tld.lower() in _RESERVED_TLDS:
            reserved = tld.lower()
            probe = f"{local_given}@{head}{dot}test"
    try:
        valid = validate_email(
            probe,
            check_deliverability=False,
            allow_smtputf8=True,
            allow_display_name=False,
            allow_quoted_local=False,
            allow_domain_literal=False,
            test_environment=True,  # accept .test (and .example, which is never refused)
        )
    except EmailNotValidError as exc:
        reason = str(exc).rstrip(".")
        fix = ADDRESS_FIX
        if "," in addr_spec or ";" in addr_spec:
            fix = "give one address at a time, e.g. bob@example.com"
        raise InputError(field, f"{shown} is not a valid address: {reason}", fix) from exc
    domain = valid.ascii_domain.lower()
    if reserved:
        domain = domain.removesuffix("test") + reserved
    # email-validator lower-cases role names (Postmaster) and may unquote; keep the local
    # part as given, NFC-normalised as RFC 6532 asks and as email-validator validated it.
    local = unicodedata.normalize("NFC", local_given)
    return local, domain
