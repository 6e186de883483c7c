"""The [webhooks] section: which ESP event webhooks are on, and how each one is verified.

Nothing is fetched at run time: SNS signing certificates and SendGrid's verification key are
read from the file (or a local file), Mailgun's signing key and Postmark's basic-auth
password from the environment. A table left out means that endpoint is off.

Validation context, as for the rest of the configuration: ``base_dir`` (Path) resolves
relative files, ``env`` (Mapping) replaces ``os.environ``.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Self

from pydantic import Field, PrivateAttr, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from relaylane.config.base import Model

if TYPE_CHECKING:  # cryptography is imported only where keys are read (startup cost, RSS)
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
from relaylane.config.durations import Duration

__all__ = [
    "DEFAULT_WEBHOOK_MAX_AGE",
    "MailgunWebhookConfig",
    "PostmarkWebhookConfig",
    "SendgridWebhookConfig",
    "SesWebhookConfig",
    "WebhooksConfig",
    "ecdsa_key",
    "rsa_key",
]

# Signed timestamps older than this are refused as replays (SendGrid, Mailgun), seconds.
DEFAULT_WEBHOOK_MAX_AGE = 600.0

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(?:\.fifo)?")
_SNS_CERT_HINT = (
    "save there the PEM certificate named by SigningCertURL in one of the topic's messages "
    "(https://sns.REGION.amazonaws.com/SimpleNotificationService-....pem); several "
    "certificates may follow one another in the file"
)
_SENDGRID_KEY_HINT = (
    "copy the Verification Key shown under Mail Settings > Event Webhook > Signed Event "
    "Webhook Requests (base64 text starting MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE)"
)

NonEmptyStr = Annotated[str, Field(min_length=1)]


def _problem(msg: str) -> PydanticCustomError:
    """A complete problem sentence that names its key and says how to fix it."""
    return PydanticCustomError("relaylane", "{msg}", {"msg": msg})


def _env(info: ValidationInfo) -> Mapping[str, str]:
    ctx = info.context
    env = ctx.get("env") if isinstance(ctx, Mapping) else None
    return env if isinstance(env, Mapping) else os.environ


def _resolve(path: Path, info: ValidationInfo) -> Path:
    path = path.expanduser()
    ctx = info.context
    base = ctx.get("base_dir") if isinstance(ctx, Mapping) else None
    return base / path if not path.is_absolute() and isinstance(base, Path) else path


def _read(path: Path, where: str, hint: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise _problem(
            f"{where} names {path}, which is not a readable file ({reason}); {hint}, "
            "or fix the path"
        ) from None


def _env_secret(where: str, name: str, info: ValidationInfo, example: str) -> str:
    """The secret held by environment variable `name`; never echoes a value."""
    if not _ENV_NAME.fullmatch(name):
        raise _problem(
            f"{where} must be the name of an environment variable (letters, digits and '_', "
            f"e.g. {example}), not the secret itself; export the secret in that variable"
        )
    value = _env(info).get(name)
    if not value:
        raise _problem(
            f"{where} names {name}, which is not set; export it before running relaylane"
        )
    return value


# -- keys -------------------------------------------------------------------------------------


def _sns_key_ders(pem: bytes) -> tuple[bytes, ...]:
    """DER public keys of the PEM certificates in `pem`; ValueError when there are none
    or one is not RSA."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    certs = x509.load_pem_x509_certificates(pem)
    ders: list[bytes] = []
    for cert in certs:
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise ValueError("a certificate's key is not RSA (SNS signs with RSA)")
        ders.append(
            key.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    return tuple(ders)


def _sendgrid_key_der(text: str) -> bytes:
    """The DER of a P-256 public key written as base64 DER or PEM; ValueError otherwise."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    stripped = text.strip()
    try:
        if "-----BEGIN" in stripped:
            key = serialization.load_pem_public_key(stripped.encode("ascii"))
        else:
            key = serialization.load_der_public_key(
                base64.b64decode("".join(stripped.split()), validate=True)
            )
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError("is not a base64 (DER) or PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise ValueError("is not an ECDSA P-256 key")
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@lru_cache(maxsize=64)
def rsa_key(der: bytes) -> rsa.RSAPublicKey:
    """The RSA public key in `der` (an SNS certificate's key), loaded once."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = serialization.load_der_public_key(der)
    if not isinstance(key, rsa.RSAPublicKey):  # _sns_key_ders only stores RSA keys
        raise TypeError("not an RSA public key")
    return key


@lru_cache(maxsize=16)
def ecdsa_key(der: bytes) -> ec.EllipticCurvePublicKey:
    """The EC public key in `der` (SendGrid's verification key), loaded once."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = serialization.load_der_public_key(der)
    if not isinstance(key, ec.EllipticCurvePublicKey):  # _sendgrid_key_der checks this
        raise TypeError("not an EC public key")
    return key


# -- the provider tables ------------------------------------------------------------------


class SesWebhookConfig(Model):
    """[webhooks.ses]: Amazon SES notifications delivered by SNS over HTTPS."""

    relay: NonEmptyStr | None = None  # the [[relay]] these events belong to, when known
    topic_arns: tuple[str, ...] = Field(min_length=1)  # only messages from these are believed
    signing_cert_file: Path  # SNS signing certificate(s), PEM

    _key_ders: tuple[bytes, ...] = PrivateAttr(default=())

    def public_keys(self) -> tuple[rsa.RSAPublicKey, ...]:
        """The RSA keys a genuine SNS signature verifies against (any one of them)."""
        return tuple(rsa_key(der) for der in self._key_ders)

    @field_validator("topic_arns")
    @classmethod
    def _arns_ok(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for arn in value:
            if not _TOPIC_ARN.fullmatch(arn):
                raise _problem(
                    f"[webhooks.ses] topic_arns lists {arn!r}, which is not an SNS topic ARN; "
                    'write it like "arn:aws:sns:eu-west-1:123456789012:relaylane"'
                )
        return value

    @field_validator("signing_cert_file")
    @classmethod
    def _cert_file_ok(cls, value: Path, info: ValidationInfo) -> Path:
        path = _resolve(value, info)
        where = "[webhooks.ses] signing_cert_file"
        data = _read(path, where, _SNS_CERT_HINT)
        try:
            _sns_key_ders(data)
        except ValueError as exc:
            raise _problem(
                f"{where} names {path}, which holds no usable certificate ({exc}); {_SNS_CERT_HINT}"
            ) from None
        return path

    @model_validator(mode="after")
    def _load_keys(self) -> Self:
        self._key_ders = _sns_key_ders(self.signing_cert_file.read_bytes())
        return self


class SendgridWebhookConfig(Model):
    """[webhooks.sendgrid]: SendGrid's Signed Event Webhook (ECDSA P-256)."""

    relay: NonEmptyStr | None = None
    public_key: NonEmptyStr | None = None  # base64 DER (as SendGrid shows it) or PEM
    public_key_file: Path | None = None  # or the same, read from a file
    max_age: Duration = Field(default=DEFAULT_WEBHOOK_MAX_AGE, gt=0)

    _key_der: bytes = PrivateAttr(default=b"")

    def verification_key(self) -> ec.EllipticCurvePublicKey:
        """The key SendGrid's signatures verify against."""
        return ecdsa_key(self._key_der)

    @field_validator("public_key")
    @classmethod
    def _key_ok(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                _sendgrid_key_der(value)
            except ValueError as exc:
                raise _problem(
                    f"[webhooks.sendgrid] public_key {exc}; {_SENDGRID_KEY_HINT}"
                ) from None
        return value

    @field_validator("public_key_file")
    @classmethod
    def _key_file_ok(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        if value is None:
            return None
        path = _resolve(value, info)
        where = "[webhooks.sendgrid] public_key_file"
        data = _read(path, where, _SENDGRID_KEY_HINT)
        try:
            _sendgrid_key_der(data.decode("ascii"))
        except ValueError as exc:  # UnicodeDecodeError included
            raise _problem(
                f"{where} names {path}, whose content {exc}; {_SENDGRID_KEY_HINT}"
            ) from None
        return path

    @model_validator(mode="after")
    def _one_key(self) -> Self:
        if (self.public_key is None) == (self.public_key_file is None):
            raise _problem(
                "[webhooks.sendgrid] needs exactly one of public_key and public_key_file; "
                f"{_SENDGRID_KEY_HINT}"
            )
        if self.public_key is not None:
            self._key_der = _sendgrid_key_der(self.public_key)
        elif self.public_key_file is not None:
            self._key_der = _sendgrid_key_der(self.public_key_file.read_text("ascii"))
        return self


class MailgunWebhookConfig(Model):
    """[webhooks.mailgun]: Mailgun webhooks, HMAC-SHA256 signed with the signing key."""

    relay: NonEmptyStr | None = None
    signing_key_env: NonEmptyStr  # the variable holding the HTTP webhook signing key
    max_age: Duration = Field(default=DEFAULT_WEBHOOK_MAX_AGE, gt=0)

    _signing_key: str = PrivateAttr(default="")

    def signing_key(self) -> str:
        """The webhook signing key, read from `signing_key_env` at load time."""
        return self._signing_key

    @field_validator("signing_key_env")
    @classmethod
    def _env_ok(cls, value: str, info: ValidationInfo) -> str:
        _env_secret(
            "[webhooks.mailgun] signing_key_env", value, info, "MAILGUN_WEBHOOK_SIGNING_KEY"
        )
        return value

    @model_validator(mode="after")
    def _read_key(self, info: ValidationInfo) -> Self:
        self._signing_key = _env(info).get(self.signing_key_env, "")
        return self


class PostmarkWebhookConfig(Model):
    """[webhooks.postmark]: Postmark webhooks, authenticated with HTTP basic auth."""

    relay: NonEmptyStr | None = None
    username: NonEmptyStr
    password_env: NonEmptyStr  # the variable holding the basic-auth password

    _password: str = PrivateAttr(default="")

    def password(self) -> str:
        """The basic-auth password, read from `password_env` at load time."""
        return self._password

    @field_validator("username")
    @classmethod
    def _username_ok(cls, value: str) -> str:
        if ":" in value or any(ord(ch) < 32 or ord(ch) == 127 for ch in value):
            raise _problem(
                "[webhooks.postmark] username must not contain ':' or control characters "
                "(HTTP basic auth cannot carry them); choose a plain name like relaylane"
            )
        return value

    @field_validator("password_env")
    @classmethod
    def _env_ok(cls, value: str, info: ValidationInfo) -> str:
        _env_secret("[webhooks.postmark] password_env", value, info, "POSTMARK_WEBHOOK_PASSWORD")
        return value

    @model_validator(mode="after")
    def _read_password(self, info: ValidationInfo) -> Self:
        self._password = _env(info).get(self.password_env, "")
        return self


class WebhooksConfig(Model):
    """[webhooks]: one optional table per provider; a missing table turns its endpoint off."""

    ses: SesWebhookConfig | None = None
    sendgrid: SendgridWebhookConfig | None = None
    mailgun: MailgunWebhookConfig | None = None
    postmark: PostmarkWebhookConfig | None = None

    def relay_refs(self) -> tuple[tuple[str, str], ...]:
        """(provider, relay name) for each enabled endpoint that names a relay, so the
        caller can check the names against [[relay]]."""
        tables: dict[str, Any] = {
            "ses": self.ses,
            "sendgrid": self.sendgrid,
            "mailgun": self.mailgun,
            "postmark": self.postmark,
        }
        return tuple(
            (provider, table.relay)
            for provider, table in tables.items()
            if table is not None and table.relay is not None
        )
