"""Keys, messages and an independent verifier (dkimpy) for the DKIM tests."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from email.message import EmailMessage
from email.policy import SMTP

from cryptography.hazmat.primitives import serialization

import dkim  # type: ignore[import-untyped]
from relaylane.dkim import DkimSigner, SigningKey, body_hash, dns_txt_value, generate_key

DOMAIN = "example.com"


@functools.cache
def rsa_key(selector: str = "rsa1") -> SigningKey:
    """An RSA-2048 key, generated once per test process."""
    private = serialization.load_pem_private_key(generate_key("rsa"), password=None)
    return SigningKey(selector, "rsa", private)  # type: ignore[arg-type]


@functools.cache
def ed_key(selector: str = "ed1") -> SigningKey:
    private = serialization.load_pem_private_key(generate_key("ed25519"), password=None)
    return SigningKey(selector, "ed25519", private)  # type: ignore[arg-type]


KEY_SETS = {"rsa": ("rsa",), "rsa+ed25519": ("rsa", "ed25519")}


def keys_for(kinds: Sequence[str]) -> list[SigningKey]:
    return [rsa_key() if kind == "rsa" else ed_key() for kind in kinds]


def dns(name: bytes, timeout: float = 5) -> bytes | None:
    """dkimpy's dnsfunc: the TXT records of the test keys, no network."""
    for key in (rsa_key(), rsa_key("rsa2"), ed_key()):
        if name == f"{key.selector}._domainkey.{DOMAIN}.".encode():
            return dns_txt_value(key).encode()
    return None


def split(message: bytes) -> tuple[bytes, bytes]:
    """(header block with its CRLFs, body) of a CRLF message."""
    head, _, body = message.partition(b"\r\n\r\n")
    return head + b"\r\n", body


def sign(message: bytes, signer: DkimSigner, timestamp: int | None = None) -> bytes:
    header, body = split(message)
    return signer.sign(header, body_hash(body), timestamp) + message


def verifies(message: bytes, idx: int = 0) -> bool:
    """dkimpy's verdict on signature `idx` (0 is the topmost); a mismatch it raises is False."""
    try:
        return bool(dkim.DKIM(message).verify(idx=idx, dnsfunc=dns))
    except dkim.ValidationError:
        return False


def all_verify(message: bytes, count: int) -> list[bool]:
    """Whether each of the `count` signatures verifies; dkimpy checks one index at a time."""
    assert (
        message.lower().count(b"\ndkim-signature:") + message.lower().startswith(b"dkim-signature:")
        == count
    )
    return [verifies(message, idx) for idx in range(count)]


def as_bytes(msg: EmailMessage) -> bytes:
    return msg.as_bytes(policy=SMTP)


def plain() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Acme <no-reply@example.com>"
    msg["To"] = "bob@example.org"
    msg["Subject"] = "Your order has shipped"
    msg["Date"] = "Mon, 01 Jan 2024 10:00:00 +0000"
    msg["Message-ID"] = "<1.abc@example.com>"
    msg.set_content("Hello Bob,\n\nyour order is on its way.\n")
    return as_bytes(msg)


def multipart() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Acme <no-reply@example.com>"
    msg["To"] = "bob@example.org"
    msg["Cc"] = "carol@example.org"
    msg["Subject"] = "Invoice"
    msg["Message-ID"] = "<2.abc@example.com>"
    msg["List-Unsubscribe"] = "<https://example.com/u/abc>, <mailto:u@example.com>"
    msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg.set_content("Your invoice is attached.\n")
    msg.add_alternative("<p>Your invoice is <b>attached</b>.</p>\n", subtype="html")
    msg.add_attachment(
        bytes(range(256)) * 8, maintype="application", subtype="pdf", filename="invoice.pdf"
    )
    return as_bytes(msg)


def eight_bit(cte: str = "quoted-printable") -> bytes:
    msg = EmailMessage()
    msg["From"] = "no-reply@example.com"
    msg["To"] = "bob@example.org"
    msg["Subject"] = "Grüße"
    msg.set_content("Grüße aus Köln — naïve café ✓\n" * 20, cte=cte)
    data = as_bytes(msg)
    assert max(data) < 128
    return data


def utf8_headers() -> bytes:
    msg = EmailMessage()
    msg["From"] = "Jürgen Müller <jm@example.com>"
    msg["To"] = "Zoë Ångström <zoe@example.org>, 山田 <yamada@example.org>"
    msg["Subject"] = "Prüfung der Größenordnung: ein sehr langer Betreff, der gefaltet wird ✓✓✓"
    msg["Reply-To"] = "Støtte <support@example.com>"
    msg.set_content("plain body\n")
    data = as_bytes(msg)
    assert b"=?utf-8?" in data and max(data) < 128
    return data


FOLDED = (
    b"From: Acme\r\n <no-reply@example.com>\r\n"
    b"To: a@example.org,\r\n\tb@example.org,\r\n   c@example.org\r\n"
    b"Subject: a subject\r\n  that is folded\r\n \tmore than once\r\n"
    b"References: <a@example.com>\r\n <b@example.com>\r\n <c@example.com>\r\n"
    b"\r\n"
    b"body\r\n"
)
REPEATED = (
    b"Received: from a by b; Mon, 1 Jan 2024 10:00:00 +0000\r\n"
    b"From: no-reply@example.com\r\n"
    b"To: first@example.org\r\n"
    b"Received: from c by d; Mon, 1 Jan 2024 10:00:01 +0000\r\n"
    b"Subject: repeated\r\n"
    b"To: second@example.org\r\n"
    b"\r\n"
    b"body\r\n"
)
TRAILING_WSP = (
    b"From: no-reply@example.com   \r\n"
    b"To:    bob@example.org\t\r\n"
    b"Subject:  spaced \t  out  \r\n"
    b"X-Other: x \r\n"
    b"\r\n"
    b"line with trailing spaces   \r\n"
    b"tabs\t\tinside \t here\r\n"
)
EMPTY_BODY = b"From: no-reply@example.com\r\nTo: bob@example.org\r\nSubject: empty\r\n\r\n"
TRAILING_BLANK_LINES = (
    b"From: no-reply@example.com\r\nTo: bob@example.org\r\nSubject: blank lines\r\n\r\n"
    b"text\r\n\r\n \r\n\r\n\r\n"
)
ALL_HEADERS = (
    b"From: Acme <no-reply@example.com>\r\n"
    b"Sender: bounce@example.com\r\n"
    b"To: bob@example.org\r\n"
    b"Cc: carol@example.org\r\n"
    b"Reply-To: help@example.com\r\n"
    b"Subject: all of them\r\n"
    b"Date: Mon, 01 Jan 2024 10:00:00 +0000\r\n"
    b"Message-ID: <3@example.com>\r\n"
    b"In-Reply-To: <0@example.org>\r\n"
    b"References: <0@example.org>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"Content-Transfer-Encoding: 7bit\r\n"
    b"List-Unsubscribe: <https://example.com/u>\r\n"
    b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    b"List-Id: News <news.example.com>\r\n"
    b"Feedback-ID: 1:news:acme:example.com\r\n"
    b"\r\n"
    b"hi\r\n"
)

MESSAGES = {
    "plain": plain,
    "multipart": multipart,
    "8bit-qp": lambda: eight_bit("quoted-printable"),
    "8bit-base64": lambda: eight_bit("base64"),
    "utf8-headers": utf8_headers,
    "folded": lambda: FOLDED,
    "repeated": lambda: REPEATED,
    "trailing-wsp": lambda: TRAILING_WSP,
    "empty-body": lambda: EMPTY_BODY,
    "trailing-blank-lines": lambda: TRAILING_BLANK_LINES,
    "all-headers": lambda: ALL_HEADERS,
}
