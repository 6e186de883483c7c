"""compose_eml's fast path: a message that needs no change is kept byte for byte, and
means exactly what the full parse-and-rewrite would have made of it."""

from __future__ import annotations

import email
import email.policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaylane.delivery import eml
from relaylane.delivery.eml import compose_eml
from relaylane.errors import InputError

CLEAN = (
    b"From: App <app@tx.acme.test>\r\n"
    b"To: bob@b.test\r\n"
    b"Subject: Your receipt\r\n"
    b"Message-ID: <1@tx.acme.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"Thanks for your order.\r\n"
)


def test_a_clean_message_is_kept_as_is() -> None:
    composed = compose_eml(CLEAN)
    assert composed.body is CLEAN or composed.body == CLEAN
    assert composed.from_addr.addr == "app@tx.acme.test"
    assert (composed.has_message_id, composed.has_date, composed.has_to) == (True, False, True)
    assert eml._as_is(CLEAN) is not None


@pytest.mark.parametrize(
    "raw",
    [
        CLEAN.replace(b"To: bob@b.test\r\n", b"Bcc: secret@b.test\r\n"),  # Bcc must go
        CLEAN.replace(b"us-ascii", b"utf-8").replace(b"order.", "ordér.".encode()),  # 8-bit
        CLEAN.replace(b"MIME-Version: 1.0\r\n", b"Content-Transfer-Encoding: 8bit\r\n"),
        CLEAN.replace(b"Your receipt", b"Your\x01receipt"),  # a control character
        CLEAN.replace(b"Thanks", b"Thanks\nfor"),  # a bare LF
        CLEAN + b"From: other@b.test\r\n",  # (in the body: still the slow path's call)
        CLEAN.replace(b"From: App <app@tx.acme.test>\r\n", b""),  # no From
        CLEAN.replace(b"To: bob@b.test", b"From: second@b.test"),  # two From
        CLEAN.replace(b"\r\n\r\n", b"\r\n"),  # no body separator
    ],
)
def test_anything_else_takes_the_full_path_with_the_same_result(raw: bytes) -> None:
    try:
        slow: object = eml._reparse(raw, None)
    except InputError as exc:
        slow = str(exc)
    try:
        fast: object = compose_eml(raw)
    except InputError as exc:
        fast = str(exc)
    assert fast == slow


_text = (
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=60)
    .map(str.strip)
    .filter(bool)
)
_headers = st.lists(
    st.tuples(st.sampled_from(["Subject", "X-Tag", "Date", "Message-ID", "Reply-To", "To"]), _text),
    max_size=5,
)
_body = st.lists(
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=100), max_size=8
)


@settings(max_examples=150, deadline=None)
@given(headers=_headers, body=_body)
def test_fast_path_means_what_the_full_path_means(
    headers: list[tuple[str, str]], body: list[str]
) -> None:
    lines = ["From: App <app@tx.acme.test>", *(f"{n}: {v}" for n, v in headers)]
    raw = ("\r\n".join(lines) + "\r\n\r\n" + "".join(x + "\r\n" for x in body)).encode()
    fast = eml._as_is(raw)
    try:
        slow = eml._reparse(raw, None)
    except InputError:
        return  # not something the fast path keeps either, or refused on both paths
    assert fast is not None
    assert (fast.from_addr, fast.has_message_id, fast.has_date, fast.has_to) == (
        slow.from_addr,
        slow.has_message_id,
        slow.has_date,
        slow.has_to,
    )
    # compat32: the values as written (the structured parser crashes on some of them)
    a = email.message_from_bytes(fast.body, policy=email.policy.compat32)
    b = email.message_from_bytes(slow.body, policy=email.policy.compat32)
    assert [(k, " ".join(str(v).split())) for k, v in a.items()] == [
        (k, " ".join(str(v).split())) for k, v in b.items()
    ]
    assert a.get_payload() == b.get_payload()


@pytest.mark.parametrize("value", ["<", "<>", "<@>", "<[]>", "<@a>"])
def test_a_malformed_message_id_is_kept_not_a_crash(value: str) -> None:
    """The email package's structured parser raises IndexError on these."""
    from pathlib import Path

    from relaylane.delivery.addresses import parse_address
    from relaylane.delivery.submit import build_message
    from tests.helpers import lane, make_config, relay

    raw = CLEAN.replace(b"<1@tx.acme.test>", value.encode())
    config = make_config("sqlite://", [relay("r1", 1)], [lane("tx", ["r1"])], Path("."))
    msg = build_message(config, "tx", compose_eml(raw), [parse_address("c@d.test")], 1.0)
    assert msg.deliveries[0].header_message_id == value


@pytest.mark.parametrize(
    "raw",
    [
        b"From: a@tx.acme.test\r\nContent-Type: text/plain; charset*\r\n\r\n\xe9\r\n",
        b"From: a@tx.acme.test\r\nContent-Type: text/pl(ai\tn; charset*=utf-8''%FF\r\n"
        b"Content-Transfer-Encoding: quoted-printable\r\n\r\n=E9\xe9\r\n",
        b"From: a@tx.acme.test\r\nContent-Type: text/plain; charset*=utf\x00-8''%FF\r\n"
        b"\r\n\xe9\r\n",
    ],
)
def test_broken_mime_is_bad_input_not_a_crash(raw: bytes) -> None:
    """The email package raises IndexError, TypeError or ValueError on these."""
    with pytest.raises(InputError, match=r"cannot be parsed|control character|NUL"):
        compose_eml(raw)


@pytest.mark.parametrize("name", [b"Bcc", b"DKIM-Signature", b"X-Relaylane-Lane", b"Subject"])
def test_blanks_before_a_colon_are_refused(name: bytes) -> None:
    """Parsers disagree on 'Name : value' (Python's ends the header block there), so it
    could smuggle a Bcc or a forbidden header past the checks: refused."""
    raw = CLEAN.replace(b"To: bob@b.test\r\n", name + b" : x@b.test\r\nTo: bob@b.test\r\n")
    with pytest.raises(InputError, match="blanks before its colon"):
        compose_eml(raw)
    body_line = CLEAN + name + b" : in the body is fine\r\n"
    assert compose_eml(body_line).body == body_line
