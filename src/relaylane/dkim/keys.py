"""DKIM signing keys: load, generate, store, and the DNS TXT record that publishes them."""

from __future__ import annotations

import base64
import binascii
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

KeyKind = Literal["rsa", "ed25519"]
PrivateKey = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
MIN_RSA_BITS = 2048
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9_-]*[A-Za-z0-9])?"
_SELECTOR = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_KEYGEN_HINT = (
    "generate one with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048` "
    "or `openssl genpkey -algorithm ED25519`"
)


@dataclass(frozen=True)
class SigningKey:
    """A private key and the selector under which its public half is published.

    The repr never shows key material.
    """

    selector: str
    kind: KeyKind
    private: PrivateKey = field(repr=False, compare=False)

    def __post_init__(self) -> None:
        if not _SELECTOR.fullmatch(self.selector):
            raise ValueError(f"DKIM selector {self.selector!r} is not a valid DNS name")
        expected = rsa.RSAPrivateKey if self.kind == "rsa" else ed25519.Ed25519PrivateKey
        if self.kind not in ("rsa", "ed25519") or not isinstance(self.private, expected):
            raise ValueError(f"kind {self.kind!r} does not match a {type(self.private).__name__}")
        if isinstance(self.private, rsa.RSAPrivateKey) and self.private.key_size < MIN_RSA_BITS:
            raise ValueError(
                f"RSA key for selector {self.selector!r} has {self.private.key_size} bits; "
                f"DKIM needs at least {MIN_RSA_BITS}"
            )

    def __repr__(self) -> str:
        return f"SigningKey(selector={self.selector!r}, kind={self.kind!r})"


def load_signing_key(path: Path, selector: str) -> SigningKey:
    """Read an unencrypted PEM private key (RSA >= 2048 bits or Ed25519) from `path`.

    Raises ValueError, naming the file and the fix, when the key cannot be used.
    """
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(
            f"DKIM key file {path}: cannot read it ({exc.strerror or exc}); "
            "check the path and that relaylane's user may read the file"
        ) from None
    private = _parse_pem(path, data)
    if isinstance(private, rsa.RSAPrivateKey):
        if private.key_size < MIN_RSA_BITS:
            raise ValueError(
                f"DKIM key file {path}: RSA key of {private.key_size} bits is too small; "
                f"use at least {MIN_RSA_BITS} bits ({_KEYGEN_HINT})"
            )
        return SigningKey(selector, "rsa", private)
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return SigningKey(selector, "ed25519", private)
    raise ValueError(
        f"DKIM key file {path}: unsupported key type {type(private).__name__}; "
        f"DKIM signs with RSA or Ed25519 ({_KEYGEN_HINT})"
    )


def _parse_pem(path: Path, data: bytes) -> object:
    try:
        return serialization.load_pem_private_key(data, password=None)
    except TypeError:  # encrypted
        raise ValueError(
            f"DKIM key file {path}: the private key is encrypted; store it unencrypted "
            "(`openssl pkey -in KEY -out KEY.plain`) and protect it with file mode 0600"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(
            f"DKIM key file {path}: not a PEM private key "
            f"(expected '-----BEGIN PRIVATE KEY-----'); {_KEYGEN_HINT}"
        ) from None


def generate_key(kind: KeyKind) -> bytes:
    """A new private key as unencrypted PKCS#8 PEM: RSA 2048 bits, or Ed25519."""
    private: PrivateKey
    if kind == "rsa":
        private = rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)
    elif kind == "ed25519":
        private = ed25519.Ed25519PrivateKey.generate()
    else:
        raise ValueError(f"key kind must be 'rsa' or 'ed25519', not {kind!r}")
    return private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_private_key(path: Path, pem: bytes, *, force: bool = False) -> None:
    """Write `pem` to a new file `path` with mode 0600.

    Raises FileExistsError when `path` exists, unless `force` (then the file is
    replaced and its mode set to 0600).
    """
    flags = os.O_WRONLY | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0)
    flags |= os.O_TRUNC if force else os.O_EXCL
    try:
        fd = os.open(path, flags, 0o600)
    except FileExistsError:
        raise FileExistsError(
            f"DKIM key file {path} already exists; not overwriting it (use force to replace)"
        ) from None
    with os.fdopen(fd, "wb") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(pem)


def public_key_record(key: SigningKey) -> tuple[str, str]:
    """``(k, p)``: the key type tag and the base64 public key of the TXT record."""
    public = key.private.public_key()
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return "ed25519", base64.b64encode(raw).decode("ascii")
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "rsa", base64.b64encode(der).decode("ascii")


def dns_txt_value(key: SigningKey) -> str:
    """The TXT record to publish at ``<selector>._domainkey.<domain>``."""
    kind, public = public_key_record(key)
    return f"v=DKIM1; k={kind}; p={public}"


def parse_tags(txt_value: str) -> dict[str, str]:
    """``tag=value`` pairs of a DKIM key record, tolerantly: whitespace and quotes ignored
    around tags, inside ``p=`` too; tag names lower-cased; later duplicates ignored."""
    tags: dict[str, str] = {}
    for part in txt_value.replace('"', "").split(";"):
        name, equals, value = part.partition("=")
        name = name.strip().lower()
        if equals and name and name not in tags:
            tags[name] = value.strip()
    return tags


def public_key_matches(key: SigningKey, txt_value: str) -> bool:
    """True when the TXT record `txt_value` publishes the public half of `key`."""
    tags = parse_tags(txt_value)
    if tags.get("v", "DKIM1") != "DKIM1" or tags.get("k", "rsa").lower() != key.kind:
        return False
    try:
        published = base64.b64decode("".join(tags.get("p", "").split()), validate=True)
    except (binascii.Error, ValueError):
        return False
    if not published:
        return False  # p= empty: the key is revoked
    expected = base64.b64decode(public_key_record(key)[1])
    return published == expected or _same_rsa_key(key, published)


def _same_rsa_key(key: SigningKey, published: bytes) -> bool:
    """Also accept an RSA key published as a bare PKCS#1 RSAPublicKey, as some do."""
    if not isinstance(key.private, rsa.RSAPrivateKey):
        return False
    try:
        public = serialization.load_der_public_key(published)
    except (ValueError, UnsupportedAlgorithm):
        return False
    return (
        isinstance(public, rsa.RSAPublicKey)
        and public.public_numbers() == key.private.public_key().public_numbers()
    )
