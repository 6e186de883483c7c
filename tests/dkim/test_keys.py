"""Signing keys: loading with clear errors, generating, storing 0600, the DNS record."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from relaylane.dkim import (
    SigningKey,
    dns_txt_value,
    generate_key,
    load_signing_key,
    public_key_matches,
    write_private_key,
)
from tests.dkim.helpers import ed_key, rsa_key


def _pem(private: object) -> bytes:
    return private.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_generate_write_load(tmp_path: Path, kind: str) -> None:
    pem = generate_key(kind)  # type: ignore[arg-type]
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS#8
    path = tmp_path / "key.pem"
    write_private_key(path, pem)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = load_signing_key(path, "sel2024")
    assert key.kind == kind and key.selector == "sel2024"
    if kind == "rsa":
        assert isinstance(key.private, rsa.RSAPrivateKey) and key.private.key_size == 2048


def test_write_refuses_to_overwrite_unless_forced(tmp_path: Path) -> None:
    path = tmp_path / "key.pem"
    path.write_bytes(b"old")
    path.chmod(0o644)
    with pytest.raises(FileExistsError, match=str(path)):
        write_private_key(path, b"new")
    assert path.read_bytes() == b"old"
    write_private_key(path, b"new", force=True)
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_write_does_not_follow_a_symlink(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b"keep")
    link = tmp_path / "key.pem"
    link.symlink_to(target)
    with pytest.raises(OSError, match=r"key\.pem"):
        write_private_key(link, b"new", force=True)
    assert target.read_bytes() == b"keep"


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "missing.pem"
    with pytest.raises(ValueError, match=rf"{path}: cannot read it.*check the path"):
        load_signing_key(path, "s")


@pytest.mark.parametrize(
    "content", [b"", b"hello", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"]
)
def test_not_a_pem_private_key(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.pem"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"{path}: not a PEM private key.*openssl genpkey"):
        load_signing_key(path, "s")


def test_public_key_file_is_not_a_private_key(tmp_path: Path) -> None:
    path = tmp_path / "public.pem"
    path.write_bytes(
        rsa_key()
        .private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="not a PEM private key"):
        load_signing_key(path, "s")


def test_encrypted_key(tmp_path: Path) -> None:
    path = tmp_path / "enc.pem"
    path.write_bytes(
        ed_key().private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
    )
    with pytest.raises(ValueError, match=rf"{path}: the private key is encrypted"):
        load_signing_key(path, "s")


def test_small_rsa_key_is_refused(tmp_path: Path) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    path = tmp_path / "small.pem"
    path.write_bytes(_pem(small))
    with pytest.raises(ValueError, match=rf"{path}: RSA key of 1024 bits is too small.*2048"):
        load_signing_key(path, "s")
    with pytest.raises(ValueError, match="1024 bits"):
        SigningKey("s", "rsa", small)


def test_unsupported_key_type(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    path.write_bytes(_pem(ec.generate_private_key(ec.SECP256R1())))
    with pytest.raises(ValueError, match=rf"{path}: unsupported key type.*RSA or Ed25519"):
        load_signing_key(path, "s")


def test_signing_key_checks_itself() -> None:
    with pytest.raises(ValueError, match="does not match"):
        SigningKey("s", "ed25519", rsa_key().private)
    with pytest.raises(ValueError, match="not a valid DNS name"):
        SigningKey("bad selector", "rsa", rsa_key().private)
    with pytest.raises(ValueError, match="kind must be"):
        generate_key("dsa")  # type: ignore[arg-type]


def test_repr_shows_no_secret() -> None:
    for key in (rsa_key(), ed_key()):
        text = repr(key) + str(key)
        assert text.startswith("SigningKey(selector=") and "private" not in text
        raw = key.private.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        assert base64.b64encode(raw)[:40].decode() not in text


def test_dns_txt_value_shapes() -> None:
    rsa_txt = dns_txt_value(rsa_key())
    assert rsa_txt.startswith("v=DKIM1; k=rsa; p=MII")
    der = base64.b64decode(rsa_txt.split("p=")[1])
    assert serialization.load_der_public_key(der).public_numbers() == (  # type: ignore[union-attr]
        rsa_key().private.public_key().public_numbers()  # type: ignore[union-attr]
    )
    ed_txt = dns_txt_value(ed_key())
    assert ed_txt.startswith("v=DKIM1; k=ed25519; p=")
    assert len(base64.b64decode(ed_txt.split("p=")[1])) == 32  # raw key, RFC 8463


def test_public_key_matches_round_trip_and_tolerance() -> None:
    for key in (rsa_key(), ed_key()):
        txt = dns_txt_value(key)
        assert public_key_matches(key, txt)
        p = txt.split("p=")[1]
        kind = key.kind
        assert public_key_matches(key, f" V = DKIM1 ;\t  K={kind.upper()} ;  p = {p} ")
        assert public_key_matches(key, f"k={kind};p={p}")  # no v=
        assert public_key_matches(key, f'"v=DKIM1; k={kind}; " "p={p[:100]}" "{p[100:]}"')
        assert public_key_matches(key, f"v=DKIM1; h=sha256; k={kind}; p={p[:50]} {p[50:]} ;")
    assert public_key_matches(rsa_key(), dns_txt_value(rsa_key()).replace("k=rsa; ", ""))


def test_pkcs1_rsa_record_matches() -> None:
    pkcs1 = (
        rsa_key()
        .private.public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.PKCS1)
    )
    assert public_key_matches(rsa_key(), f"v=DKIM1; p={base64.b64encode(pkcs1).decode()}")


def test_public_key_mismatch_is_detected() -> None:
    other_rsa = SigningKey(
        "o", "rsa", rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    assert not public_key_matches(rsa_key(), dns_txt_value(other_rsa))
    assert not public_key_matches(ed_key(), dns_txt_value(rsa_key()))  # k=rsa
    assert not public_key_matches(rsa_key(), dns_txt_value(ed_key()))
    assert not public_key_matches(rsa_key(), "v=DKIM1; k=rsa; p=")  # revoked
    assert not public_key_matches(rsa_key(), "v=DKIM1; k=rsa; p=!!notbase64")
    assert not public_key_matches(rsa_key(), "v=DKIM2; " + dns_txt_value(rsa_key())[9:])
    assert not public_key_matches(rsa_key(), "")
    ed_p = dns_txt_value(ed_key()).split("p=")[1]
    assert not public_key_matches(rsa_key(), f"v=DKIM1; k=rsa; p={ed_p}")
