"""DKIM signing (RFC 6376, relaxed/relaxed; RFC 8463 Ed25519) on OpenSSL via cryptography.

Compute `body_hash` once per message body, then call `DkimSigner.sign` per delivery
with that delivery's complete header block; prepend what it returns to the message.
"""

from relaylane.dkim.canon import body_hash, relaxed_body, relaxed_header
from relaylane.dkim.headers import OVERSIGNED_HEADERS, SIGNED_HEADERS
from relaylane.dkim.keys import (
    KeyKind,
    SigningKey,
    dns_txt_value,
    generate_key,
    load_signing_key,
    public_key_matches,
    write_private_key,
)
from relaylane.dkim.signer import DkimSigner

__all__ = [
    "OVERSIGNED_HEADERS",
    "SIGNED_HEADERS",
    "DkimSigner",
    "KeyKind",
    "SigningKey",
    "body_hash",
    "dns_txt_value",
    "generate_key",
    "load_signing_key",
    "public_key_matches",
    "relaxed_body",
    "relaxed_header",
    "write_private_key",
]
