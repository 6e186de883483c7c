"""Relaxed canonicalization (RFC 6376 3.4.5's example) and the h= list."""

from __future__ import annotations

import hashlib

import pytest

from relaylane.dkim import OVERSIGNED_HEADERS, SIGNED_HEADERS, body_hash, relaxed_body
from relaylane.dkim.canon import relaxed_header
from relaylane.dkim.headers import HeaderPolicy, parse_header_block, signed_fields

# RFC 6376 section 3.4.5, with <SP>, <HTAB> and <CRLF> spelled out.
RFC_HEADER = b"A: X\r\nB : Y\t\r\n\tZ  \r\n"
RFC_BODY = b" C \r\nD \t E\r\n\r\n\r\n"


def test_rfc_6376_example_headers() -> None:
    policy = HeaderPolicy(((b"a", "A"), (b"b", "B")), frozenset(), frozenset({b"a", b"b"}))
    found = parse_header_block(RFC_HEADER, policy.wanted)
    assert found == {b"a": [b" X"], b"b": [b" Y\t\r\n\tZ  "]}
    names, data = signed_fields(policy, found)
    assert names == ["A", "B"]
    assert data == b"a:X\r\nb:Y Z\r\n"
    assert relaxed_header(b"B ", b" Y\t\r\n\tZ  ") == b"b:Y Z\r\n"


def test_rfc_6376_example_body() -> None:
    assert relaxed_body(RFC_BODY) == b" C\r\nD E\r\n"
    assert body_hash(RFC_BODY) == hashlib.sha256(b" C\r\nD E\r\n").digest()


@pytest.mark.parametrize(
    ("body", "canonical"),
    [
        (b"", b""),
        (b"\r\n", b""),
        (b"\r\n\r\n \r\n", b""),
        (b"a", b"a\r\n"),  # SMTP adds the missing CRLF on the wire
        (b"a  \t", b"a\r\n"),
        (b"a\r\n\r\n", b"a\r\n"),
        (b"\r\na\r\n", b"\r\na\r\n"),
        (b"x\t\ty  z \r\n", b"x y z\r\n"),
    ],
)
def test_relaxed_body_edges(body: bytes, canonical: bytes) -> None:
    assert relaxed_body(body) == canonical


def test_empty_body_hash_is_the_hash_of_nothing() -> None:
    # RFC 6376 errata 3192: relaxed canonicalization of an empty body is empty.
    assert body_hash(b"") == hashlib.sha256(b"").digest()


def _h(block: bytes, skip: tuple[str, ...] = ()) -> list[str]:
    policy = HeaderPolicy.build(skip)
    return signed_fields(policy, parse_header_block(block, policy.wanted))[0]


def test_oversigned_fields_are_listed_once_more_than_they_occur() -> None:
    block = b"From: a@x.test\r\nTo: b@x.test\r\nto: c@x.test\r\nMIME-Version: 1.0\r\nX-Y: z\r\n"
    names = _h(block)
    assert names.count("From") == 2
    assert names.count("To") == 3
    assert names.count("MIME-Version") == 1  # signed, not over-signed
    for absent in ("Cc", "Subject", "Date", "Reply-To", "Message-ID", "Content-Type"):
        assert names.count(absent) == 1  # over-signed although absent: none can be added
    assert names.count("List-Unsubscribe") == names.count("List-Unsubscribe-Post") == 1
    for absent in ("Sender", "In-Reply-To", "References", "List-Id", "Feedback-ID"):
        assert absent not in names  # signed only when present
    assert "X-Y" not in names


def test_h_follows_the_fixed_order() -> None:
    names = _h(b"Subject: s\r\nFrom: a@x.test\r\nList-Id: <l.x.test>\r\nSender: s@x.test\r\n")
    order = [n for n in SIGNED_HEADERS if n in names]
    assert [n for i, n in enumerate(names) if i == 0 or names[i - 1] != n] == order


def test_skipped_fields_are_neither_signed_nor_oversigned() -> None:
    block = b"From: a@x.test\r\nMessage-ID: <1@x.test>\r\nDate: now\r\nSubject: s\r\n"
    names = _h(block, skip=("message-id", " DATE "))
    assert "Message-ID" not in names and "Date" not in names
    assert names.count("Subject") == 2


def test_repeated_fields_are_hashed_bottom_up() -> None:
    block = b"To: first\r\nSubject: s\r\nTO :  second \r\nFrom: f\r\n"
    policy = HeaderPolicy.build()
    _, data = signed_fields(policy, parse_header_block(block, policy.wanted))
    assert data.startswith(b"from:f\r\nto:second\r\nto:first\r\nsubject:s\r\n")


def test_folded_fields_are_joined_and_names_matched_case_insensitively() -> None:
    block = b"FROM: a\r\n  <a@x.test>\r\nX-Long: x\r\n y\r\nsubject: one\r\n\ttwo\r\n"
    policy = HeaderPolicy.build()
    found = parse_header_block(block, policy.wanted)
    assert found == {b"from": [b" a\r\n  <a@x.test>"], b"subject": [b" one\r\n\ttwo"]}
    assert signed_fields(policy, found)[1] == b"from:a <a@x.test>\r\nsubject:one two\r\n"


def test_constants_agree() -> None:
    lowered = {name.lower() for name in SIGNED_HEADERS}
    assert lowered >= OVERSIGNED_HEADERS
    assert len(lowered) == 17 and len(OVERSIGNED_HEADERS) == 10
