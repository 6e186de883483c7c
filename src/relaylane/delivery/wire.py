"""What a message must be on the wire: CRLF only, lines of at most 998 octets, 7-bit
(headers may be UTF-8 where SMTPUTF8 is needed). Pure checks shared by compose and eml."""

from __future__ import annotations

import re

from relaylane.delivery.headers import MAX_LINE

LINE_BREAK = re.compile(r"\r\n|\r|\n")


def is_7bit(data: bytes) -> bool:
    return (
        data.isascii()
        and b"\x00" not in data
        and all(len(line) <= MAX_LINE for line in data.splitlines())
    )


def is_7bit_text(text: str) -> bool:
    return text.isascii() and is_7bit(text.encode("ascii"))


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def wire_problem(data: bytes, *, utf8_headers: bool) -> str | None:
    """Why `data` is not a clean SMTP message (CRLF only, <= 998, 7-bit), or None."""
    if not data.endswith(b"\r\n"):
        return "it does not end with a line break"
    crlf = data.count(b"\r\n")
    if (
        data.count(b"\r") != crlf
        or data.count(b"\n") != crlf
        or b"\x00" in data
        or max(map(len, data.split(b"\r\n"))) > MAX_LINE
    ):
        return _line_problem(data)
    end = data.find(b"\r\n\r\n")
    split = len(data) if end < 0 else end + 2
    head, body = data[:split], data[split:]
    if not body.isascii():
        return "the body has 8-bit bytes"
    if not head.isascii() and not (utf8_headers and is_utf8(head)):
        return "a header has 8-bit bytes"
    return None


def _line_problem(data: bytes) -> str | None:
    """The first line of `data` with a bare CR or LF, too many octets or a NUL (the
    slow walk, taken only once the whole-message checks found something)."""
    for number, line in enumerate(data[:-2].split(b"\r\n"), start=1):
        if b"\r" in line or b"\n" in line:
            return f"line {number} has a bare CR or LF"
        if len(line) > MAX_LINE:
            return f"line {number} is longer than {MAX_LINE} octets"
        if b"\x00" in line:
            return f"line {number} has a NUL byte"
    return None  # pragma: no cover (the whole-message checks found a problem)
