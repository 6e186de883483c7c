"""Campaigns at rest: their rows, their state changes and feeding their contacts to the queue.

Every state change is one transaction that also moves the campaign's waiting deliveries:
pausing holds them (state `held`, no due time: never claimed), resuming makes them due,
cancelling cancels them. Deliveries a worker holds at that moment finish as they would.

Feeding (`feed`) looks at the next list members after the campaign's cursor, in contact-id
order, and inserts one delivery per member the caller's plan accepts, advancing the
cursor in the same transaction with a compare-and-set: two feeders never feed the same
contacts, a crash loses nothing, and the unique index on (campaign_id, contact_id) makes
"one delivery per contact per campaign" a fact of the schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sqlalchemy as sa

from relaylane.campaigns.guard import CampaignTally
from relaylane.campaigns.states import CampaignState
from relaylane.errors import InputError, NotFoundError
from relaylane.policy.suppression import address_key
from relaylane.policy.vocabulary import (
    ADDRESS_LEVEL_CLASSES,
    RELAY_LEVEL_CLASSES,
    BounceClass,
    DeliveryState,
)
from relaylane.store.contacts import MemberStatus
from relaylane.store.engine import reading
from relaylane.store.queue_control import not_operator_held
from relaylane.store.schema import (
    campaigns,
    contacts,
    deliveries,
    feedback,
    list_members,
    lists,
    messages,
)

C = campaigns.c
D = deliveries.c
WAITING = (
    DeliveryState.QUEUED.value,
    DeliveryState.DEFERRED.value,
    DeliveryState.BLOCKED.value,
    DeliveryState.HELD.value,
)
NOT_FINAL = (*WAITING, DeliveryState.SENDING.value)
# failed for these reasons, a contact is never sent again by retry-failed
_NEVER_RETRIED = {c.value for c in ADDRESS_LEVEL_CLASSES | RELAY_LEVEL_CLASSES} | {
    BounceClass.RENDER_ERROR.value,
    BounceClass.SPAM_CONTENT.value,
}


class CampaignNotFound(NotFoundError):
    def __init__(self, name: str, known: Sequence[str]) -> None:
        listed = ", ".join(known[:10]) or "none yet"
        super().__init__(
            f'no campaign named "{name}" (campaigns: {listed}); create it with '
            "`relaylane campaign create`"
        )


@dataclass(frozen=True, slots=True)
class NewCampaign:
    name: str
    list_name: str
    segment: str | None
    template: str
    lane: str
    from_header: str
    reply_to: str | None
    strategy: str
    send_window: str | None
    not_before: float | None
    max_per_hour: int | None
    tracking: bool | None


@dataclass(frozen=True, slots=True)
class CampaignRow:
    id: int
    name: str
    list_id: int
    list_name: str
    segment: str | None
    template: str
    template_version: int | None
    lane: str
    from_header: str
    reply_to: str | None
    strategy: str
    send_window: str | None
    not_before: float | None
    max_per_hour: int | None
    tracking: bool | None
    state: CampaignState
    reason: str | None
    changed_at: float | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    message_id: int | None
    cursor: int
    fed: int
    skipped: int
    hour_start: float | None
    hour_fed: int
    audience: int
    last_contact: int

    @property
    def exhausted(self) -> bool:
        """Every member of the audience has been looked at."""
        return self.started_at is not None and self.cursor >= self.last_contact


@dataclass(frozen=True, slots=True)
class Member:
    """A list member the feeder looks at."""

    contact_id: int
    email: str
    attributes: dict[str, object]
    subscribed_at: float | None


@dataclass(frozen=True, slots=True)
class FedDelivery:
    """A delivery the feeder's plan makes for one member."""

    contact_id: int
    recipient: str
    header_message_id: str
    header_prefix: bytes
    state: DeliveryState = DeliveryState.QUEUED  # or SUPPRESSED (with `note`)
    note: str | None = None


@dataclass(frozen=True, slots=True)
class FeedPlan:
    rows: list[FedDelivery]
    skipped: int  # members the segment left out


@dataclass(frozen=True, slots=True)
class Fed:
    queued: int
    suppressed: int
    skipped: int
    exhausted: bool


@dataclass(frozen=True, slots=True)
class Stopped:
    cancelled: bool  # else paused
    since: float  # when it was paused or cancelled


@dataclass(frozen=True, slots=True)
class StatusRow:
    relay: str | None
    provider: str | None
    state: str
    count: int


_ROW_COLUMNS = (*[c for c in campaigns.c], lists.c.name.label("list_name"))


class SqlCampaigns:
    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    # -- definitions ------------------------------------------------------------------
    def create(self, new: NewCampaign, now: float) -> int:
        with self.engine.begin() as conn:
            list_id = conn.execute(
                sa.select(lists.c.id).where(lists.c.name == new.list_name)
            ).scalar()
            if list_id is None:
                known = conn.execute(sa.select(lists.c.name).order_by(lists.c.name)).scalars()
                raise InputError(
                    "--list",
                    f'no list named "{new.list_name}" (lists: {", ".join(known) or "none"})',
                    "import contacts into it first: relaylane contacts import FILE.csv --list "
                    f"{new.list_name}",
                )
            if conn.execute(sa.select(C.id).where(C.name == new.name)).first() is not None:
                raise InputError(
                    "--name",
                    f'a campaign named "{new.name}" already exists',
                    "pick another name (names stay unique so reports never mix campaigns)",
                )
            return int(
                conn.execute(
                    campaigns.insert()
                    .values(
                        name=new.name,
                        list_id=list_id,
                        segment=new.segment,
                        template=new.template,
                        lane=new.lane,
                        from_header=new.from_header,
                        reply_to=new.reply_to,
                        strategy=new.strategy,
                        send_window=new.send_window,
                        not_before=new.not_before,
                        max_per_hour=new.max_per_hour,
                        tracking=new.tracking,
                        state=CampaignState.DRAFT.value,
                        created_at=now,
                    )
                    .returning(C.id)
                ).scalar_one()
            )

    def get(self, name: str) -> CampaignRow:
        with reading(self.engine) as conn:
            row = conn.execute(_select().where(C.name == name)).first()
            if row is None:
                known = list(conn.execute(sa.select(C.name).order_by(C.name)).scalars())
                raise CampaignNotFound(name, known)
        return _row(row)

    def by_id(self, campaign_id: int) -> CampaignRow | None:
        with reading(self.engine) as conn:
            row = conn.execute(_select().where(C.id == campaign_id)).first()
        return None if row is None else _row(row)

    def all(self) -> list[CampaignRow]:
        with reading(self.engine) as conn:
            return [_row(r) for r in conn.execute(_select().order_by(C.id))]

    def running(self) -> list[CampaignRow]:
        with reading(self.engine) as conn:
            stmt = _select().where(C.state == CampaignState.RUNNING.value).order_by(C.id)
            return [_row(r) for r in conn.execute(stmt)]

    def stopped(self) -> dict[int, Stopped]:
        """Paused and cancelled campaigns: a worker holding one of their deliveries,
        claimed before the change, sends it back instead of out."""
        states = (CampaignState.PAUSED.value, CampaignState.CANCELLED.value)
        stmt = sa.select(C.id, C.state, C.changed_at).where(C.state.in_(states))
        with reading(self.engine) as conn:
            return {
                cid: Stopped(state == CampaignState.CANCELLED.value, changed or 0.0)
                for cid, state, changed in conn.execute(stmt)
            }

    def members(self, list_id: int, limit: int, after: int = 0) -> list[Member]:
        """Subscribed members in contact-id order (samples for validation, proofs)."""
        with reading(self.engine) as conn:
            return _members(conn, list_id, after, None, limit)

    def audience(self, list_id: int) -> tuple[int, int]:
        """(subscribed members, highest contact id among them) of a list now."""
        m = list_members.c
        stmt = sa.select(sa.func.count(), sa.func.max(m.contact_id)).where(
            m.list_id == list_id, m.status == MemberStatus.SUBSCRIBED
        )
        with reading(self.engine) as conn:
            count, last = conn.execute(stmt).one()
        return int(count), int(last or 0)

    # -- state changes ----------------------------------------------------------------
    def start(
        self,
        campaign: CampaignRow,
        template_version: int,
        message: dict[str, object],
        now: float,
    ) -> None:
        """draft -> running: store the shared message (the campaign's spec) and fix the
        audience (the list's subscribed members now; later members are not mailed)."""
        audience, last = self.audience(campaign.list_id)
        with self.engine.begin() as conn:
            message_id = conn.execute(
                messages.insert().values(**message).returning(messages.c.id)
            ).scalar_one()
            done = conn.execute(
                campaigns.update()
                .where(C.id == campaign.id, C.state == CampaignState.DRAFT.value)
                .values(
                    state=CampaignState.RUNNING.value,
                    reason=None,
                    started_at=now,
                    template_version=template_version,
                    message_id=message_id,
                    audience=audience,
                    last_contact=last,
                    cursor=0,
                )
            ).rowcount
            if done != 1:
                raise _not_in(conn, campaign.name, "start", (CampaignState.DRAFT,))

    def pause(self, name: str, reason: str, now: float) -> int:
        """running -> paused; its waiting deliveries are held. Returns how many."""
        with self.engine.begin() as conn:
            cid = _change(
                conn, name, "pause", (CampaignState.RUNNING,), CampaignState.PAUSED, reason, now
            )
            return _hold(conn, cid, now)

    def pause_id(self, campaign_id: int, reason: str, now: float) -> bool:
        """The guard's pause: only a campaign still running; False when it no longer was."""
        with self.engine.begin() as conn:
            done = conn.execute(
                campaigns.update()
                .where(C.id == campaign_id, C.state == CampaignState.RUNNING.value)
                .values(state=CampaignState.PAUSED.value, reason=reason, changed_at=now)
            ).rowcount
            if done == 1:
                _hold(conn, campaign_id, now)
            return bool(done == 1)

    def resume(self, name: str, now: float) -> int:
        """paused -> running; its held deliveries are due now. Returns how many."""
        with self.engine.begin() as conn:
            cid = _change(
                conn, name, "resume", (CampaignState.PAUSED,), CampaignState.RUNNING, None, now
            )
            return int(
                conn.execute(
                    deliveries.update()
                    .where(
                        D.campaign_id == cid,
                        D.state == DeliveryState.HELD.value,
                        D.due_at.is_(None),
                        not_operator_held(),  # only the operator releases those
                    )
                    .values(state=DeliveryState.QUEUED.value, due_at=now, updated_at=now)
                ).rowcount
            )

    def release_held(self, campaign_id: int, now: float) -> int:
        """Make the held deliveries of a running campaign due (see feeding.SETTLE)."""
        with self.engine.begin() as conn:
            return int(
                conn.execute(
                    deliveries.update()
                    .where(
                        D.campaign_id == campaign_id,
                        D.state == DeliveryState.HELD.value,
                        D.due_at.is_(None),
                        not_operator_held(),
                        sa.exists().where(
                            C.id == campaign_id, C.state == CampaignState.RUNNING.value
                        ),
                    )
                    .values(state=DeliveryState.QUEUED.value, due_at=now, updated_at=now)
                ).rowcount
            )

    def cancel(self, name: str, now: float, reason: str = "cancelled by an operator") -> int:
        """draft, running or paused -> cancelled; waiting deliveries are cancelled."""
        states = (CampaignState.DRAFT, CampaignState.RUNNING, CampaignState.PAUSED)
        with self.engine.begin() as conn:
            cid = _change(
                conn,
                name,
                "cancel",
                states,
                CampaignState.CANCELLED,
                reason,
                now,
            )
            conn.execute(campaigns.update().where(C.id == cid).values(finished_at=now))
            return int(
                conn.execute(
                    deliveries.update()
                    .where(D.campaign_id == cid, D.state.in_(WAITING))
                    .values(
                        state=DeliveryState.CANCELLED.value,
                        due_at=None,
                        updated_at=now,
                        last_reply="cancelled with its campaign",
                    )
                ).rowcount
            )

    def retry_failed(self, name: str, now: float, max_age: float) -> int:
        """Queue again the deliveries that `failed` for a reason that is neither the
        address's nor the path's (expired, relay errors); never sent, delivered,
        suppressed, bounced or blocked ones. A finished campaign runs again."""
        with self.engine.begin() as conn:
            row = conn.execute(_select().where(C.name == name)).first()
            if row is None:
                known = list(conn.execute(sa.select(C.name).order_by(C.name)).scalars())
                raise CampaignNotFound(name, known)
            campaign = _row(row)
            if campaign.state in (CampaignState.DRAFT, CampaignState.CANCELLED):
                raise InputError(
                    "campaign",
                    f'campaign "{name}" is {campaign.state.value}: there is nothing to retry',
                    "retry-failed applies to running, paused or finished campaigns",
                )
            state = DeliveryState.QUEUED if campaign.state is not CampaignState.PAUSED else None
            values: dict[str, object] = {
                "state": (state or DeliveryState.HELD).value,
                "due_at": now if state else None,
                "expires_at": now + max_age,
                "retries": 0,
                "relay": None,
                "pinned": False,
                "updated_at": now,
            }
            count = conn.execute(
                deliveries.update()
                .where(
                    D.campaign_id == campaign.id,
                    D.state == DeliveryState.FAILED.value,
                    sa.or_(D.bounce_class.is_(None), D.bounce_class.not_in(_NEVER_RETRIED)),
                )
                .values(**values)
            ).rowcount
            if count and campaign.state is CampaignState.FINISHED:
                conn.execute(
                    campaigns.update()
                    .where(C.id == campaign.id)
                    .values(state=CampaignState.RUNNING.value, finished_at=None, reason=None)
                )
            return int(count)

    def finish_if_done(self, campaign_id: int, now: float) -> bool:
        """running and exhausted, with no delivery left to send -> finished."""
        with self.engine.begin() as conn:
            left = conn.execute(
                sa.select(D.id).where(D.campaign_id == campaign_id, D.state.in_(NOT_FINAL)).limit(1)
            ).first()
            if left is not None:
                return False
            done = conn.execute(
                campaigns.update()
                .where(
                    C.id == campaign_id,
                    C.state == CampaignState.RUNNING.value,
                    C.cursor >= C.last_contact,
                )
                .values(state=CampaignState.FINISHED.value, finished_at=now)
            ).rowcount
            return bool(done == 1)

    # -- feeding ------------------------------------------------------------------------
    def lane_backlog(self, lane: str) -> int:
        """Deliveries of a lane waiting to be claimed (one index range scan)."""
        stmt = sa.select(sa.func.count()).where(D.lane == lane, D.due_at.is_not(None))
        with reading(self.engine) as conn:
            return int(conn.execute(stmt).scalar_one())

    def feed(
        self,
        campaign_id: int,
        limit: int,
        now: float,
        expires_at: float,
        plan: Callable[[CampaignRow, list[Member]], FeedPlan],
    ) -> Fed | None:
        """Queue deliveries for up to `limit` more members; None when the campaign is not
        running (or another feeder moved its cursor first: try again later)."""
        with self.engine.begin() as conn:
            row = conn.execute(_select().where(C.id == campaign_id)).first()
            if row is None:
                return None
            campaign = _row(row)
            if campaign.state is not CampaignState.RUNNING or campaign.message_id is None:
                return None
            members = _members(
                conn, campaign.list_id, campaign.cursor, campaign.last_contact, limit
            )
            made = plan(campaign, members) if members else FeedPlan([], 0)
            exhausted = len(members) < limit
            cursor = campaign.last_contact if exhausted else members[-1].contact_id
            hour_start, hour_fed = campaign.hour_start, campaign.hour_fed
            if hour_start is None or now - hour_start >= 3600:
                hour_start, hour_fed = now, 0
            queued = sum(1 for r in made.rows if r.state is DeliveryState.QUEUED)
            moved = conn.execute(
                campaigns.update()
                .where(C.id == campaign.id, C.cursor == campaign.cursor)
                .values(
                    cursor=cursor,
                    fed=C.fed + queued,
                    skipped=C.skipped + made.skipped,
                    hour_start=hour_start,
                    hour_fed=hour_fed + queued,
                )
            ).rowcount
            if moved != 1:
                return None
            if made.rows:
                conn.execute(
                    deliveries.insert(),
                    [_delivery_row(campaign, r, now, expires_at) for r in made.rows],
                )
            return Fed(queued, len(made.rows) - queued, made.skipped, exhausted)

    def last_sent(self, contact_ids: Sequence[int]) -> dict[int, float]:
        """When each contact (that ever was) was last sent a campaign message."""
        if not contact_ids:
            return {}
        stmt = (
            sa.select(D.contact_id, sa.func.max(D.sent_at))
            .where(D.contact_id.in_(list(contact_ids)), D.sent_at.is_not(None))
            .group_by(D.contact_id)
        )
        with reading(self.engine) as conn:
            return {cid: at for cid, at in conn.execute(stmt)}

    # -- reading ------------------------------------------------------------------------
    def tally(self, campaign: CampaignRow) -> CampaignTally:
        """What the guard needs: sent, hard-bounced, complaints, render errors."""
        counts = (
            sa.select(D.state, D.bounce_class, sa.func.count())
            .where(D.campaign_id == campaign.id)
            .group_by(D.state, D.bounce_class)
        )
        f = feedback.c
        complaints = (
            sa.select(sa.func.count())
            .select_from(feedback.join(deliveries, D.id == f.delivery_id))
            .where(
                f.received_at >= (campaign.started_at or 0.0),
                f.event == "complained",
                D.campaign_id == campaign.id,
            )
        )
        sent = bounced = render = 0
        with reading(self.engine) as conn:
            for state, bounce_class, n in conn.execute(counts):
                if state in (DeliveryState.SENT.value, DeliveryState.DELIVERED.value):
                    sent += n
                elif state == DeliveryState.BOUNCED.value:
                    bounced += n
                elif bounce_class == BounceClass.RENDER_ERROR.value:
                    render += n
            complained = int(conn.execute(complaints).scalar_one())
            first = ""
            if render:
                first = (
                    conn.execute(
                        sa.select(D.last_reply)
                        .where(
                            D.campaign_id == campaign.id,
                            D.bounce_class == BounceClass.RENDER_ERROR.value,
                        )
                        .order_by(D.id)
                        .limit(1)
                    ).scalar()
                    or ""
                )
        return CampaignTally(sent, bounced, complained, render, first)

    def status_rows(self, campaign_id: int) -> list[StatusRow]:
        stmt = (
            sa.select(D.relay, D.provider, D.state, sa.func.count())
            .where(D.campaign_id == campaign_id)
            .group_by(D.relay, D.provider, D.state)
        )
        with reading(self.engine) as conn:
            return [StatusRow(*r) for r in conn.execute(stmt)]

    def unsubscribed(self, campaign_id: int) -> int:
        """Recipients who unsubscribed through this campaign's messages."""
        f = feedback.c
        stmt = (
            sa.select(sa.func.count(sa.distinct(f.delivery_id)))
            .select_from(feedback.join(deliveries, D.id == f.delivery_id))
            .where(D.campaign_id == campaign_id, f.event == "unsubscribed")
        )
        with reading(self.engine) as conn:
            return int(conn.execute(stmt).scalar_one())

    def sent_in_last(self, campaign_id: int, since: float) -> int:
        stmt = sa.select(sa.func.count()).where(D.campaign_id == campaign_id, D.sent_at >= since)
        with reading(self.engine) as conn:
            return int(conn.execute(stmt).scalar_one())


def _select() -> sa.Select[tuple[object, ...]]:
    return sa.select(*_ROW_COLUMNS).join(lists, lists.c.id == C.list_id)


def _row(row: sa.Row[tuple[object, ...]]) -> CampaignRow:
    m = row._mapping
    return CampaignRow(
        id=m["id"],
        name=m["name"],
        list_id=m["list_id"],
        list_name=m["list_name"],
        segment=m["segment"],
        template=m["template"],
        template_version=m["template_version"],
        lane=m["lane"],
        from_header=m["from_header"],
        reply_to=m["reply_to"],
        strategy=m["strategy"],
        send_window=m["send_window"],
        not_before=m["not_before"],
        max_per_hour=m["max_per_hour"],
        tracking=m["tracking"],
        state=CampaignState(m["state"]),
        reason=m["reason"],
        changed_at=m["changed_at"],
        created_at=m["created_at"],
        started_at=m["started_at"],
        finished_at=m["finished_at"],
        message_id=m["message_id"],
        cursor=m["cursor"],
        fed=m["fed"],
        skipped=m["skipped"],
        hour_start=m["hour_start"],
        hour_fed=m["hour_fed"],
        audience=m["audience"],
        last_contact=m["last_contact"],
    )


def _members(
    conn: sa.Connection, list_id: int, after: int, up_to: int | None, limit: int
) -> list[Member]:
    m, c = list_members.c, contacts.c
    stmt = (
        sa.select(m.contact_id, c.email, c.attributes, m.subscribed_at)
        .join(contacts, c.id == m.contact_id)
        .where(m.list_id == list_id, m.contact_id > after, m.status == MemberStatus.SUBSCRIBED)
        .order_by(m.contact_id)
        .limit(limit)
    )
    if up_to is not None:
        stmt = stmt.where(m.contact_id <= up_to)
    out = []
    for cid, email, attributes, subscribed_at in conn.execute(stmt):
        try:
            fields = json.loads(attributes or "{}")
        except ValueError:
            fields = {}
        out.append(Member(cid, email, fields if isinstance(fields, dict) else {}, subscribed_at))
    return out


def _delivery_row(
    campaign: CampaignRow, r: FedDelivery, now: float, expires_at: float
) -> dict[str, object]:
    queued = r.state is DeliveryState.QUEUED
    return {
        "message_id": campaign.message_id,
        "lane": campaign.lane,
        "recipient": r.recipient,
        "state": r.state.value,
        "created_at": now,
        "updated_at": now,
        "expires_at": expires_at,
        "due_at": now if queued else None,
        "header_message_id": r.header_message_id,
        "header_prefix": r.header_prefix,
        "recipient_key": address_key(r.recipient),
        "campaign_id": campaign.id,
        "contact_id": r.contact_id,
        "last_reply": r.note,
    }


def _change(
    conn: sa.Connection,
    name: str,
    verb: str,
    allowed: Sequence[CampaignState],
    to: CampaignState,
    reason: str | None,
    now: float,
) -> int:
    """Move a campaign between states (compare-and-set); its id, or a clear error."""
    row = conn.execute(sa.select(C.id, C.state).where(C.name == name)).first()
    if row is None:
        known = list(conn.execute(sa.select(C.name).order_by(C.name)).scalars())
        raise CampaignNotFound(name, known)
    done = conn.execute(
        campaigns.update()
        .where(C.id == row.id, C.state.in_([s.value for s in allowed]))
        .values(state=to.value, reason=reason, changed_at=now)
    ).rowcount
    if done != 1:
        raise _not_in(conn, name, verb, allowed)
    return int(row.id)


def _not_in(
    conn: sa.Connection, name: str, verb: str, allowed: Sequence[CampaignState]
) -> InputError:
    state = conn.execute(sa.select(C.state).where(C.name == name)).scalar()
    wanted = " or ".join(s.value for s in allowed)
    return InputError(
        "campaign",
        f'campaign "{name}" is {state}; only a {wanted} campaign can {verb}',
        "see `relaylane campaign status " + name + "`",
    )


def _hold(conn: sa.Connection, campaign_id: int, now: float) -> int:
    return int(
        conn.execute(
            deliveries.update()
            .where(D.campaign_id == campaign_id, D.state.in_(WAITING))
            .values(state=DeliveryState.HELD.value, due_at=None, updated_at=now)
        ).rowcount
    )
