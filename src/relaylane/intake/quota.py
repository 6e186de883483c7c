"""Message quotas per API key and per SMTP user: the pure part.

A quota counts *messages* accepted (one API message or one SMTP DATA is one message,
however many recipients it has) in the local clock hour and the local calendar day of
`[pacing] timezone`, like relay caps. The count is charged in the same transaction that
commits the messages (`relaylane.store.quotas.charge_in`), so only accepted mail counts.

`decide(used, limit, asked, now, period_end)` is the rule: allowed while
`used + asked <= limit`; otherwise the seconds until the period rolls over.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from datetime import tzinfo

from relaylane.auth.principal import Principal
from relaylane.policy.pacing.caps import Period, period_end, period_start

__all__ = [
    "OverQuota",
    "QuotaAsk",
    "QuotaWindow",
    "check",
    "decide",
    "principal_key",
    "raise_command",
]

ADJECTIVE = {Period.HOUR: "hourly", Period.DAY: "daily"}
# The current hour and day per zone: computing them costs ~70 us, asked per submission.
_WINDOWS: dict[str | tzinfo, tuple[QuotaWindow, QuotaWindow]] = {}


def principal_key(kind: str, name: str) -> str:
    """The principal a count belongs to: "key:<key id>" or "smtp:<user name>"."""
    return f"key:{name}" if kind == "api_key" else f"smtp:{name}"


def raise_command(kind: str, name: str, period: Period) -> str:
    """The command that raises (or lifts) the quota."""
    group = "keys" if kind == "api_key" else "smtp-users"
    flag = "--hourly" if period is Period.HOUR else "--daily"
    return f"relaylane {group} quota {name} {flag} N (or {flag} none)"


def decide(used: int, limit: int | None, asked: int, now: float, end: float) -> float | None:
    """None if `asked` more messages fit (`used + asked <= limit`; no limit: always);
    else the seconds from `now` until the period ends (at least 1)."""
    if limit is None or used + asked <= limit:
        return None
    return max(1.0, float(math.ceil(end - now)))


@dataclass(frozen=True, slots=True)
class QuotaWindow:
    """One period containing the moment of the ask: [start, end)."""

    period: Period
    start: float
    end: float

    @classmethod
    def at(cls, now: float, tz: str | tzinfo, period: Period) -> QuotaWindow:
        return cls(period, period_start(now, tz, period), period_end(now, tz, period))


@dataclass(frozen=True, slots=True)
class QuotaAsk:
    """What a submission asks of its principal's quotas: `count` messages now."""

    kind: str  # "api_key" or "smtp_user"
    name: str  # key id or user name
    now: float
    hour: QuotaWindow
    day: QuotaWindow

    @property
    def principal(self) -> str:
        return principal_key(self.kind, self.name)

    @classmethod
    def of(cls, principal: Principal, now: float, tz: str | tzinfo) -> QuotaAsk:
        hour, day = windows(now, tz)
        return cls(kind=principal.kind, name=principal.name, now=now, hour=hour, day=day)

    def window(self, period: Period) -> QuotaWindow:
        return self.hour if period is Period.HOUR else self.day


def windows(now: float, tz: str | tzinfo) -> tuple[QuotaWindow, QuotaWindow]:
    """The hour and the day containing `now` (remembered while they last)."""
    known = _WINDOWS.get(tz)
    if known is not None and all(w.start <= now < w.end for w in known):
        return known
    found = (QuotaWindow.at(now, tz, Period.HOUR), QuotaWindow.at(now, tz, Period.DAY))
    _WINDOWS[tz] = found
    return found


@dataclass(frozen=True, slots=True)
class OverQuota:
    """Why a submission was refused: which quota, its limit, and when it resets."""

    kind: str
    name: str
    period: Period
    limit: int
    used: int  # counted in the period before this submission
    asked: int
    resets_at: float
    retry_after: float  # seconds until `resets_at` (at least 1)

    @property
    def quota(self) -> str:
        """ "hourly" or "daily"."""
        return ADJECTIVE[self.period]

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    @property
    def never_fits(self) -> bool:
        """More messages asked at once than the quota allows in a whole period."""
        return self.asked > self.limit

    def reset_text(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.resets_at))

    def reason(self) -> str:
        who = "API key" if self.kind == "api_key" else "SMTP user"
        text = (
            f"{who} {self.name} is over its {self.quota} quota of {self.limit} messages "
            f"({self.used} accepted this {self.period.value}"
        )
        if self.asked > 1:
            text += f", {self.asked} more asked"
        return text + f"); it resets at {self.reset_text()}"

    def fix(self) -> str:
        wait = f"retry after {self.reset_text()} (in {math.ceil(self.retry_after)} s)"
        if self.never_fits:
            wait = f"send at most {self.limit} messages at once"
        elif self.asked > 1 and self.remaining:
            wait = f"send at most {self.remaining} now, or {wait}"
        command = raise_command(self.kind, self.name, self.period)
        return f"{wait}, or ask the operator to raise it: {command}"

    def as_dict(self) -> dict[str, object]:
        return {
            "quota": self.quota,
            "limit": self.limit,
            "used": self.used,
            "asked": self.asked,
            "remaining": self.remaining,
            "resets_at": self.resets_at,
            "retry_after": math.ceil(self.retry_after),
            "raise_with": raise_command(self.kind, self.name, self.period),
        }


def check(
    ask: QuotaAsk, asked: int, used_hour: int, used_day: int, hourly: int | None, daily: int | None
) -> OverQuota | None:
    """The quota `asked` more messages would exceed, or None. When both would be
    exceeded the daily one is named: waiting for the next hour would not help."""
    for period, used, limit in ((Period.DAY, used_day, daily), (Period.HOUR, used_hour, hourly)):
        window = ask.window(period)
        wait = decide(used, limit, asked, ask.now, window.end)
        if wait is not None and limit is not None:
            return OverQuota(ask.kind, ask.name, period, limit, used, asked, window.end, wait)
    return None
