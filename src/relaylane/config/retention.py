"""[retention]: how long each kind of history is kept, and how `serve` prunes.

Every default is named here and documented in docs/configuration.md and
docs/operations.md ("Retention"). What is never pruned, whatever these say: anything a
live (not final) delivery still needs, the evidence a suppression entry points to, and
suppression entries themselves unless they carry an expiry that has passed.
"""

from __future__ import annotations

from pydantic import Field, StrictInt

from relaylane.config.base import Model
from relaylane.config.durations import Duration

DAY = 86_400.0
DEFAULT_BODIES = 7 * DAY  # a message's body, after its last delivery became final
DEFAULT_ATTEMPTS = 90 * DAY  # attempts and feedback rows of final deliveries
DEFAULT_TRACKING = 180 * DAY  # opens and clicks (tracking_events)
DEFAULT_METRICS = 400 * DAY  # metric buckets (hour rows; minute rows roll up after 2 days)
DEFAULT_BATCH = 500  # rows per prune transaction
DEFAULT_INTERVAL = 300.0  # serve prunes this often; 0: never automatically


class RetentionConfig(Model):
    """[retention] (see docs/operations.md#retention)."""

    bodies: Duration = Field(default=DEFAULT_BODIES, gt=0)
    attempts: Duration = Field(default=DEFAULT_ATTEMPTS, gt=0)
    tracking: Duration = Field(default=DEFAULT_TRACKING, gt=0)
    metrics: Duration = Field(default=DEFAULT_METRICS, gt=0)
    batch: StrictInt = Field(default=DEFAULT_BATCH, ge=1, le=10_000)
    interval: Duration = Field(default=DEFAULT_INTERVAL, ge=0)
