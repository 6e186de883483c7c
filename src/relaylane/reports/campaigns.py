"""Campaigns as `relaylane campaign status --json` prints them and the dashboard's
campaigns pages show them: state and reason, progress overall, per relay and per
provider, engagement with its rates, the recent rate and the estimated finish from the
pacing forecast of `relaylane plan`.

`status_report` is the whole of `campaign status --json`; `campaigns_report` is that
document for every campaign, oldest first; `list_report` is `campaign list --json`.
"""

from __future__ import annotations

from typing import Any

from relaylane.campaigns.report import Forecaster, Progress, progress
from relaylane.config.models import Config, LaneConfig
from relaylane.reports.plan import make_plan
from relaylane.store import Store
from relaylane.store.campaigns import CampaignRow

__all__ = [
    "campaigns_report",
    "list_report",
    "plan_forecaster",
    "report_of",
    "status_progress",
    "status_report",
]


def plan_forecaster(config: Config, store: Store) -> Forecaster:
    """The estimate `relaylane plan` would give for what is left of a campaign."""

    def forecast(
        lane: LaneConfig, count: int, split: dict[str, float], domain: str, now: float
    ) -> tuple[float | None, str]:
        plan = make_plan(config, lane, count, split, now, store, now, domain)
        return plan.forecast.finish_time, plan.binding or ""

    return forecast


def status_progress(config: Config, store: Store, name: str, now: float) -> Progress:
    """The campaign's progress with its estimated finish (what `campaign status` shows)."""
    return progress(config, store, name, now, plan_forecaster(config, store))


def status_report(config: Config, store: Store, name: str, now: float) -> dict[str, Any]:
    """`campaign status NAME --json`."""
    return report_of(store, status_progress(config, store, name, now))


def report_of(store: Store, p: Progress) -> dict[str, Any]:
    """A progress as a JSON-ready document: `Progress.as_json` plus the campaign's id,
    when it was created and last changed state, how many were sent (sent or delivered),
    and the engagement's complaints, hard bounces and rates.

    Rates: opened, clicked and unsubscribed over the sent; complaints and bounces over
    the deliveries a relay gave a verdict on (sent and bounced), as the auto-pause guard
    counts them (`campaigns.guard`). None where there is nothing to divide by."""
    c = p.campaign
    out = p.as_json()
    sent = p.totals["sent"] + p.totals["delivered"]
    bounced = p.totals["bounced"]
    judged = sent + bounced
    complaints = store.campaigns.tally(c).complaints
    engagement: dict[str, Any] = {**p.engagement, "complaints": complaints, "bounced": bounced}
    engagement["rates"] = {
        "opened": _rate(p.engagement["opened"], sent),
        "clicked": _rate(p.engagement["clicked"], sent),
        "unsubscribed": _rate(p.engagement["unsubscribed"], sent),
        "complaints": _rate(complaints, judged),
        "bounced": _rate(bounced, judged),
    }
    out.update(
        id=c.id,
        created_at=c.created_at,
        changed_at=c.changed_at,
        sent=sent,
        engagement=engagement,
    )
    return out


def campaigns_report(config: Config, store: Store, now: float) -> list[dict[str, Any]]:
    """`status_report` of every campaign, oldest first (the dashboard's list)."""
    forecast = plan_forecaster(config, store)
    return [
        report_of(store, progress(config, store, row.name, now, forecast))
        for row in store.campaigns.all()
    ]


def list_report(rows: list[CampaignRow]) -> list[dict[str, Any]]:
    """`campaign list --json`."""
    return [
        {
            "name": r.name,
            "state": r.state.value,
            "reason": r.reason,
            "list": r.list_name,
            "lane": r.lane,
            "audience": r.audience,
            "fed": r.fed,
            "created_at": r.created_at,
        }
        for r in rows
    ]


def _rate(count: int, total: int) -> float | None:
    return count / total if total else None
