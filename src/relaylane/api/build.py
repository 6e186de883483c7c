"""A `MessageIn` made into a `NewMessage`: pure, no I/O.

Raises `InputError` (422) or `PermissionDenied` (403: a lane the key may not use), both
naming the API's fields (`from`, `to[1]`, `headers.X-Campaign`, `raw`, ...). The seams
below (compose, build_message) name some inputs the CLI's way (`--from`); those names
are translated here.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from relaylane.api.build_raw import raw_parts, too_big
from relaylane.api.schemas import AttachmentIn, MessageIn
from relaylane.auth.principal import Principal
from relaylane.config.models import Config, LaneConfig
from relaylane.delivery.addresses import Address, parse_address, unique_addresses
from relaylane.delivery.compose import OWNED_HEADERS, Attachment, Composed, compose
from relaylane.delivery.compose import forbidden_header as why_forbidden
from relaylane.delivery.headers import check_header_value
from relaylane.delivery.submit import Origin, build_message
from relaylane.errors import InputError, PermissionDenied
from relaylane.intake.lanes import check_sender, resolve_lane
from relaylane.records import NewMessage

_MIME = (
    "relaylane builds the MIME structure from text, html and attachments; "
    "send a prebuilt message as raw"
)
_OWN = "relaylane writes a fresh one for each delivery; to send your own, use raw"
_OWNED_FIX = {
    "message-id": _OWN,
    "date": _OWN,
    "to": 'put the addresses in "to"',
    "cc": 'put the addresses in "cc"',
    "bcc": 'put the addresses in "bcc" (they are never written into the message)',
    "from": 'set the sender with "from"',
    "subject": 'set it with "subject"',
    "reply-to": 'set it with "reply_to"',
}
_SEAM_FIELDS = {
    "--from": "from",
    "From": "from",
    "--reply-to": "reply_to",
    "Reply-To": "reply_to",
    "To": "to",
    "Cc": "cc",
    "Subject": "subject",
    "--header": "headers",
    "--text": "text",
    "body": "text",
    "--html-file": "html",
}


def build(config: Config, principal: Principal, msg: MessageIn, now: float) -> NewMessage:
    """The record to queue for `msg`, sent by `principal`."""
    lane = resolve_lane(config, principal, msg.lane, "lane")
    limit = config.submission.max_message_size
    mail_from: Address | None = None
    raw = msg.raw is not None or msg.raw_base64 is not None or msg.envelope is not None
    if raw:
        composed, mail_from, recipients = raw_parts(msg, limit)
    else:
        composed, recipients = _structured(msg, limit)
    to_field = "envelope.to" if raw else "to"
    _allowed_sender(config, lane, composed, "raw" if raw else "from")
    _check_count(config, recipients, to_field)
    with _api_fields(msg, default="raw" if raw else None):
        return build_message(
            config, lane.name, composed, recipients, now,
            mail_from=mail_from, origin=_origin(principal, msg), lane_field="lane",
            to_field=to_field,
        )  # fmt: skip


def _origin(principal: Principal, msg: MessageIn) -> Origin:
    return Origin(
        source="api",
        submitter=principal.name,
        tags=tuple(msg.tags),
        metadata=tuple(sorted(msg.metadata.items())),
        not_before=msg.not_before.timestamp() if msg.not_before else None,
        send_window=msg.send_window,
    )


def _check_count(config: Config, recipients: Sequence[Address], field: str) -> None:
    limit = config.submission.max_recipients
    if len(recipients) > limit:
        raise InputError(
            field,
            f"{len(recipients)} recipients, more than [submission] max_recipients = {limit}",
            "split the recipients over several messages (POST /v1/messages/batch)",
        )


def _structured(msg: MessageIn, limit: int) -> tuple[Composed, list[Address]]:
    if msg.from_ is None:
        raise InputError("from", "no sender given", 'add "from": "Name <user@domain>"')
    if msg.text is None and msg.html is None:
        raise InputError("text", "the message has no body", 'give "text", "html" or both')
    bcc = [parse_address(a, field=f"bcc[{i}]") for i, a in enumerate(msg.bcc)]
    for name, value in msg.headers.items():
        _check_header(name, value)
    attachments = [_attachment(i, a) for i, a in enumerate(msg.attachments)]
    _precheck_size(msg, attachments, limit)
    with _api_fields(msg):
        check_header_value("Subject", msg.subject or "")
        composed = _compose(msg, attachments)
    if composed.size > limit:
        raise too_big(_biggest_part(msg, attachments), composed.size, limit)
    return composed, unique_addresses([*composed.to_addrs, *composed.cc_addrs, *bcc])


def _compose(msg: MessageIn, attachments: list[Attachment]) -> Composed:
    try:
        return compose(
            from_=msg.from_ or "", subject=msg.subject or "", text=msg.text, html=msg.html,
            headers=msg.headers, reply_to=msg.reply_to, to=msg.to, cc=msg.cc,
            attachments=attachments,
        )  # fmt: skip
    except InputError as exc:
        if exc.field in ("to", "cc"):  # compose names the list: find the address
            for i, value in enumerate(msg.to if exc.field == "to" else msg.cc):
                parse_address(value, field=f"{exc.field}[{i}]")
        raise


def _check_header(name: str, value: str) -> None:
    field = f"headers.{name}"
    why = why_forbidden(name)
    if why is not None:
        reason, _, fix = why.partition("; ")
        raise InputError(
            field, f"the header {name} may not be set: {reason}", fix or "leave it out"
        )
    owned = OWNED_HEADERS.get(name.strip().lower())
    if owned is not None:
        fix = _OWNED_FIX.get(name.strip().lower(), _MIME)
        raise InputError(field, f"the header {name} is written by relaylane", fix)
    try:
        check_header_value(name, value)
    except InputError as exc:
        raise InputError(field, exc.problem, exc.fix) from exc


def _attachment(index: int, given: AttachmentIn) -> Attachment:
    try:
        content = base64.b64decode("".join(given.content.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InputError(
            f"attachments[{index}].content",
            "is not valid base64",
            "encode the file's bytes with base64 (standard alphabet, with = padding)",
        ) from None
    return Attachment(given.filename, content, given.content_type, given.content_id)


def _precheck_size(msg: MessageIn, attachments: Sequence[Attachment], limit: int) -> None:
    """Refuse before composing what is surely too big (encoding only makes it bigger)."""
    size = sum(len(a.content) for a in attachments)
    size += sum(len(part.encode("utf-8")) for part in (msg.text, msg.html) if part is not None)
    if size > limit:
        raise too_big(_biggest_part(msg, attachments), size, limit)


def _biggest_part(msg: MessageIn, attachments: Sequence[Attachment]) -> str:
    sizes = {
        "text": len(msg.text or ""),
        "html": len(msg.html or ""),
        "attachments": sum(len(a.content) for a in attachments) * 4 // 3,
    }
    return max(sizes, key=lambda name: sizes[name])


def _allowed_sender(config: Config, lane: LaneConfig, composed: Composed, field: str) -> None:
    """A From domain the lane may not use is bad input for that lane: 422, not 403."""
    try:
        check_sender(config, lane, composed.from_addr.domain, field)
    except PermissionDenied as exc:
        raise InputError(exc.field, exc.problem, exc.fix) from exc


@contextmanager
def _api_fields(msg: MessageIn, default: str | None = None) -> Iterator[None]:
    """Rename the CLI-style fields of InputErrors raised by the seams."""
    try:
        yield
    except InputError as exc:
        field = _SEAM_FIELDS.get(exc.field)
        if field is None and exc.field in msg.headers:
            field = f"headers.{exc.field}"
        field = field or default or exc.field
        if field == exc.field:
            raise
        raise InputError(field, exc.problem, exc.fix) from exc
