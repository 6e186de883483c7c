"""Single header values and the per-delivery header lines (relaylane.delivery.headers)."""

from __future__ import annotations

import email
import email.policy
import re
import time
from datetime import UTC
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest

from relaylane.delivery.addresses import parse_address
from relaylane.delivery.headers import (
    check_header_value,
    delivery_headers,
    format_date,
    new_message_id,
)
from relaylane.errors import InputError

MSG_ID = "<01JTEST0000000000000000000@tx.acme.test>"
DATE = "Fri, 15 Jan 2027 08:00:00 +0000"


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def test_check_header_value_messages() -> None:
    with pytest.raises(InputError) as info:
        check_header_value("Subject", "Reset\r\nBcc: evil@x.test")
    assert info.value.field == "Subject"
    assert "inject" in info.value.problem
    check_header_value("X-Ok", "plain value\twith tab")


# --- delivery headers ------------------------------------------------------------------


def test_delivery_headers_exact_bytes() -> None:
    assert delivery_headers(message_id=MSG_ID, date=DATE, to="bob@example.test") == (
        f"Message-ID: {MSG_ID}\r\nDate: {DATE}\r\nTo: bob@example.test\r\n".encode()
    )
    assert delivery_headers(message_id=None, date=None, to="bob@example.test") == (
        b"To: bob@example.test\r\n"
    )
    assert delivery_headers(message_id=None, date=None, to=None) == b""


def test_delivery_headers_encode_to() -> None:
    address = parse_address("Bøb Smith <bob@example.test>")
    assert delivery_headers(message_id=None, date=None, to=address.header()).isascii()
    raw = delivery_headers(message_id=None, date=None, to="Bøb Smith <bob@example.test>")
    assert raw.isascii()
    assert parse(raw + b"\r\n")["To"].addresses[0].display_name == "Bøb Smith"
    utf8 = delivery_headers(message_id=None, date=None, to="jörg@x.test")
    assert utf8 == "To: jörg@x.test\r\n".encode()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"to": "bob@x.test\r\nBcc: evil@x.test"},
        {"message_id": "<a@b>\r\nBcc: evil@x.test"},
        {"message_id": "no-brackets@x.test"},
        {"message_id": "<two words@x.test>"},
        {"date": "Fri\nBcc: evil@x.test"},
        {"date": "  "},
    ],
)
def test_delivery_headers_refuse_bad_values(kwargs: dict[str, str]) -> None:
    args: dict[str, str | None] = {"message_id": None, "date": None, "to": None}
    with pytest.raises(InputError):
        delivery_headers(**(args | kwargs))


def test_new_message_id_format_and_order() -> None:
    first = new_message_id("tx.acme.test")
    time.sleep(0.003)
    second = new_message_id("TX.Acme.Test")
    pattern = r"<[0-9A-HJKMNP-TV-Z]{26}@tx\.acme\.test>"
    assert re.fullmatch(pattern, first)
    assert re.fullmatch(pattern, second)
    assert first < second  # time-ordered
    assert len({new_message_id("x.test") for _ in range(2000)}) == 2000
    assert delivery_headers(message_id=first, date=None, to=None) == (
        f"Message-ID: {first}\r\n".encode()
    )


def test_new_message_id_domain() -> None:
    assert new_message_id("bücher.test").endswith("@xn--bcher-kva.test>")
    for bad in ["", "bad domain", "x@y.test", "-x.test", "a..b"]:
        with pytest.raises(InputError):
            new_message_id(bad)


def test_format_date() -> None:
    ts = 1_800_000_000.75
    text = format_date(ts)
    assert text == "Fri, 15 Jan 2027 08:00:00 +0000"
    parsed = parsedate_to_datetime(text)
    assert parsed.tzinfo is not None
    assert parsed.astimezone(UTC).timestamp() == int(ts)
