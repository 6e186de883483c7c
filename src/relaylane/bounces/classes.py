"""What class a report's finding belongs to, through the same rules as SMTP replies."""

from __future__ import annotations

from dataclasses import dataclass

from relaylane.bounces.report import Event, Finding
from relaylane.policy.classify import DEFAULT_CLASSIFIER, Classifier, split_enhanced
from relaylane.policy.vocabulary import BounceClass, Stage

EXPIRED_STATUS = "4.4.7"  # RFC 3463: delivery time expired

_NO_CLASS = {
    Event.DELIVERED: BounceClass.NONE,
    Event.COMPLAINED: BounceClass.NONE,
    Event.UNSUBSCRIBED: BounceClass.NONE,
    Event.AUTO_REPLY: BounceClass.AUTO_REPLY,
    Event.UNKNOWN: BounceClass.UNCLASSIFIED,
}


@dataclass(frozen=True, slots=True)
class FindingClass:
    bounce_class: BounceClass
    expired: bool  # the report is about an expired message: never about the address


def classify_finding(finding: Finding, classify: Classifier = DEFAULT_CLASSIFIER) -> FindingClass:
    """The class of one finding. Total: never raises.

    A failure with status 4.4.7 (expired) is classified from its diagnostic text, and
    marked `expired` so that nothing acts on the address.
    """
    fixed = _NO_CLASS.get(finding.event)
    if fixed is not None:
        return FindingClass(fixed, expired=False)
    expired = finding.status == EXPIRED_STATUS
    status = None if expired else finding.status
    if split_enhanced(finding.diagnostic)[0] is not None:
        status = None  # the diagnostic's own code is the more specific (Exim's Status: 5.0.0)
    code = finding.code or _code_for(status, finding.event)
    text = f"{status} {finding.diagnostic}" if status else finding.diagnostic
    verdict = classify(Stage.DATA_END, code, text)
    bounce_class = verdict.bounce_class
    if expired and bounce_class in (BounceClass.UNCLASSIFIED, BounceClass.TRANSIENT):
        bounce_class = BounceClass.EXPIRED
    return FindingClass(bounce_class, expired=expired)


def _code_for(status: str | None, event: Event) -> int:
    if status and status[0] in "45":
        return 550 if status[0] == "5" else 450
    return 450 if event is Event.DELAYED else 550
