"""Complaint rates per lane from the ledger (SQLAlchemy Core over the store's tables).

A lane's rate: its deliveries sent in the window (`sent_at` within it) that drew a
complaint (a `feedback` row with event "complained"; several about one delivery count
once), over its deliveries sent in the window that are still sent or delivered. Only
complaints that reach relaylane count: feedback loops (ARF) and provider webhooks. Gmail
reports complaints only in Postmaster Tools, so its share is missing here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa

from relaylane.doctor.report import Check, failed, passed, warned
from relaylane.policy.vocabulary import DeliveryState
from relaylane.store.engine import reading
from relaylane.store.schema import deliveries, feedback

WINDOW = 30 * 86_400.0
WARN_AT = 0.001  # 0.1 %
FAIL_AT = 0.003  # 0.3 %
_SENT = (DeliveryState.SENT.value, DeliveryState.DELIVERED.value)
_SCOPE = "feedback-loop and provider complaints only; Gmail reports its own in Postmaster Tools"


@dataclass(frozen=True, slots=True)
class LaneRate:
    lane: str
    sent: int
    complaints: int

    @property
    def rate(self) -> float:
        return self.complaints / self.sent if self.sent else 0.0


def complaint_rates(
    engine: sa.Engine, lanes: Iterable[str], now: float, window: float = WINDOW
) -> dict[str, LaneRate]:
    """Sent deliveries and complained-about deliveries per lane in the last `window`."""
    names = list(lanes)
    since = now - window
    recent = sa.and_(deliveries.c.lane.in_(names), deliveries.c.sent_at >= since)
    sent_q = (
        sa.select(deliveries.c.lane, sa.func.count())
        .where(recent, deliveries.c.state.in_(_SENT))
        .group_by(deliveries.c.lane)
    )
    complained_q = (
        sa.select(deliveries.c.lane, sa.func.count(sa.distinct(deliveries.c.id)))
        .select_from(deliveries.join(feedback, feedback.c.delivery_id == deliveries.c.id))
        .where(recent, feedback.c.event == "complained")
        .group_by(deliveries.c.lane)
    )
    with reading(engine) as conn:
        sent = {str(lane): int(n) for lane, n in conn.execute(sent_q)}
        complained = {str(lane): int(n) for lane, n in conn.execute(complained_q)}
    return {n: LaneRate(n, sent.get(n, 0), complained.get(n, 0)) for n in names}


def rate_check(rate: LaneRate) -> Check:
    subject, name = f"lane {rate.lane}", "complaint rate"
    if rate.sent == 0:
        return passed(subject, name, "no mail sent in 30 days")
    facts = (
        f"{rate.complaints} complaints / {rate.sent} sent in 30 days = {rate.rate:.2%} ({_SCOPE})"
    )
    fix = (
        "send only to people who asked for this mail, make unsubscribing easy, and check "
        "Gmail's rate in Postmaster Tools"
    )
    if rate.rate >= FAIL_AT:
        return failed(subject, name, f"{facts}; at or over {FAIL_AT:.1%}", fix)
    if rate.rate >= WARN_AT:
        return warned(subject, name, f"{facts}; at or over {WARN_AT:.1%}", fix)
    return passed(subject, name, facts)
