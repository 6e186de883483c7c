"""/u/{token}: one-click unsubscribe (RFC 8058) and its confirmation page.

The URL is the one `unsubscribe.oneclick.list_headers` writes into List-Unsubscribe. No
API key, cookie, login or CSRF token: the token itself (an HMAC over the delivery id,
which never expires) is the authority. Nothing here ever redirects.

- `POST /u/{token}` with `List-Unsubscribe=One-Click` (urlencoded or multipart form
  data, at most 64 KB): the recipient is unsubscribed through the same path as a
  provider's unsubscribe event (ledger scope: the message's list, else its lane; the
  `unsubscribed` webhook event; the metrics) and gets 200. A repeat is 200 too.
- `GET /u/{token}`: a plain page whose button posts that same body. A GET never
  unsubscribes: mail scanners and link previewers fetch every URL in a message.

Not in /openapi.json: these are for mail clients and people, not for API clients.
"""

from __future__ import annotations

import functools
import html
import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, Response

from relaylane.api.auth import Ctx
from relaylane.api.context import ApiContext
from relaylane.bounces.ingest import FeedbackIngest
from relaylane.errors import NotFoundError
from relaylane.unsubscribe.oneclick import (
    MAX_POST_BODY,
    ONE_CLICK,
    URL_PATH,
    is_one_click,
    verify_unsubscribe_token,
)

log = logging.getLogger("relaylane.unsubscribe")
router = APIRouter(include_in_schema=False)

NOT_VALID = "This unsubscribe link is not valid."
DONE = "You are unsubscribed."
NOT_ONE_CLICK = (
    "This request does not ask to unsubscribe: send List-Unsubscribe=One-Click as form data."
)
TOO_LARGE = "The request body is too large."
_NO_STORE = {"Cache-Control": "no-store"}
_PAGE = """\
<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex, nofollow">
<title>{title}</title>
</head>
<body>
{body}
</body>
</html>
"""


@router.get(URL_PATH + "{token}")
async def unsubscribe_page(token: str, request: Request, ctx: Ctx) -> Response:
    """The confirmation page; changes nothing."""
    if await _delivery_of(ctx, request, token) is None:
        return _page("Unsubscribe", f"<p>{html.escape(NOT_VALID)}</p>", 404)
    name, _, value = ONE_CLICK.partition("=")
    form = (
        "<p>Do you want to stop receiving these messages?</p>\n"
        # no action: the form posts to this very URL, whatever prefix a proxy adds
        '<form method="post" enctype="application/x-www-form-urlencoded">\n'
        f'<input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">\n'
        '<button type="submit">Unsubscribe</button>\n'
        "</form>"
    )
    return _page("Unsubscribe", form, 200)


@router.post(URL_PATH + "{token}")
async def unsubscribe(token: str, request: Request, ctx: Ctx) -> Response:
    """Unsubscribe the recipient the token names (RFC 8058 one-click)."""
    body = await _body(request)
    if body is None:
        return _text(TOO_LARGE, 413)
    delivery_id = await _delivery_of(ctx, request, token)
    if delivery_id is None:
        return _text(NOT_VALID, 404)
    if not is_one_click(request.headers.get("content-type", ""), body):
        return _text(NOT_ONE_CLICK, 400)
    ingest = _ingest(request, ctx)
    try:
        recorded = await ctx.in_thread(functools.partial(ingest.one_click, delivery_id))
    except NotFoundError:
        return _text(NOT_VALID, 404)  # the delivery was purged; nothing names the address
    if recorded:
        log.info("delivery %d: the recipient unsubscribed (one-click)", delivery_id)
    return _text(DONE, 200)


async def _delivery_of(ctx: ApiContext, request: Request, token: str) -> int | None:
    ingest = _ingest(request, ctx)
    now = ctx.clock.now()
    ring = await ctx.in_thread(functools.partial(ingest.ring, now))  # cached for 5 minutes
    return verify_unsubscribe_token(ring, token)


def _ingest(request: Request, ctx: ApiContext) -> FeedbackIngest:
    """The service's FeedbackIngest, or one made once for this app (an API started
    without one); either caches the token keys for `RING_REFRESH` seconds."""
    if ctx.ingest is not None:
        return ctx.ingest
    made: FeedbackIngest | None = getattr(request.app.state, "unsubscribe_ingest", None)
    if made is None:
        made = FeedbackIngest(ctx.config, ctx.store.feedback, ctx.store.token_keys, ctx.clock)
        request.app.state.unsubscribe_ingest = made
    return made


async def _body(request: Request) -> bytes | None:
    """The body, or None past MAX_POST_BODY (a one-click body is 26 octets)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_POST_BODY:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _text(text: str, status: int) -> PlainTextResponse:
    return PlainTextResponse(text + "\n", status, headers=_NO_STORE)


def _page(title: str, body: str, status: int) -> HTMLResponse:
    headers = {
        **_NO_STORE,
        "Content-Security-Policy": "default-src 'none'; form-action 'self'",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
    }
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=body), status, headers=headers)
