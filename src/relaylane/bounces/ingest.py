"""Taking in what comes back: match each report to the delivery it is about, decide, record.

Believe only our own mail: a report counts only when it carries a token that verifies
(the VERP envelope recipient, a VERP address anywhere in the report, or the signed
X-Relaylane-ID of the returned message), or, for a provider's signed webhook, the
message id that provider gave us when it accepted the delivery. Everything else is
stored as `unmatched` and acted on by nothing, so nobody can suppress your customers by
forging bounces. Nothing is dropped: unreadable input is stored raw as `unclassified`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from relaylane.bounces.classes import classify_finding
from relaylane.bounces.decide import DeliveryFacts, decide
from relaylane.bounces.parse import parse_report
from relaylane.bounces.report import Event, Finding, ParsedReport, ReportKind
from relaylane.bounces.tokens import KeyRing, verp_token
from relaylane.bounces.webhooks.common import ProviderEvent
from relaylane.clock import Clock
from relaylane.config.models import Config
from relaylane.errors import NotFoundError
from relaylane.policy.classify import DEFAULT_CLASSIFIER, Classifier
from relaylane.policy.suppression import Source
from relaylane.store.feedback import FeedbackRow, Recording, SqlFeedback
from relaylane.store.token_keys import SqlTokenKeys

RING_REFRESH = 300.0  # seconds between re-reads of the token keys
DEFAULT_RETRY_AFTER = 3600.0  # held deliveries of a lane no longer configured
_VERP_IN_TEXT = re.compile(rb"\bb-([a-z2-7]{32})@", re.IGNORECASE)
_EVIDENCE = {
    ReportKind.ARF: Source.ARF,
    ReportKind.WEBHOOK: Source.WEBHOOK,
}


def _pair(
    findings: Sequence[Finding], facts: DeliveryFacts | None
) -> list[tuple[Finding, DeliveryFacts | None]]:
    """Which findings are about the matched delivery. A token names one delivery, so a
    report listing several recipients (an alias expanded downstream) acts only through
    the finding for our recipient; the others are recorded as unmatched. A single
    finding is about the delivery whatever address it names (forwarding)."""
    if facts is None or len(findings) <= 1:
        return [(f, facts) for f in findings]
    ours = facts.recipient.lower()
    return [(f, facts if (f.recipient or "").lower() == ours else None) for f in findings]


class FeedbackIngest:
    def __init__(
        self,
        config: Config,
        feedback: SqlFeedback,
        keys: SqlTokenKeys,
        clock: Clock,
        classifier: Classifier = DEFAULT_CLASSIFIER,
    ) -> None:
        self.config = config
        self.feedback = feedback
        self.keys = keys
        self.clock = clock
        self.classifier = classifier
        self.policy = config.suppression_policy()
        self.hooks = config.events.hooks()  # outgoing webhook events, in the same commit
        self._ring: KeyRing | None = None
        self._ring_at = 0.0

    def reconfigure(self, config: Config) -> None:
        """A reloaded configuration: classification rules, suppression policy, events."""
        from relaylane.config.feedback import classifier_for

        self.config = config
        self.classifier = classifier_for(config.classification)
        self.policy = config.suppression_policy()
        self.hooks = config.events.hooks()

    # -- mail: DSNs, ARF reports, plain bounces, auto-replies ----------------------
    def report(
        self, raw: bytes, *, source: str, envelope_rcpts: Sequence[str] = ()
    ) -> list[FeedbackRow]:
        """Read, match, decide and record one inbound message (one transaction)."""
        now = self.clock.now()
        parsed = parse_report(raw)
        delivery_id = self._match(parsed, raw, envelope_rcpts, now)
        facts = self.feedback.facts([delivery_id]).get(delivery_id) if delivery_id else None
        keep = raw[: self.config.bounces.keep_raw]
        evidence = _EVIDENCE.get(parsed.kind, Source.DSN)
        items = [
            self._recording(finding, parsed.kind, about, source, keep, evidence, now)
            for finding, about in _pair(parsed.findings, facts)
        ]
        return self.feedback.record(items, self.policy, now, hooks=self.hooks)

    # -- provider webhooks -------------------------------------------------------------
    def provider_events(
        self, events: Sequence[ProviderEvent], *, source: str, raw: bytes
    ) -> list[FeedbackRow]:
        """Record a verified webhook's events (one transaction). Each event matches through
        its X-Relaylane-ID, else through the provider's message id for that recipient."""
        now = self.clock.now()
        ids = [self._event_delivery(e, now) for e in events]
        facts = self.feedback.facts(i for i in ids if i is not None)
        keep = raw[: self.config.bounces.keep_raw]
        items = []
        for event, did in zip(events, ids, strict=True):
            found = facts.get(did) if did is not None else None
            evidence_raw = None if found is not None else keep  # keep what matched nothing
            items.append(
                self._recording(
                    event.finding,
                    ReportKind.WEBHOOK,
                    found,
                    source,
                    evidence_raw,
                    Source.WEBHOOK,
                    now,
                )
            )
        return self.feedback.record(items, self.policy, now, hooks=self.hooks)

    # -- one-click unsubscribe (RFC 8058) ---------------------------------------------
    def one_click(self, delivery_id: int) -> bool:
        """Record that the recipient of `delivery_id` unsubscribed through its verified
        List-Unsubscribe URL: the suppression the policy names for an unsubscribe (the
        message's list, else its lane), the `unsubscribed` event and the metrics, like a
        provider's unsubscribe. Idempotent: True when recorded now, False when it already
        was. Raises NotFoundError when the delivery no longer exists."""
        source, event = "oneclick", Event.UNSUBSCRIBED
        if self.feedback.has_finding(delivery_id, source, event.value):
            return False
        facts = self.feedback.facts([delivery_id]).get(delivery_id)
        if facts is None:
            raise NotFoundError(f"delivery {delivery_id} does not exist")
        now = self.clock.now()
        finding = Finding(event, facts.recipient, diagnostic="List-Unsubscribe=One-Click")
        item = self._recording(
            finding, ReportKind.ONE_CLICK, facts, source, None, Source.ONE_CLICK, now
        )
        self.feedback.record([item], self.policy, now, hooks=self.hooks)
        return True

    # -- matching ---------------------------------------------------------------------
    def ring(self, now: float) -> KeyRing:
        if self._ring is None or now - self._ring_at >= RING_REFRESH:
            self._ring = self.keys.ring(now)
            self._ring_at = now
        return self._ring

    def _match(
        self, parsed: ParsedReport, raw: bytes, envelope_rcpts: Sequence[str], now: float
    ) -> int | None:
        ring = self.ring(now)
        candidates = [verp_token(a) for a in (*envelope_rcpts, *parsed.addresses)]
        candidates += list(parsed.ids)
        candidates += [m.decode("ascii").lower() for m in _VERP_IN_TEXT.findall(raw)]
        for token in candidates:
            if token:
                delivery_id = ring.delivery_of(token, now)
                if delivery_id is not None:
                    return delivery_id
        return None

    def _event_delivery(self, event: ProviderEvent, now: float) -> int | None:
        if event.relaylane_id:
            delivery_id = self.ring(now).delivery_of(event.relaylane_id, now)
            if delivery_id is not None:
                return delivery_id
        if event.provider_message_id:
            return self.feedback.by_relay_queue_id(
                event.provider_message_id, event.finding.recipient
            )
        return None

    # -- deciding ---------------------------------------------------------------------
    def _recording(
        self,
        finding: Finding,
        kind: ReportKind,
        facts: DeliveryFacts | None,
        source: str,
        raw: bytes | None,
        evidence: Source,
        now: float,
    ) -> Recording:
        found = classify_finding(finding, self.classifier)
        decision = decide(facts, finding, found, self.policy, self._retry_after(facts), now)
        row = FeedbackRow(
            received_at=now,
            source=source,
            kind=kind.value,
            event=finding.event.value,
            delivery_id=facts.id if facts else None,
            relay=facts.relay if facts else None,
            recipient=facts.recipient if facts else finding.recipient,
            bounce_class=found.bounce_class.value,
            code=finding.code,
            status=finding.status,
            diagnostic=finding.diagnostic[:2000],
            action=decision.action.value,
            raw=raw,
        )
        return Recording(row, decision, facts, evidence)

    def _retry_after(self, facts: DeliveryFacts | None) -> float:
        if facts is None:
            return DEFAULT_RETRY_AFTER
        try:
            return self.config.lane_by_name(facts.lane).retry.first
        except NotFoundError:
            return DEFAULT_RETRY_AFTER
