"""Every reply the submission listener gives of its own, in one place.

Replies carry RFC 3463 enhanced status codes and say what to do. Text from errors is
put on one line of printable characters and cut to fit an SMTP reply line (RFC 5321
4.5.3.1.5: 512 octets with the code and CRLF).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from relaylane.errors import InputError, PermissionDenied, Unavailable
from relaylane.intake.quota import OverQuota

_MAX_TEXT = 480
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f\u0085\u2028\u2029\ud800-\udfff]+")
_MAX_IDS_SHOWN = 10

AUTH_REQUIRED = "530 5.7.0 Authentication required"
AUTH_INVALID = "535 5.7.8 Authentication credentials invalid"
AUTH_TEMPORARY = "454 4.7.0 Temporary authentication failure; try again later"
SHUTTING_DOWN = "421 4.3.2 Service shutting down"
IDLE_TIMEOUT = "421 4.4.2 Idle for too long; closing the connection"
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"
BARE_LINE_BREAK = "550 5.6.0 Message contains bare CR or LF; use CRLF line endings"
NULL_SENDER = (
    "550 5.7.1 The null sender <> is not accepted for submission. Fix: send with your "
    "own address in MAIL FROM; bounces and delivery reports go there"
)
INTERNAL_ERROR = "451 4.3.0 Internal error; nothing was queued, try again later"
SENDER_OK = "250 2.1.0 Sender OK"
RECIPIENT_OK = "250 2.1.5 Recipient OK"


def reply(code: int, status: str, text: str) -> str:
    """`CODE STATUS TEXT` on one line, the text cleaned and cut to fit."""
    clean = _UNPRINTABLE.sub(" ", text).strip()
    if len(clean) > _MAX_TEXT:
        clean = clean[: _MAX_TEXT - 3] + "..."
    return f"{code} {status} {clean}"


def input_error(exc: InputError, code: int = 550, status: str = "5.6.0") -> str:
    """`550 5.6.0 <problem>. Fix: <fix>`; the field is named unless it is a CLI option."""
    where = "" if exc.field.startswith("--") else f"{exc.field}: "
    return reply(code, status, f"{where}{exc.problem}. Fix: {exc.fix}")


def permission_denied(exc: PermissionDenied) -> str:
    return reply(550, "5.7.1", f"{exc.field}: {exc.problem}. Fix: {exc.fix}")


def unavailable(exc: Unavailable) -> str:
    """Back-pressure: nothing was stored; the client keeps the message and retries."""
    wait = max(1, math.ceil(exc.retry_after))
    return reply(451, "4.3.0", f"{exc.reason}; nothing was queued, try again in {wait} s")


def over_quota(over: OverQuota) -> str:
    """The user's hourly or daily message quota is used up: `452 4.3.1` (RFC 5321 allows
    452 after DATA; RFC 3463 X.3.1: a resource of the mail system is exhausted). A
    transient reply: the client keeps the message and retries after the reset."""
    return reply(452, "4.3.1", f"{over.reason()}; nothing was queued. Fix: {over.fix()}")


def too_big(limit: int) -> str:
    return reply(552, "5.3.4", f"Message exceeds the size limit of {limit} bytes")


def declared_too_big(limit: int) -> str:
    return reply(552, "5.3.4", f"Declared SIZE exceeds the size limit of {limit} bytes")


def not_ascii(field: str) -> str:
    return reply(
        553,
        "5.6.7",
        f"{field} has a non-ASCII address but MAIL FROM lacks the SMTPUTF8 parameter. "
        "Fix: send MAIL FROM:<...> SMTPUTF8",
    )


def locked_out(ip: str, seconds: float) -> str:
    wait = max(1, math.ceil(seconds))
    return reply(454, "4.7.0", f"Too many failed AUTH attempts from {ip}; try again in {wait} s")


def queued(ids: Sequence[int]) -> str:
    """`250 2.0.0 queued as 41,42`; many ids become a range (`41-1040`) when they are
    consecutive, else the first ones and a count."""
    if len(ids) > _MAX_IDS_SHOWN and list(ids) == list(range(ids[0], ids[0] + len(ids))):
        return f"250 2.0.0 queued as {ids[0]}-{ids[-1]}"
    shown = ",".join(str(i) for i in ids[:_MAX_IDS_SHOWN])
    more = len(ids) - _MAX_IDS_SHOWN
    suffix = f" and {more} more" if more > 0 else ""
    return f"250 2.0.0 queued as {shown}{suffix}"
