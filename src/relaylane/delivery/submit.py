"""Turning accepted input into queued deliveries: one stored body, one delivery per
recipient, each with its own Message-ID and Date made once, here, never on the hot path."""

from __future__ import annotations

import email.policy
from collections.abc import Sequence
from dataclasses import dataclass
from email.parser import BytesHeaderParser

from relaylane.config.models import Config, LaneConfig
from relaylane.delivery.addresses import Address
from relaylane.delivery.compose import Composed
from relaylane.delivery.headers import (
    delivery_headers,
    feedback_id,
    format_date,
    new_message_id,
)
from relaylane.errors import InputError
from relaylane.policy.alignment import organizational_domain
from relaylane.policy.pacing.windows import FORMS, WindowError, earliest_start, parse_window
from relaylane.policy.vocabulary import LanePurpose
from relaylane.records import NewDelivery, NewMessage


def build_message(
    config: Config,
    lane_name: str,
    composed: Composed,
    recipients: Sequence[Address],
    now: float,
    *,
    mail_from: Address | None = None,
    origin: Origin | None = None,
    lane_field: str = "--lane",
    to_field: str = "--to",
) -> NewMessage:
    """Validate lane and recipients against the configuration and make the record.

    `origin` says where the message came from (API, SMTP) and carries its tags and
    metadata; `lane_field`/`to_field` name the inputs in errors ("lane", "to" for the API).
    """
    try:
        lane = config.lane_by_name(lane_name)
    except LookupError as exc:
        raise InputError(lane_field, str(exc), "pick one of the lanes in relaylane.toml") from exc
    if not recipients:
        raise InputError(to_field, "no recipients given", "give at least one recipient")
    sender = mail_from or composed.from_addr
    _check_smtputf8(config, lane_name, composed, sender, recipients, to_field)
    origin = origin or Origin()
    # read once per message, not once per recipient
    existing = _existing_message_id(composed.body) if composed.has_message_id else ""
    date = format_date(now)
    domain = composed.from_addr.domain
    stream = _feedback_header(lane, composed, domain, origin)
    due = _earliest_start(config, lane, origin, now, lane_field)
    return NewMessage(
        lane=lane.name,
        mail_from=sender.addr,
        from_domain=domain,
        body=composed.body,
        smtputf8=_needs_smtputf8(composed, sender, recipients),
        created_at=now,
        expires_at=now + lane.max_age,
        deliveries=tuple(
            _delivery(composed, r, domain, date, existing, stream) for r in recipients
        ),
        source=origin.source,
        submitter=origin.submitter,
        notify=origin.notify,
        tags=origin.tags,
        metadata=origin.metadata,
        due_at=due,
        held=due > now,
        not_before=origin.not_before,
        send_window=origin.send_window,
    )


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a message came from, stored with it."""

    source: str = "cli"  # "cli", "api", "smtp" or "dsn"
    submitter: str | None = None  # API key id or SMTP user name
    notify: str | None = None  # "dsn" to report permanent failures to the envelope sender
    tags: tuple[str, ...] = ()
    metadata: tuple[tuple[str, str], ...] = ()
    not_before: float | None = None  # wait until then (Unix seconds), as `held`
    send_window: str | None = None  # only inside this window ("mon-fri 08:00-18:00 ...")


def _earliest_start(
    config: Config, lane: LaneConfig, origin: Origin, now: float, field: str
) -> float:
    """When the message may first go: its and its lane's not-before times, and the lane's
    send window."""
    windows = config.windows_of(lane)
    if origin.send_window is not None:
        try:
            windows += (parse_window(origin.send_window, config.pacing.timezone),)
        except WindowError as exc:
            raise InputError("send_window", str(exc), f"write it like {FORMS}") from None
    start = earliest_start(now, (lane.not_before, origin.not_before), windows)
    if start is None:
        raise InputError(
            field,
            f"the send windows of lane {lane.name!r} and of this message never open together "
            "after their not-before times",
            "fix the lane's or the message's send_window or not_before",
        )
    return start


def _feedback_header(lane: LaneConfig, composed: Composed, domain: str, origin: Origin) -> bytes:
    """Bulk lanes carry a Feedback-ID (campaign or lane, lane, purpose, sender), unless
    the message has its own."""
    if lane.purpose is LanePurpose.TRANSACTIONAL or _has_header(composed.body, b"feedback-id"):
        return b""
    campaign = dict(origin.metadata).get("campaign") or lane.name
    return feedback_id(campaign, lane.name, lane.purpose.value, organizational_domain(domain))


def _has_header(body: bytes, name: bytes) -> bool:
    end = body.find(b"\r\n\r\n")
    block = body[: end if end >= 0 else len(body)].lower()
    return block.startswith(name + b":") or (b"\n" + name + b":") in block


def _delivery(
    composed: Composed, rcpt: Address, domain: str, date: str, existing: str, stream: bytes
) -> NewDelivery:
    """One delivery with the header lines it alone carries, made and checked once here so
    the send path only concatenates bytes."""
    own_id = None if composed.has_message_id else new_message_id(domain)
    prefix = delivery_headers(
        message_id=own_id,
        date=None if composed.has_date else date,
        to=None if composed.has_to else rcpt.header(),
    )
    message_id = own_id or existing
    return NewDelivery(
        recipient=rcpt.addr, header_message_id=message_id, header_prefix=prefix + stream
    )


def _existing_message_id(body: bytes) -> str:
    """The message's own Message-ID as written (unfolded). Read raw (compat32): the
    structured parser raises IndexError on some malformed values, such as "<"."""
    headers = BytesHeaderParser(policy=email.policy.compat32).parsebytes(body, headersonly=True)
    value = headers.get("Message-ID", "")
    return " ".join(str(value).split())


def _needs_smtputf8(composed: Composed, sender: Address, recipients: Sequence[Address]) -> bool:
    return (
        composed.needs_smtputf8
        or sender.needs_smtputf8
        or any(r.needs_smtputf8 for r in recipients)
    )


def _check_smtputf8(
    config: Config,
    lane_name: str,
    composed: Composed,
    sender: Address,
    recipients: Sequence[Address],
    to_field: str,
) -> None:
    """UTF-8 local parts are accepted only when every relay of the lane supports them."""
    if not _needs_smtputf8(composed, sender, recipients):
        return
    lane = config.lane_by_name(lane_name)
    lacking = [r.name for r in lane.relays if not config.relay_by_name(r.name).smtputf8]
    if lacking:
        example = next((r.addr for r in recipients if r.needs_smtputf8), sender.addr)
        raise InputError(
            to_field,
            f"{example} needs SMTPUTF8, but relay(s) {', '.join(lacking)} of lane "
            f"{lane_name} do not advertise it",
            "use an ASCII address, or set smtputf8 = true on relays that support SMTPUTF8",
        )
