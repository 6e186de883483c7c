"""bench/dkim: CPU cost of DKIM signing with relaylane.dkim, against dkimpy.

Signs MESSAGES messages of about 4 KB, each with its own header block (To, Message-ID,
Date differ), spread over BODIES distinct bodies. The worker computes the body hash once
per body and signs each delivery's header block with it; that is the first figure. The
second one recomputes the body hash for every message. dkimpy (pure-Python RSA) signs
DKIMPY messages for comparison, with the same header list.

CPU time is time.process_time(), per message, in milliseconds.

    python bench/dkim.py [--messages 10000] [--bodies 100] [--dkimpy 300] [--json]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib
import json
import time
from collections.abc import Callable
from types import ModuleType

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa, utils

from relaylane.dkim import DkimSigner, SigningKey, body_hash, generate_key
from relaylane.dkim.headers import HeaderPolicy, parse_header_block, signed_fields

DOMAIN = "example.com"
HEADER = (
    "From: Acme Shop <no-reply@example.com>\r\n"
    "To: Customer {n} <customer{n}@example.org>\r\n"
    "Subject: Your order {n} has shipped\r\n"
    "Date: Mon, 01 Jan 2024 10:{m:02d}:00 +0000\r\n"
    "Message-ID: <{n}.{body}.20240101@example.com>\r\n"
    "Reply-To: Acme Support <support@example.com>\r\n"
    "MIME-Version: 1.0\r\n"
    'Content-Type: multipart/alternative;\r\n boundary="=_b{body}"\r\n'
    "List-Unsubscribe: <https://example.com/unsubscribe/{n:08d}>,\r\n"
    " <mailto:unsubscribe+{n}@example.com>\r\n"
    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    "Feedback-ID: {body}:orders:acme:example.com\r\n"
)


def body(index: int, size: int) -> bytes:
    """A 7-bit, CRLF body of about `size` bytes, different for each index."""
    line = f"Line of text for body {index}: the quick brown fox jumps over the lazy dog.\r\n"
    return (line * (size // len(line) + 1))[:size].rsplit("\r\n", 1)[0].encode() + b"\r\n"


def workload(messages: int, bodies: int) -> tuple[list[bytes], list[bytes], list[int]]:
    """(header blocks, distinct bodies, body index of each message); ~4 KB per message."""
    headers = [HEADER.format(n=n, m=n % 60, body=n % bodies).encode() for n in range(messages)]
    texts = [body(i, 4096 - len(headers[0]) - 2) for i in range(bodies)]
    return headers, texts, [n % bodies for n in range(messages)]


def cpu_ms(run: Callable[[], object], count: int) -> float:
    start = time.process_time()
    run()
    return (time.process_time() - start) / count * 1000


def relaylane_figures(
    signer: DkimSigner, headers: list[bytes], bodies: list[bytes], which: list[int]
) -> tuple[float, float]:
    """(ms/message with the body hash once per body, ms/message hashing every body)."""

    def shared() -> None:
        hashes = [body_hash(text) for text in bodies]
        for header, index in zip(headers, which, strict=True):
            signer.sign(header, hashes[index])

    def every_time() -> None:
        for header, index in zip(headers, which, strict=True):
            signer.sign(header, body_hash(bodies[index]))

    return cpu_ms(shared, len(headers)), cpu_ms(every_time, len(headers))


def dkimpy_figure(
    rsa_pem: bytes, ed_seed: bytes | None, messages: list[bytes], names: list[bytes]
) -> float:
    dkim = dkimpy()

    def run() -> None:
        for message in messages:
            dkim.sign(
                message,
                b"rsa1",
                DOMAIN.encode(),
                rsa_pem,
                canonicalize=(b"relaxed", b"relaxed"),
                include_headers=names,
            )
            if ed_seed is not None:
                dkim.sign(
                    message,
                    b"ed1",
                    DOMAIN.encode(),
                    ed_seed,
                    canonicalize=(b"relaxed", b"relaxed"),
                    include_headers=names,
                    signature_algorithm=b"ed25519-sha256",
                )

    return cpu_ms(run, len(messages))


def dkimpy() -> ModuleType:
    """dkimpy's `dkim` module, imported only when its figure is wanted."""
    return importlib.import_module("dkim")


def openssl_floor(private: rsa.RSAPrivateKey, count: int) -> float:
    """The RSA-2048 private-key operation alone, through cryptography."""
    digest = hashlib.sha256(b"x").digest()
    algorithm = utils.Prehashed(hashes.SHA256())
    pkcs1 = padding.PKCS1v15()

    def run() -> None:
        for _ in range(count):
            private.sign(digest, pkcs1, algorithm)

    return cpu_ms(run, count)


def keys() -> tuple[SigningKey, SigningKey, bytes, bytes]:
    rsa_pem = generate_key("rsa")
    rsa_private = serialization.load_pem_private_key(rsa_pem, password=None)
    ed_private = ed25519.Ed25519PrivateKey.generate()
    assert isinstance(rsa_private, rsa.RSAPrivateKey)
    seed = ed_private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return (
        SigningKey("rsa1", "rsa", rsa_private),
        SigningKey("ed1", "ed25519", ed_private),
        rsa_pem,
        base64.b64encode(seed),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--bodies", type=int, default=100)
    parser.add_argument("--dkimpy", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    rsa_key, ed_key, rsa_pem, ed_seed = keys()
    headers, bodies, which = workload(args.messages, args.bodies)
    policy = HeaderPolicy.build()
    names = signed_fields(policy, parse_header_block(headers[0], policy.wanted))[0]
    include = [name.lower().encode() for name in names]
    full = [headers[n] + b"\r\n" + bodies[which[n]] for n in range(args.dkimpy)]

    rows: dict[str, float] = {}
    for label, key_set in (("RSA-2048", [rsa_key]), ("RSA-2048 + Ed25519", [rsa_key, ed_key])):
        shared, every = relaylane_figures(DkimSigner(DOMAIN, key_set), headers, bodies, which)
        rows[f"relaylane {label}, body hash once per body"] = shared
        rows[f"relaylane {label}, body hash every message"] = every
    rows["dkimpy RSA-2048"] = dkimpy_figure(rsa_pem, None, full, include)
    rows["dkimpy RSA-2048 + Ed25519"] = dkimpy_figure(rsa_pem, ed_seed, full, include)
    assert isinstance(rsa_key.private, rsa.RSAPrivateKey)
    rows["floor: OpenSSL RSA-2048 sign alone"] = openssl_floor(rsa_key.private, args.messages)

    size = len(headers[0]) + 2 + len(bodies[0])
    if args.json:
        print(json.dumps({"message_bytes": size, "cpu_ms_per_message": rows}, indent=2))
        return
    print(
        f"{args.messages} messages of {size} bytes, {args.bodies} distinct bodies; "
        f"dkimpy on {args.dkimpy}"
    )
    print(f"{'CPU ms per message':<52} {'ms':>8}")
    for label, ms in rows.items():
        print(f"{label:<52} {ms:>8.3f}")


if __name__ == "__main__":
    main()
