"""The life of a campaign, as a closed vocabulary."""

from __future__ import annotations

from enum import StrEnum


class CampaignState(StrEnum):
    """Where a campaign stands. Only `running` campaigns are fed to the queue."""

    DRAFT = "draft"  # created; `campaign test` may send proofs; nothing queued
    RUNNING = "running"  # its contacts are being queued and sent
    PAUSED = "paused"  # by an operator or by itself (the reason is kept); nothing is sent
    CANCELLED = "cancelled"  # stopped for good; what was not sent never will be
    FINISHED = "finished"  # every contact was queued and every delivery is final

    @property
    def is_final(self) -> bool:
        return self in (CampaignState.CANCELLED, CampaignState.FINISHED)


class CampaignStrategy(StrEnum):
    """How a campaign spreads over its lane's relays (never at random)."""

    STICKY = "sticky"  # the default: each mailbox provider sees one relay all campaign long
    FAILOVER = "failover"  # the lane's first usable relay
    WEIGHTED = "weighted"  # by the lane's weights; only across relays of one sending identity
