"""`DkimSigner`: DKIM-Signature header lines for a header block and a body hash.

RFC 6376 with relaxed/relaxed canonicalization and no ``l=``; rsa-sha256 always,
ed25519-sha256 (RFC 8463) in addition when an Ed25519 key is configured. The body hash
comes from `relaylane.dkim.canon.body_hash`, computed once per body; each delivery
then costs a header parse, one SHA-256 over a few hundred bytes and one private-key
operation per signature.
"""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterable, Sequence

import idna
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, utils

from relaylane.dkim.canon import relaxed_header_value
from relaylane.dkim.headers import HeaderPolicy, parse_header_block, signed_fields
from relaylane.dkim.keys import SigningKey

_MAX_LINE = 78  # RFC 5322 line length, CRLF excluded
_FIELD = "DKIM-Signature:"
_PKCS1 = padding.PKCS1v15()
_PREHASHED = utils.Prehashed(hashes.SHA256())
_ALGORITHMS = {"rsa": "rsa-sha256", "ed25519": "ed25519-sha256"}

# A token of the folded header: (separator, text). A fold replaces a " " separator with
# CRLF + space; an "" separator (inside h=) gets CRLF + space inserted, which h= allows.
_Token = tuple[str, str]


class DkimSigner:
    """Signs for one domain: one signature per key, Ed25519 first, at least one RSA."""

    def __init__(
        self, domain: str, keys: Sequence[SigningKey], skip_headers: Iterable[str] = ()
    ) -> None:
        self.domain = ascii_domain(domain)
        self.keys = _ordered(keys)
        skip = list(skip_headers)
        if any(name.strip().lower() == "from" for name in skip):
            raise ValueError("dkim_skip_headers cannot hold From: DKIM always signs From")
        self.policy = HeaderPolicy.build(skip)
        self._heads = [self._head_tokens(key) for key in self.keys]

    def __repr__(self) -> str:
        keys = ", ".join(f"{key.kind}:{key.selector}" for key in self.keys)
        return f"<DkimSigner d={self.domain} {keys}>"

    def _head_tokens(self, key: SigningKey) -> list[_Token]:
        tags = ["v=1", f"a={_ALGORITHMS[key.kind]}", "c=relaxed/relaxed"]
        tags += [f"d={self.domain}", f"s={key.selector}"]
        return [(" ", tag + ";") for tag in tags]

    def sign(self, header_block: bytes, body_hash: bytes, timestamp: int | None = None) -> bytes:
        """The DKIM-Signature field(s) to prepend to the message whose header is
        `header_block` (CRLF-terminated lines, folds allowed, no blank line) and whose
        relaxed body hash is `body_hash`: Ed25519 first, then RSA, CRLF-terminated and
        folded at 78 characters. `timestamp` (``t=``) defaults to now.
        """
        if len(body_hash) != hashlib.sha256().digest_size:
            raise ValueError("body_hash must be the 32-byte SHA-256 digest from body_hash()")
        found = parse_header_block(header_block, self.policy.wanted)
        if b"from" not in found:
            raise ValueError("the header block has no From field, which DKIM must sign")
        names, data = signed_fields(self.policy, found)
        when = int(time.time()) if timestamp is None else timestamp
        tail = _tail_tokens(names, when, body_hash)
        signed = hashlib.sha256(data)  # the signed fields; each signature adds its own field
        fields = [
            self._sign_one(key, head + tail, signed.copy())
            for key, head in zip(self.keys, self._heads, strict=True)
        ]
        return b"".join(fields)

    @staticmethod
    def _sign_one(key: SigningKey, tokens: list[_Token], hasher: hashlib._Hash) -> bytes:
        unsigned, used = _fold(tokens)
        hasher.update(b"dkim-signature:" + relaxed_header_value(unsigned[len(_FIELD) :]))
        signature = _private_sign(key, hasher.digest())
        return unsigned + _fold_b(base64.b64encode(signature), used) + b"\r\n"


def ascii_domain(domain: str) -> str:
    """`domain` as lower-case ASCII (punycode), for ``d=``; ValueError when invalid."""
    name = domain.strip().rstrip(".")
    try:
        ascii_name = idna.encode(name, uts46=True).decode("ascii") if name else ""
    except idna.IDNAError as exc:
        raise ValueError(f"DKIM domain {domain!r} is not a valid domain name: {exc}") from None
    if "." not in ascii_name:
        raise ValueError(f"DKIM domain {domain!r} is not a fully qualified domain name")
    return ascii_name.lower()


def _ordered(keys: Sequence[SigningKey]) -> tuple[SigningKey, ...]:
    """Ed25519 keys, then RSA keys, each in the given order; ValueError without an RSA
    key or when a selector repeats."""
    selectors = [key.selector for key in keys]
    doubled = sorted({s for s in selectors if selectors.count(s) > 1})
    if doubled:
        raise ValueError(f"DKIM selector {doubled[0]!r} is given twice")
    if not any(key.kind == "rsa" for key in keys):
        raise ValueError("DKIM signing needs an RSA key; Ed25519 may only be added to it")
    return tuple(sorted(keys, key=lambda key: key.kind != "ed25519"))


def _tail_tokens(names: list[str], when: int, body_hash: bytes) -> list[_Token]:
    last = len(names) - 1
    h_tokens: list[_Token] = [
        (" " if i == 0 else "", ("h=" if i == 0 else "") + name + (";" if i == last else ":"))
        for i, name in enumerate(names)
    ]
    bh = base64.b64encode(body_hash).decode("ascii")
    return [(" ", f"t={when};"), *h_tokens, (" ", f"bh={bh};"), (" ", "b=")]


def _fold(tokens: list[_Token]) -> tuple[bytes, int]:
    """The field up to ``b=`` folded at 78 characters, and the length of its last line."""
    parts = [_FIELD]
    length = len(_FIELD)
    for separator, text in tokens:
        if length + len(separator) + len(text) > _MAX_LINE:
            parts.append("\r\n ")
            parts.append(text)
            length = 1 + len(text)
        else:
            parts.append(separator)
            parts.append(text)
            length += len(separator) + len(text)
    return "".join(parts).encode("ascii"), length


def _fold_b(value: bytes, used: int) -> bytes:
    """The ``b=`` value, continuing a line of `used` characters, folded at 78."""
    room = max(_MAX_LINE - used, 0)
    chunks = [value[:room]] if room else [b""]
    width = _MAX_LINE - 1
    chunks += [value[i : i + width] for i in range(room, len(value), width)]
    return b"\r\n ".join(chunks)


def _private_sign(key: SigningKey, digest: bytes) -> bytes:
    private = key.private
    if isinstance(private, ed25519.Ed25519PrivateKey):
        return private.sign(digest)  # RFC 8463: Ed25519 over the SHA-256 digest
    return private.sign(digest, _PKCS1, _PREHASHED)
