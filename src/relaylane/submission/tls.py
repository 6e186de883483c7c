"""TLS for the submission listener: the operator's certificate, or a self-signed one.

A self-signed pair (EC P-256, for `hostname`, localhost and the loopback addresses) is
made at start only when no tls_cert/tls_key is configured, which the configuration
allows only for loopback listeners: local applications get an encrypted channel
without any setup. The key is written to a private temporary directory just long
enough for `ssl` to load it (it has no API to load a key from memory).
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from relaylane.config.serving import SubmissionConfig

SELF_SIGNED_DAYS = 365
_LOOPBACK_IPS = ("127.0.0.1", "::1")


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side context with the certificate chain `cert` and its private `key`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


def self_signed_context(hostname: str) -> ssl.SSLContext:
    """A server-side context with a new self-signed certificate for `hostname`,
    localhost, 127.0.0.1 and ::1."""
    cert_pem, key_pem = self_signed_pair(hostname)
    with tempfile.TemporaryDirectory(prefix="relaylane-tls-") as tmp:
        cert, key = Path(tmp) / "cert.pem", Path(tmp) / "key.pem"
        cert.write_bytes(cert_pem)
        key.touch(mode=0o600)
        key.write_bytes(key_pem)
        return server_context(cert, key)


def context_for(config: SubmissionConfig, hostname: str) -> ssl.SSLContext:
    if config.tls_cert is not None and config.tls_key is not None:
        return server_context(config.tls_cert, config.tls_key)
    return self_signed_context(hostname)


def self_signed_pair(hostname: str) -> tuple[bytes, bytes]:
    """(certificate PEM, unencrypted PKCS#8 key PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostname)])
    names = dict.fromkeys([hostname, "localhost", *_LOOPBACK_IPS])  # ordered, no duplicates
    alt_names: list[x509.GeneralName] = [
        x509.IPAddress(ipaddress.ip_address(n)) if _is_ip(n) else x509.DNSName(n) for n in names
    ]
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=SELF_SIGNED_DAYS))
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True
