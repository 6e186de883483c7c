"""`add_tracking`: wrap a message's links into click URLs and add the open pixel. Pure.

It runs once per recipient at send time, so it is a single forward scan with a few
regular expressions, not a parser building a tree: it finds the `<a ...>` start tags
the way an HTML tokenizer would (attribute values quoted with " or ', or unquoted) and
replaces only the value of their `href`. Everything else is copied byte for byte, so the
document cannot break: a tag it cannot read to its `>` is left as it is.

What is skipped, as a browser would see it: comments (`<!-- ... -->`; the content of
Outlook's conditional comments `<!--[if mso]> ... <![endif]-->` is scanned, since it is
what Outlook shows) and the raw text of `<script>`, `<style>`, `<title>` and
`<textarea>`.

A link is wrapped when its href is an absolute http(s) URL (`links.target_url`) and it
is not:

- a mailto:, tel:, relative or #fragment link (not http(s));
- an unsubscribe link (a path ending in `/u/<token>`, relaylane's one-click route; it
  must stay the exact URL of List-Unsubscribe and work without a redirect);
- already a tracking URL of the same base (so tracking twice changes nothing);
- marked with a `data-no-track` attribute (any value), which is kept.

Href values are HTML: they are unescaped as an attribute value is (`&amp;` is `&`; a
named reference without `;` followed by `=` or a letter or digit stays literal, so
`?a=1&copy=2` keeps its `&copy`), and the new value is written escaped, in double quotes.

The open pixel `<img src="..." alt="" width="1" height="1" style="display:none">` goes
right before the last `</body>` outside comments and raw text, or at the end without
one; it is not added twice.
"""

from __future__ import annotations

import html
import re
from html.entities import html5

from relaylane.tracking.links import OPEN_PATH, TrackingLinks, target_url

__all__ = ["add_tracking"]

_WS = "\t\n\f\r "
_NEXT = re.compile(
    rf"<(?:(!--)|([aA])(?=[{_WS}/>])|(script|style|title|textarea)(?=[{_WS}/>])"
    rf"|(/body)(?=[{_WS}/>]))",
    re.IGNORECASE,
)
# One attribute of a start tag, as the HTML tokenizer reads it; group 2 is the raw value.
_ATTR = re.compile(
    rf"[{_WS}/]*([^{_WS}/>][^{_WS}/>=]*)(?:[{_WS}]*=[{_WS}]*(\"[^\"]*\"?|'[^']*'?|[^{_WS}>]*))?"
)
_TAG_END = re.compile(rf"[{_WS}/]*>")
_COMMENT_END = re.compile(r"--!?>")
_CHARREF = re.compile(r"&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[A-Za-z][A-Za-z0-9]*;?)")
_UNSUBSCRIBE = re.compile(r"/u/[a-z2-7]{32}/?\Z", re.IGNORECASE)


def add_tracking(
    html_text: str,
    delivery_id: int,
    links: TrackingLinks,
    *,
    opens: bool = True,
    clicks: bool = True,
) -> str:
    """`html_text` with its links wrapped (`clicks`) and the open pixel added (`opens`);
    see the module docstring for what is and is not touched."""
    if not opens and not clicks:
        return html_text
    out: list[str] = []
    done = 0  # html_text[:done] is in `out`
    body_end: int | None = None  # where the last </body> starts, in the output
    size = 0  # characters in `out`
    pos = 0
    while True:
        found = _NEXT.search(html_text, pos)
        if found is None:
            break
        comment, anchor, raw_text, body = found.groups()
        if comment:
            pos = _after_comment(html_text, found.end())
        elif raw_text:
            closing = re.compile(rf"</{raw_text}[{_WS}/>]", re.IGNORECASE)
            close = closing.search(html_text, found.end())
            pos = len(html_text) if close is None else close.start() + 2
        elif body:
            chunk = html_text[done : found.start()]
            out.append(chunk)
            size += len(chunk)
            done = found.start()
            body_end = size
            pos = found.end()
        else:
            assert anchor
            tag = _anchor(html_text, found.end()) if clicks else None
            if tag is None:
                pos = found.end()
                continue
            tag_end, value_span, url = tag
            new = _wrapped(url, delivery_id, links)
            if new is not None:
                chunk = html_text[done : value_span[0]] + '"' + html.escape(new) + '"'
                out.append(chunk)
                size += len(chunk)
                done = value_span[1]
            pos = tag_end
    out.append(html_text[done:])
    if opens and not _has_pixel(html_text, links):
        pixel = _pixel(links.open_url(delivery_id))
        if body_end is None:
            out.append(pixel)
        else:
            text = "".join(out)
            return text[:body_end] + pixel + text[body_end:]
    return "".join(out)


def _after_comment(text: str, start: int) -> int:
    """Where scanning goes on after `<!--` (which ends at `start`)."""
    if text.startswith(">", start) or text.startswith("->", start):
        return start + (1 if text[start] == ">" else 2)  # <!--> and <!---> are complete
    if text.startswith("[if", start):
        return start  # conditional comment: its content is what Outlook shows
    end = _COMMENT_END.search(text, start)
    return len(text) if end is None else end.end()


def _anchor(text: str, pos: int) -> tuple[int, tuple[int, int], str] | None:
    """Reads the attributes of `<a` from `pos` to the tag's `>`: (where the tag ends,
    the span of the href value with its quotes, the href unescaped), or None when the tag
    has no href, has data-no-track, or does not end."""
    href: tuple[tuple[int, int], str] | None = None
    no_track = False
    while True:
        end = _TAG_END.match(text, pos)
        if end is not None:
            break
        attr = _ATTR.match(text, pos)
        if attr is None or attr.end() == pos:
            return None  # end of the document inside the tag
        pos = attr.end()
        name, value = attr[1].lower(), attr[2]
        if value is not None and value[:1] in "\"'" and (len(value) < 2 or value[-1] != value[0]):
            return None  # an unclosed quote: the tag never ends
        if name == "data-no-track":
            no_track = True
        elif name == "href" and href is None and value is not None:  # the first one counts
            raw = value[1:-1] if value[:1] in "\"'" else value
            href = ((attr.start(2), attr.end(2)), _unescape_attr(raw))
    if href is None or no_track:
        return None
    return end.end(), href[0], href[1]


def _wrapped(url: str, delivery_id: int, links: TrackingLinks) -> str | None:
    """The click URL for a link's target, or None to leave the link alone."""
    target = target_url(url)
    if target is None or links.is_tracking_url(target):
        return None
    path = target.split("?", 1)[0].split("#", 1)[0]
    if _UNSUBSCRIBE.search(path):
        return None
    return links.click_url(delivery_id, target)


def _unescape_attr(value: str) -> str:
    """An attribute value's text (HTML's rules for character references in attributes)."""
    if "&" not in value:
        return value

    def one(found: re.Match[str]) -> str:
        ref = found[1]
        if ref[0] != "#" and not ref.endswith(";"):
            following = value[found.end() : found.end() + 1]
            if following == "=" or ref not in html5:
                return found[0]  # legacy reference without ';': literal in an attribute
        return html.unescape(found[0])

    return _CHARREF.sub(one, value)


def _pixel(url: str) -> str:
    return f'<img src="{html.escape(url)}" alt="" width="1" height="1" style="display:none">'


def _has_pixel(text: str, links: TrackingLinks) -> bool:
    return html.escape(links.base) + OPEN_PATH in text
