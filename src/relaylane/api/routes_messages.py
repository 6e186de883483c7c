"""/v1/messages: send one message or a batch; look deliveries up."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from pydantic import ValidationError

from relaylane.api import views
from relaylane.api.auth import Ctx, Reader, Sender
from relaylane.api.body import OFFLOAD_BYTES, problems, read_json
from relaylane.api.errors import ApiError, ErrorCode, FieldProblem, invalid
from relaylane.api.intake import (
    INLINE_ITEMS,
    Rejected,
    build_many,
    build_one,
    none_valid,
    offload,
    submit,
)
from relaylane.api.queries import MAX_ID, DeliveryFilter, page
from relaylane.api.responses import Accepted, BatchAccepted, DeliveryDetail, DeliveryPage, declare
from relaylane.api.schemas import BatchShape
from relaylane.errors import NotFoundError
from relaylane.policy.vocabulary import DeliveryState
from relaylane.records import NewMessage

router = APIRouter(tags=["messages"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Makes the request safe to repeat: the same key (per API key) with the "
        "same body returns the first answer and queues nothing again; with another body: "
        "422 `conflict`. Printable ASCII, e.g. a UUID.",
    ),
]


def _body(schema: str) -> dict[str, Any]:
    ref = {"$ref": f"#/components/schemas/{schema}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": ref}}}}


@router.post(
    "/v1/messages",
    status_code=202,
    response_model=None,
    summary="Send one message",
    description="Queues the message durably (one delivery per recipient) and answers 202 "
    "with the delivery ids only after the commit. See the Message schema for the two "
    "forms: parts (`from`, `to`, `text`, ...) or `raw` with an `envelope`.",
    responses={
        202: {"model": Accepted, "description": "Queued"},
        **declare(400, 401, 403, 413, 422, 429, 503),
    },
    openapi_extra=_body("MessageIn"),
)
async def send_message(
    request: Request, ctx: Ctx, principal: Sender, idempotency_key: IdempotencyKey = None
) -> Response:
    parsed = await read_json(request)
    big = parsed.size > OFFLOAD_BYTES
    now = ctx.clock.now()
    message: NewMessage = await offload(big, build_one, ctx.config, principal, parsed.data, now)

    def answer(ids: list[list[int]]) -> tuple[int, str]:
        return 202, views.accepted(message, ids[0]).model_dump_json()

    key_hash = None if idempotency_key is None else parsed.request_hash(request.url.path)
    return await submit(ctx, principal, [message], idempotency_key, key_hash, answer)


@router.post(
    "/v1/messages/batch",
    status_code=202,
    response_model=None,
    summary="Send up to [http] batch_limit messages",
    description="Each message is validated on its own and answered at its index in "
    "`results`: `queued` with its delivery ids, or `rejected` with an error (its fields "
    "named relative to the message). All valid messages are queued in one commit. When "
    "none is valid, nothing is queued and the answer is 422 (403 if every one was "
    "refused for its lane) naming `messages[i].field`. The valid messages count "
    "against the key's message quotas together: if they would exceed one, the whole "
    "batch is refused with 429 and nothing is queued.",
    responses={
        202: {"model": BatchAccepted, "description": "At least one message queued"},
        **declare(400, 401, 403, 413, 422, 429, 503),
    },
    openapi_extra=_body("BatchIn"),
)
async def send_batch(
    request: Request, ctx: Ctx, principal: Sender, idempotency_key: IdempotencyKey = None
) -> Response:
    parsed = await read_json(request)
    try:
        items = BatchShape.model_validate(parsed.data).messages
    except ValidationError as exc:
        raise invalid(problems(exc)) from None
    limit = ctx.config.http.batch_limit
    if len(items) > limit:
        problem = f"{len(items)} messages, more than [http] batch_limit = {limit}"
        raise invalid([FieldProblem("messages", problem, "split them over several requests")])
    big = len(items) > INLINE_ITEMS or parsed.size > OFFLOAD_BYTES
    now = ctx.clock.now()
    built: list[NewMessage | Rejected] = await offload(
        big, build_many, ctx.config, principal, items, now
    )
    messages = [m for m in built if isinstance(m, NewMessage)]
    if not messages:
        raise none_valid([r for r in built if isinstance(r, Rejected)])

    def answer(ids: list[list[int]]) -> tuple[int, str]:
        return 202, views.batch(built, ids).model_dump_json()

    key_hash = None if idempotency_key is None else parsed.request_hash(request.url.path)
    return await submit(ctx, principal, messages, idempotency_key, key_hash, answer)


@router.get(
    "/v1/messages",
    summary="List deliveries, newest first",
    responses=declare(401, 403, 422, 503),
)
async def list_messages(
    ctx: Ctx,
    principal: Reader,
    lane: Annotated[str | None, Query(max_length=64)] = None,
    state: DeliveryState | None = None,
    to: Annotated[str | None, Query(max_length=998, description="A recipient address.")] = None,
    since: Annotated[
        float | None, Query(ge=0, le=1e11, allow_inf_nan=False, description="Unix time.")
    ] = None,
    cursor: Annotated[
        str | None, Query(pattern=r"^[1-9][0-9]{0,18}$", description="`next_cursor` of a page.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeliveryPage:
    where = DeliveryFilter(
        lane=views.known_lane(ctx.config, lane),
        state=None if state is None else state.value,
        recipient=views.recipient(to),
        since=since,
        before_id=_cursor(cursor),
    )
    rows = await ctx.in_thread(page, ctx.store.engine, where, limit + 1)
    shown = rows[:limit]
    return DeliveryPage(
        deliveries=[views.delivery(row) for row in shown],
        next_cursor=str(shown[-1].id) if len(rows) > limit else None,
    )


@router.get(
    "/v1/messages/{delivery_id}",
    summary="One delivery: its state and every attempt",
    responses=declare(401, 403, 404, 422, 503),
)
async def get_message(
    ctx: Ctx, principal: Reader, delivery_id: Annotated[int, Path(ge=1, le=MAX_ID)]
) -> DeliveryDetail:
    try:
        detail = await ctx.in_thread(ctx.store.reads.delivery, delivery_id)
    except NotFoundError:
        raise ApiError(404, ErrorCode.NOT_FOUND, f"no delivery with id {delivery_id}") from None
    return views.detail(detail)


def _cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    value = int(cursor)
    if value > MAX_ID:
        raise invalid([FieldProblem("cursor", "is not a cursor of this API", "pass next_cursor")])
    return value
