"""/v1/webhooks/{ses,sendgrid,mailgun,postmark}: provider events into the same ledger.

No API key: each provider's own signature (or, for Postmark, basic auth) is checked
before anything is read, and an endpoint without its [webhooks.PROVIDER] table does not
exist (404). An event is answered 200 only after it is recorded; a store that cannot be
reached answers 503, so the provider delivers it again.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from relaylane.api.auth import Ctx
from relaylane.api.context import ApiContext
from relaylane.api.errors import ApiError, ErrorCode
from relaylane.api.responses import ErrorBody
from relaylane.bounces.webhooks import mailgun, postmark, sendgrid, ses
from relaylane.bounces.webhooks.common import ProviderEvent, WebhookRejected

log = logging.getLogger("relaylane.webhooks")
router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])
_CODES = {400: ErrorCode.MALFORMED_JSON, 401: ErrorCode.UNAUTHORIZED, 403: ErrorCode.FORBIDDEN}
Reader = Callable[[Mapping[str, str], bytes, Any, float], Sequence[ProviderEvent]]


class WebhookAccepted(BaseModel):
    received: int  # events the request carried that relaylane acts on
    actions: dict[str, int]  # what was done, by action (bounced, suppressed, unmatched, ...)


def _error(meaning: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": meaning}


_DESCRIBED: dict[int | str, dict[str, Any]] = {
    200: {"model": WebhookAccepted, "description": "Recorded (answered after the commit)."},
    400: _error("Not the provider's JSON (`malformed_json`); Mailgun gets 406 instead."),
    401: _error("Postmark: missing or wrong basic-auth credentials (`unauthorized`)."),
    403: _error("Bad or missing signature, unknown SNS topic, stale or replayed (`forbidden`)."),
    404: _error("The endpoint is off: no [webhooks.PROVIDER] table (`not_found`)."),
    503: _error("The store is unavailable; the provider retries (`unavailable`)."),
}


@router.post("/ses", summary="Amazon SES notifications through SNS", responses=_DESCRIBED)
async def ses_events(request: Request, ctx: Ctx) -> JSONResponse:
    return await _take(request, ctx, "ses", _read_ses)


@router.post("/sendgrid", summary="SendGrid's signed Event Webhook", responses=_DESCRIBED)
async def sendgrid_events(request: Request, ctx: Ctx) -> JSONResponse:
    return await _take(request, ctx, "sendgrid", sendgrid.verify_and_parse)


@router.post("/mailgun", summary="Mailgun webhooks (HMAC)", responses=_DESCRIBED)
async def mailgun_events(request: Request, ctx: Ctx) -> JSONResponse:
    return await _take(request, ctx, "mailgun", mailgun.verify_and_parse)


@router.post("/postmark", summary="Postmark webhooks (basic auth)", responses=_DESCRIBED)
async def postmark_events(request: Request, ctx: Ctx) -> JSONResponse:
    return await _take(request, ctx, "postmark", postmark.verify_and_parse)


def _read_ses(
    headers: Mapping[str, str], body: bytes, config: Any, now: float
) -> Sequence[ProviderEvent]:
    envelope = ses.verify_envelope(headers, body, config)
    if envelope.subscribe_url:
        log.warning(
            "SNS %s for topic %s: relaylane fetches nothing; confirm it by opening %s",
            envelope.type,
            envelope.topic_arn,
            envelope.subscribe_url,
        )
    return ses.events_of(envelope)


async def _take(request: Request, ctx: ApiContext, provider: str, read: Reader) -> JSONResponse:
    config = getattr(ctx.config.webhooks, provider)
    if config is None or ctx.ingest is None:
        raise ApiError(
            404,
            ErrorCode.NOT_FOUND,
            f"the {provider} webhook is off; add a [webhooks.{provider}] table to turn it on",
        )
    body = await request.body()
    headers = {k.lower(): v for k, v in request.headers.items()}
    try:
        events = read(headers, body, config, ctx.clock.now())
    except WebhookRejected as exc:
        log.warning("webhook %s refused: %s", provider, exc.reason)
        return _refused(provider, exc)
    rows = await ctx.in_thread(
        functools.partial(
            ctx.ingest.provider_events, events, source=f"webhook:{provider}", raw=body
        )
    )
    actions = Counter(row.action for row in rows)
    return JSONResponse({"received": len(events), "actions": dict(actions)})


def _refused(provider: str, exc: WebhookRejected) -> JSONResponse:
    status = exc.status
    if provider == "mailgun" and status == 400:
        status = 406  # Mailgun retries everything but 406; a malformed body will not improve
    code = _CODES.get(exc.status, ErrorCode.FORBIDDEN)
    headers = {"WWW-Authenticate": 'Basic realm="relaylane"'} if status == 401 else None
    error: dict[str, Any] = {"code": code.value, "message": exc.reason, "fields": []}
    return JSONResponse({"error": error}, status, headers=headers)
