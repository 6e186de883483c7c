"""[campaigns]: when a running campaign pauses itself, and how fast it is fed.

Every default is named in relaylane.campaigns.guard and relaylane.campaigns.feeding and
documented in docs/campaigns.md.
"""

from __future__ import annotations

from pydantic import Field, StrictInt

from relaylane.campaigns.guard import GuardRules
from relaylane.config.base import Model
from relaylane.config.health import Share

DEFAULTS = GuardRules()
DEFAULT_FEED_BATCH = 500  # contacts looked at per feeding transaction
DEFAULT_FEED_AHEAD = 2000  # queue at most this many of a lane's deliveries ahead of sending


class CampaignsConfig(Model):
    """[campaigns] (see docs/campaigns.md)."""

    hard_bounce_rate: Share = DEFAULTS.hard_bounce_rate
    complaint_rate: Share = DEFAULTS.complaint_rate
    min_deliveries: StrictInt = Field(default=DEFAULTS.min_deliveries, ge=1)
    feed_batch: StrictInt = Field(default=DEFAULT_FEED_BATCH, ge=1, le=10000)
    feed_ahead: StrictInt = Field(default=DEFAULT_FEED_AHEAD, ge=1)

    def rules(self) -> GuardRules:
        return GuardRules(self.hard_bounce_rate, self.complaint_rate, self.min_deliveries)
