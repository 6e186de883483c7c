"""Store records as API responses, and the checks of read filters."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING

from relaylane.api import responses as r
from relaylane.api.errors import FieldProblem, from_input_error, invalid
from relaylane.config.models import Config
from relaylane.delivery.addresses import parse_address
from relaylane.errors import InputError
from relaylane.records import NewMessage
from relaylane.store import reads

if TYPE_CHECKING:
    from relaylane.api.intake import Rejected


def accepted(message: NewMessage, ids: Sequence[int]) -> r.Accepted:
    pairs = zip(ids, message.deliveries, strict=True)
    return r.Accepted(
        lane=message.lane,
        deliveries=[r.DeliveryRef(id=i, recipient=d.recipient) for i, d in pairs],
    )


def batch(built: Sequence[NewMessage | Rejected], ids: Sequence[Sequence[int]]) -> r.BatchAccepted:
    """The batch answer: `ids` holds the delivery ids of the queued messages, in order."""
    results = []
    queued = iter(ids)
    for index, item in enumerate(built):
        if isinstance(item, NewMessage):
            done = accepted(item, next(queued))
            results.append(
                r.BatchItem(
                    index=index, status="queued", lane=done.lane, deliveries=done.deliveries
                )
            )
        else:
            error = r.ErrorDetail.model_validate(item.error.body()["error"])
            results.append(r.BatchItem(index=index, status="rejected", error=error))
    count = sum(1 for item in results if item.status == "queued")
    return r.BatchAccepted(queued=count, rejected=len(results) - count, results=results)


def delivery(row: reads.DeliveryRow) -> r.Delivery:
    fields = asdict(row)
    fields["attempt_count"] = fields.pop("attempts")  # a count here; `attempts` is the list
    return r.Delivery.model_validate(fields)


def detail(found: reads.DeliveryDetail) -> r.DeliveryDetail:
    return r.DeliveryDetail(
        **delivery(found.delivery).model_dump(),
        mail_from=found.mail_from,
        size=found.size,
        attempts=[r.Attempt.model_validate(asdict(a)) for a in found.attempts],
    )


def known_lane(config: Config, lane: str | None) -> str | None:
    names = [x.name for x in config.lane]
    if lane is not None and lane not in names:
        problem = f"unknown lane {lane!r}"
        raise invalid([FieldProblem("lane", problem, f"use one of: {', '.join(names)}")])
    return lane


def recipient(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        return parse_address(text, field="to", allow_display_name=False).addr
    except InputError as exc:
        raise from_input_error(exc) from None
