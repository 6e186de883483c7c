"""Contacts from a CSV file, one row at a time: the pure part of `relaylane contacts import`.

`read_contacts` reads the rows with `csv.reader` and yields one `RowResult` per data row,
never holding the file in memory: a `Contact` (a valid, normalised row), a `BadRow` (the
physical line the row starts on and why it was refused) or a `Duplicate` (an address seen
earlier in the file). The caller keeps the good rows and reports the others; an
`ImportSummary` counts them.

Columns. The first non-blank row is the header. Our fields are `email` (required),
`subscribed_at` and `source` (consent: when and where the person agreed) and any number
of attributes (custom fields such as `first_name`). Without a mapping each column feeds
the field named by its normalised header (`First Name` -> `first_name`, see
`normalize_header`) and the email column is the one named `email`, `e_mail` (`E-mail`),
`mail` or `email_address`. A mapping (`parse_mapping("email=Email,first_name=First")`)
selects and renames: only the mapped columns are read, and it must map `email`.

Rows. Values are stripped of surrounding blanks; an empty attribute is left out (an
empty cell means "unknown"). A row is refused (`BadRow`) when it has more or fewer
columns than the header, when a field is longer than `MAX_FIELD` (1,000) characters,
when the email is missing or invalid (`relaylane.delivery.addresses.parse_address`, no
display name), when `subscribed_at` is not an ISO 8601 date or date-time (no zone means
UTC) or unix seconds, or when it has more than `MAX_ATTRIBUTES` (100) attributes. A
malformed CSV row (e.g. a quote never closed) is refused the same way and reading
continues. Header problems make the whole file unusable and raise `InputError`.

Duplicates are found on `address_key` (local part case-folded) by `SeenKeys`, which keeps
an 8-byte blake2b digest and a line number per address in flat arrays, not the strings:
about 25 MB per million distinct addresses (38 MB at the moment the table doubles).
"""

from __future__ import annotations

import csv
import datetime
import hashlib
import re
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TextIO

from relaylane.delivery.addresses import parse_address
from relaylane.errors import InputError
from relaylane.policy.suppression import address_key

__all__ = [
    "EMAIL_HEADERS",
    "MAX_ATTRIBUTES",
    "MAX_FIELD",
    "MAX_KEPT_BAD_ROWS",
    "ROLE_ACCOUNTS",
    "BadRow",
    "Contact",
    "Duplicate",
    "ImportSummary",
    "Mapping",
    "RowResult",
    "SeenKeys",
    "normalize_header",
    "parse_mapping",
    "parse_subscribed_at",
    "read_contacts",
    "role_account",
]

MAX_FIELD = 1000  # characters in one field
MAX_ATTRIBUTES = 100  # non-empty custom fields in one row
MAX_KEPT_BAD_ROWS = 100  # BadRows an ImportSummary keeps with their reasons

# Normalised header names taken as the email column when there is no mapping.
EMAIL_HEADERS = ("email", "e_mail", "mail", "email_address")

# Fields that are not attributes.
_EMAIL = "email"
_SUBSCRIBED_AT = "subscribed_at"
_SOURCE = "source"

# Role local parts: mailboxes of a function, not of a person (RFC 2142 and the usual
# business ones). Mail to them reaches whoever reads the function, who did not sign up:
# they are suppressed on outreach lanes and warned about on marketing lanes (the
# caller's decision). Compared case-insensitively, without a +tag.
ROLE_ACCOUNTS = frozenset(
    {
        # RFC 2142 and the mail system's own
        "postmaster",
        "abuse",
        "hostmaster",
        "webmaster",
        "noc",
        "security",
        "mailer-daemon",
        "root",
        # no one reads these
        "noreply",
        "no-reply",
        "no_reply",
        "donotreply",
        "do-not-reply",
        "do_not_reply",
        # shared business mailboxes
        "info",
        "admin",
        "administrator",
        "support",
        "help",
        "sales",
        "marketing",
        "billing",
        "accounts",
        "contact",
        "office",
        "hello",
        "enquiries",
        "inquiries",
        "feedback",
        "press",
        "media",
        "jobs",
        "careers",
        "hr",
        "legal",
        "privacy",
        "compliance",
        "team",
        "staff",
        "all",
        "everyone",
        "newsletter",
        "list",
        "unsubscribe",
    }
)

_FIELD_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")
_SEPARATORS = re.compile(r"[\s\-]+")
_UNIX_SECONDS = re.compile(r"[0-9]{1,11}(?:\.[0-9]{1,9})?")
_MAP_FIX = (
    "write --map as field=Column pairs separated by commas, e.g. email=Email,first_name=First"
)


@dataclass(frozen=True, slots=True)
class Contact:
    """A valid row. `email` is normalised (`Address.addr`: domain lower-case ASCII, local
    part as given); `email_key` is what duplicates and suppression match on."""

    line: int  # physical line the row starts on (1-based; the header is usually line 1)
    email: str
    email_key: str
    attributes: dict[str, str]
    subscribed_at: float | None  # unix seconds
    source: str | None


@dataclass(frozen=True, slots=True)
class BadRow:
    """A refused row: where it starts and why."""

    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class Duplicate:
    """A row whose address appeared earlier in the file (at `first_line`); left out."""

    line: int
    email: str
    first_line: int


RowResult = Contact | BadRow | Duplicate


@dataclass(frozen=True, slots=True)
class Mapping:
    """Which CSV column feeds each of our fields: (field, column) pairs in the order given."""

    pairs: tuple[tuple[str, str], ...]

    def column(self, field_name: str) -> str | None:
        for ours, column in self.pairs:
            if ours == field_name:
                return column
        return None


def normalize_header(name: str) -> str:
    """A header as a field name: stripped, lower-case, each run of blanks and dashes one
    underscore (`First Name` -> `first_name`, `E-mail` -> `e_mail`)."""
    return _SEPARATORS.sub("_", name.strip().lower())


def parse_mapping(text: str) -> Mapping:
    """Parse `--map email=Email,first_name=First` (our field = CSV column).

    Field names are lower-case letters, digits and underscores; the mapping must name
    `email`, and each field once. Raises InputError naming the bad part and the fix.
    """
    pairs: list[tuple[str, str]] = []
    seen: dict[str, str] = {}
    for number, raw in enumerate(text.split(","), start=1):
        part = raw.strip()
        if not part:
            raise InputError("--map", f"part {number} is empty (two commas in a row?)", _MAP_FIX)
        ours, eq, column = part.partition("=")
        ours, column = ours.strip(), column.strip()
        if not eq:
            raise InputError("--map", f"{part!r} has no '='", _MAP_FIX)
        if not ours:
            raise InputError(
                "--map", f"{part!r} names no field before '='", f"write {ours or 'field'}=Column"
            )
        if not column:
            raise InputError(
                "--map",
                f"{part!r} names no CSV column after '='",
                f"write {ours}=Column, with the column's header as in the file",
            )
        if not _FIELD_NAME.fullmatch(ours):
            raise InputError(
                "--map",
                f"{ours!r} in {part!r} is not a field name",
                "use lower-case letters, digits and underscores, starting with a letter "
                f"(at most 64), e.g. {normalize_header(ours) or 'first_name'}={column}",
            )
        if ours in seen:
            raise InputError(
                "--map",
                f"the field {ours!r} is mapped twice ({seen[ours]!r} and {column!r})",
                f"map {ours} to one column",
            )
        seen[ours] = column
        pairs.append((ours, column))
    if _EMAIL not in seen:
        raise InputError(
            "--map", "the mapping has no email field", "add email=Column, e.g. email=Email"
        )
    return Mapping(tuple(pairs))


def parse_subscribed_at(text: str) -> float:
    """`subscribed_at` as unix seconds: an ISO 8601 date (midnight UTC), date-time (no
    zone means UTC; `Z` accepted) or unix seconds. Raises ValueError with the reason."""
    value = text.strip()
    if _UNIX_SECONDS.fullmatch(value):
        return float(value)
    try:
        if len(value) == 10:
            day = datetime.date.fromisoformat(value)
            moment = datetime.datetime(day.year, day.month, day.day, tzinfo=datetime.UTC)
        else:
            moment = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"subscribed_at {value[:40]!r} is not a date: expected ISO 8601 "
            "(2024-05-01 or 2024-05-01T09:30:00Z) or unix seconds"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.timestamp()


def role_account(email: str) -> str | None:
    """The role local part of `email` (`ROLE_ACCOUNTS`), lower-case, or None.

    `Postmaster+x@example.com` -> "postmaster"; `bob@example.com` -> None.
    """
    local = email.rpartition("@")[0].casefold().partition("+")[0]
    return local if local in ROLE_ACCOUNTS else None


class SeenKeys:
    """The addresses seen so far, as 8-byte blake2b digests with their first line.

    An open-addressing table in two flat arrays (8-byte digests, 4-byte lines), between a
    quarter and a half full: 12 bytes a slot, so for a million addresses 2**21 slots,
    25 MB (38 MB for the moment it doubles). For comparison, a Python set of the 8-byte
    digests takes ~75 MB a million and cannot give the first line; a dict from digest to
    line ~115 MB. Two different addresses share a digest with probability about
    n^2 / 2^65 (3e-8 for a million); the later one would be reported as a duplicate.
    """

    __slots__ = ("_count", "_digests", "_lines", "_mask")

    def __init__(self, capacity: int = 1024) -> None:
        size = 1024
        while size < capacity * 2:
            size *= 2
        self._digests = array("Q", [0]) * size
        self._lines = array("I", [0]) * size
        self._mask = size - 1
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def add(self, key: str, line: int) -> int | None:
        """Record `key` first seen at `line`; if it was seen before, return that line
        instead (and record nothing)."""
        digest = _digest(key)
        digests, mask = self._digests, self._mask
        slot = digest & mask
        while True:
            found = digests[slot]
            if found == digest:
                return int(self._lines[slot])
            if found == 0:
                break
            slot = (slot + 1) & mask
        digests[slot] = digest
        self._lines[slot] = line
        self._count += 1
        if self._count * 2 > len(digests):
            self._grow()
        return None

    def _grow(self) -> None:
        old_digests, old_lines = self._digests, self._lines
        size = len(old_digests) * 2
        digests = array("Q", [0]) * size
        lines = array("I", [0]) * size
        mask = size - 1
        for digest, line in zip(old_digests, old_lines, strict=True):
            if digest:
                slot = digest & mask
                while digests[slot]:
                    slot = (slot + 1) & mask
                digests[slot] = digest
                lines[slot] = line
        self._digests, self._lines, self._mask = digests, lines, mask


def _digest(key: str) -> int:
    raw = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(raw, "little") or 1  # 0 marks an empty slot


@dataclass(slots=True)
class ImportSummary:
    """Counts over an import; keeps the first `MAX_KEPT_BAD_ROWS` bad rows with reasons.

    `roles` counts good contacts at a role address (`role_account`), which are among
    `good`: the lane decides whether to suppress them or warn.
    """

    good: int = 0
    bad: int = 0
    duplicates: int = 0
    roles: int = 0
    bad_rows: list[BadRow] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Data rows read (good + bad + duplicates)."""
        return self.good + self.bad + self.duplicates

    def add(self, result: RowResult) -> None:
        if isinstance(result, Contact):
            self.good += 1
            if role_account(result.email) is not None:
                self.roles += 1
        elif isinstance(result, Duplicate):
            self.duplicates += 1
        else:
            self.bad += 1
            if len(self.bad_rows) < MAX_KEPT_BAD_ROWS:
                self.bad_rows.append(result)


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where each field is in a row, resolved from the header."""

    columns: int
    headers: tuple[str, ...]  # as written, for messages
    email: int
    subscribed_at: int | None
    source: int | None
    attributes: tuple[tuple[str, int], ...]


def read_contacts(
    lines: Iterable[str] | TextIO, mapping: Mapping | None = None
) -> Iterator[RowResult]:
    """Read a contacts CSV one row at a time (see the module docstring for the rules).

    `lines` yields the file's lines with their line endings (a text file opened with
    `newline=""`, or any iterable of lines); a leading byte-order mark is ignored. Line
    numbers are physical: a quoted field spanning lines moves the next row's number on.
    Raises InputError (field `header`) when the header is missing or unusable.
    """
    reader = csv.reader(_without_bom(lines), strict=True)
    plan: _Plan | None = None
    seen = SeenKeys()
    previous_end = 0  # reader.line_num after the previous row
    while True:
        start = previous_end + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            previous_end = reader.line_num
            if plan is None:
                raise InputError(
                    "header", f"line {start} is not valid CSV: {exc}", "fix the header row"
                ) from exc
            yield BadRow(start, f"not valid CSV: {exc}")
            continue
        previous_end = reader.line_num
        if not row or (len(row) == 1 and not row[0].strip()):
            continue  # a blank line
        if plan is None:
            plan = _plan(row, mapping)
            continue
        yield _row_result(row, start, plan, seen)
    if plan is None:
        raise InputError(
            "header", "the file is empty", "put a header row first, e.g. email,first_name"
        )


def _without_bom(lines: Iterable[str]) -> Iterator[str]:
    first = True
    for line in lines:
        if first:
            line = line.removeprefix("\ufeff")
            first = False
        yield line


def _plan(header: list[str], mapping: Mapping | None) -> _Plan:
    names = [normalize_header(h) for h in header]
    positions: dict[str, int] = {}
    for index, name in enumerate(names):
        if not name and mapping is None:
            raise InputError(
                "header",
                f"column {index + 1} has no name",
                "give every column a header, or choose columns with --map",
            )
        if name in positions and mapping is None:
            raise InputError(
                "header",
                f"columns {positions[name] + 1} and {index + 1} are both {name!r} "
                f"({header[positions[name]]!r}, {header[index]!r})",
                "rename one of them, or choose columns with --map",
            )
        positions.setdefault(name, index)

    fields: list[tuple[str, int]] = []
    if mapping is None:
        found = [name for name in EMAIL_HEADERS if name in positions]
        if not found:
            raise InputError(
                "header",
                f"no email column among {', '.join(repr(h) for h in header)}",
                "name the column email, or map it with --map email=Column",
            )
        if len(found) > 1:
            raise InputError(
                "header",
                f"more than one email column ({', '.join(found)})",
                f"choose one with --map email={found[0]},...",
            )
        email_name = found[0]
        for index, name in enumerate(names):
            fields.append((_EMAIL if name == email_name else name, index))
    else:
        stripped = [h.strip() for h in header]
        for ours, column in mapping.pairs:
            if column.strip() in stripped:
                index = stripped.index(column.strip())
            elif normalize_header(column) in positions:
                index = positions[normalize_header(column)]
            else:
                raise InputError(
                    "--map",
                    f"the column {column!r} (for {ours}) is not in the header "
                    f"({', '.join(repr(h) for h in header)})",
                    "use a column name exactly as the header row has it",
                )
            fields.append((ours, index))

    where = dict(fields)
    return _Plan(
        columns=len(header),
        headers=tuple(header),
        email=where[_EMAIL],
        subscribed_at=where.get(_SUBSCRIBED_AT),
        source=where.get(_SOURCE),
        attributes=tuple(
            (name, index) for name, index in fields if name not in (_EMAIL, _SUBSCRIBED_AT, _SOURCE)
        ),
    )


def _row_result(row: list[str], line: int, plan: _Plan, seen: SeenKeys) -> RowResult:
    if len(row) != plan.columns:
        few_many = "too many" if len(row) > plan.columns else "too few"
        return BadRow(line, f"{few_many} columns: {len(row)}, the header has {plan.columns}")
    for index, value in enumerate(row):
        if len(value) > MAX_FIELD:
            return BadRow(
                line,
                f"the field {plan.headers[index]!r} is {len(value)} characters long "
                f"(at most {MAX_FIELD:,})",
            )
    given = row[plan.email].strip()
    if not given:
        return BadRow(line, "missing email")
    try:
        address = parse_address(given, field="email", allow_display_name=False)
    except InputError as exc:
        return BadRow(line, f"invalid email: {exc.problem}")
    subscribed_at: float | None = None
    if plan.subscribed_at is not None and row[plan.subscribed_at].strip():
        try:
            subscribed_at = parse_subscribed_at(row[plan.subscribed_at])
        except ValueError as exc:
            return BadRow(line, str(exc))
    source = (row[plan.source].strip() or None) if plan.source is not None else None
    attributes = {name: row[index].strip() for name, index in plan.attributes if row[index].strip()}
    if len(attributes) > MAX_ATTRIBUTES:
        return BadRow(line, f"{len(attributes)} attributes (at most {MAX_ATTRIBUTES})")
    email = address.addr
    key = address_key(email)
    first_line = seen.add(key, line)
    if first_line is not None:
        return Duplicate(line, email, first_line)
    return Contact(line, email, key, attributes, subscribed_at, source)
