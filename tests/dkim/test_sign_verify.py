"""Every signature verifies with dkimpy, an independent implementation; tampering fails."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from relaylane.dkim import DkimSigner, body_hash
from tests.dkim.helpers import (
    DOMAIN,
    KEY_SETS,
    MESSAGES,
    REPEATED,
    all_verify,
    ed_key,
    keys_for,
    plain,
    rsa_key,
    sign,
    split,
)

T = 1_700_000_000


def signer(kinds: tuple[str, ...] = ("rsa", "ed25519"), skip: tuple[str, ...] = ()) -> DkimSigner:
    return DkimSigner(DOMAIN, keys_for(kinds), skip)


@pytest.mark.parametrize("kinds", KEY_SETS.values(), ids=KEY_SETS.keys())
@pytest.mark.parametrize("build", MESSAGES.values(), ids=MESSAGES.keys())
def test_signatures_verify(build: Callable[[], bytes], kinds: tuple[str, ...]) -> None:
    message = sign(build(), signer(kinds))
    assert all_verify(message, len(kinds)) == [True] * len(kinds)


def test_ed25519_comes_first_then_rsa_and_lines_stay_short() -> None:
    header, body = split(plain())
    fields = signer().sign(header, body_hash(body), T)
    assert fields.endswith(b"\r\n")
    first, second = re.split(rb"\r\n(?=DKIM-Signature:)", fields)
    assert b"a=ed25519-sha256;" in first and b"s=ed1;" in first
    assert b"a=rsa-sha256;" in second and b"s=rsa1;" in second
    for line in fields.split(b"\r\n")[:-1]:
        assert len(line) <= 78
        assert line.startswith((b"DKIM-Signature: ", b" "))
    assert b"t=1700000000;" in fields and b"x=" not in fields and b"l=" not in fields
    assert b"c=relaxed/relaxed;" in fields and f"d={DOMAIN};".encode() in fields


def test_repeated_fields_are_all_signed() -> None:
    fields = signer(("rsa",)).sign(*_header_and_hash(REPEATED), T)
    h = _h_tag(fields)
    assert h.count("To") == 3  # two present, plus one over-signed
    assert "Received" not in h


@pytest.mark.parametrize("kinds", KEY_SETS.values(), ids=KEY_SETS.keys())
@pytest.mark.parametrize("where", ["top", "bottom"])
def test_a_from_added_after_signing_fails(kinds: tuple[str, ...], where: str) -> None:
    message = sign(plain(), signer(kinds))
    extra = b"From: Mallory <mallory@example.net>\r\n"
    header, body = split(message)
    tampered = (extra + header if where == "top" else header + extra) + b"\r\n" + body
    assert all_verify(tampered, len(kinds)) == [False] * len(kinds)


@pytest.mark.parametrize("kinds", KEY_SETS.values(), ids=KEY_SETS.keys())
def test_changing_the_subject_fails(kinds: tuple[str, ...]) -> None:
    message = sign(plain(), signer(kinds))
    tampered = message.replace(b"Subject: Your order has shipped", b"Subject: Your order is lost")
    assert tampered != message
    assert all_verify(tampered, len(kinds)) == [False] * len(kinds)


def test_changing_the_body_fails() -> None:
    message = sign(plain(), signer())
    assert all_verify(message.replace(b"Hello Bob", b"Hello Eve"), 2) == [False, False]


def test_an_absent_reply_to_cannot_be_added() -> None:
    def add_reply_to(message: bytes) -> bytes:
        return b"Reply-To: mallory@example.net\r\n" + message

    assert all_verify(add_reply_to(sign(plain(), signer())), 2) == [False, False]
    # Without over-signing (skipped), the same addition would go unnoticed.
    unguarded = sign(plain(), signer(skip=("reply-to",)))
    assert all_verify(add_reply_to(unguarded), 2) == [True, True]


@pytest.mark.parametrize("kinds", KEY_SETS.values(), ids=KEY_SETS.keys())
def test_skipped_message_id_and_date_may_be_rewritten(kinds: tuple[str, ...]) -> None:
    s = signer(kinds, skip=("Message-ID", "Date"))
    message = sign(plain(), s)
    h = _h_tag(message)
    assert "Message-ID" not in h and "Date" not in h
    rewritten = re.sub(rb"Message-ID: <[^>]*>", b"Message-ID: <relay-made@relay.test>", message)
    rewritten = rewritten.replace(b"Mon, 01 Jan 2024 10:00:00", b"Tue, 02 Jan 2024 11:11:11")
    assert rewritten.count(b"relay-made") == 1 and b"Tue, 02 Jan" in rewritten
    assert all_verify(rewritten, len(kinds)) == [True] * len(kinds)
    # ... and a skipped field is not over-signed either: a second one may be added.
    added = b"Message-ID: <another@relay.test>\r\n" + rewritten
    assert all_verify(added, len(kinds)) == [True] * len(kinds)


def test_the_same_body_hash_serves_many_deliveries() -> None:
    base = plain()
    header, body = split(base)
    bh = body_hash(body)
    s = signer()
    for n in range(3):
        own = header.replace(b"bob@example.org", f"rcpt{n}@example.org".encode())
        message = s.sign(own, bh) + own + b"\r\n" + body
        assert all_verify(message, 2) == [True, True]


def test_several_keys_of_a_kind_each_sign() -> None:
    """During a key rotation both RSA keys may sign; Ed25519 still comes first."""
    s = DkimSigner(DOMAIN, [rsa_key(), rsa_key("rsa2"), ed_key()])
    assert [key.selector for key in s.keys] == ["ed1", "rsa1", "rsa2"]
    message = sign(plain(), s)
    assert all_verify(message, 3) == [True, True, True]


def test_international_domain_signs_as_punycode() -> None:
    s = DkimSigner("Bücher.example", [rsa_key()])
    assert s.domain == "xn--bcher-kva.example"
    assert b"d=xn--bcher-kva.example;" in s.sign(*_header_and_hash(plain()))


def test_configuration_errors() -> None:
    with pytest.raises(ValueError, match="needs an RSA key"):
        DkimSigner(DOMAIN, [ed_key()])
    with pytest.raises(ValueError, match="needs an RSA key"):
        DkimSigner(DOMAIN, [])
    with pytest.raises(ValueError, match="'rsa1' is given twice"):
        DkimSigner(DOMAIN, [rsa_key(), rsa_key()])
    with pytest.raises(ValueError, match="cannot hold From"):
        DkimSigner(DOMAIN, [rsa_key()], ["FROM"])
    with pytest.raises(ValueError, match="not a fully qualified"):
        DkimSigner("localhost", [rsa_key()])
    with pytest.raises(ValueError, match="not a valid domain"):
        DkimSigner("exa mple.com", [rsa_key()])


def test_input_errors() -> None:
    s = signer(("rsa",))
    header, bh = _header_and_hash(plain())
    with pytest.raises(ValueError, match="32-byte"):
        s.sign(header, bh.hex().encode())
    with pytest.raises(ValueError, match="no From"):
        s.sign(b"To: bob@example.org\r\n", bh)
    with pytest.raises(ValueError, match="bare CR or LF"):
        s.sign(header.replace(b"\r\n", b"\n"), bh)
    with pytest.raises(ValueError, match="without a colon"):
        s.sign(header + b"garbage\r\n", bh)
    with pytest.raises(ValueError, match="empty line"):
        s.sign(header + b"\r\nTo: x@example.org\r\n", bh)
    with pytest.raises(ValueError, match="continuation"):
        s.sign(b" folded\r\n" + header, bh)


def test_a_trailing_blank_line_in_the_header_block_is_tolerated() -> None:
    header, bh = _header_and_hash(plain())
    s = signer(("rsa",))
    assert s.sign(header + b"\r\n", bh, T) == s.sign(header, bh, T)


def test_repr_shows_no_key_material() -> None:
    text = repr(signer())
    assert text == "<DkimSigner d=example.com ed25519:ed1, rsa:rsa1>"


def _header_and_hash(message: bytes) -> tuple[bytes, bytes]:
    header, body = split(message)
    return header, body_hash(body)


def _h_tag(fields: bytes) -> list[str]:
    """The h= names of the first DKIM-Signature in `fields`."""
    unfolded = re.sub(rb"\r\n[ \t]", b" ", fields).decode()
    match = re.search(r"\bh=([^;]*);", unfolded)
    assert match
    return [name.strip() for name in match.group(1).split(":")]
