"""Turning a running campaign's contacts into deliveries, a batch at a time.

`plan_feed` is the pure part: which members of a batch get a delivery (the segment),
which are stopped before sending (role accounts on outreach lanes), and each delivery's
own header lines. `CampaignFeeder` runs in the worker: every `FEED_EVERY` seconds it
looks at the running campaigns and, while the lane's backlog is below
`[campaigns] feed_ahead` (back-pressure: a campaign never floods the queue, so pausing
it is cheap and other mail of the lane is never buried), feeds up to `feed_batch` more
contacts, within the campaign's `max_per_hour`. Every `GUARD_EVERY` seconds it asks the
guard whether the campaign must pause itself, and it marks exhausted campaigns with
nothing left to send as finished.

A worker holding deliveries of a campaign that was paused sends them back `held`; one
that learns of the pause late may do so just after a resume. For `SETTLE` seconds after
a resume, every feeding round makes such stragglers due again.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass

from relaylane.campaigns import segments
from relaylane.campaigns.guard import pause_reason
from relaylane.campaigns.spec import contact_fields
from relaylane.config.models import Config
from relaylane.contacts.csv_rows import role_account
from relaylane.delivery.addresses import parse_address
from relaylane.delivery.headers import delivery_headers, feedback_id, format_date, new_message_id
from relaylane.errors import InputError
from relaylane.policy.alignment import organizational_domain
from relaylane.policy.vocabulary import DeliveryState, LanePurpose
from relaylane.store.campaigns import (
    CampaignRow,
    FedDelivery,
    FeedPlan,
    Member,
    SqlCampaigns,
    Stopped,
)
from relaylane.store.tracking import SqlTracking

log = logging.getLogger("relaylane.campaigns")

FEED_EVERY = 1.0  # seconds between looks at the running campaigns
GUARD_EVERY = 5.0  # seconds between auto-pause checks of one campaign
DAY = 86400.0
SETTLE = 30.0  # seconds after a resume in which held deliveries are released again


@dataclass(frozen=True, slots=True)
class FeedContext:
    """What `plan_feed` needs besides the members: fixed per campaign and batch."""

    purpose: LanePurpose
    from_domain: str
    feedback: bytes  # the Feedback-ID line ("" for none)
    segment: segments.Segment | None
    engagement: Mapping[int, Mapping[str, float]]  # contact id -> {opened, clicked, sent}
    now: float


def plan_feed(members: list[Member], ctx: FeedContext) -> FeedPlan:
    rows: list[FedDelivery] = []
    skipped = 0
    date = format_date(ctx.now)
    for m in members:
        if ctx.segment is not None and not segments.matches(ctx.segment, _fields(m, ctx)):
            skipped += 1
            continue
        try:
            address = parse_address(m.email, field="email", allow_display_name=False)
        except InputError as exc:
            rows.append(_stopped(m, f"not mailed: the stored address is not valid ({exc})"))
            continue
        role = role_account(address.addr)
        if role is not None and ctx.purpose is LanePurpose.OUTREACH:
            why = f"not mailed: {role}@ is a role account, never mailed on outreach lanes"
            rows.append(_stopped(m, why))
            continue
        own_id = new_message_id(ctx.from_domain)
        prefix = delivery_headers(message_id=own_id, date=date, to=address.header())
        rows.append(FedDelivery(m.contact_id, address.addr, own_id, prefix + ctx.feedback))
    return FeedPlan(rows, skipped)


def _stopped(m: Member, why: str) -> FedDelivery:
    return FedDelivery(m.contact_id, m.email, "", b"", DeliveryState.SUPPRESSED, why)


def _fields(m: Member, ctx: FeedContext) -> dict[str, object]:
    fields = contact_fields(m.email, m.attributes)
    seen = ctx.engagement.get(m.contact_id, {})
    for name, key in (("opened", "opened"), ("clicked", "clicked"), ("sent", "sent")):
        at = seen.get(key)
        fields[f"{name}_days_ago"] = _days_ago(ctx.now, at)
    fields["subscribed_days_ago"] = _days_ago(ctx.now, m.subscribed_at)
    return fields


def _days_ago(now: float, at: float | None) -> int | None:
    return None if at is None else max(0, math.floor((now - at) / DAY))


def feedback_line(config: Config, campaign: CampaignRow, from_domain: str) -> bytes:
    lane = config.lane_by_name(campaign.lane)
    if lane.purpose is LanePurpose.TRANSACTIONAL:
        return b""
    org = organizational_domain(from_domain)
    return feedback_id(campaign.name, lane.name, lane.purpose.value, org)


def uses_engagement(segment: segments.Segment | None) -> bool:
    return segment is not None and bool(segments.fields(segment) & segments.ENGAGEMENT_FIELDS)


class CampaignFeeder:
    """Feeds running campaigns from inside a worker (its store thread runs `tick_sync`)."""

    def __init__(self, store: SqlCampaigns, tracking: SqlTracking, config: Config) -> None:
        self.store = store
        self.tracking = tracking
        self.config = config
        self._next = 0.0
        self._guarded: dict[int, float] = {}
        self._segments: dict[int, segments.Segment | None] = {}
        self.pending = False  # a running campaign has contacts left that may be fed now
        self.stopped: dict[int, Stopped] = {}  # paused or cancelled campaigns

    def due(self, now: float) -> bool:
        return now >= self._next

    def tick_sync(self, now: float) -> int:
        """One look at every running campaign; returns how many deliveries it queued."""
        self._next = now + FEED_EVERY
        queued = 0
        self.pending = False
        self.stopped = self.store.stopped()
        for campaign in self.store.running():
            try:
                queued += self._one(campaign, now)
            except Exception:  # one broken campaign must not stop the others, nor the worker
                log.exception("feeding campaign %s failed; trying again shortly", campaign.name)
        return queued

    def _one(self, campaign: CampaignRow, now: float) -> int:
        if self._guard(campaign, now, force=campaign.exhausted):  # always before finishing
            return 0
        if campaign.changed_at is not None and now - campaign.changed_at < SETTLE:
            self.store.release_held(campaign.id, now)
        if campaign.exhausted:
            if self.store.finish_if_done(campaign.id, now):
                log.info("campaign %s finished", campaign.name)
            return 0
        if campaign.not_before is not None and now < campaign.not_before:
            return 0
        settings = self.config.campaigns
        limit = settings.feed_batch
        if campaign.max_per_hour is not None:
            fresh_hour = campaign.hour_start is None or now - campaign.hour_start >= 3600
            used = 0 if fresh_hour else campaign.hour_fed
            limit = min(limit, campaign.max_per_hour - used)
        if limit <= 0:
            return 0  # this hour's share is queued: the next hour's comes then
        self.pending = True
        limit = min(limit, settings.feed_ahead - self.store.lane_backlog(campaign.lane))
        if limit <= 0:
            return 0
        lane = self.config.lane_by_name(campaign.lane)
        from_domain = parse_address(campaign.from_header, field="--from").domain
        feedback = feedback_line(self.config, campaign, from_domain)
        segment = self._segment(campaign)

        def plan(row: CampaignRow, members: list[Member]) -> FeedPlan:
            engagement = self._engagement(members) if uses_engagement(segment) else {}
            ctx = FeedContext(lane.purpose, from_domain, feedback, segment, engagement, now)
            return plan_feed(members, ctx)

        fed = self.store.feed(campaign.id, limit, now, now + lane.max_age, plan)
        return 0 if fed is None else fed.queued

    def _engagement(self, members: list[Member]) -> dict[int, dict[str, float]]:
        ids = [m.contact_id for m in members]
        out: dict[int, dict[str, float]] = {i: {} for i in ids}
        for cid, (opened, clicked) in self.tracking.last_engagement(ids).items():
            if opened is not None:
                out[cid]["opened"] = opened
            if clicked is not None:
                out[cid]["clicked"] = clicked
        for cid, at in self.store.last_sent(ids).items():
            out[cid]["sent"] = at
        return out

    def _segment(self, campaign: CampaignRow) -> segments.Segment | None:
        if campaign.id not in self._segments:
            text = campaign.segment
            self._segments[campaign.id] = segments.parse(text) if text else None
        return self._segments[campaign.id]

    def _guard(self, campaign: CampaignRow, now: float, *, force: bool = False) -> bool:
        """True when the campaign paused itself now."""
        if not force and now < self._guarded.get(campaign.id, 0.0):
            return False
        self._guarded[campaign.id] = now + GUARD_EVERY
        reason = pause_reason(self.store.tally(campaign), self.config.campaigns.rules())
        if reason is None:
            return False
        if self.store.pause_id(campaign.id, reason, now):
            log.warning("campaign %s paused itself: %s", campaign.name, reason)
        return True
