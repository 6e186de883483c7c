"""The intake hot path's shortcuts give the same answers as the slow paths they skip.

Each shortcut (an ASCII address checked without email-validator, its domain validated
once; a message's wire check done on the whole message at once; a body's transfer
encoding chosen by one scan) is compared here with the straightforward version, on
hand-picked cases and on generated ones.
"""

from __future__ import annotations

import os
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaylane.delivery import addresses
from relaylane.delivery.compose import _text_cte
from relaylane.delivery.headers import MAX_LINE, new_message_id
from relaylane.delivery.wire import LINE_BREAK, is_utf8, wire_problem
from relaylane.errors import InputError
from relaylane.unique import random_bits

# --- addresses ---------------------------------------------------------------------------

LOCAL_CHARS = "abcXYZ019.!#$%&'*+/=?^_`{|}~-\"(),:;<>@[\\] é"
DOMAINS = [
    "sink.test", "EXAMPLE.com", "mail.example.org", "x.example", "a-b.c-d.test",
    "-bad.test", "bad-.test", "a..b.test", "localhost", "host.invalid", "host.localhost",
    "münchen.example", "xn--mnchen-3ya.example", "123.456", "a.b", "ex_ample.com",
    "x" * 64 + ".test", ("y" * 63 + ".") * 4 + "test", "example.local", "example.onion",
    "", ".", "a.test.",
]  # fmt: skip


def library_answer(addr_spec: str) -> tuple[str, str] | str:
    """What email-validator alone (the path every address took before) says."""
    try:
        return addresses._validate_with_library(addr_spec, field="to", shown=repr(addr_spec))
    except InputError as exc:
        return exc.problem


def answer(addr_spec: str) -> tuple[str, str] | str:
    try:
        return addresses._validate_addr_spec(addr_spec, field="to", shown=repr(addr_spec))
    except InputError as exc:
        return exc.problem


@pytest.mark.parametrize("domain", DOMAINS)
@pytest.mark.parametrize(
    "local", ["bob", "Bob.Smith", "a+tag", "x" * 64, "x" * 65, ".bob", "bob.", "a..b", "o'k",
              "{weird}", "with space", "é", "", "a\"b"],
)  # fmt: skip
def test_the_shortcut_agrees_with_email_validator(local: str, domain: str) -> None:
    addr_spec = f"{local}@{domain}"
    assert answer(addr_spec) == library_answer(addr_spec)


@settings(max_examples=400, deadline=None)
@given(
    local=st.text(alphabet=LOCAL_CHARS, min_size=0, max_size=70),
    domain=st.sampled_from(DOMAINS),
)
def test_generated_addresses_get_the_same_answer(local: str, domain: str) -> None:
    addr_spec = f"{local}@{domain}"
    assert answer(addr_spec) == library_answer(addr_spec)


def test_a_long_domain_is_measured_after_conversion_to_ascii() -> None:
    # 254 octets is email-validator's limit on local@domain in its ASCII form.
    domain = "ü" * 50 + "." + ("y" * 60 + ".") * 2 + "test"
    for local in ("a" * 10, "a" * 60):
        addr_spec = f"{local}@{domain}"
        assert answer(addr_spec) == library_answer(addr_spec)


def test_an_invalid_domain_gives_the_library_error_every_time() -> None:
    for _ in range(2):  # the second time the domain's answer comes from the cache
        got = answer("bob@-bad.test")
        assert isinstance(got, str) and "not a valid address" in got


# --- wire checks -------------------------------------------------------------------------


def wire_problem_line_by_line(data: bytes, *, utf8_headers: bool) -> str | None:
    """The check as it was: every line walked in Python."""
    if not data.endswith(b"\r\n"):
        return "it does not end with a line break"
    end = data.find(b"\r\n\r\n")
    split = len(data) if end < 0 else end + 2
    head, body = data[:split], data[split:]
    for number, line in enumerate(data[:-2].split(b"\r\n"), start=1):
        if b"\r" in line or b"\n" in line:
            return f"line {number} has a bare CR or LF"
        if len(line) > MAX_LINE:
            return f"line {number} is longer than {MAX_LINE} octets"
        if b"\x00" in line:
            return f"line {number} has a NUL byte"
    if not body.isascii():
        return "the body has 8-bit bytes"
    if not head.isascii() and not (utf8_headers and is_utf8(head)):
        return "a header has 8-bit bytes"
    return None


PIECES = [b"Subject: x", b"\r\n", b"\r", b"\n", b"\x00", b"a" * 997, b"b" * 999, b"\xc3\xa9",
          b"\xff", b"text", b"", b" "]  # fmt: skip


@settings(max_examples=600, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(PIECES), max_size=12),
    utf8=st.booleans(),
    ending=st.sampled_from([b"\r\n", b"", b"\n", b"\r\n\r\n"]),
)
def test_the_whole_message_wire_check_agrees_line_by_line(
    pieces: list[bytes], utf8: bool, ending: bytes
) -> None:
    data = b"".join(pieces) + ending
    assert wire_problem(data, utf8_headers=utf8) == wire_problem_line_by_line(
        data, utf8_headers=utf8
    )


# --- transfer encoding -------------------------------------------------------------------

PLAIN_LINE = re.compile(r"(?:[\t\x20-\x7e]{0,997}[\x21-\x7e])?")


def cte_line_by_line(content: str) -> str:
    if all(PLAIN_LINE.fullmatch(line) for line in LINE_BREAK.split(content)):
        return "7bit"
    return "quoted-printable"


TEXT_PIECES = ["hello", " ", "\t", "\r\n", "\n", "\r", "x" * 997, "y" * 998, "z" * 999, "é",
               "\x00", "\x0b", "\x0c", "\x1c", "\x85", "\u2028", "\x7f", "~", ""]  # fmt: skip


@settings(max_examples=800, deadline=None)
@given(st.lists(st.sampled_from(TEXT_PIECES), max_size=10))
def test_the_one_scan_transfer_encoding_agrees_line_by_line(pieces: list[str]) -> None:
    content = "".join(pieces)
    assert _text_cte(content) == cte_line_by_line(content)


# --- unique ids --------------------------------------------------------------------------


def test_message_ids_are_unique_and_sort_by_time() -> None:
    ids = [new_message_id("tx.example.com") for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"<[0-9A-HJKMNP-TV-Z]{26}@tx\.example\.com>", i) for i in ids)


def test_a_forked_child_draws_other_bits_than_its_parent() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its next draw and leave at once
        os.write(write, random_bits(128).to_bytes(16, "big"))
        os._exit(0)
    os.close(write)
    child = int.from_bytes(os.read(read, 16), "big")
    os.close(read)
    os.waitpid(pid, 0)
    assert child != random_bits(128)
