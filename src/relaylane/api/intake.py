"""From validated requests to a durable commit: building messages (off the event loop
when there are many or they are big), the Idempotency-Key, and the answer.

The answer of a request is made from the delivery ids inside the commit that queued
them and stored with its Idempotency-Key, so a replay returns it byte for byte.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import Response
from pydantic import ValidationError

from relaylane.api.body import problems
from relaylane.api.build import build
from relaylane.api.context import ApiContext
from relaylane.api.errors import (
    ApiError,
    ErrorCode,
    FieldProblem,
    from_input_error,
    from_permission,
    invalid,
    over_quota,
)
from relaylane.api.schemas import MessageIn
from relaylane.auth.principal import Principal
from relaylane.config.models import Config
from relaylane.errors import InputError, PermissionDenied
from relaylane.intake.quota import QuotaAsk
from relaylane.records import NewMessage
from relaylane.store.intake import IdempotencyKey, IntakeItem

Answer = Callable[[list[list[int]]], tuple[int, str]]
JSON = "application/json"
INLINE_ITEMS = 8  # build batches bigger than this in a thread
MAX_BATCH_PROBLEMS = 1_000  # field problems in the answer to a batch with nothing valid


@dataclass(frozen=True, slots=True)
class Rejected:
    index: int
    error: ApiError


def build_one(config: Config, principal: Principal, data: Any, now: float) -> NewMessage:
    """The message in one request body; raises ApiError (422, 403)."""
    try:
        msg = MessageIn.model_validate(data)
    except ValidationError as exc:
        raise invalid(problems(exc)) from None
    try:
        return build(config, principal, msg, now)
    except InputError as exc:
        raise from_input_error(exc) from None
    except PermissionDenied as exc:
        raise from_permission(exc) from None


def build_many(
    config: Config, principal: Principal, items: Sequence[Any], now: float
) -> list[NewMessage | Rejected]:
    out: list[NewMessage | Rejected] = []
    for index, data in enumerate(items):
        try:
            out.append(build_one(config, principal, data, now))
        except ApiError as exc:
            out.append(Rejected(index, exc))
    return out


async def offload(big: bool, fn: Callable[..., Any], *args: Any) -> Any:
    """Run CPU-heavy work (composing big or many messages) off the event loop."""
    if big:
        return await asyncio.to_thread(fn, *args)
    return fn(*args)


def none_valid(rejected: Sequence[Rejected]) -> ApiError:
    """The answer to a batch of which nothing could be queued."""
    fields = [
        FieldProblem(f"messages[{r.index}].{f.field}", f.problem, f.fix)
        for r in rejected
        for f in r.error.fields
    ][:MAX_BATCH_PROBLEMS]
    if all(r.error.status == 403 for r in rejected):
        return ApiError(403, ErrorCode.FORBIDDEN, "no message of the batch may be sent", fields)
    return invalid(fields, "no message of the batch is valid; nothing was queued")


async def submit(
    ctx: ApiContext,
    principal: Principal,
    messages: Sequence[NewMessage],
    key: str | None,
    request_hash: str | None,
    answer: Answer,
) -> Response:
    """Commit `messages` durably (once per Idempotency-Key) and answer; 429 when they
    would exceed the key's message quota (the whole request: nothing is queued)."""
    idem = (
        None
        if key is None or request_hash is None
        else IdempotencyKey(principal.name, key, request_hash)
    )
    quota = QuotaAsk.of(principal, ctx.clock.now(), ctx.config.pacing.timezone)
    outcome = await ctx.committer.submit(IntakeItem(tuple(messages), idem, answer, quota))
    if outcome.over_quota is not None:
        raise over_quota(outcome.over_quota)
    if outcome.conflict:
        raise ApiError(
            422,
            ErrorCode.CONFLICT,
            "this Idempotency-Key was used before with a different request",
            [
                FieldProblem(
                    "Idempotency-Key",
                    "was used before with a different request",
                    "use a new key for a new request; repeat a request only unchanged",
                )
            ],
        )
    if outcome.replay is not None:
        status, body = outcome.replay
        return Response(body, status, media_type=JSON, headers={"Idempotent-Replayed": "true"})
    status, body = answer(outcome.ids)
    return Response(body, status, media_type=JSON)
