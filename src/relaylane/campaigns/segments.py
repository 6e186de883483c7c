"""Segments: a small language that selects contacts by their fields.

A segment is text such as ``opened_days_ago <= 90 and country = "DE"``. `parse` turns it
into a typed, immutable tree; `format` prints a tree in canonical form (so that
``parse(format(s)) == s``); `matches` evaluates a tree against one contact's fields; and
`fields` lists the field names a tree uses, so that callers can check they exist. Nothing
here knows a schema: the caller supplies the fields.

Grammar (keywords are case-insensitive; whitespace between tokens is free)::

    expr       := term ("or" term)*
    term       := factor ("and" factor)*
    factor     := "not" factor | "(" expr ")" | comparison
    comparison := FIELD OP VALUE
                | FIELD "is" ["not"] "empty"
                | FIELD "in" "(" VALUE ("," VALUE)* ")"
    OP         := "=" | "!=" | "<" | "<=" | ">" | ">=" | "contains" | "startswith"
    FIELD      := [a-z_][a-z0-9_]*        (flat, lowercase, not a keyword)
    VALUE      := STRING | NUMBER | "true" | "false"
    STRING     := '"' (any character but " and \\ | '\\"' | '\\\\')* '"'
    NUMBER     := ["-"] DIGIT+ ["." DIGIT+]     (ASCII digits; no exponent)

``not`` binds tighter than ``and``, which binds tighter than ``or``. The keywords are
``and or not in is empty true false contains startswith``; they cannot be field names.
A segment has at most `MAX_LENGTH` (2,000) characters and at most `MAX_DEPTH` (32) levels
of nesting, counting each ``(`` and each ``not``. Errors (`SegmentError`) give the 1-based
column, what was expected, what was found and how to fix it.

Evaluation (see docs/segments.md for the full table):

- A field is *empty* when it is missing, ``None``, a string of only whitespace, or an
  empty list, tuple or set. ``is empty`` is true for it, ``!=`` is true, and every other
  comparison (``in`` included) is false.
- A number value compares numerically; a string field holding a number (``"42"``,
  ``"-1.5"``) counts as that number. A field that is not a number is not equal to it and
  is neither smaller nor larger.
- A string value compares as text with both sides case-folded (``"de"`` equals ``"DE"``);
  ordering is by code point of the folded text. Numbers, booleans and dates in the field
  are compared through their text (``10115``, ``true``, ``2024-05-01``).
- ``true``/``false`` equal a boolean field or the strings ``"true"``/``"false"``.
- ``contains``/``startswith`` compare text, ignoring case; ``contains`` on a list, tuple
  or set field is true when one of its items equals the value.

Engagement fields are ordinary fields whose values callers supply: `ENGAGEMENT_FIELDS`.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import TypeAlias

from relaylane.errors import RelaylaneError

__all__ = [
    "ENGAGEMENT_FIELDS",
    "KEYWORDS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "And",
    "Comparison",
    "InList",
    "IsEmpty",
    "Not",
    "Op",
    "Or",
    "Segment",
    "SegmentError",
    "Value",
    "fields",
    "format",
    "matches",
    "parse",
]

MAX_LENGTH = 2000
"""The longest segment text `parse` accepts, in characters."""

MAX_DEPTH = 32
"""The deepest nesting of parentheses and ``not`` that `parse` accepts."""

KEYWORDS = frozenset(
    {"and", "or", "not", "in", "is", "empty", "true", "false", "contains", "startswith"}
)
"""Reserved words (matched case-insensitively); never field names."""

ENGAGEMENT_FIELDS = frozenset(
    {"opened_days_ago", "clicked_days_ago", "sent_days_ago", "subscribed_days_ago"}
)
"""Engagement fields, in whole days before now; missing (empty) when it never happened.

- ``opened_days_ago``: since the contact last opened a message.
- ``clicked_days_ago``: since the contact last clicked a link.
- ``sent_days_ago``: since a message was last sent to the contact.
- ``subscribed_days_ago``: since the contact subscribed.

relaylane does not compute them here: the caller puts them into the fields it passes to
`matches`, next to the contact's attributes.
"""

Value: TypeAlias = str | int | Decimal | bool
"""A literal: text, a whole number, a decimal number (never a float), or a boolean."""


class Op(enum.StrEnum):
    """A comparison operator; the value is how it is written."""

    EQ = "="  # equal (text ignores case)
    NE = "!="  # not equal; true for an empty field
    LT = "<"  # smaller
    LE = "<="  # smaller or equal
    GT = ">"  # larger
    GE = ">="  # larger or equal
    CONTAINS = "contains"  # the text contains the value, or a list holds it
    STARTSWITH = "startswith"  # the text starts with the value


# ---------------------------------------------------------------------------- the tree


def _check_field(name: object) -> None:
    if not isinstance(name, str):
        raise TypeError(f"a field name must be a str, not {type(name).__name__}")
    if not _is_field_name(name):
        raise ValueError(
            f"invalid field name {name!r}: use lowercase letters, digits and _, "
            "starting with a letter or _, and not a keyword"
        )


def _is_field_name(name: str) -> bool:
    if not name or name in KEYWORDS:
        return False
    if not (name[0] == "_" or "a" <= name[0] <= "z"):
        return False
    return all(c == "_" or "a" <= c <= "z" or "0" <= c <= "9" for c in name)


def _normal_value(value: object) -> Value:
    """Check a literal; a Decimal without a fractional part becomes an int (its form)."""
    if isinstance(value, bool | int | str):
        return value
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"a number value must be finite, not {value}")
        exponent = value.as_tuple().exponent
        if isinstance(exponent, int) and exponent >= 0:
            return int(value)
        return value
    if isinstance(value, float):
        raise TypeError("a number value must be an int or a Decimal, not a float")
    raise TypeError(f"a value must be str, int, Decimal or bool, not {type(value).__name__}")


@dataclasses.dataclass(frozen=True, slots=True)
class Comparison:
    """``field op value``, for example ``opened_days_ago <= 90``."""

    field: str
    op: Op
    value: Value

    def __post_init__(self) -> None:
        _check_field(self.field)
        if not isinstance(self.op, Op):
            raise TypeError(f"op must be an Op, not {type(self.op).__name__}")
        object.__setattr__(self, "value", _normal_value(self.value))


@dataclasses.dataclass(frozen=True, slots=True)
class InList:
    """``field in (v1, v2, ...)``: the field equals one of the values (at least one)."""

    field: str
    values: tuple[Value, ...]

    def __post_init__(self) -> None:
        _check_field(self.field)
        if not isinstance(self.values, tuple):
            raise TypeError("values must be a tuple")
        if not self.values:
            raise ValueError("an in-list needs at least one value")
        object.__setattr__(self, "values", tuple(_normal_value(v) for v in self.values))


@dataclasses.dataclass(frozen=True, slots=True)
class IsEmpty:
    """``field is empty``, or with ``negated`` ``field is not empty``."""

    field: str
    negated: bool = False

    def __post_init__(self) -> None:
        _check_field(self.field)


@dataclasses.dataclass(frozen=True, slots=True)
class Not:
    """``not operand``."""

    operand: Segment

    def __post_init__(self) -> None:
        _check_node(self.operand)


@dataclasses.dataclass(frozen=True, slots=True)
class And:
    """``p1 and p2 and ...``: every part holds (two parts or more)."""

    parts: tuple[Segment, ...]

    def __post_init__(self) -> None:
        _check_parts(self.parts, "and")


@dataclasses.dataclass(frozen=True, slots=True)
class Or:
    """``p1 or p2 or ...``: some part holds (two parts or more)."""

    parts: tuple[Segment, ...]

    def __post_init__(self) -> None:
        _check_parts(self.parts, "or")


Segment: TypeAlias = Comparison | InList | IsEmpty | Not | And | Or
"""A parsed segment: one node of the tree."""

_NODES = (Comparison, InList, IsEmpty, Not, And, Or)


def _check_node(node: object) -> None:
    if not isinstance(node, _NODES):
        raise TypeError(f"a segment node was expected, not {type(node).__name__}")


def _check_parts(parts: object, word: str) -> None:
    if not isinstance(parts, tuple):
        raise TypeError(f"{word} parts must be a tuple")
    if len(parts) < 2:
        raise ValueError(f"{word} needs two parts or more")
    for part in parts:
        _check_node(part)


# ---------------------------------------------------------------------------- errors


class SegmentError(RelaylaneError, ValueError):
    """The segment text is invalid.

    `column` is 1-based (one past the end when the text ended too soon); `problem` says
    what was expected, `found` what was there instead (``None`` at the end of the text),
    `fix` how to correct it. `str()` gives all of it with the text and a caret.
    """

    def __init__(self, text: str, column: int, problem: str, found: str | None, fix: str) -> None:
        self.text = text
        self.column = column
        self.problem = problem
        self.found = found
        self.fix = fix
        first = f"segment: {problem} at column {column}"
        if found is not None:
            first += f", found {found}"
        shown, offset = _excerpt(text, column - 1)
        super().__init__(f"{first}\n  {shown}\n  {' ' * offset}^\nFix: {fix}")


_EXCERPT_WIDTH = 72


def _excerpt(text: str, index: int) -> tuple[str, int]:
    """The text as one printable line (at most about 72 characters around `index`)."""
    shown = "".join(c if c.isprintable() and not c.isspace() else " " for c in text)
    if len(shown) <= _EXCERPT_WIDTH:
        return shown, index
    start = max(0, min(index - _EXCERPT_WIDTH // 2, len(shown) - _EXCERPT_WIDTH))
    end = start + _EXCERPT_WIDTH
    prefix = "…" if start > 0 else ""
    suffix = "…" if end < len(shown) else ""
    return prefix + shown[start:end] + suffix, index - start + len(prefix)


# ---------------------------------------------------------------------------- lexing


class _Kind(enum.Enum):
    WORD = "word"  # a keyword or a field name, as written
    STRING = "string"
    NUMBER = "number"
    SYMBOL = "symbol"  # = != < <= > >=
    LPAREN = "("
    RPAREN = ")"
    COMMA = ","
    END = "end"


@dataclasses.dataclass(frozen=True, slots=True)
class _Token:
    kind: _Kind
    text: str  # as written in the segment
    start: int  # 0-based offset
    value: Value | None = None  # STRING and NUMBER only

    def keyword(self) -> str | None:
        if self.kind is _Kind.WORD and self.text.lower() in KEYWORDS:
            return self.text.lower()
        return None

    def describe(self) -> str | None:
        if self.kind is _Kind.END:
            return None
        shown = self.text if len(self.text) <= 30 else self.text[:29] + "…"
        return f'"{shown}"' if self.kind is not _Kind.STRING else shown


_DIGITS = frozenset("0123456789")
_WORD_START = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_")
_WORD_CHARS = _WORD_START | _DIGITS
_VALUE_FIX = 'write text in double quotes ("DE"), a number (90 or -1.5), true or false'
_CONDITION_FIX = (
    'a condition is "field op value", for example country = "DE", '
    'tags contains "vip", city is empty or country in ("DE", "AT")'
)


class _Parser:
    """Recursive descent with one token of lookahead, lexed on demand."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.depth = 0
        self.prev: _Token | None = None
        self.tok = self._lex()

    # -- errors

    def error(self, at: int, problem: str, fix: str, found: str | None = None) -> SegmentError:
        return SegmentError(self.text, at + 1, problem, found, fix)

    def error_here(self, problem: str, fix: str) -> SegmentError:
        return self.error(self.tok.start, problem, fix, self.tok.describe())

    def after(self) -> str:
        return f' after "{self.prev.text}"' if self.prev is not None else ""

    # -- lexing

    def _lex(self) -> _Token:
        text, i, n = self.text, self.pos, len(self.text)
        while i < n and text[i].isspace():
            i += 1
        if i == n:
            self.pos = n
            return _Token(_Kind.END, "", n)
        c = text[i]
        if c in "(),":
            self.pos = i + 1
            kind = {"(": _Kind.LPAREN, ")": _Kind.RPAREN, ",": _Kind.COMMA}[c]
            return _Token(kind, c, i)
        if c == '"':
            return self._lex_string(i)
        if c == "-" or c in _DIGITS:
            return self._lex_number(i)
        if c in "=!<>":
            return self._lex_symbol(i)
        if c in _WORD_START:
            j = i + 1
            while j < n and text[j] in _WORD_CHARS:
                j += 1
            self.pos = j
            return _Token(_Kind.WORD, text[i:j], i)
        raise self._bad_character(i)

    def _bad_character(self, i: int) -> SegmentError:
        c = self.text[i]
        fixes = {
            "'": 'write text in double quotes: "DE"',
            "&": "join conditions with and",
            "|": "join conditions with or",
            ".": "field names are flat (no dots); numbers need a digit before the point",
        }
        fix = fixes.get(c, "remove it, or put it inside double quotes as text")
        shown = repr(c) if not c.isprintable() or c.isspace() else f'"{c}"'
        return self.error(i, "unexpected character", fix, shown)

    def _lex_string(self, start: int) -> _Token:
        text, n = self.text, len(self.text)
        out: list[str] = []
        i = start + 1
        while i < n:
            c = text[i]
            if c == '"':
                self.pos = i + 1
                return _Token(_Kind.STRING, text[start : i + 1], start, "".join(out))
            if c == "\\":
                if i + 1 < n and text[i + 1] in '"\\':
                    out.append(text[i + 1])
                    i += 2
                    continue
                found = f'"\\{text[i + 1]}"' if i + 1 < n else None
                raise self.error(
                    i,
                    'expected \\" or \\\\ after a backslash in a string',
                    'the only escapes are \\" (a quote) and \\\\ (a backslash); '
                    "write other characters as they are",
                    found,
                )
            out.append(c)
            i += 1
        raise self.error(
            n,
            'expected a closing " for the string',
            f'end the string that starts at column {start + 1} with "; '
            'write \\" for a quote inside it',
        )

    def _lex_number(self, start: int) -> _Token:
        text, n = self.text, len(self.text)
        i = start + 1 if text[start] == "-" else start
        if i >= n or text[i] not in _DIGITS:
            found = f'"{text[i]}"' if i < n else None
            raise self.error(i, 'expected a digit after "-"', "write negative numbers as -5", found)
        while i < n and text[i] in _DIGITS:
            i += 1
        decimal = i < n and text[i] == "."
        if decimal:
            i += 1
            if i >= n or text[i] not in _DIGITS:
                found = f'"{text[i]}"' if i < n else None
                raise self.error(
                    i,
                    "expected a digit after the decimal point",
                    "write decimals with digits on both sides of the point: 2.0, 0.5",
                    found,
                )
            while i < n and text[i] in _DIGITS:
                i += 1
        self.pos = i
        written = text[start:i]
        value: Value = Decimal(written) if decimal else int(written)
        return _Token(_Kind.NUMBER, written, start, value)

    def _lex_symbol(self, start: int) -> _Token:
        text = self.text
        pair = text[start : start + 2]
        if pair in ("!=", "<=", ">="):
            self.pos = start + 2
            return _Token(_Kind.SYMBOL, pair, start)
        if pair in ("==", "<>", "=>", "=<"):
            right = {"==": "=", "<>": "!=", "=>": ">=", "=<": "<="}[pair]
            raise self.error(
                start, "expected an operator", f'write {right} instead of "{pair}"', f'"{pair}"'
            )
        if text[start] == "!":
            raise self.error(start, "expected an operator", 'write != for "not equal"', '"!"')
        self.pos = start + 1
        return _Token(_Kind.SYMBOL, text[start], start)

    # -- parsing

    def at(self, kind: _Kind) -> bool:
        """Whether the current token is of this kind (a call, so mypy does not narrow)."""
        return self.tok.kind is kind

    def advance(self) -> _Token:
        tok = self.tok
        self.prev = tok
        self.tok = self._lex()
        return tok

    def enter(self, opener: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(
                opener.start,
                f"expected at most {MAX_DEPTH} nested parentheses and nots",
                "simplify the segment: drop redundant parentheses, double nots, or split it in two",
                opener.describe(),
            )

    def parse(self) -> Segment:
        if self.at(_Kind.END):
            raise self.error_here("expected a condition", _CONDITION_FIX)
        tree = self.expr()
        if not self.at(_Kind.END):
            if self.at(_Kind.RPAREN):
                fix = 'remove this ")" or add the "(" it closes'
            else:
                fix = "join conditions with and / or"
            raise self.error_here(f'expected "and", "or" or the end{self.after()}', fix)
        return tree

    def expr(self) -> Segment:
        parts = [self.term()]
        while self.tok.keyword() == "or":
            self.advance()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def term(self) -> Segment:
        parts = [self.factor()]
        while self.tok.keyword() == "and":
            self.advance()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def factor(self) -> Segment:
        tok = self.tok
        if tok.keyword() == "not":
            self.enter(tok)
            self.advance()
            operand = self.factor()
            self.depth -= 1
            return Not(operand)
        if tok.kind is _Kind.LPAREN:
            self.enter(tok)
            self.advance()
            inner = self.expr()
            if not self.at(_Kind.RPAREN):
                raise self.error_here(
                    'expected ")"',
                    f'add the ")" that closes the "(" at column {tok.start + 1}, '
                    "or join conditions with and / or",
                )
            self.advance()
            self.depth -= 1
            return inner
        if tok.kind is _Kind.WORD and tok.keyword() is None:
            return self.comparison()
        fix = _CONDITION_FIX
        if tok.keyword() is not None:
            fix += f'; "{tok.text}" is a keyword and cannot be a field name'
        raise self.error_here(f"expected a condition{self.after()}", fix)

    def comparison(self) -> Segment:
        field_tok = self.advance()
        name = field_tok.text
        if not _is_field_name(name):
            raise self.error(
                field_tok.start,
                "expected a field name in lowercase letters, digits and _",
                f"write {name.lower()}",
                field_tok.describe(),
            )
        op_tok = self.tok
        word = op_tok.keyword()
        if op_tok.kind is _Kind.SYMBOL or word in ("contains", "startswith"):
            self.advance()
            return Comparison(name, Op(word or op_tok.text), self.value())
        if word == "in":
            self.advance()
            return InList(name, self.value_list())
        if word == "is":
            self.advance()
            return self.is_empty(name)
        raise self.error_here(
            f'expected an operator after "{name}"',
            "use one of = != < <= > >= contains startswith in (...), is empty, is not empty",
        )

    def value(self) -> Value:
        tok = self.tok
        if tok.kind in (_Kind.STRING, _Kind.NUMBER):
            self.advance()
            assert tok.value is not None
            return tok.value
        word = tok.keyword()
        if word in ("true", "false"):
            self.advance()
            return word == "true"
        fix = _VALUE_FIX
        if tok.kind is _Kind.WORD and word is None:
            fix = f'write text in double quotes: "{tok.text}"'
        raise self.error_here(f"expected a value{self.after()}", fix)

    def value_list(self) -> tuple[Value, ...]:
        if not self.at(_Kind.LPAREN):
            raise self.error_here(
                'expected "(" after "in"', 'list the values in parentheses: country in ("DE", "AT")'
            )
        self.advance()
        values = [self.value()]
        while self.at(_Kind.COMMA):
            self.advance()
            values.append(self.value())
        if not self.at(_Kind.RPAREN):
            raise self.error_here(
                'expected "," or ")" in the list of values',
                'separate values with commas and close the list: ("DE", "AT")',
            )
        self.advance()
        return tuple(values)

    def is_empty(self, name: str) -> Segment:
        negated = self.tok.keyword() == "not"
        if negated:
            self.advance()
        if self.tok.keyword() != "empty":
            said = '"is not"' if negated else '"is"'
            wanted = '"empty"' if negated else '"empty" or "not empty"'
            raise self.error_here(
                f"expected {wanted} after {said}",
                f"write {name} is empty or {name} is not empty; compare values with = or !=",
            )
        self.advance()
        return IsEmpty(name, negated)


# ---------------------------------------------------------------------------- the API


def parse(text: str) -> Segment:
    """Parse segment text; raise `SegmentError` (a ValueError) saying where and why."""
    if not isinstance(text, str):
        raise TypeError(f"segment text must be a str, not {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise SegmentError(
            text,
            MAX_LENGTH + 1,
            f"the segment is too long: expected at most {MAX_LENGTH:,} characters",
            f"{len(text):,} characters",
            "shorten the segment, for example with in (...) instead of many or",
        )
    return _Parser(text).parse()


def format(segment: Segment) -> str:
    """The canonical text of a segment: lowercase keywords, single spaces, parentheses
    only where the tree needs them. `parse` gives the same tree back."""
    if isinstance(segment, Comparison):
        return f"{segment.field} {segment.op.value} {_format_value(segment.value)}"
    if isinstance(segment, InList):
        return f"{segment.field} in ({', '.join(_format_value(v) for v in segment.values)})"
    if isinstance(segment, IsEmpty):
        return f"{segment.field} is {'not ' if segment.negated else ''}empty"
    if isinstance(segment, Not):
        inner = format(segment.operand)
        return f"not ({inner})" if isinstance(segment.operand, And | Or) else f"not {inner}"
    if isinstance(segment, And):
        return " and ".join(
            f"({format(p)})" if isinstance(p, And | Or) else format(p) for p in segment.parts
        )
    if isinstance(segment, Or):
        return " or ".join(
            f"({format(p)})" if isinstance(p, Or) else format(p) for p in segment.parts
        )
    raise TypeError(f"a segment node was expected, not {type(segment).__name__}")


def fields(segment: Segment) -> set[str]:
    """The field names a segment uses."""
    if isinstance(segment, Comparison | InList | IsEmpty):
        return {segment.field}
    if isinstance(segment, Not):
        return fields(segment.operand)
    return set().union(*(fields(p) for p in segment.parts))


def matches(segment: Segment, fields: Mapping[str, object]) -> bool:
    """Whether a contact with these fields is in the segment (rules: module docstring)."""
    if isinstance(segment, And):
        return all(matches(p, fields) for p in segment.parts)
    if isinstance(segment, Or):
        return any(matches(p, fields) for p in segment.parts)
    if isinstance(segment, Not):
        return not matches(segment.operand, fields)
    found = fields.get(segment.field)
    if isinstance(segment, IsEmpty):
        return _is_empty(found) != segment.negated
    if isinstance(segment, InList):
        return any(_equals(found, v) for v in segment.values)
    return _compare(segment.op, found, segment.value)


# ---------------------------------------------------------------------------- evaluation


def _format_value(value: Value) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return _value_text(value)


def _value_text(value: Value) -> str:
    """A literal as text, for text comparisons (strings as they are, unquoted)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:f}"
    return str(value)


_COLLECTIONS = (list, tuple, set, frozenset)


def _is_empty(found: object) -> bool:
    if found is None:
        return True
    if isinstance(found, str):
        return not found.strip()
    return isinstance(found, _COLLECTIONS) and not found


def _as_number(found: object) -> Decimal | None:
    if isinstance(found, bool):
        return None
    if isinstance(found, int):
        return Decimal(found)
    if isinstance(found, Decimal):
        return found if found.is_finite() else None
    if isinstance(found, float):
        return Decimal(repr(found)) if math.isfinite(found) else None
    if isinstance(found, str):
        written = found.strip()
        body = written[1:] if written.startswith("-") else written
        whole, dot, fraction = body.partition(".")
        if _all_digits(whole) and (not dot or _all_digits(fraction)):
            return Decimal(written)
    return None


def _all_digits(text: str) -> bool:
    return bool(text) and all(c in _DIGITS for c in text)


def _as_text(found: object) -> str | None:
    if isinstance(found, str):
        return found
    if isinstance(found, bool | int | Decimal):
        try:
            return _value_text(found)
        except ValueError:  # an int too long to print (sys.get_int_max_str_digits)
            return None
    if isinstance(found, float):
        return repr(found)
    if isinstance(found, datetime.date | datetime.time):
        return found.isoformat()
    return None


def _as_bool(found: object) -> bool | None:
    if isinstance(found, bool):
        return found
    if isinstance(found, str):
        folded = found.strip().casefold()
        if folded in ("true", "false"):
            return folded == "true"
    return None


def _order(found: object, value: Value) -> int | None:
    """-1, 0 or 1 as the field is smaller, equal or larger; None when not comparable."""
    if _is_empty(found) or isinstance(value, bool):
        return None
    if isinstance(value, int | Decimal):
        number = _as_number(found)
        if number is None:
            return None
        return (number > value) - (number < value)
    text = _as_text(found)
    if text is None:
        return None
    mine, theirs = text.casefold(), value.casefold()
    return (mine > theirs) - (mine < theirs)


def _equals(found: object, value: Value) -> bool:
    if isinstance(value, bool):
        return not _is_empty(found) and _as_bool(found) is value
    return _order(found, value) == 0


def _compare(op: Op, found: object, value: Value) -> bool:
    if op is Op.EQ:
        return _equals(found, value)
    if op is Op.NE:
        return not _equals(found, value)
    if op in (Op.CONTAINS, Op.STARTSWITH):
        if _is_empty(found):
            return False
        if isinstance(found, _COLLECTIONS):
            return op is Op.CONTAINS and any(_equals(item, value) for item in found)
        text = _as_text(found)
        if text is None:
            return False
        needle = _value_text(value).casefold()
        folded = text.casefold()
        return needle in folded if op is Op.CONTAINS else folded.startswith(needle)
    order = _order(found, value)
    if order is None:
        return False
    if op is Op.LT:
        return order < 0
    if op is Op.LE:
        return order <= 0
    if op is Op.GT:
        return order > 0
    return order >= 0
