"""Response bodies of the API, and the error responses each route declares."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from relaylane.api.errors import ErrorCode

Timestamp = float  # Unix time, seconds


class ErrorField(BaseModel):
    field: str = Field(description='The input at fault, e.g. "to[1]" or "Idempotency-Key".')
    problem: str
    fix: str


class QuotaDetail(BaseModel):
    """The message quota a 429 refers to."""

    quota: Literal["hourly", "daily"]
    limit: int = Field(description="Messages allowed in the hour or day.")
    used: int = Field(description="Messages accepted in this hour or day so far.")
    asked: int = Field(description="Messages in the refused request.")
    remaining: int
    resets_at: Timestamp = Field(description="When the hour or day rolls over (Unix time).")
    retry_after: int = Field(description="Seconds until then; also the Retry-After header.")
    raise_with: str = Field(description="The operator's command that raises the quota.")


class ErrorDetail(BaseModel):
    code: ErrorCode
    message: str
    fields: list[ErrorField]
    quota: QuotaDetail | None = Field(
        None, description="Only with `quota_exceeded` (429): which quota, and when it resets."
    )


class ErrorBody(BaseModel):
    error: ErrorDetail


class DeliveryRef(BaseModel):
    id: int = Field(description="The delivery id (GET /v1/messages/{id}).")
    recipient: str


class Accepted(BaseModel):
    """Queued durably: one delivery per recipient."""

    lane: str
    deliveries: list[DeliveryRef]


class BatchItem(BaseModel):
    index: int = Field(description="The message's position in the request.")
    status: Literal["queued", "rejected"]
    lane: str | None = None
    deliveries: list[DeliveryRef] = Field(default_factory=list)
    error: ErrorDetail | None = Field(default=None, description="Why it was rejected.")


class BatchAccepted(BaseModel):
    queued: int = Field(description="Messages queued (in one commit).")
    rejected: int
    results: list[BatchItem]


class Delivery(BaseModel):
    id: int
    message_id: int = Field(description="relaylane's id of the stored message body.")
    lane: str
    recipient: str
    state: str
    relay: str | None
    attempt_count: int
    created_at: Timestamp
    updated_at: Timestamp
    due_at: Timestamp | None
    last_code: int | None
    last_reply: str | None
    bounce_class: str | None
    relay_queue_id: str | None
    sent_at: Timestamp | None
    header_message_id: str = Field(description="The Message-ID header it carries.")


class Attempt(BaseModel):
    at: Timestamp
    relay: str | None
    stage: str
    code: int | None
    reply: str
    outcome: str
    bounce_class: str
    duration_ms: float
    failover: bool
    stale: bool = Field(description="Its result arrived after the lease was lost.")


class DeliveryDetail(Delivery):
    mail_from: str
    size: int
    attempts: list[Attempt]


class DeliveryPage(BaseModel):
    deliveries: list[Delivery] = Field(description="Newest first.")
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")


class Status(BaseModel):
    by_state: dict[str, int]
    by_lane: dict[str, dict[str, int]]
    by_relay: dict[str, dict[str, int]]
    oldest_pending_age: float | None = Field(description="Seconds; null when none pending.")
    total: int


class Breaker(BaseModel):
    """Kept for existing clients: the relay's own health as a circuit breaker."""

    state: Literal["closed", "open", "half_open", "unknown"] = Field(
        description="closed: healthy or degraded; open: paused; half_open: probing."
    )
    reopens_at: Timestamp | None = None
    reason: str | None = None


class PathHealth(BaseModel):
    state: Literal["healthy", "degraded", "paused", "probing"]
    cause: str = Field(description="none, deferrals, infrastructure, reputation, complaints, "
                       "operator or maintenance.")  # fmt: skip
    since: Timestamp | None = None
    until: Timestamp | None = Field(default=None, description="Paused: when probing may start.")
    reason: str | None = None


class RelayHealth(PathHealth):
    providers: dict[str, PathHealth] = Field(
        default_factory=dict, description="Relay x provider paths that are not healthy."
    )


class Relay(BaseModel):
    name: str
    kind: str
    host: str
    port: int
    tls: str
    max_connections: int
    lanes: list[str]
    breaker: Breaker
    health: RelayHealth
    counts: dict[str, int] = Field(description="Deliveries by state last routed here.")


class LaneRelay(BaseModel):
    name: str
    weight: int


class Lane(BaseModel):
    name: str
    purpose: str
    strategy: str
    relays: list[LaneRelay]
    max_age: float = Field(description="Seconds a delivery may wait before it fails.")
    from_domains: list[str] = Field(description="Empty: any From domain.")
    counts: dict[str, int] = Field(description="Deliveries by state.")
    paused: bool = Field(False, description="Paused by an operator: no worker claims it.")
    paused_reason: str | None = None


class Relays(BaseModel):
    relays: list[Relay]


class Lanes(BaseModel):
    lanes: list[Lane]


class Health(BaseModel):
    status: Literal["ok"]


def declare(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` of a route: each status with the error body and its meaning."""
    return {
        status: {"model": ErrorBody, "description": _MEANING[status], **_HEADERS.get(status, {})}
        for status in statuses
    }


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


_HEADERS = {
    401: {"headers": {"WWW-Authenticate": _header('Always `Bearer realm="relaylane"`.')}},
    429: {"headers": {"Retry-After": _header("Seconds until the quota's hour or day ends.")}},
    503: {"headers": {"Retry-After": _header("Seconds to wait before trying again.")}},
}


_MEANING = {
    400: "Malformed JSON (`malformed_json`), including nesting too deep to parse.",
    401: "No valid API key (`unauthorized`); see WWW-Authenticate.",
    403: "The key lacks the scope, or may not use the lane (`forbidden`).",
    404: "No such delivery (`not_found`).",
    413: "The request body is over `[http] max_request_size` (`too_large`).",
    422: "Invalid input (`invalid_input`, each field named with the fix), or an "
    "Idempotency-Key reused for a different request (`conflict`).",
    429: "Over the API key's hourly or daily message quota (`quota_exceeded`): nothing "
    "was queued; `error.quota` names the quota, its limit and when it resets; see "
    "Retry-After.",
    503: "Temporarily unavailable (`unavailable`): store down or queue full; see Retry-After.",
}
