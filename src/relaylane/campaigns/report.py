"""A campaign's progress, per relay and provider, with an estimated finish."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from relaylane.campaigns.states import CampaignState
from relaylane.config.models import Config, LaneConfig
from relaylane.delivery.pacer import DEFAULT_PROVIDER
from relaylane.policy.vocabulary import DeliveryState
from relaylane.store import Store
from relaylane.store.campaigns import CampaignRow

COLUMNS = (
    "queued",
    "sent",
    "delivered",
    "deferred",
    "blocked",
    "bounced",
    "failed",
    "suppressed",
    "cancelled",
)
_COLUMN_OF = {
    DeliveryState.QUEUED.value: "queued",
    DeliveryState.HELD.value: "queued",
    DeliveryState.SENDING.value: "queued",
    DeliveryState.SENT.value: "sent",
    DeliveryState.DELIVERED.value: "delivered",
    DeliveryState.DEFERRED.value: "deferred",
    DeliveryState.BLOCKED.value: "blocked",
    DeliveryState.BOUNCED.value: "bounced",
    DeliveryState.FAILED.value: "failed",
    DeliveryState.SUPPRESSED.value: "suppressed",
    DeliveryState.CANCELLED.value: "cancelled",
}
RATE_WINDOW = 600.0  # seconds of recent sending the rate estimate looks at


@dataclass
class Progress:
    campaign: CampaignRow
    totals: dict[str, int]
    by_relay: dict[str, dict[str, int]]
    by_provider: dict[str, dict[str, int]]
    provider_relays: dict[str, list[str]]  # provider -> relays that sent to it
    engagement: dict[str, int]
    remaining: int
    rate_per_hour: float
    finish_at: float | None
    notes: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        c = self.campaign
        return {
            "name": c.name,
            "state": c.state.value,
            "reason": c.reason,
            "list": c.list_name,
            "segment": c.segment,
            "template": c.template,
            "template_version": c.template_version,
            "lane": c.lane,
            "from": c.from_header,
            "reply_to": c.reply_to,
            "strategy": c.strategy,
            "audience": c.audience,
            "fed": c.fed,
            "skipped": c.skipped,
            "started_at": c.started_at,
            "finished_at": c.finished_at,
            "totals": self.totals,
            "by_relay": self.by_relay,
            "by_provider": self.by_provider,
            "provider_relays": self.provider_relays,
            "engagement": self.engagement,
            "remaining": self.remaining,
            "rate_per_hour": round(self.rate_per_hour, 1),
            "finish_at": self.finish_at,
            "notes": self.notes,
        }


# (lane, deliveries, provider split, From domain, now) -> (finish time, what binds it)
Forecaster = Callable[[LaneConfig, int, dict[str, float], str, float], tuple[float | None, str]]


def progress(
    config: Config, store: Store, name: str, now: float, forecast: Forecaster | None = None
) -> Progress:
    """The campaign's counts; with `forecast` (the pacing forecast of `relaylane plan`),
    an estimated finish too."""
    campaign = store.campaigns.get(name)
    totals = dict.fromkeys(COLUMNS, 0)
    by_relay: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COLUMNS, 0))
    by_provider: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(COLUMNS, 0))
    pairs: dict[str, set[str]] = defaultdict(set)
    for row in store.campaigns.status_rows(campaign.id):
        column = _COLUMN_OF.get(row.state, "queued")
        totals[column] += row.count
        if row.relay is not None:
            by_relay[row.relay][column] += row.count
        provider = row.provider or "(not yet routed)"
        by_provider[provider][column] += row.count
        if row.relay is not None and row.provider is not None and column != "queued":
            pairs[row.provider].add(row.relay)
    tracked = store.tracking.campaign_counts(campaign.id)
    engagement = {
        "opened": tracked["unique_opens"], "opens": tracked["opens"],
        "clicked": tracked["unique_clicks"], "clicks": tracked["clicks"],
        "unsubscribed": store.campaigns.unsubscribed(campaign.id),
    }  # fmt: skip
    waiting = totals["queued"] + totals["deferred"] + totals["blocked"]
    unfed = 0 if campaign.exhausted else max(0, campaign.audience - campaign.fed - campaign.skipped)
    remaining = waiting + unfed if not campaign.state.is_final else 0
    recent = store.campaigns.sent_in_last(campaign.id, now - RATE_WINDOW)
    rate = recent * 3600.0 / RATE_WINDOW
    split = {p: float(sum(c.values())) for p, c in by_provider.items() if p in config.providers()}
    finish, notes = (
        _finish(config, campaign, remaining, split, now, forecast) if forecast else (None, [])
    )
    return Progress(
        campaign,
        totals,
        dict(by_relay),
        dict(by_provider),
        {p: sorted(r) for p, r in pairs.items()},
        engagement,
        remaining,
        rate,
        finish,
        notes,
    )


def _finish(
    config: Config,
    campaign: CampaignRow,
    remaining: int,
    by_provider: dict[str, float],
    now: float,
    forecast: Forecaster,
) -> tuple[float | None, list[str]]:
    """When the rest should be sent: the pacing forecast (`relaylane plan`) for what is
    left, split across providers as the campaign's deliveries so far, never sooner than
    its max-per-hour allows."""
    notes: list[str] = []
    if campaign.state is not CampaignState.RUNNING or remaining == 0:
        return None, notes
    lane = config.lane_by_name(campaign.lane)
    domain = campaign.from_header.rpartition("@")[2].rstrip(">").strip().lower()
    total = sum(by_provider.values())
    split = {p: n / total for p, n in by_provider.items()} if total else {DEFAULT_PROVIDER: 1.0}
    finish, binding = forecast(lane, remaining, split, domain, now)
    if campaign.max_per_hour:
        floor = now + remaining / campaign.max_per_hour * 3600.0
        finish = None if finish is None else max(finish, floor)
    if finish is None:
        notes.append(binding or "the pacing forecast does not finish within its horizon")
    return finish, notes
