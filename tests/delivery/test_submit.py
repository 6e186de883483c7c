"""Intake: what becomes of a submitted message before anything is sent."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from relaylane.config import Config
from relaylane.delivery.addresses import parse_address
from relaylane.delivery.compose import compose
from relaylane.delivery.eml import compose_eml
from relaylane.delivery.submit import build_message
from relaylane.errors import InputError
from tests.helpers import lane, make_config, relay

EML = (
    "From: Acme <no-reply@tx.acme.test>\r\n"
    "To: bob@example.test\r\n"
    "Bcc: secret@example.test\r\n"
    "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Grüße aus Köln\r\n"
).encode()


def config(tmp_path: Path, smtputf8: bool = False) -> Config:
    return make_config(
        "sqlite:///x.db", [relay("r1", 2525, smtputf8=smtputf8)], [lane("tx", ["r1"])], tmp_path
    )


def test_each_delivery_gets_its_own_message_id_date_and_to(tmp_path: Path) -> None:
    composed = compose(from_="Acme <no-reply@tx.acme.test>", subject="Hi", text="Hello\n")
    rcpts = [parse_address("a@example.test"), parse_address("b@example.test")]
    msg = build_message(config(tmp_path), "tx", composed, rcpts, time.time())
    assert len({d.header_message_id for d in msg.deliveries}) == 2
    for d in msg.deliveries:
        assert d.header_message_id.endswith("@tx.acme.test>")
        assert d.header_prefix.startswith(b"Message-ID: " + d.header_message_id.encode())
        assert b"\r\nDate: " in d.header_prefix
        assert d.header_prefix.endswith(f"To: {d.recipient}\r\n".encode())
    assert msg.expires_at - msg.created_at == 3600  # transactional default max_age


def test_eml_keeps_its_headers_drops_bcc_and_becomes_7bit(tmp_path: Path) -> None:
    composed = compose_eml(EML)
    msg = build_message(
        config(tmp_path), "tx", composed, [parse_address("bob@example.test")], time.time()
    )
    assert all(b < 128 for b in msg.body)
    assert b"Bcc" not in msg.body and b"secret@" not in msg.body
    [d] = msg.deliveries
    assert b"To:" not in d.header_prefix  # the message has its own To
    assert msg.mail_from == "no-reply@tx.acme.test"


def test_idn_recipient_goes_out_as_punycode(tmp_path: Path) -> None:
    composed = compose(from_="a@tx.acme.test", subject="x", text="x")
    rcpt = parse_address("anna@bücher.example")
    assert rcpt.addr == "anna@xn--bcher-kva.example"
    msg = build_message(config(tmp_path), "tx", composed, [rcpt], time.time())
    assert msg.deliveries[0].recipient == "anna@xn--bcher-kva.example"
    assert not msg.smtputf8


def test_utf8_local_part_needs_relays_that_support_smtputf8(tmp_path: Path) -> None:
    composed = compose(from_="a@tx.acme.test", subject="x", text="x")
    rcpt = parse_address("jörg@example.test")
    with pytest.raises(InputError, match="SMTPUTF8"):
        build_message(config(tmp_path), "tx", composed, [rcpt], time.time())
    msg = build_message(config(tmp_path, smtputf8=True), "tx", composed, [rcpt], time.time())
    assert msg.smtputf8


def test_unknown_lane_and_no_recipients_are_refused(tmp_path: Path) -> None:
    composed = compose(from_="a@tx.acme.test", subject="x", text="x")
    with pytest.raises(InputError, match="tx"):
        build_message(config(tmp_path), "nope", composed, [parse_address("a@example.test")], 0.0)
    with pytest.raises(InputError, match="no recipients"):
        build_message(config(tmp_path), "tx", composed, [], 0.0)
