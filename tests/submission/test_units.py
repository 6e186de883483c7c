"""The pure parts: header filter, bare line breaks, trace line, replies, TLS, client IP."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509

from relaylane.errors import InputError, Unavailable
from relaylane.submission import replies
from relaylane.submission.accept import requested_lane
from relaylane.submission.auth import client_ip
from relaylane.submission.headers import (
    RemovedHeader,
    bare_line_break,
    received_header,
    strip_control_headers,
)
from relaylane.submission.tls import self_signed_context, self_signed_pair

MESSAGE = (
    b"Received: from a.test\r\n\tby b.test; Mon, 1 Jan 2029 00:00:00 +0000\r\n"
    b"X-Relaylane-Lane: tx2\r\n"
    b"From: app@tx.acme.test\r\n"
    b"x-RELAYLANE-tags: one,\r\n two,\r\n\tthree\r\n"
    b"Subject: folded\r\n continues here\r\n"
    b"Return-Path: <evil@x.test>\r\n"
    b"X-Relaylane-Lane-Not-Quite: still ours\r\n"
    b"X-Relaylaned: not ours\r\n"
    b"\r\n"
    b"X-Relaylane-Lane: in the body, kept\r\n"
    b"Return-Path: kept too\r\n"
)


def test_strip_control_headers_removes_folded_headers_only_from_the_header_block() -> None:
    kept, removed = strip_control_headers(MESSAGE)
    assert kept == (
        b"Received: from a.test\r\n\tby b.test; Mon, 1 Jan 2029 00:00:00 +0000\r\n"
        b"From: app@tx.acme.test\r\n"
        b"Subject: folded\r\n continues here\r\n"
        b"X-Relaylaned: not ours\r\n"
        b"\r\n"
        b"X-Relaylane-Lane: in the body, kept\r\n"
        b"Return-Path: kept too\r\n"
    )
    assert removed == [
        RemovedHeader("x-relaylane-lane", "tx2"),
        RemovedHeader("x-relaylane-tags", "one, two,\tthree"),
        RemovedHeader("return-path", "<evil@x.test>"),
        RemovedHeader("x-relaylane-lane-not-quite", "still ours"),
    ]


def test_strip_control_headers_agrees_with_the_parser_on_the_end_of_headers() -> None:
    # "Name : value" is no header line to the email package: the body starts there.
    raw = b"From: a@b.test\r\nX-Relaylane-Lane : tx\r\nX-Relaylane-Lane: mkt\r\n"
    assert strip_control_headers(raw) == (raw, [])
    assert strip_control_headers(b"") == (b"", [])
    no_body = b"X-Relaylane-Lane: tx\r\nFrom: a@b.test\r\n"
    assert strip_control_headers(no_body)[0] == b"From: a@b.test\r\n"


@pytest.mark.parametrize(
    ("data", "bare"),
    [
        (b"a\r\nb\r\n", False),
        (b"", False),
        (b"a\nb", True),
        (b"a\rb", True),
        (b"a\r\n.\n", True),
        (b"a\n.\r\n", True),
        (b"a\r\r\n", True),
        (b"a\r", True),
        (b"\na", True),
    ],
)
def test_bare_line_break(data: bytes, bare: bool) -> None:
    assert bare_line_break(data) is bare


def test_received_header_is_clean_ascii() -> None:
    line = received_header(
        helo="evil\r\nX-Injected: 1 host", ip="::1", hostname="mx.test", tls=True, now=0.0
    )
    assert line == (
        b"Received: from evil??X-Injected:?1?host ([IPv6:::1])\r\n"
        b"\tby mx.test (relaylane) with ESMTPSA;\r\n"
        b"\tThu, 01 Jan 1970 00:00:00 +0000\r\n"
    )
    assert b"with ESMTPA;" in received_header(
        helo=None, ip="127.0.0.1", hostname="mx.test", tls=False, now=0.0
    )


def test_requested_lane() -> None:
    assert requested_lane([]) is None
    assert requested_lane([RemovedHeader("x-relaylane-lane", "")]) is None
    same = [RemovedHeader("x-relaylane-lane", "tx")] * 2
    assert requested_lane(same) == "tx"
    with pytest.raises(InputError, match="names 2 different lanes"):
        requested_lane(
            [RemovedHeader("x-relaylane-lane", "tx"), RemovedHeader("x-relaylane-lane", "mkt")]
        )


def test_replies() -> None:
    assert replies.queued([41, 42]) == "250 2.0.0 queued as 41,42"
    assert replies.queued(list(range(1, 1001))) == "250 2.0.0 queued as 1-1000"
    assert replies.queued([*range(1, 12), 40]).endswith("queued as 1,2,3,4,5,6,7,8,9,10 and 2 more")
    long = replies.reply(550, "5.6.0", "bad\r\nline " + "x" * 1000)
    assert long.startswith("550 5.6.0 bad line xx") and len(long) < 512 and "\r" not in long
    assert replies.unavailable(Unavailable("store down", 0.2)) == (
        "451 4.3.0 store down; nothing was queued, try again in 1 s"
    )
    error = InputError("--eml", "the message has no From header", "add one")
    assert replies.input_error(error) == "550 5.6.0 the message has no From header. Fix: add one"


def test_self_signed_certificate_names() -> None:
    cert_pem, _ = self_signed_pair("submit.example.test")
    cert = x509.load_pem_x509_certificate(cert_pem)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["submit.example.test", "localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    assert self_signed_context("127.0.0.1").cert_store_stats() is not None


def test_client_ip() -> None:
    assert client_ip(("::ffff:127.0.0.2", 25, 0, 0)) == "127.0.0.2"
    assert client_ip(("127.0.0.3", 25)) == "127.0.0.3"
    assert client_ip(("fe80::1%eth0", 25, 0, 2)) == "fe80::1"
