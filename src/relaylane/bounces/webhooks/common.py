"""What every provider's webhook reader shares: the result record, the one error it may
raise, and tolerant readers for values pulled out of untrusted JSON."""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from relaylane.bounces.report import Event, Finding
from relaylane.policy.classify import split_enhanced

BAD_REQUEST = 400  # the body is not the provider's JSON
UNAUTHORIZED = 401  # basic-auth credentials missing or wrong (Postmark)
FORBIDDEN = 403  # signature missing or wrong, unknown topic, stale or replayed

P = ParamSpec("P")
R = TypeVar("R")
_UNFORESEEN = (
    ValueError,  # UnicodeError included
    TypeError,
    KeyError,
    AttributeError,
    IndexError,
    RecursionError,
    OverflowError,
)


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """One recipient's outcome, as a provider's webhook reported it."""

    provider: str  # "ses", "sendgrid", "mailgun", "postmark"
    finding: Finding  # event, recipient, code, status, diagnostic
    relaylane_id: str | None  # the X-Relaylane-ID token, when the event carries it
    provider_message_id: str | None  # the provider's own id for the message
    occurred_at: float | None  # when it happened (Unix seconds), when the event says


class WebhookRejected(Exception):
    """The request is not believed (bad signature, wrong topic, replay) or not readable.

    `reason` is safe to log and to return: it never holds a secret. `status` is the HTTP
    status to answer with.
    """

    def __init__(self, reason: str, status: int = FORBIDDEN) -> None:
        self.reason = reason
        self.status = status
        super().__init__(f"{reason} (HTTP {status})")


def malformed(reason: str) -> WebhookRejected:
    return WebhookRejected(reason, BAD_REQUEST)


def guarded(provider: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorate a reader so that an unforeseen shape of input is a 400, never a crash.

    Readers check what they read; this is the safety net behind those checks.
    """

    def wrap(reader: Callable[P, R]) -> Callable[P, R]:
        @functools.wraps(reader)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            try:
                return reader(*args, **kwargs)
            except WebhookRejected:
                raise
            except _UNFORESEEN as exc:
                raise malformed(f"{provider}: unreadable request ({type(exc).__name__})") from exc

        return run

    return wrap


def load_json(body: bytes, what: str) -> Any:
    """The JSON value of `body`; a 400 naming `what` when it is not JSON."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise malformed(f"{what} is not JSON") from None


def text(value: object) -> str | None:
    """`value` when it is a non-empty string, else None."""
    return value if isinstance(value, str) and value else None


def mapping(value: object) -> Mapping[str, Any]:
    """`value` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def items(value: object) -> list[Any]:
    """`value` when it is a JSON array, else an empty one."""
    return value if isinstance(value, list) else []


def number(value: object) -> float | None:
    """A finite number from a JSON number or a numeric string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, (int, float)):
        try:
            result = float(value)
        except OverflowError:
            return None
        return result if math.isfinite(result) else None
    return None


def iso_time(value: object) -> float | None:
    """Unix seconds from an ISO 8601 string ("2024-05-01T10:00:00.123Z"), else None.

    Fractions longer than microseconds (Postmark writes seven digits) are cut to six.
    """
    if not isinstance(value, str):
        return None
    cleaned = re.sub(r"(\.\d{6})\d+", r"\1", value.strip())
    try:
        when = datetime.fromisoformat(cleaned)
        # a time without its zone is not a time we can place
        return when.timestamp() if when.tzinfo is not None else None
    except (ValueError, OverflowError):
        return None


def check_fresh(timestamp: float, now: float, max_age: float, provider: str) -> None:
    """Refuse a signed timestamp further than `max_age` from `now`, either way."""
    if abs(now - timestamp) > max_age:
        raise WebhookRejected(
            f"{provider}: signed timestamp is {now - timestamp:+.0f}s from now, beyond the "
            f"{max_age:.0f}s allowed (replay or clock skew)"
        )


_DIAGNOSTIC_TYPE = re.compile(r"\s*(?:smtp|x-[a-z0-9.-]+)\s*;\s*", re.IGNORECASE)
_REPLY_CODE = re.compile(r"([2-5]\d\d)(?=[\s-]|$)")
_STATUS = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")


def smtp_reply(diagnostic: str) -> tuple[int | None, str | None, str]:
    """(reply code, enhanced status, text) from "smtp; 550 5.1.1 user unknown".

    The text is what follows the diagnostic type: "550 5.1.1 user unknown".
    """
    body = diagnostic.strip()
    prefix = _DIAGNOSTIC_TYPE.match(body)
    if prefix:
        body = body[prefix.end() :]
    code = _REPLY_CODE.match(body)
    status, _ = split_enhanced(body)
    return (int(code[1]) if code else None), status, body


def enhanced(value: object) -> str | None:
    """`value` when it is an RFC 3463 status such as "5.1.1", else None."""
    return value if isinstance(value, str) and _STATUS.fullmatch(value) else None


def reply_code(value: object) -> int | None:
    """`value` when it is an SMTP reply code (200..599), else None."""
    if isinstance(value, int) and not isinstance(value, bool) and 200 <= value <= 599:
        return value
    return None


def reported(
    event: Event,
    recipient: str | None,
    diagnostic: str,
    *,
    status: str | None = None,
    code: int | None = None,
) -> Finding:
    """A finding whose code and status come from the given fields first, then from the
    diagnostic text."""
    parsed_code, parsed_status, body = smtp_reply(diagnostic)
    return Finding(
        event=event,
        recipient=recipient,
        code=code if code is not None else parsed_code,
        status=status or parsed_status,
        diagnostic=body,
    )


def suppressed(recipient: str | None, diagnostic: str) -> Finding:
    """The provider refused to send because the address is on its own suppression list.

    Read as UNKNOWN, without code or status: the message did not go out, but no receiving
    server said anything about the address now, so relaylane should not suppress on the
    strength of another system's list (the bounce that put it there, if relaylane sent
    it, was reported at the time).
    """
    return Finding(Event.UNKNOWN, recipient, diagnostic=f"suppressed by the provider: {diagnostic}")
