"""When a running campaign must pause itself. Pure: counts in, a reason (or None) out.

A campaign pauses itself, with the reason kept and shown by `campaign status`, when
- its hard-bounce rate passes `hard_bounce_rate` over at least `min_deliveries` (the
  list is of poor quality: mailing on would hurt the sending domain);
- its complaint rate passes `complaint_rate` over at least `min_deliveries`;
- a contact's message could not be rendered (`render_errors` > 0).

The rates are over *deliveries that reached a relay's verdict*: sent, delivered and
bounced. Deferred, blocked and still-queued ones count for neither side.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_HARD_BOUNCE_RATE = 0.05  # 5%: Amazon SES reviews an account at this rate
DEFAULT_COMPLAINT_RATE = 0.003  # 0.3%: Gmail's and Yahoo's bulk-sender ceiling
DEFAULT_MIN_DELIVERIES = 200  # before this, one bad address is too large a share


@dataclass(frozen=True, slots=True)
class GuardRules:
    hard_bounce_rate: float = DEFAULT_HARD_BOUNCE_RATE
    complaint_rate: float = DEFAULT_COMPLAINT_RATE
    min_deliveries: int = DEFAULT_MIN_DELIVERIES


@dataclass(frozen=True, slots=True)
class CampaignTally:
    """What a campaign's deliveries have come to so far."""

    sent: int = 0  # sent or delivered
    bounced: int = 0  # hard bounces (address-level, final)
    complaints: int = 0
    render_errors: int = 0
    first_render_error: str = ""

    @property
    def judged(self) -> int:
        return self.sent + self.bounced


def pause_reason(tally: CampaignTally, rules: GuardRules) -> str | None:
    """Why the campaign must pause now, or None. Render errors first: they are ours."""
    if tally.render_errors:
        return (
            f"render error: {tally.first_render_error} ({tally.render_errors} contact(s)); "
            "fix the template or the contacts' data, then `campaign resume`"
        )
    if tally.judged < rules.min_deliveries:
        return None
    bounce_rate = tally.bounced / tally.judged
    if bounce_rate > rules.hard_bounce_rate:
        return (
            f"hard-bounce rate {bounce_rate:.1%} ({tally.bounced} of {tally.judged}) is over "
            f"{rules.hard_bounce_rate:.1%}: the list has too many dead addresses; clean it "
            "(or verify it) before `campaign resume`"
        )
    complaint_rate = tally.complaints / tally.judged
    if complaint_rate > rules.complaint_rate:
        return (
            f"complaint rate {complaint_rate:.2%} ({tally.complaints} of {tally.judged}) is "
            f"over {rules.complaint_rate:.2%}: recipients mark this campaign as spam; check "
            "consent and content before `campaign resume`"
        )
    return None
