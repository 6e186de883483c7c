"""Delivery status notifications for SMTP users with notify = "dsn".

Every few seconds, deliveries of such messages that ended bounced or failed are
gathered per message; one RFC 3464 report per message goes back to the original
envelope sender, from the null sender (MAIL FROM:<>, so it can never bounce back and
loop), through the first transactional lane if that lane may send as the original From
domain (its `from_domains`), else through the original message's own lane: a report
never carries a domain into a lane that may not use it. Queueing it and marking the deliveries
notified is one transaction: a report is neither lost nor sent twice.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import defaultdict
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from relaylane.clock import Clock
from relaylane.config.models import Config, LaneConfig
from relaylane.delivery.dsn import FailedRecipient, build_dsn, status_from_reply
from relaylane.errors import InputError
from relaylane.policy.vocabulary import LanePurpose
from relaylane.records import NewDelivery, NewMessage
from relaylane.store.notices import OwedNotice, SqlNotices

log = logging.getLogger("relaylane.dsn")
DSN_INTERVAL = 5.0  # seconds between looks for owed notices


def notice_lane(config: Config) -> LaneConfig | None:
    return next(
        (x for x in config.lanes_by_priority() if x.purpose is LanePurpose.TRANSACTIONAL), None
    )


def report_lane(config: Config, original: OwedNotice) -> LaneConfig:
    """Where a report about `original` goes: see the module docstring."""
    preferred = notice_lane(config)
    if preferred is not None and preferred.allows_from(original.from_domain):
        return preferred
    return config.lane_by_name(original.lane)


def build_notices(
    owed: Sequence[OwedNotice], config: Config, now: float, reporting_mta: str
) -> tuple[list[NewMessage], list[int]]:
    """One DSN per original message; returns them and every delivery id they cover
    (including those that cannot be reported, e.g. a null envelope sender)."""
    by_message: dict[int, list[OwedNotice]] = defaultdict(list)
    for notice in owed:
        by_message[notice.message_id].append(notice)
    out: list[NewMessage] = []
    for group in by_message.values():
        first = group[0]
        try:
            body = build_dsn(
                reporting_mta=reporting_mta,
                original_envelope_from=first.mail_from,
                original_message_id=first.header_message_id,
                original_headers=first.body,
                failed=[_failed(n) for n in group],
                arrival=first.created_at,
                now=now,
                from_domain=first.from_domain,
            )
        except InputError as exc:  # e.g. the original had a null sender: nobody to tell
            log.info("no DSN for message %s: %s", first.message_id, exc)
            continue
        lane = report_lane(config, first)
        out.append(
            NewMessage(
                lane=lane.name,
                mail_from="",
                from_domain=first.from_domain,
                body=body,
                smtputf8=not first.mail_from.isascii(),
                created_at=now,
                expires_at=now + lane.max_age,
                deliveries=(NewDelivery(first.mail_from, _message_id(body), b""),),
                source="dsn",
            )
        )
    return out, [n.delivery_id for n in owed]


def _failed(n: OwedNotice) -> FailedRecipient:
    reply = n.last_reply or ""
    return FailedRecipient(
        recipient=n.recipient,
        action="failed",
        status=status_from_reply(n.last_code, reply),
        diagnostic=(f"{n.last_code} {reply}" if n.last_code else reply) or None,
        remote_mta=n.relay,
        last_attempt=n.updated_at,
    )


def _message_id(body: bytes) -> str:
    for line in body.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode("ascii", "replace")
    return ""


class DsnNotifier:
    def __init__(
        self,
        config: Config,
        notices: SqlNotices,
        clock: Clock,
        *,
        on_queued: Callable[[], None] | None = None,
        interval: float = DSN_INTERVAL,
    ) -> None:
        self.config = config
        self.notices = notices
        self.clock = clock
        self.on_queued = on_queued
        self.interval = interval
        self.reporting_mta = config.submission.hostname or socket.getfqdn()
        self.sent = 0

    def run_once(self) -> int:
        """Queue the notices owed now; returns how many DSN messages were queued."""
        owed = self.notices.owed()
        if not owed:
            return 0
        dsns, ids = build_notices(owed, self.config, self.clock.now(), self.reporting_mta)
        if self.notices.settle(dsns, ids):
            self.sent += len(dsns)
            return len(dsns)
        return 0

    async def run(self) -> None:
        while True:
            try:
                queued = await asyncio.to_thread(self.run_once)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("DSN notifier: store unavailable (%s)", exc.__class__.__name__)
                queued = 0
            except Exception:  # a bug must not stop the reports (or the graceful stop)
                log.exception("DSN notifier failed; trying again shortly")
                queued = 0
            if queued and self.on_queued is not None:
                self.on_queued()
            await asyncio.sleep(self.interval)
