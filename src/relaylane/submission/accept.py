"""From one SMTP transaction to the `NewMessage` to queue, or the reply that refuses it.

The steps, in order (each refusal names the problem and the fix):
1. bare CR or LF anywhere in the data (smuggling) -> 550 5.6.0;
2. X-Relaylane-* and Return-Path headers are taken out (X-Relaylane-Lane picks the
   lane), this server's Received line is put on top;
3. `compose_eml`: validated, Bcc dropped, 8-bit re-encoded to 7-bit -> 550 5.6.0;
4. over [submission] max_message_size once composed -> 552 5.3.4;
5. the lane (the header's, else the user's first) and the From domain -> 550 5.7.1;
6. `build_message` with the envelope's recipients (deduplicated) and sender, the
   origin "smtp" and notify = "dsn" for a user who asked for DSNs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from relaylane.auth.principal import Notify, Principal
from relaylane.config.models import Config
from relaylane.delivery.addresses import Address, parse_address, unique_addresses
from relaylane.delivery.eml import compose_eml
from relaylane.delivery.submit import Origin, build_message
from relaylane.errors import InputError, PermissionDenied
from relaylane.intake.lanes import check_sender, resolve_lane
from relaylane.records import NewMessage
from relaylane.submission import replies
from relaylane.submission.headers import RemovedHeader, bare_line_break, strip_control_headers

LANE_HEADER = "X-Relaylane-Lane"
MAIL_FIELD = "MAIL FROM"
RCPT_FIELD = "RCPT TO"


class Refused(Exception):
    """The message is not accepted; `reply` says why."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass(frozen=True, slots=True)
class Submission:
    """What one authenticated SMTP transaction handed over."""

    principal: Principal
    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes  # the DATA, dot-unstuffed
    trace: bytes  # this server's Received header line(s)


def prepare(config: Config, submission: Submission, now: float) -> NewMessage:
    """The message to queue; raises `Refused` with the reply otherwise."""
    try:
        return _prepare(config, submission, now)
    except InputError as exc:
        raise Refused(replies.input_error(exc)) from exc
    except PermissionDenied as exc:
        raise Refused(replies.permission_denied(exc)) from exc


def _prepare(config: Config, sub: Submission, now: float) -> NewMessage:
    if bare_line_break(sub.content):
        raise Refused(replies.BARE_LINE_BREAK)
    raw, removed = strip_control_headers(sub.content)
    requested = requested_lane(removed)
    composed = compose_eml(sub.trace + raw)
    limit = config.submission.max_message_size
    if composed.size > limit:
        raise Refused(replies.too_big(limit))
    lane = resolve_lane(config, sub.principal, requested, LANE_HEADER)
    check_sender(config, lane, composed.from_addr.domain, "From header")
    notify = "dsn" if sub.principal.notify is Notify.DSN else None
    return build_message(
        config,
        lane.name,
        composed,
        recipients(sub.rcpt_tos),
        now,
        mail_from=parse_address(sub.mail_from, field=MAIL_FIELD, allow_display_name=False),
        origin=Origin(source="smtp", submitter=sub.principal.name, notify=notify),
        lane_field=LANE_HEADER,
        to_field=RCPT_FIELD,
    )


def requested_lane(removed: Sequence[RemovedHeader]) -> str | None:
    """The lane an X-Relaylane-Lane header asks for (None: the default lane)."""
    values = {h.value for h in removed if h.name == LANE_HEADER.lower()}
    if len(values) > 1:
        raise InputError(
            LANE_HEADER,
            f"the message names {len(values)} different lanes ({', '.join(sorted(values))})",
            "give one X-Relaylane-Lane header",
        )
    if not values:
        return None
    return values.pop() or None


def recipients(rcpt_tos: Sequence[str]) -> list[Address]:
    """The envelope's recipients, parsed, in order, without duplicates."""
    return unique_addresses(
        parse_address(rcpt, field=RCPT_FIELD, allow_display_name=False) for rcpt in rcpt_tos
    )
