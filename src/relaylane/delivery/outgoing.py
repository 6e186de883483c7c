"""The bytes and envelope of one delivery as it leaves: its signed token, its envelope
sender (VERP where a return path applies) and its payload (stamped, and DKIM-signed where
a key aligns with the From domain). Everything that can be worked out once is kept:
the token per claim, the return path per (relay, From domain), the signer per (From
domain, relay), and the body split and hash per stored message."""

from __future__ import annotations

from collections.abc import Sequence

from relaylane.bounces.tokens import KeyRing
from relaylane.config.models import Config, RelayConfig
from relaylane.delivery.job import Job
from relaylane.delivery.signing import BodyParts, SigningPlan, signed_payload, split_body
from relaylane.delivery.stamp import envelope_sender, stamp_headers
from relaylane.dkim.rotation import Rotation


class Outgoing:
    def __init__(self, config: Config) -> None:
        self.config = config
        self._ring: KeyRing | None = None
        self._signing = SigningPlan(config)
        self._return_paths: dict[tuple[str, str], str | None] = {}
        self._parts: dict[int, BodyParts] = {}

    def use_keys(self, ring: KeyRing, rotations: Sequence[Rotation]) -> None:
        """The token keys and DKIM rotations now in force (re-read periodically)."""
        self._ring = ring
        self._signing.use_rotations(rotations)

    def envelope_sender(self, job: Job, relay: RelayConfig) -> str:
        if not job.token:
            assert self._ring is not None, "the worker loads the key ring before sending"
            job.token = self._ring.token(job.claim.id)
        key = (relay.name, job.body.from_domain)
        if key not in self._return_paths:
            self._return_paths[key] = self.config.return_path_for(relay, job.body.from_domain)
        return envelope_sender(job.body.mail_from, job.token, self._return_paths[key])

    def payload(self, job: Job, relay: RelayConfig) -> bytes:
        """Stamped and, where a key aligns with the From domain, DKIM-signed. Call
        `envelope_sender` first (it makes the token)."""
        stamp = stamp_headers(job.token, relay.provider)
        signer = self._signing.signer(job.body.from_domain, relay)
        parts = self._parts.get(job.claim.message_id)
        if parts is None:
            parts = self._parts[job.claim.message_id] = split_body(job.body.body)
        return signed_payload(signer, stamp, job.claim.prefix, job.body.body, parts)

    def forget(self, message_id: int) -> None:
        """The body left the worker's cache: so does its split."""
        self._parts.pop(message_id, None)
