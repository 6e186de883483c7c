"""/t/o/{token}.gif and /t/c/{token}: open and click tracking (see docs/tracking.md).

The URLs are the ones `tracking.links.TrackingLinks` writes into campaign messages. No
API key, cookie or login: the token (an HMAC over the delivery id, and for a click over
the target URL too; it never expires) is the authority.

- `GET /t/o/{token}.gif`: a 43-byte transparent GIF, never cached, and an open of the
  delivery recorded. A bad token still gets the GIF (a broken image in a message helps
  nobody) and records nothing.
- `GET /t/c/{token}`: 302 to the URL the token carries, and a click recorded. A bad or
  forged token gets 404 and a plain page, and never a redirect: only a URL that was in
  one of our messages can be a target, so this is no open redirect.

Recording is best effort: a store that cannot be reached loses the event (logged), and
the pixel and the redirect are answered all the same.

Not in /openapi.json: these are for mail clients and people, not for API clients.
"""

from __future__ import annotations

import functools
import html
import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from relaylane.api.auth import Ctx
from relaylane.api.context import ApiContext
from relaylane.bounces.ingest import FeedbackIngest
from relaylane.bounces.tokens import KeyRing
from relaylane.errors import Unavailable
from relaylane.tracking import TrackingKind
from relaylane.tracking.links import CLICK_PATH, OPEN_PATH, OPEN_SUFFIX, verify_click, verify_open

log = logging.getLogger("relaylane.tracking")
router = APIRouter(include_in_schema=False)

# GIF89a, 1x1, a two-colour table, a graphic control extension making index 0
# transparent, one image of that index.
PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff"
    b"!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
NOT_VALID = "This link is not valid."
_NO_STORE = {
    "Cache-Control": "no-store, no-cache, must-revalidate, max-age=0",
    "Pragma": "no-cache",
    "Expires": "0",
}
_PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="robots" content="noindex, nofollow">
<title>Link not valid</title>
</head>
<body>
<p>{text}</p>
</body>
</html>
"""


@router.get(OPEN_PATH + "{token}" + OPEN_SUFFIX)
async def open_pixel(token: str, request: Request, ctx: Ctx) -> Response:
    """The open pixel: always the GIF; an open recorded when the token verifies."""
    try:
        ring = await _ring(ctx, request)
    except Unavailable as exc:
        log.warning("an open was not recorded: %s", exc.reason)
    else:
        delivery_id = verify_open(ring, token)
        if delivery_id is not None:
            await _record(ctx, TrackingKind.OPEN, delivery_id, None)
    return Response(PIXEL, 200, media_type="image/gif", headers=_NO_STORE)


@router.get(CLICK_PATH + "{token}")
async def click(token: str, request: Request, ctx: Ctx) -> Response:
    """A wrapped link: 302 to its verified target, a click recorded; else 404."""
    found = verify_click(await _ring(ctx, request), token)
    if found is None:
        page = _PAGE.format(text=html.escape(NOT_VALID))
        headers = {**_NO_STORE, "Content-Security-Policy": "default-src 'none'"}
        return HTMLResponse(page, 404, headers=headers)
    delivery_id, url = found
    await _record(ctx, TrackingKind.CLICK, delivery_id, url)
    # `url` is printable ASCII by construction (links.target_url): safe as a header.
    headers = {**_NO_STORE, "Location": url, "Referrer-Policy": "no-referrer"}
    return Response(status_code=302, headers=headers)


async def _record(ctx: ApiContext, kind: TrackingKind, delivery_id: int, url: str | None) -> None:
    record = functools.partial(ctx.store.tracking.record, kind.value, delivery_id, url)
    try:
        recorded = await ctx.in_thread(record, ctx.clock.now())
    except Unavailable as exc:
        log.warning("delivery %d: %s not recorded: %s", delivery_id, kind.value, exc.reason)
        return
    if not recorded:  # a valid token of a purged delivery
        log.info("delivery %d: %s of an unknown delivery ignored", delivery_id, kind.value)


async def _ring(ctx: ApiContext, request: Request) -> KeyRing:
    ingest = _ingest(request, ctx)
    now = ctx.clock.now()
    return await ctx.in_thread(functools.partial(ingest.ring, now))  # cached for 5 minutes


def _ingest(request: Request, ctx: ApiContext) -> FeedbackIngest:
    """The service's FeedbackIngest, or one made once for this app (as /u/ does); either
    caches the token keys for `RING_REFRESH` seconds."""
    if ctx.ingest is not None:
        return ctx.ingest
    made: FeedbackIngest | None = getattr(request.app.state, "tracking_ingest", None)
    if made is None:
        made = FeedbackIngest(ctx.config, ctx.store.feedback, ctx.store.token_keys, ctx.clock)
        request.app.state.tracking_ingest = made
    return made
