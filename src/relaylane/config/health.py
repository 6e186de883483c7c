"""[health]: when a relay (or relay x provider) path is degraded, paused and probed.

Every default is named in relaylane.policy.health.HealthRules and documented in
docs/configuration.md and docs/health.md.
"""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import BeforeValidator, Field, StrictInt, model_validator

from relaylane.config.base import Model, problem
from relaylane.config.durations import Duration
from relaylane.policy.health import HealthRules

DEFAULTS = HealthRules()
DEFAULT_COMPLAINT_PROVIDERS = ("yahoo", "microsoft")  # providers with per-message FBLs


def _share(value: object) -> object:
    """A share: 0.02, or the same written "2%"."""
    if isinstance(value, str) and value.strip().endswith("%"):
        try:
            return float(value.strip()[:-1]) / 100
        except ValueError:
            raise problem(f'{value!r} is not a percentage; write it like "2%" or 0.02') from None
    return value


Share = Annotated[float, BeforeValidator(_share), Field(gt=0, lt=1)]


class HealthConfig(Model):
    """[health]: the thresholds of the per-path control loop (see docs/health.md)."""

    window: Duration = Field(default=DEFAULTS.window, gt=0)
    block_rate: Share = DEFAULTS.block_rate
    block_min_attempts: StrictInt = Field(default=DEFAULTS.block_min_attempts, ge=1)
    deferral_rate: Share = DEFAULTS.deferral_rate
    deferral_min_attempts: StrictInt = Field(default=DEFAULTS.deferral_min_attempts, ge=1)
    recover_below: Share = DEFAULTS.recover_below
    infrastructure_failures: StrictInt = Field(default=DEFAULTS.infrastructure_failures, ge=1)
    complaint_review_rate: Share = DEFAULTS.complaint_review_rate
    complaint_pause_rate: Share = DEFAULTS.complaint_pause_rate
    complaint_min_deliveries: StrictInt = Field(default=DEFAULTS.complaint_min_deliveries, ge=1)
    complaint_window: Duration = Field(default=DEFAULTS.complaint_window, ge=86400, le=7 * 86400)
    complaint_providers: tuple[str, ...] = DEFAULT_COMPLAINT_PROVIDERS
    infrastructure_cool_down: Duration = Field(default=DEFAULTS.infrastructure_cool_down, gt=0)
    reputation_cool_down: Duration = Field(default=DEFAULTS.reputation_cool_down, gt=0)
    max_cool_down: Duration = Field(default=DEFAULTS.max_cool_down, gt=0)
    canary: StrictInt = Field(default=DEFAULTS.canary, ge=1, le=1000)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.complaint_review_rate >= self.complaint_pause_rate:
            raise problem(
                "complaint_review_rate must be below complaint_pause_rate (defaults 0.1% and "
                "0.5%); lower the first or raise the second"
            )
        longest = max(self.infrastructure_cool_down, self.reputation_cool_down)
        if self.max_cool_down < longest:
            raise problem(
                f"max_cool_down ({self.max_cool_down:g}s) is shorter than a first cool-down "
                f"({longest:g}s); raise max_cool_down"
            )
        return self

    def rules(self) -> HealthRules:
        return HealthRules(
            window=self.window,
            block_rate=self.block_rate,
            block_min_attempts=self.block_min_attempts,
            deferral_rate=self.deferral_rate,
            deferral_min_attempts=self.deferral_min_attempts,
            recover_below=self.recover_below,
            infrastructure_failures=self.infrastructure_failures,
            complaint_review_rate=self.complaint_review_rate,
            complaint_pause_rate=self.complaint_pause_rate,
            complaint_min_deliveries=self.complaint_min_deliveries,
            complaint_window=self.complaint_window,
            infrastructure_cool_down=self.infrastructure_cool_down,
            reputation_cool_down=self.reputation_cool_down,
            max_cool_down=self.max_cool_down,
            canary=self.canary,
        )
