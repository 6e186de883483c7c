"""DKIM signing on the send path: which signer a delivery needs, and the signed payload.

- The signing domain (d=) for a From domain is the configured domain whose signature
  aligns with it (`Config.signing_domain_for`); a domain whose relay signs
  (`dkim_signed_by_relay`) and has no keys of its own is sent unsigned by relaylane.
- One `DkimSigner` per (signing domain, relay), because a relay's `dkim_skip_headers`
  changes what is signed.
- The body hash is computed once per stored message body and reused by every delivery
  and every retry; only the header block (this delivery's stamp, its own header lines
  and the message's headers) is signed per delivery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from relaylane.config.domains import DkimKeyConfig
from relaylane.config.models import Config, RelayConfig
from relaylane.dkim import DkimSigner, SigningKey, body_hash, load_signing_key
from relaylane.dkim.rotation import Rotation, effective_selectors


@dataclass(frozen=True, slots=True)
class BodyParts:
    """A stored body split once: where its header block ends, and its body hash."""

    header_end: int  # index just after the CRLF that ends the last header line
    body_hash: bytes


def split_body(body: bytes) -> BodyParts:
    if body.startswith(b"\r\n"):  # no headers of its own (the delivery's lines give them)
        return BodyParts(0, body_hash(body[2:]))
    end = body.find(b"\r\n\r\n")
    if end < 0:  # headers only
        return BodyParts(len(body), body_hash(b""))
    return BodyParts(end + 2, body_hash(body[end + 4 :]))


class SigningPlan:
    """Signers by (From domain, relay), made on first use and kept until the rotations
    change (`use_rotations`)."""

    def __init__(self, config: Config, rotations: Sequence[Rotation] = ()) -> None:
        self.config = config
        self._signers: dict[tuple[str, str], DkimSigner | None] = {}
        self._rotations = tuple(rotations)

    def use_rotations(self, rotations: Sequence[Rotation]) -> None:
        if tuple(rotations) != self._rotations:
            self._rotations = tuple(rotations)
            self._signers.clear()

    def signer(self, from_domain: str, relay: RelayConfig) -> DkimSigner | None:
        key = (from_domain, relay.name)
        if key not in self._signers:
            self._signers[key] = self._make(from_domain, relay)
        return self._signers[key]

    def _make(self, from_domain: str, relay: RelayConfig) -> DkimSigner | None:
        name = self.config.signing_domain_for(from_domain)
        domain = self.config.domain.get(name) if name is not None else None
        if name is None or domain is None or not domain.dkim:
            return None
        return DkimSigner(name, self._keys(name, domain.dkim), relay.dkim_skip_headers)

    def _keys(self, name: str, configured: Sequence[DkimKeyConfig]) -> list[SigningKey]:
        """The configured keys, with switched rotations applied."""
        mine = [r for r in self._rotations if r.domain == name]
        if not mine:
            return [k.signing_key() for k in configured]
        loaded = {k.selector: k.signing_key() for k in configured}
        pairs = [(k.selector, str(k.key_file)) for k in configured]
        keys = []
        for selector, path in effective_selectors(pairs, mine):
            key = loaded.get(selector)
            keys.append(key if key is not None else load_signing_key(Path(path), selector))
        return keys


def signed_payload(
    signer: DkimSigner | None, stamp: bytes, prefix: bytes, body: bytes, parts: BodyParts
) -> bytes:
    """The bytes to send: DKIM-Signature lines (when a signer applies), then the stamp,
    the delivery's own header lines and the stored message."""
    if signer is None:
        return b"".join((stamp, prefix, body))
    header_block = b"".join((stamp, prefix, body[: parts.header_end]))
    signature = signer.sign(header_block, parts.body_hash)
    return b"".join((signature, stamp, prefix, body))
