"""The direct renderer writes the same bytes as the email package for text, html and
text+html messages (the boundary aside, which is random in both)."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from relaylane.delivery import compose as compose_module
from relaylane.delivery.compose import compose

_BOUNDARY = re.compile(rb"={15}\d{19}==")

_body = st.one_of(
    st.none(),
    st.text(max_size=300),
    st.lists(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=120)).map(
        "\n".join
    ),
    st.sampled_from(["", "\n", "a\r\nb\rc\n", "é" * 100, "x" * 2000, "line \n trailing  \n"]),
)
_subject = st.text(st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]), max_size=120)


def email_package(
    from_: str, subject: str, text: str | None, html: str | None, extra: dict[str, str]
) -> bytes:
    named = [("From", from_), ("Subject", subject)]
    head, utf8 = compose_module._encoded(named)
    tail, utf8_tail = compose_module._encoded(list(extra.items()))
    return compose_module._with_attachments(head, tail, text, html, [], utf8 or utf8_tail)


@settings(max_examples=300, deadline=None)
@given(text=_body, html=_body, subject=_subject, tag=st.sampled_from([None, "a", "é x"]))
def test_same_bytes_as_the_email_package(
    text: str | None, html: str | None, subject: str, tag: str | None
) -> None:
    if text is None and html is None:
        return
    extra = {} if tag is None else {"X-Tag": tag}
    try:
        fast = compose(from_="App <a@tx.acme.test>", subject=subject, text=text, html=html,
                       headers=extra).body  # fmt: skip
    except ValueError:  # refused input (e.g. a lone surrogate): nothing to compare
        return
    slow = email_package("App <a@tx.acme.test>", subject, text, html, extra)
    assert _BOUNDARY.sub(b"B", fast) == _BOUNDARY.sub(b"B", slow)


def test_examples() -> None:
    for text, html in [("plain", None), (None, "<p>hi</p>"), ("plain é", "<p>é</p>"), ("", None)]:
        fast = compose(from_="a@tx.acme.test", subject="s", text=text, html=html).body
        slow = email_package("a@tx.acme.test", "s", text, html, {})
        assert _BOUNDARY.sub(b"B", fast) == _BOUNDARY.sub(b"B", slow)
