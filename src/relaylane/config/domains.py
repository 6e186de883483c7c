"""Sending domains ([domain."news.acme.test"]): return path, DKIM keys, alignment.

Every default is named here and documented in docs/configuration.md.
"""

from __future__ import annotations

import re
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from pydantic import PrivateAttr, StrictBool, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from relaylane.config.base import Model, bad_value, domain_name, problem
from relaylane.config.serving import existing_file

if TYPE_CHECKING:
    from relaylane.dkim.keys import SigningKey

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_SELECTOR = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")


class Alignment(StrEnum):
    """DMARC identifier alignment the gate requires between From and the DKIM d= domain."""

    RELAXED = "relaxed"  # same organizational domain (Public Suffix List)
    STRICT = "strict"  # exactly the same domain


class DkimKeyConfig(Model):
    """One signing key: { selector = "rl2026a", key_file = "keys/news-rsa.pem" }.

    The key is read and checked when the configuration loads (RSA of at least 2048 bits,
    or Ed25519); it lives only in memory, never in dumps, logs or the store."""

    selector: str
    key_file: Path

    _key: SigningKey | None = PrivateAttr(default=None)

    def signing_key(self) -> SigningKey:
        if self._key is None:  # after unpickling (a worker process): read it again
            from relaylane.dkim.keys import load_signing_key

            self._key = load_signing_key(self.key_file, self.selector)
        return self._key

    def __getstate__(self) -> dict[Any, Any]:
        """Pickled (to hand a config to another process) without the key material."""
        state = super().__getstate__()
        private = dict(state.get("__pydantic_private__") or {})
        private["_key"] = None
        return {**state, "__pydantic_private__": private}

    @field_validator("selector")
    @classmethod
    def _selector_ok(cls, value: str) -> str:
        if not _SELECTOR.fullmatch(value):
            raise bad_value(
                "is not a DKIM selector; use DNS labels (letters, digits, '-', '.' between "
                'labels), e.g. "rl2026a"'
            )
        return value

    @field_validator("key_file")
    @classmethod
    def _key_file_ok(cls, value: Path, info: ValidationInfo) -> Path:
        path = existing_file(value, info)
        assert path is not None
        return path

    @model_validator(mode="after")
    def _load(self) -> Self:
        from relaylane.dkim.keys import load_signing_key

        try:
            self._key = load_signing_key(self.key_file, self.selector)
        except ValueError as exc:
            raise problem(str(exc)) from None
        return self


class DomainConfig(Model):
    """A sending domain ([domain."news.acme.test"]).

    - `return_path`: the envelope sender domain for relays of kind "mta"; when set, each
      delivery's envelope sender becomes b-<token>@<return_path> (VERP) and its bounces
      come back to relaylane's bounce receiver. A relay's own `return_path` overrides it.
    - `dkim`: the keys relaylane signs with (an RSA-2048 key always; Ed25519 in addition).
    - `dkim_signed_by_relay`: an ESP signs this domain with its own aligned keys
      (`relay_selectors` names them, so `doctor` can check they are published).
    - `alignment`: relaxed (organizational domain) by default, or strict.
    - `tracking_domain`: the host name of open and click links in this domain's mail
      (and its subdomains'), served as https://<tracking_domain>; default: none, links
      use `[http] public_url`.
    """

    return_path: str | None = None
    dkim: tuple[DkimKeyConfig, ...] = ()
    dkim_signed_by_relay: StrictBool = False
    relay_selectors: tuple[str, ...] = ()
    alignment: Alignment = Alignment.RELAXED
    tracking_domain: str | None = None

    @field_validator("return_path")
    @classmethod
    def _return_path_ok(cls, value: str | None) -> str | None:
        return None if value is None else domain_name(value)

    @field_validator("tracking_domain")
    @classmethod
    def _tracking_domain_ok(cls, value: str | None) -> str | None:
        if value is None:
            return None
        fix = 'e.g. "track.news.acme.test" (links then use https://track.news.acme.test)'
        if "/" in value or ":" in value:
            raise bad_value(f"is a URL; give only the host name, {fix}")
        try:
            return domain_name(value)
        except PydanticCustomError:
            raise bad_value(f"is not a host name; give one with a dot, {fix}") from None

    @field_validator("dkim")
    @classmethod
    def _one_selector_each(cls, value: tuple[DkimKeyConfig, ...]) -> tuple[DkimKeyConfig, ...]:
        seen = [k.selector for k in value]
        doubled = sorted({s for s in seen if seen.count(s) > 1})
        if doubled:
            raise problem(f"dkim lists selector {doubled[0]!r} twice; give each key its own")
        if value and not any(k.signing_key().kind == "rsa" for k in value):
            raise problem(
                "dkim has no RSA key; some receivers do not verify Ed25519 yet, so an "
                "RSA-2048 key is always needed (Ed25519 only in addition): add one made "
                "with `relaylane dkim keygen DOMAIN --selector NAME --type rsa`"
            )
        return value

    @property
    def signs(self) -> bool:
        """Does mail from this domain get an aligned DKIM signature (ours or the relay's)?"""
        return bool(self.dkim) or self.dkim_signed_by_relay
