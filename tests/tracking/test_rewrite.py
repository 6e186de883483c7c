"""add_tracking: which links are wrapped, entities kept right, the pixel, idempotence,
documents that must not break, and the time per 4 KB message."""

from __future__ import annotations

import html
import re
import time

from hypothesis import given
from hypothesis import strategies as st

from relaylane.bounces.tokens import KeyRing, TokenKey
from relaylane.tracking.links import TrackingLinks, verify_click, verify_open
from relaylane.tracking.rewrite import add_tracking
from relaylane.unsubscribe.oneclick import unsubscribe_token

BASE = "https://track.acme.test"
RING = KeyRing([TokenKey(1, b"k" * 32, 0.0)])
LINKS = TrackingLinks(RING, BASE)
UNSUBSCRIBE = f"https://mail.acme.test/u/{unsubscribe_token(RING, 7)}"
_HREF = re.compile(r"""href=(?:"([^"]*)"|'([^']*)'|([^\s>]+))""", re.IGNORECASE)


def hrefs(doc: str) -> list[str]:
    return [
        html.unescape(next(g for g in m.groups() if g is not None)) for m in _HREF.finditer(doc)
    ]


def targets(doc: str) -> list[str | None]:
    """Each href's click target (None: not wrapped)."""
    out: list[str | None] = []
    for href in hrefs(doc):
        found = verify_click(RING, href.removeprefix(BASE + "/t/c/"))
        assert found is None or found[0] == 7
        out.append(found[1] if found else None)
    return out


def test_http_links_are_wrapped_and_the_rest_kept() -> None:
    doc = (
        "<html><body>"
        '<a href="https://shop.acme.test/a">a</a>'
        "<A HREF='http://shop.acme.test/b' class=x>b</A>"
        "<a class=y href=https://shop.acme.test/c>c</a>"
        '<a href="mailto:bob@example.test">m</a>'
        '<a href="tel:+123">t</a>'
        '<a href="#top">anchor</a>'
        '<a href="/relative">r</a>'
        '<a name="here">no href</a>'
        f'<a href="{UNSUBSCRIBE}">unsubscribe</a>'
        '<a data-no-track href="https://shop.acme.test/d">d</a>'
        '<a href="https://shop.acme.test/e" data-no-track="1">e</a>'
        "</body></html>"
    )
    out = add_tracking(doc, 7, LINKS)
    assert targets(out) == [
        "https://shop.acme.test/a",
        "http://shop.acme.test/b",
        "https://shop.acme.test/c",
        None, None, None, None, None, None, None,
    ]  # fmt: skip
    assert hrefs(out)[3:] == [
        "mailto:bob@example.test",
        "tel:+123",
        "#top",
        "/relative",
        UNSUBSCRIBE,
        "https://shop.acme.test/d",
        "https://shop.acme.test/e",
    ]
    assert "class=x>b</A>" in out and "<a class=y href=" in out  # the rest of each tag kept
    assert "data-no-track" in out


def test_entities_are_unescaped_then_escaped() -> None:
    doc = (
        '<a href="https://a.test/?x=1&amp;y=2">1</a>'
        '<a href="https://a.test/?x=1&copy=2">2</a>'  # a literal & in an attribute
        '<a href="https://a.test/?q=&quot;hi&quot;&#38;z=&#x33;">3</a>'
        '<a href="https://a.test/caf&eacute;">4</a>'
        '<a href="https://a.test/?x=1&amp">5</a>'
    )
    out = add_tracking(doc, 7, LINKS, opens=False)
    assert targets(out) == [
        "https://a.test/?x=1&y=2",
        "https://a.test/?x=1&copy=2",
        'https://a.test/?q="hi"&z=3',
        "https://a.test/caf%C3%A9",
        "https://a.test/?x=1&",
    ]


def test_the_pixel_goes_before_body_end() -> None:
    doc = "<html><body><p>Hi</p></BODY></html>"
    out = add_tracking(doc, 7, LINKS, clicks=False)
    pixel = re.search(r'<img src="([^"]+)" alt="" width="1" height="1" style="display:none">', out)
    assert pixel is not None
    assert out == doc.replace("</BODY>", pixel[0] + "</BODY>")
    token = pixel[1].removeprefix(BASE + "/t/o/").removesuffix(".gif")
    assert verify_open(RING, token) == 7


def test_the_pixel_goes_at_the_end_without_a_body() -> None:
    out = add_tracking("<p>Hi</p>", 7, LINKS)
    assert out.startswith("<p>Hi</p><img ") and out.endswith('style="display:none">')


def test_body_end_in_a_comment_or_script_does_not_count() -> None:
    doc = "<body><script>x='</body>'</script><!-- </body> --></body>\n"
    out = add_tracking(doc, 7, LINKS)
    assert out.index("<img") == doc.rindex("</body>")


def test_comments_and_raw_text_are_not_touched() -> None:
    doc = (
        '<title><a href="https://a.test/t"></title>'
        '<style>a[href="https://a.test/s"]{}</style>'
        '<!-- <a href="https://a.test/c"> -->'
        "<script>var s = '<a href=\"https://a.test/j\">';</script>"
        '<textarea><a href="https://a.test/x"></textarea>'
    )
    out = add_tracking(doc, 7, LINKS, opens=False)
    assert out == doc


def test_outlook_conditional_comments_are_scanned() -> None:
    doc = '<!--[if mso]><a href="https://a.test/o">o</a><![endif]--><!--[if !mso]><!--><a href="https://a.test/n">n</a><!--<![endif]-->'
    out = add_tracking(doc, 7, LINKS, opens=False)
    assert targets(out) == ["https://a.test/o", "https://a.test/n"]
    assert out.startswith("<!--[if mso]><a href=") and out.endswith("<!--<![endif]-->")


def test_tracking_twice_changes_nothing() -> None:
    doc = '<body><a href="https://a.test/?a=1&amp;b=2">x</a></body>'
    once = add_tracking(doc, 7, LINKS)
    assert add_tracking(once, 7, LINKS) == once
    assert once.count("<img") == 1


def test_off_changes_nothing() -> None:
    doc = '<body><a href="https://a.test/">x</a></body>'
    assert add_tracking(doc, 7, LINKS, opens=False, clicks=False) == doc
    assert add_tracking(doc, 7, LINKS, clicks=False).count("/t/c/") == 0


def test_broken_documents_stay_as_they_are() -> None:
    for doc in [
        '<a href="https://a.test/',  # the tag never ends
        "<a href='https://a.test/>x</a>",  # an unclosed quote
        "<a",
        "<!-- <a href=https://a.test/>",
        "<script><a href=https://a.test/>",
        "<a href>x</a>",
        "<a href=>x</a>",
        '<a href="https://">x</a>',
    ]:
        assert add_tracking(doc, 7, LINKS, opens=False) == doc, doc


def test_a_duplicate_href_keeps_the_first() -> None:
    out = add_tracking(
        '<a href="https://a.test/1" href="https://a.test/2">x</a>', 7, LINKS, opens=False
    )
    assert targets(out) == ["https://a.test/1", None]


_TAGS = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<a href='https://a.test/x?a=1&amp;b=2'>",
        '<a href="mailto:a@b">',
        "<a href=https://b.test/>",
        "</a>",
        "<!--",
        "-->",
        "<body>",
        "</body>",
        "<script>",
        "</script>",
        '"',
        "'",
        "<",
        ">",
        "&amp;",
        "text ",
    ]
)


_WRAPPABLE = ("'https://a.test/x?a=1&amp;b=2'", "https://b.test/")
_PIXEL = re.compile(r'<img src="[^"]*" alt="" width="1" height="1" style="display:none">')
_WRAPPED = '"https://track\\.acme\\.test/t/c/[A-Za-z0-9_-]+"'


@given(st.lists(_TAGS, max_size=30))
def test_only_hrefs_change_and_the_pixel_is_added(parts: list[str]) -> None:
    doc = "".join(parts)
    out = add_tracking(doc, 7, LINKS)
    assert len(_PIXEL.findall(out)) == 1
    # `out` is `doc` with the pixel inserted once and some wrappable hrefs wrapped
    pattern = re.escape(doc)
    for value in _WRAPPABLE:
        escaped = re.escape(value)
        pattern = pattern.replace(escaped, f"(?:{escaped}|{_WRAPPED})")
    assert re.fullmatch(pattern, _PIXEL.sub("", out, count=1)), out


def _message() -> str:
    para = (
        '<p style="margin:0 0 12px;font-family:Arial,sans-serif">Our spring range is in: '
        'new colours, new sizes, and <a href="https://shop.acme.test/spring?utm_source=mail'
        '&amp;utm_campaign=spring">free delivery</a> this week.</p>\n'
    )
    head = "<!DOCTYPE html><html><head><style>p{color:#333}</style></head><body>\n"
    tail = f'<p><a href="{UNSUBSCRIBE}">Unsubscribe</a></p></body></html>\n'
    doc = head
    while len(doc) + len(para) + len(tail) <= 4096:
        doc += para
    return doc + tail


def test_a_4kb_message_is_fast() -> None:
    doc = _message()
    assert 3500 < len(doc) <= 4096
    add_tracking(doc, 7, LINKS)
    rounds = 200
    start = time.perf_counter()
    for i in range(rounds):
        add_tracking(doc, i, LINKS)
    per_message = (time.perf_counter() - start) / rounds
    print(
        f"add_tracking, {len(doc)} characters, {doc.count('<a ')} links: {per_message * 1e6:.0f} us"
    )
    assert per_message < 0.005  # generous: about 0.1 ms on a laptop
