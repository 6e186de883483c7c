"""The bytes and envelope of one delivery as it leaves: its signed token, its envelope
sender (VERP where a return path applies) and its payload (stamped, and DKIM-signed where
a key aligns with the From domain). Everything that can be worked out once is kept:
the tokens per claim, the return path per (relay, From domain), the signer per (From
domain, relay), the List-Unsubscribe plan per (lane, relay, From domain), and the body
split, hash and own List-* fields per stored message.

Marketing and outreach deliveries carry List-Unsubscribe (and List-Unsubscribe-Post,
List-Id) in the stamp, so the DKIM signature covers them (`unsubscribe.headers_plan`).
A transactional delivery pays one dict lookup for that."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from relaylane.bounces.tokens import KeyRing
from relaylane.config.models import Config, LaneConfig, RelayConfig
from relaylane.delivery.job import Job
from relaylane.delivery.signing import BodyParts, SigningPlan, signed_payload, split_body
from relaylane.delivery.stamp import envelope_sender, stamp_headers
from relaylane.dkim.rotation import Rotation
from relaylane.unsubscribe.headers_plan import UnsubscribePlan, decide, own_list_fields
from relaylane.unsubscribe.oneclick import unsubscribe_token

log = logging.getLogger("relaylane.delivery")


class Outgoing:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._ring: KeyRing | None = None
        self._signing = SigningPlan(config)
        self._return_paths: dict[tuple[str, str], str | None] = {}
        self._parts: dict[int, BodyParts] = {}
        self._plans: dict[tuple[str, str, str], UnsubscribePlan | None] = {}
        self._own_fields: dict[int, frozenset[str]] = {}

    @property
    def ring(self) -> KeyRing | None:
        return self._ring

    def _parts_of(self, job: Job) -> BodyParts:
        """Split once per stored body; a campaign delivery's body is its own (rendered)."""
        if job.claim.contact_id is not None:
            return split_body(job.body.body)
        parts = self._parts.get(job.claim.message_id)
        if parts is None:
            parts = self._parts[job.claim.message_id] = split_body(job.body.body)
        return parts

    def use_keys(self, ring: KeyRing, rotations: Sequence[Rotation]) -> None:
        """The token keys and DKIM rotations now in force (re-read periodically)."""
        self._ring = ring
        self._signing.use_rotations(rotations)

    def envelope_sender(self, job: Job, relay: RelayConfig) -> str:
        if not job.token:
            assert self._ring is not None, "the worker loads the key ring before sending"
            job.token = self._ring.token(job.claim.id)
        return envelope_sender(job.body.mail_from, job.token, self._return_path(relay, job))

    def _return_path(self, relay: RelayConfig, job: Job) -> str | None:
        key = (relay.name, job.body.from_domain)
        if key not in self._return_paths:
            self._return_paths[key] = self.config.return_path_for(relay, job.body.from_domain)
        return self._return_paths[key]

    def payload(self, job: Job, relay: RelayConfig) -> bytes:
        """Stamped and, where a key aligns with the From domain, DKIM-signed. Call
        `envelope_sender` first (it makes the token)."""
        stamp = stamp_headers(job.token, relay.provider)
        signer = self._signing.signer(job.body.from_domain, relay)
        parts = self._parts_of(job)
        try:
            plan = self._plans[(job.lane.name, relay.name, job.body.from_domain)]
        except KeyError:
            plan = self._plan(job.lane, relay, job)
        if plan is not None:
            stamp += self._list_lines(plan, job, parts)
        return signed_payload(signer, stamp, job.claim.prefix, job.body.body, parts)

    def _plan(self, lane: LaneConfig, relay: RelayConfig, job: Job) -> UnsubscribePlan | None:
        """Decided once per (lane, relay, From domain); a degraded plan is logged once."""
        domain = job.body.from_domain
        decision = decide(
            lane.purpose, self.config.http.public_url, self._return_path(relay, job), domain
        )
        if decision.warning:
            log.warning(
                "lane %s, relay %s, From domain %s: %s",
                lane.name,
                relay.name,
                domain or "(none)",
                decision.warning,
            )
        self._plans[(lane.name, relay.name, domain)] = decision.plan
        return decision.plan

    def _list_lines(self, plan: UnsubscribePlan, job: Job, parts: BodyParts) -> bytes:
        own = self._own_fields.get(job.claim.message_id)
        if own is None:
            own = own_list_fields(job.body.body[: parts.header_end])
            if job.claim.contact_id is None:  # a campaign delivery's body is its own
                self._own_fields[job.claim.message_id] = own
        if not job.unsubscribe_token:
            assert self._ring is not None, "the worker loads the key ring before sending"
            job.unsubscribe_token = unsubscribe_token(self._ring, job.claim.id)
        return plan.lines(job.unsubscribe_token, job.body.list_name, own)

    def forget(self, message_id: int) -> None:
        """The body left the worker's cache: so does its split."""
        self._parts.pop(message_id, None)
        self._own_fields.pop(message_id, None)
