"""The one error shape of the API and the exceptions that produce it.

Every error answer is `{"error": {"code", "message", "fields": [{"field", "problem",
"fix"}]}}`; `code` is one of `ErrorCode` and says what a client can do about it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from relaylane.errors import InputError, PermissionDenied
from relaylane.intake.quota import OverQuota


class ErrorCode(StrEnum):
    """What went wrong, by what the client should do about it."""

    INVALID_INPUT = "invalid_input"  # 422: fix the named fields
    UNAUTHORIZED = "unauthorized"  # 401: send a valid API key
    FORBIDDEN = "forbidden"  # 403: this key may not do that (scope or lane)
    NOT_FOUND = "not_found"  # 404
    METHOD_NOT_ALLOWED = "method_not_allowed"  # 405
    MALFORMED_JSON = "malformed_json"  # 400: the body is not (acceptable) JSON
    TOO_LARGE = "too_large"  # 413: the request body is over [http] max_request_size
    UNAVAILABLE = "unavailable"  # 503: retry after Retry-After seconds
    QUOTA_EXCEEDED = "quota_exceeded"  # 429: the key's message quota; see Retry-After
    CONFLICT = "conflict"  # 422: an Idempotency-Key reused for another request
    INTERNAL = "internal"  # 500: a bug in relaylane


@dataclass(frozen=True, slots=True)
class FieldProblem:
    field: str  # e.g. "to[1]", "headers.Received", "Idempotency-Key"
    problem: str
    fix: str


class ApiError(Exception):
    """An answer other than success; rendered by the app's exception handler."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        fields: Sequence[FieldProblem] = (),
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = tuple(fields)
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})  # more members of "error" (e.g. "quota")

    def body(self) -> dict[str, object]:
        return error_body(self.code, self.message, self.fields, self.extra)


def error_body(
    code: ErrorCode,
    message: str,
    fields: Sequence[FieldProblem] = (),
    extra: Mapping[str, object] | None = None,
) -> dict[str, object]:
    return {
        "error": {
            "code": code.value,
            "message": message,
            "fields": [{"field": f.field, "problem": f.problem, "fix": f.fix} for f in fields],
            **(extra or {}),
        }
    }


def invalid(fields: Sequence[FieldProblem], message: str | None = None) -> ApiError:
    text = message or "; ".join(f"{f.field}: {f.problem}" for f in fields[:3])
    return ApiError(422, ErrorCode.INVALID_INPUT, text, fields)


def from_input_error(exc: InputError) -> ApiError:
    return invalid([FieldProblem(exc.field, exc.problem, exc.fix)])


def from_permission(exc: PermissionDenied) -> ApiError:
    problem = FieldProblem(exc.field, exc.problem, exc.fix)
    return ApiError(403, ErrorCode.FORBIDDEN, exc.problem, [problem])


def unauthorized(message: str, fix: str) -> ApiError:
    return ApiError(
        401,
        ErrorCode.UNAUTHORIZED,
        message,
        [FieldProblem("Authorization", message, fix)],
        {"WWW-Authenticate": 'Bearer realm="relaylane"'},
    )


def forbidden(message: str, fix: str, field: str = "Authorization") -> ApiError:
    return ApiError(403, ErrorCode.FORBIDDEN, message, [FieldProblem(field, message, fix)])


def unavailable(reason: str, retry_after: float) -> ApiError:
    seconds = max(1, math.ceil(retry_after))
    return ApiError(
        503,
        ErrorCode.UNAVAILABLE,
        f"{reason}; nothing was accepted, retry in {seconds}s",
        headers={"Retry-After": str(seconds)},
    )


def over_quota(over: OverQuota) -> ApiError:
    """429: the request would exceed the key's hourly or daily message quota; nothing
    of it was queued. Retry-After: seconds until that quota's period rolls over."""
    seconds = max(1, math.ceil(over.retry_after))
    return ApiError(
        429,
        ErrorCode.QUOTA_EXCEEDED,
        f"{over.reason()}; nothing was queued",
        [FieldProblem(f"quota.{over.quota}", over.reason(), over.fix())],
        {"Retry-After": str(seconds)},
        {"quota": over.as_dict()},
    )


def malformed(problem: str) -> ApiError:
    fix = "send one JSON object (UTF-8), like the examples in /openapi.json"
    return ApiError(
        400,
        ErrorCode.MALFORMED_JSON,
        f"the request body is not acceptable JSON: {problem}",
        [FieldProblem("body", problem, fix)],
    )
