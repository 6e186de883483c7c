"""The `raw` form of a message: a complete RFC 5322 message and its envelope. Pure.

The message is prepared by `compose_eml` (Bcc removed, 8-bit re-encoded); the envelope
says who receives it (`envelope.to`) and where bounces go (`envelope.from`).
"""

from __future__ import annotations

import base64
import binascii
import email.policy
from email.parser import BytesHeaderParser

from relaylane.api.schemas import MessageIn
from relaylane.delivery.addresses import Address, parse_address, unique_addresses
from relaylane.delivery.compose import Composed, forbidden_header
from relaylane.delivery.eml import compose_eml
from relaylane.errors import InputError

# MessageIn attributes that describe a message built from parts.
_PARTS = ("from_", "to", "cc", "bcc", "reply_to", "subject", "text", "html", "headers")
_EXAMPLE_ENVELOPE = '"envelope": {"from": "bounces@your.domain", "to": ["bob@example.com"]}'


def raw_parts(msg: MessageIn, limit: int) -> tuple[Composed, Address, list[Address]]:
    """The prepared message, the envelope sender and the recipients."""
    for name in (*_PARTS, "attachments"):
        if getattr(msg, name):
            field = name.rstrip("_")
            raise InputError(
                field,
                f'"{field}" cannot be combined with "raw"',
                'put it into the raw message itself, or send the message without "raw"',
            )
    data = _raw_bytes(msg)
    if msg.envelope is None:
        raise InputError(
            "envelope", 'a "raw" message needs an envelope', f"add {_EXAMPLE_ENVELOPE}"
        )
    if len(data) > limit:
        raise too_big("raw", len(data), limit)
    _refuse_forbidden(data)
    try:
        composed = compose_eml(data)
    except InputError as exc:
        raise InputError("raw", exc.problem, exc.fix) from exc
    if composed.size > limit:
        raise too_big("raw", composed.size, limit)
    envelope = msg.envelope
    sender = parse_address(envelope.from_, field="envelope.from", allow_display_name=False)
    recipients = [
        parse_address(value, field=f"envelope.to[{i}]", allow_display_name=False)
        for i, value in enumerate(envelope.to)
    ]
    return composed, sender, unique_addresses(recipients)


def too_big(field: str, size: int, limit: int) -> InputError:
    return InputError(
        field,
        f"the message is {size} bytes, over [submission] max_message_size = {limit} bytes",
        "send a smaller message (attachments count base64-encoded, a third larger)",
    )


def _raw_bytes(msg: MessageIn) -> bytes:
    if msg.raw is not None and msg.raw_base64 is not None:
        raise InputError("raw_base64", 'both "raw" and "raw_base64" given', "give only one")
    if msg.raw is not None:
        return msg.raw.encode("utf-8")
    if msg.raw_base64 is None:
        raise InputError(
            "raw", "an envelope was given without a message", 'give the message in "raw"'
        )
    try:
        return base64.b64decode("".join(msg.raw_base64.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InputError(
            "raw_base64", "is not valid base64", "encode the message with standard base64"
        ) from None


def _refuse_forbidden(data: bytes) -> None:
    headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(data)
    for name in headers.keys():  # noqa: SIM118 - a Message, not a dict
        why = forbidden_header(name)
        if why is not None:
            reason, _, fix = why.partition("; ")
            raise InputError(
                "raw",
                f"the message sets the header {name}, which an API client may not set: {reason}",
                f"remove the {name} header from the message ({fix or 'leave it out'})",
            )
