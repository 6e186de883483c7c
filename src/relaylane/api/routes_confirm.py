"""/c/{token}: double opt-in confirmation (see relaylane.contacts.confirm).

`GET` shows a page with a button and changes nothing (mail scanners fetch every link in
a message); the button `POST`s to the same URL, which subscribes the pending member and
answers a plain page. No API key, cookie or login: the signed token is the authority.
Never a redirect. Not in /openapi.json.
"""

from __future__ import annotations

import functools
import html
import logging

from fastapi import APIRouter, Request
from fastapi.responses import Response

from relaylane.api.auth import Ctx
from relaylane.api.context import ApiContext
from relaylane.api.routes_unsubscribe import _ingest, _page
from relaylane.contacts.confirm import URL_PATH, verify_confirm_token

log = logging.getLogger("relaylane.contacts")
router = APIRouter(include_in_schema=False)

NOT_VALID = "This confirmation link is not valid."


@router.get(URL_PATH + "{token}")
async def confirm_page(token: str, request: Request, ctx: Ctx) -> Response:
    found = await _membership(ctx, request, token)
    if found is None:
        return _page("Confirm", f"<p>{html.escape(NOT_VALID)}</p>", 404)
    name = await ctx.in_thread(functools.partial(ctx.store.contacts.list_name, found[0]))
    form = (
        f"<p>Do you want to receive mail from the list {html.escape(name or '')}?</p>\n"
        '<form method="post" enctype="application/x-www-form-urlencoded">\n'
        '<button type="submit">Confirm my subscription</button>\n</form>'
    )
    return _page("Confirm", form, 200)


@router.post(URL_PATH + "{token}")
async def confirm(token: str, request: Request, ctx: Ctx) -> Response:
    found = await _membership(ctx, request, token)
    if found is None:
        return _page("Confirm", f"<p>{html.escape(NOT_VALID)}</p>", 404)
    list_id, contact_id = found
    done = await ctx.in_thread(
        functools.partial(ctx.store.contacts.confirm, list_id, contact_id, ctx.clock.now())
    )
    if done is None:  # unsubscribed since, or removed: nothing to confirm
        return _page("Confirm", f"<p>{html.escape(NOT_VALID)}</p>", 404)
    if done:
        log.info("contact %d confirmed its subscription to list %d", contact_id, list_id)
    return _page("Confirmed", "<p>Thank you: your subscription is confirmed.</p>", 200)


async def _membership(ctx: ApiContext, request: Request, token: str) -> tuple[int, int] | None:
    ring = await ctx.in_thread(functools.partial(_ingest(request, ctx).ring, ctx.clock.now()))
    return verify_confirm_token(ring, token)
