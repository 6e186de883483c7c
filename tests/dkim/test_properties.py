"""Property: any well-formed 7-bit message, however its header is laid out, verifies."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relaylane.dkim import SIGNED_HEADERS, DkimSigner, body_hash
from tests.dkim.helpers import DOMAIN, all_verify, keys_for

PROPS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_WORD = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=12)
_SEPARATOR = st.sampled_from([" ", " ", " ", "  ", "\t", "\r\n ", "\r\n\t", " \r\n  ", "\t\r\n "])
_EDGE = st.sampled_from(["", " ", "\t", "  ", " \t"])


@st.composite
def header_value(draw: st.DrawFn) -> str:
    """Printable ASCII words separated by spaces, tabs and folds."""
    words = draw(st.lists(_WORD, max_size=8))
    value = ""
    for i, word in enumerate(words):
        value += (draw(_EDGE) if i == 0 else draw(_SEPARATOR)) + word
    return value + draw(_EDGE)


_SIGNED = st.sampled_from([n for n in SIGNED_HEADERS if n != "From"])
_OTHER = st.sampled_from(["Received", "X-Mailer", "X-Campaign", "Return-Path", "Bcc"])


@st.composite
def message(draw: st.DrawFn) -> bytes:
    names = ["From", *draw(st.lists(_SIGNED, max_size=10))]  # duplicates repeat a field
    names += draw(st.lists(_OTHER, max_size=4))
    if draw(st.booleans()):
        names.append("From")  # a repeated From, too
    names = draw(st.permutations(names))
    fields = [
        f"{draw(st.sampled_from([name, name.lower(), name.upper()]))}:{draw(header_value())}\r\n"
        for name in names
    ]
    line = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E) | st.just("\t"))
    lines = draw(st.lists(line, max_size=15)) + [""] * draw(st.integers(0, 3))
    body = "".join(f"{text}\r\n" for text in lines)
    return ("".join(fields) + "\r\n" + body).encode("ascii")


_SKIPPABLE = st.lists(st.sampled_from([n for n in SIGNED_HEADERS if n != "From"]), max_size=4)


@PROPS
@given(message(), _SKIPPABLE, st.booleans())
def test_any_message_verifies(data: bytes, skip: list[str], with_ed25519: bool) -> None:
    kinds = ("rsa", "ed25519") if with_ed25519 else ("rsa",)
    header, _, body = data.partition(b"\r\n\r\n")
    signer = DkimSigner(DOMAIN, keys_for(kinds), skip)
    signed = signer.sign(header + b"\r\n", body_hash(body)) + data
    assert all_verify(signed, len(kinds)) == [True] * len(kinds)
