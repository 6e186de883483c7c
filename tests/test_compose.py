"""Building the stored message body (relaylane.delivery.compose)."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from email.utils import parsedate_to_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaylane.delivery.addresses import Address
from relaylane.delivery.compose import (
    API_FORBIDDEN_HEADERS,
    OWNED_HEADERS,
    Attachment,
    Composed,
    compose,
    forbidden_header,
)
from relaylane.delivery.eml import compose_eml
from relaylane.delivery.headers import delivery_headers
from relaylane.errors import InputError

GREETING = "Grüße 日本"
MSG_ID = "<01JTEST0000000000000000000@tx.acme.test>"
DATE = "Fri, 15 Jan 2027 08:00:00 +0000"


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def assert_wire_safe(data: bytes, *, utf8_headers: bool = False) -> None:
    """CRLF line endings only, lines <= 998 octets, 7-bit (headers UTF-8 if allowed)."""
    assert data.endswith(b"\r\n")
    lines = data[:-2].split(b"\r\n")
    for line in lines:
        assert b"\r" not in line, line
        assert b"\n" not in line, line
        assert len(line) <= 998
        assert b"\x00" not in line
    head, _, body = data.partition(b"\r\n\r\n")
    assert all(byte < 128 for byte in body)
    if utf8_headers:
        head.decode("utf-8")
    else:
        assert all(byte < 128 for byte in head)


def text_of(message: EmailMessage, subtype: str = "plain") -> str:
    part = message.get_body((subtype,))
    assert part is not None
    content = part.get_content()
    assert isinstance(content, str)
    return content.replace("\r\n", "\n")


def header_lines(data: bytes) -> list[bytes]:
    return data.partition(b"\r\n\r\n")[0].split(b"\r\n")


# --- compose: structure --------------------------------------------------------------


def test_text_only_is_text_plain() -> None:
    composed = compose(from_="Acme <no-reply@tx.acme.test>", subject="Hi", text="Hello\n")
    message = parse(composed.body)
    assert message.get_content_type() == "text/plain"
    assert message.get_content_charset() == "utf-8"
    assert text_of(message) == "Hello\n"
    assert composed.size == len(composed.body)
    assert composed.from_addr == Address("Acme", "no-reply", "tx.acme.test")
    assert (composed.has_message_id, composed.has_date, composed.has_to) == (False,) * 3
    assert not composed.needs_smtputf8


def test_html_only_is_text_html() -> None:
    composed = compose(from_="a@x.test", subject="Hi", html="<p>Hello</p>")
    message = parse(composed.body)
    assert message.get_content_type() == "text/html"
    assert text_of(message, "html") == "<p>Hello</p>\n"


def test_text_and_html_is_multipart_alternative() -> None:
    composed = compose(from_="a@x.test", subject="Hi", text=GREETING, html=f"<p>{GREETING}</p>")
    message = parse(composed.body)
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all("MIME-Version" not in p for p in parts)
    assert message["MIME-Version"] == "1.0"
    assert text_of(message) == GREETING + "\n"
    assert text_of(message, "html") == f"<p>{GREETING}</p>\n"
    assert_wire_safe(composed.body)


def test_no_body_is_refused() -> None:
    with pytest.raises(InputError) as info:
        compose(from_="a@x.test", subject="Hi")
    assert "--text-file" in info.value.fix
    assert "--eml" in info.value.fix


def test_no_message_id_date_or_to_in_the_stored_body() -> None:
    composed = compose(from_="a@x.test", subject="Hi", text="x")
    message = parse(composed.body)
    for name in ("Message-ID", "Date", "To"):
        assert name not in message


# --- compose: round trips and encoding ------------------------------------------------


def test_delivery_headers_plus_body_is_a_valid_message() -> None:
    composed = compose(
        from_="Jöhn Smith <no-reply@tx.acme.test>",
        subject=GREETING,
        text=f"Hello {GREETING}\n",
        html=f"<p>{GREETING}</p>",
        reply_to="Support <support@acme.test>",
    )
    prefix = delivery_headers(message_id=MSG_ID, date=DATE, to="Bøb <bob@example.test>")
    data = prefix + composed.body
    assert_wire_safe(data)
    message = parse(data)
    assert not message.defects
    assert message["Message-ID"] == MSG_ID
    assert message["Date"].datetime == parsedate_to_datetime(DATE)
    assert message["To"].addresses[0].addr_spec == "bob@example.test"
    assert message["To"].addresses[0].display_name == "Bøb"
    assert message["From"].addresses[0].display_name == "Jöhn Smith"
    assert message["From"].addresses[0].addr_spec == "no-reply@tx.acme.test"
    assert message["Reply-To"].addresses[0].addr_spec == "support@acme.test"
    assert message["Subject"] == GREETING
    assert text_of(message) == f"Hello {GREETING}\n"
    assert text_of(message, "html") == f"<p>{GREETING}</p>\n"
    for name in ("Message-ID", "Date", "To", "From", "Subject"):
        assert len(message.get_all(name) or []) == 1


def test_non_ascii_is_encoded_not_raw() -> None:
    composed = compose(from_="Jöhn <j@x.test>", subject=GREETING, text=GREETING)
    assert_wire_safe(composed.body)
    lines = header_lines(composed.body)
    assert any(line.startswith(b"Subject: =?utf-8?") for line in lines)
    assert any(line.startswith(b"From: =?utf-8?") for line in lines)
    assert b"Content-Transfer-Encoding: quoted-printable" in lines


def test_plain_ascii_body_stays_7bit() -> None:
    composed = compose(from_="a@x.test", subject="Hi", text="Hello,\n\nplain text.\n")
    assert b"Content-Transfer-Encoding: 7bit" in header_lines(composed.body)
    assert composed.body.endswith(b"\r\n\r\nHello,\r\n\r\nplain text.\r\n")


@pytest.mark.parametrize(
    "text",
    [
        "x" * 2000 + "\nshort\n",  # a line over 998 octets
        "trailing blanks   \nand a tab\t\n",  # relays may strip them
        "NUL \x00 and ESC \x1b\n",
        "From the start\n.\n..dots\n",
    ],
)
def test_awkward_bodies_round_trip(text: str) -> None:
    composed = compose(from_="a@x.test", subject="Hi", text=text)
    assert_wire_safe(composed.body)
    assert text_of(parse(composed.body)) == text


def test_line_endings_become_crlf() -> None:
    composed = compose(from_="a@x.test", subject="Hi", text="one\r\ntwo\rthree\nfour")
    assert_wire_safe(composed.body)
    assert composed.body.endswith(b"\r\n\r\none\r\ntwo\r\nthree\r\nfour\r\n")
    assert text_of(parse(composed.body)) == "one\ntwo\nthree\nfour\n"


def test_smtputf8_sender_keeps_utf8_header_and_7bit_body() -> None:
    composed = compose(from_="Jörg <jörg@x.test>", subject=GREETING, text=GREETING)
    assert composed.needs_smtputf8
    assert composed.from_addr.needs_smtputf8
    assert_wire_safe(composed.body, utf8_headers=True)
    assert "From: Jörg <jörg@x.test>".encode() in header_lines(composed.body)
    assert any(line.startswith(b"Subject: =?utf-8?") for line in header_lines(composed.body))
    assert text_of(parse(composed.body)) == GREETING + "\n"


def test_idn_sender_domain_is_punycode() -> None:
    composed = compose(from_="Bob <bob@bücher.test>", subject="Hi", text="x")
    assert b"From: Bob <bob@xn--bcher-kva.test>" in header_lines(composed.body)


def test_subject_blanks_trimmed_and_empty_subject_allowed() -> None:
    assert parse(compose(from_="a@x.test", subject="  Hi  ", text="x").body)["Subject"] == "Hi"
    assert parse(compose(from_="a@x.test", subject="", text="x").body)["Subject"] == ""


def test_long_subject_is_folded_and_round_trips() -> None:
    subject = " ".join(f"word{i}" for i in range(60))
    composed = compose(from_="a@x.test", subject=subject, text="x")
    assert_wire_safe(composed.body)
    assert all(len(line) <= 78 for line in header_lines(composed.body))
    assert parse(composed.body)["Subject"] == subject


# --- compose: extra headers ------------------------------------------------------------


def test_extra_headers_are_kept_verbatim() -> None:
    unsubscribe = (
        "<https://unsub.example.test/u/" + "A" * 150 + ">, <mailto:unsub@example.test?subject=u>"
    )
    composed = compose(
        from_="a@x.test",
        subject="Hi",
        text="x",
        html="<p>x</p>",
        headers={
            "List-Unsubscribe": unsubscribe,
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "X-Campaign": "Grüße",
            "Content-Language": "de",
        },
    )
    assert_wire_safe(composed.body)
    message = parse(composed.body)
    raw = composed.body.decode("ascii")
    # Folded at the comma's space only, never turned into encoded-words.
    unfolded = re.sub(r"\r\n(?=[ \t])", "", raw)
    assert f"List-Unsubscribe: {unsubscribe}\r\n" in unfolded
    assert "=?" not in unfolded.split("List-Unsubscribe:", 1)[1].split("\r\n", 1)[0]
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["X-Campaign"] == "Grüße"
    assert message["Content-Language"] == "de"  # stays on the top level


@pytest.mark.parametrize("name", [*OWNED_HEADERS, "TO", "Message-Id", "BCC", "Content-Type"])
def test_owned_headers_refused(name: str) -> None:
    with pytest.raises(InputError) as info:
        compose(from_="a@x.test", subject="Hi", text="x", headers={name: "v@x.test"})
    assert info.value.field == "--header"
    assert "relaylane sets it" in info.value.problem


@pytest.mark.parametrize("name", ["", "Bad Name", "Bad:Name", "Bäd", "X-\x01"])
def test_bad_header_names_refused(name: str) -> None:
    with pytest.raises(InputError, match="not a valid header name"):
        compose(from_="a@x.test", subject="Hi", text="x", headers={name: "v"})


def test_unbreakable_header_too_long_is_refused() -> None:
    with pytest.raises(InputError, match="too long"):
        compose(from_="a@x.test", subject="Hi", text="x", headers={"X-Token": "A" * 1200})


@pytest.mark.parametrize("name", ["", "Bad Name", "Bad:Name", "Bäd", "X-\x01", "X-Tag\r\n"])
def test_bad_header_name_names_the_header(name: str) -> None:
    with pytest.raises(InputError) as info:
        compose(from_="a@x.test", subject="Hi", text="x", headers={name: "v"})
    assert info.value.field == "headers"
    assert repr(name) in info.value.problem
    assert "X-Campaign" in info.value.fix


@pytest.mark.parametrize(
    "name",
    [
        "Return-Path",
        "DKIM-Signature",
        "Received",
        "RECEIVED",
        "dkim-signature",
        "X-Relaylane-Lane",
        "x-relaylane-priority",
        "X-RELAYLANE-",
    ],
)
def test_forbidden_headers_refused(name: str) -> None:
    assert forbidden_header(name) is not None
    with pytest.raises(InputError) as info:
        compose(from_="a@x.test", subject="Hi", text="x", headers={name: "v"})
    assert info.value.field == "headers"
    assert repr(name) in info.value.problem
    assert info.value.fix


def test_forbidden_header_reasons() -> None:
    assert {"return-path", "dkim-signature", "received"} == API_FORBIDDEN_HEADERS
    for name in API_FORBIDDEN_HEADERS:
        assert forbidden_header(name)
    assert "envelope" in (forbidden_header("Return-Path") or "")
    assert "relaylane" in (forbidden_header("DKIM-Signature") or "")
    assert "control" in (forbidden_header("X-Relaylane-Anything") or "")
    for allowed in ("X-Campaign", "List-Unsubscribe", "X-Relaylane", "Received-SPF", "To"):
        assert forbidden_header(allowed) is None


# --- compose: To and Cc ----------------------------------------------------------------


def test_cc_is_one_header_with_every_address() -> None:
    composed = compose(
        from_="a@x.test",
        subject="Hi",
        text="x",
        cc=['"Smith, J" <j@x.test>', "Bøb <bob@bücher.test>", "carol@y.test"],
    )
    assert_wire_safe(composed.body)
    message = parse(composed.body)
    assert len(message.get_all("Cc") or []) == 1
    cc = message["Cc"].addresses
    assert [a.addr_spec for a in cc] == ["j@x.test", "bob@xn--bcher-kva.test", "carol@y.test"]
    assert [a.display_name for a in cc] == ["Smith, J", "Bøb", ""]
    assert composed.cc_addrs == (
        Address("Smith, J", "j", "x.test"),
        Address("Bøb", "bob", "xn--bcher-kva.test"),
        Address("", "carol", "y.test"),
    )
    assert not composed.has_to
    assert composed.to_addrs == ()
    assert "To" not in message


def test_many_cc_addresses_are_folded() -> None:
    cc = [f"Person Number {i} <person{i}@example.test>" for i in range(40)]
    composed = compose(from_="a@x.test", subject="Hi", text="x", cc=cc)
    assert_wire_safe(composed.body)
    assert all(len(line) <= 78 for line in header_lines(composed.body))
    parsed = parse(composed.body)["Cc"].addresses
    assert [a.addr_spec for a in parsed] == [f"person{i}@example.test" for i in range(40)]


def test_to_list_is_written_and_no_delivery_to_needed() -> None:
    composed = compose(
        from_="a@x.test", subject="Hi", text="x", to=["Ann <ann@x.test>", "bob@y.test"]
    )
    assert composed.has_to
    assert composed.to_addrs == (Address("Ann", "ann", "x.test"), Address("", "bob", "y.test"))
    assert composed.cc_addrs == ()
    data = delivery_headers(message_id=MSG_ID, date=DATE, to=None) + composed.body
    assert_wire_safe(data)
    message = parse(data)
    assert len(message.get_all("To") or []) == 1
    assert [a.addr_spec for a in message["To"].addresses] == ["ann@x.test", "bob@y.test"]


def test_to_and_cc_with_smtputf8_address() -> None:
    composed = compose(
        from_="a@x.test", subject="Hi", text="x", to=["b@x.test"], cc=["jörg@x.test"]
    )
    assert composed.needs_smtputf8
    assert_wire_safe(composed.body, utf8_headers=True)
    assert "Cc: jörg@x.test".encode() in header_lines(composed.body)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"cc": ["ok@x.test", "not an address"]}, "cc"),
        ({"cc": ["c@x.test\r\nBcc: evil@x.test"]}, "cc"),
        ({"cc": [""]}, "cc"),
        ({"to": ["bob@"]}, "to"),
        ({"to": ["a@x.test, b@x.test"]}, "to"),
    ],
)
def test_bad_to_or_cc_refused(kwargs: dict[str, list[str]], field: str) -> None:
    with pytest.raises(InputError) as info:
        compose(from_="a@x.test", subject="Hi", text="x", **kwargs)  # type: ignore[arg-type]
    assert info.value.field == field


def test_cc_and_to_still_refused_as_extra_headers() -> None:
    for name in ("Cc", "To"):
        with pytest.raises(InputError, match="relaylane sets it"):
            compose(from_="a@x.test", subject="Hi", text="x", headers={name: "c@x.test"})


# --- compose: attachments ------------------------------------------------------------------

PDF = b"%PDF-1.4\x00\x01\x02\xff\xfe\r\n\n\rbinary" * 40


def attachment_parts(message: EmailMessage) -> list[EmailMessage]:
    return list(message.iter_attachments())  # type: ignore[arg-type]


def test_attachments_make_multipart_mixed() -> None:
    composed = compose(
        from_="a@x.test",
        subject="Hi",
        text=GREETING,
        html=f"<p>{GREETING}</p><img src='cid:logo@acme.test'>",
        headers={"Content-Language": "de"},
        attachments=[
            Attachment("report.pdf", PDF, "application/pdf"),
            Attachment("logo.png", b"\x89PNG\r\n", "image/PNG", content_id="logo@acme.test"),
            Attachment("data.bin", b""),
        ],
    )
    assert_wire_safe(composed.body)
    message = parse(composed.body)
    assert not message.defects
    assert message.get_content_type() == "multipart/mixed"
    assert message["MIME-Version"] == "1.0"
    assert message["Content-Language"] == "de"
    first, *files = message.iter_parts()
    assert first.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in first.iter_parts()] == ["text/plain", "text/html"]
    assert text_of(message) == GREETING + "\n"
    assert [p.get_content_type() for p in files] == [
        "application/pdf",
        "image/png",
        "application/octet-stream",
    ]
    pdf, logo, empty = files
    assert all(p["Content-Transfer-Encoding"] == "base64" for p in files)
    assert all("MIME-Version" not in p for p in message.walk() if p is not message)
    assert pdf.get_content_disposition() == "attachment"
    assert pdf.get_filename() == "report.pdf"
    assert pdf.get_content() == PDF
    assert "Content-ID" not in pdf
    assert logo.get_content_disposition() == "inline"
    assert logo["Content-ID"] == "<logo@acme.test>"
    assert logo.get_content() == b"\x89PNG\r\n"
    assert empty.get_content() == b""


def test_text_only_with_attachment() -> None:
    composed = compose(
        from_="a@x.test", subject="Hi", text="Hello\n", attachments=[Attachment("a.txt", b"x")]
    )
    message = parse(composed.body)
    assert message.get_content_type() == "multipart/mixed"
    body, attached = message.iter_parts()
    assert body.get_content_type() == "text/plain"
    assert text_of(message) == "Hello\n"
    assert attached.get_content() == b"x"


def test_content_id_in_brackets_is_not_doubled() -> None:
    composed = compose(
        from_="a@x.test",
        subject="Hi",
        html="<p>x</p>",
        attachments=[Attachment("l.png", b"x", "image/png", content_id="<l@x.test>")],
    )
    (logo,) = attachment_parts(parse(composed.body))
    assert logo["Content-ID"] == "<l@x.test>"


@pytest.mark.parametrize(
    "filename",
    [
        "Grüße.pdf",
        "日本語のファイル名.txt",
        "Grüße " + "ü" * 200 + ".pdf",  # long: RFC 2231 continuations
        "a" * 300 + ".bin",
        'quote " and backslash \\ ; semicolon = equals.txt',
    ],
)
def test_filenames_round_trip(filename: str) -> None:
    composed = compose(
        from_="a@x.test", subject="Hi", text="x", attachments=[Attachment(filename, b"data")]
    )
    assert_wire_safe(composed.body)
    (part,) = attachment_parts(parse(composed.body))
    assert part.get_filename() == filename


def test_non_ascii_filename_is_rfc2231_encoded_even_with_utf8_headers() -> None:
    composed = compose(
        from_="jörg@x.test",
        subject="Hi",
        text="x",
        attachments=[Attachment("Grüße.pdf", PDF, "application/pdf")],
    )
    assert composed.needs_smtputf8
    assert_wire_safe(composed.body, utf8_headers=True)  # the parts' headers stay 7-bit
    assert b"filename*=utf-8''Gr%C3%BC%C3%9Fe.pdf" in composed.body
    (part,) = attachment_parts(parse(composed.body))
    assert part.get_filename() == "Grüße.pdf"
    assert part.get_content() == PDF


@pytest.mark.parametrize(
    ("attachment", "match"),
    [
        (Attachment("", b"x"), "empty filename"),
        (Attachment("   ", b"x"), "empty filename"),
        (Attachment("a\r\nContent-Type: text/html.txt", b"x"), "line break"),
        (Attachment("a\n.txt", b"x"), "line break"),
        (Attachment("a\x00.txt", b"x"), "NUL"),
        (Attachment("a\x1b.txt", b"x"), "control character"),
        (Attachment("a.txt", b"x", "pdf"), "'pdf'"),
        (Attachment("a.txt", b"x", "text/plain; charset=utf-8"), "'text/plain; charset=utf-8'"),
        (Attachment("a.txt", b"x", "text/"), "'text/'"),
        (Attachment("a.txt", b"x", "te xt/plain"), "'te xt/plain'"),
        (Attachment("a.txt", b"x", "text/plain\r\nBcc: x@x.test"), "text/plain"),
        (Attachment("a.txt", b"x", "image/pñg"), "'image/pñg'"),
        (Attachment("a.txt", b"x", ""), "''"),
        (Attachment("a.eml", b"x", "message/rfc822"), "'message/rfc822'"),
        (Attachment("a.txt", b"x", "multipart/mixed"), "'multipart/mixed'"),
        (Attachment("a.png", b"x", "image/png", content_id="has space@x"), "content id"),
        (Attachment("a.png", b"x", "image/png", content_id=""), "content id"),
        (Attachment("a.png", b"x", "image/png", content_id="a\r\nb@x"), "content id"),
    ],
)
def test_bad_attachments_refused(attachment: Attachment, match: str) -> None:
    with pytest.raises(InputError, match=re.escape(match)) as info:
        compose(from_="a@x.test", subject="Hi", text="x", attachments=[attachment])
    assert info.value.field == "attachments"
    assert info.value.fix


def test_bad_content_type_error_names_the_fix() -> None:
    with pytest.raises(InputError) as info:
        compose(
            from_="a@x.test",
            subject="Hi",
            text="x",
            attachments=[Attachment("a.pdf", b"x", "application/pdf;name=a.pdf")],
        )
    assert "'a.pdf'" in info.value.problem
    assert "application/pdf" in info.value.fix


@settings(max_examples=100, deadline=None)
@given(
    filename=st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1
    ).filter(lambda s: s.strip() != ""),
    content=st.binary(max_size=2000),
    smtputf8=st.booleans(),
)
def test_attachments_always_round_trip(filename: str, content: bytes, smtputf8: bool) -> None:
    composed = compose(
        from_="jörg@x.test" if smtputf8 else "a@x.test",
        subject="Hi",
        text="x",
        attachments=[Attachment(filename, content, "application/octet-stream")],
    )
    assert_wire_safe(composed.body, utf8_headers=smtputf8)
    (part,) = attachment_parts(parse(composed.body))
    assert part.get_content() == content
    assert part.get_filename() == filename.strip()


# --- header injection ------------------------------------------------------------------

INJECTIONS = [
    "Reset\r\nBcc: evil@x.test",
    "Reset\nBcc: evil@x.test",
    "Reset\rBcc: evil@x.test",
    "Reset\x00",
    "Reset\u2028Bcc: evil@x.test",
    "Reset\x0bBcc: evil@x.test",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_in_subject_refused(value: str) -> None:
    with pytest.raises(InputError) as info:
        compose(from_="a@x.test", subject=value, text="x")
    assert info.value.field == "Subject"


@pytest.mark.parametrize("value", INJECTIONS)
def test_injection_in_extra_header_refused(value: str) -> None:
    with pytest.raises(InputError):
        compose(from_="a@x.test", subject="Hi", text="x", headers={"X-Tag": value})


@pytest.mark.parametrize(
    "kwargs",
    [
        {"from_": "a@x.test\r\nBcc: evil@x.test"},
        {"from_": "Reset\r\nBcc: evil@x.test <a@x.test>"},
        {"reply_to": "r@x.test\nBcc: evil@x.test"},
    ],
)
def test_injection_in_addresses_refused(kwargs: dict[str, str]) -> None:
    args = {"from_": "a@x.test", "subject": "Hi", "text": "x"} | kwargs
    with pytest.raises(InputError, match="inject"):
        compose(**args)


@pytest.mark.parametrize(
    "subject",
    [
        "=?utf-8?q?a=0D=0ABcc:_evil@x.test?= ü",  # encoded line breaks must not decode raw
        "=?utf-8?q?a=0ABcc:_evil@x.test?= ü",
        "=?utf-8?q?a=00?= ü",
    ],
)
def test_injection_hidden_in_encoded_words_refused(subject: str) -> None:
    with pytest.raises(InputError, match="decoded"):
        compose(from_="a@x.test", subject=subject, text="x")


def test_undecodable_body_refused() -> None:
    with pytest.raises(InputError, match="UTF-8"):
        compose(from_="a@x.test", subject="Hi", text="bad \udcff byte")


# --- property tests ----------------------------------------------------------------------

_REFUSED_IN_HEADERS = re.compile("[\x00-\x08\x0a-\x1f\x7f\x85\u2028\u2029]")


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(),
    subject=st.text().filter(lambda s: "\r" not in s and "\n" not in s),
    html=st.none() | st.text(),
)
def test_compose_output_is_always_7bit_crlf(text: str, subject: str, html: str | None) -> None:
    if _REFUSED_IN_HEADERS.search(subject):
        with pytest.raises(InputError):
            compose(from_="Ann <a@x.test>", subject=subject, text=text, html=html)
        return
    composed = compose(from_="Ann <a@x.test>", subject=subject, text=text, html=html)
    assert_wire_safe(composed.body)
    message = parse(delivery_headers(message_id=MSG_ID, date=DATE, to="b@x.test") + composed.body)
    assert message["Subject"] == subject.strip(" \t")
    expected = re.sub(r"\r\n|\r", "\n", text)
    if not expected.endswith("\n"):
        expected += "\n"
    assert text_of(message) == expected


@settings(max_examples=100, deadline=None)
@given(
    name=st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=80
    ).map(lambda s: " ".join(s.split())),
    value=st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"))),
)
def test_display_names_and_header_values_stay_7bit(name: str, value: str) -> None:
    sender = Address(name, "a", "x.test").header()
    if re.search(r"[^ \t]{900}", value.strip(" \t")):  # longer than a header line can hold
        with pytest.raises(InputError, match="too long"):
            compose(from_=sender, subject="Hi", text="x", headers={"X-Value": value})
        return
    composed = compose(from_=sender, subject="Hi", text="x", headers={"X-Value": value})
    assert_wire_safe(composed.body)
    assert composed.from_addr.display_name == name


# --- compose_eml --------------------------------------------------------------------------

EIGHT_BIT = (
    "From: Jöhn Smith <john@x.test>\r\n"
    "To: Bob <bob@y.test>\r\n"
    "Bcc: secret@z.test\r\n"
    "Subject: Grüße 日本\r\n"
    f"Message-ID: {MSG_ID}\r\n"
    f"Date: {DATE}\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "Hallo, Grüße 日本!\r\n"
    "Zweite Zeile.\r\n"
).encode()


def test_eml_8bit_message_becomes_7bit() -> None:
    composed = compose_eml(EIGHT_BIT)
    assert_wire_safe(composed.body)
    message = parse(composed.body)
    assert message["Content-Transfer-Encoding"] == "quoted-printable"
    assert text_of(message) == "Hallo, Grüße 日本!\nZweite Zeile.\n"
    assert message["Subject"] == GREETING
    assert message["From"].addresses[0].display_name == "Jöhn Smith"
    assert "Bcc" not in message
    assert b"secret@z.test" not in composed.body
    assert (composed.has_message_id, composed.has_date, composed.has_to) == (True,) * 3
    assert composed.from_addr == Address("Jöhn Smith", "john", "x.test")
    assert not composed.needs_smtputf8
    assert composed.size == len(composed.body)


def test_eml_untouched_headers_are_kept_byte_for_byte() -> None:
    composed = compose_eml(EIGHT_BIT)
    lines = header_lines(composed.body)
    assert f"Message-ID: {MSG_ID}".encode() in lines
    assert f"Date: {DATE}".encode() in lines
    assert b"To: Bob <bob@y.test>" in lines
    assert b"Content-Type: text/plain; charset=utf-8" in lines


def test_eml_long_and_folded_headers_are_not_refolded() -> None:
    token = "A" * 300
    raw = (
        b"From: a@x.test\r\n"
        b"X-Token: " + token.encode() + b"\r\n"
        b"X-Folded: one\r\n\ttwo\r\n"
        b"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n"
        b"\r\nx\r\n"
    )
    composed = compose_eml(raw)
    assert composed.body.startswith(raw.partition(b"\r\n\r\n")[0] + b"\r\n")


def test_eml_with_lf_line_endings_comes_out_crlf() -> None:
    raw = EIGHT_BIT.replace(b"\r\n", b"\n")
    composed = compose_eml(raw)
    assert_wire_safe(composed.body)
    assert text_of(parse(composed.body)) == "Hallo, Grüße 日本!\nZweite Zeile.\n"


def test_eml_multipart_with_8bit_parts() -> None:
    attachment = bytes(range(256)) * 4
    raw = (
        b"From: a@x.test\r\n"
        b"Subject: parts\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n'
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b"--b1\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n" + GREETING.encode() + b"\r\n"
        b"--b1\r\n"
        b"Content-Type: text/plain\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b"plain ascii declared 8bit\r\n"
        b"--b1\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b'Content-Disposition: attachment; filename="data.bin"\r\n'
        b"Content-Transfer-Encoding: binary\r\n"
        b"\r\n" + attachment + b"\r\n"
        b"--b1--\r\n"
    )
    composed = compose_eml(raw)
    assert_wire_safe(composed.body)
    message = parse(composed.body)
    assert message["Content-Transfer-Encoding"] == "7bit"
    text, ascii_part, binary = message.iter_parts()
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    # The CRLF before a boundary belongs to the boundary, not to the part.
    assert text.get_content() == GREETING
    assert ascii_part["Content-Transfer-Encoding"] == "7bit"  # relabelled, not re-encoded
    assert binary["Content-Transfer-Encoding"] == "base64"
    assert binary.get_filename() == "data.bin"
    # The part's content is everything up to the CRLF that belongs to the boundary.
    assert binary.get_content() == attachment


def test_eml_nested_message_is_made_7bit() -> None:
    inner = "From: c@x.test\r\nSubject: Grüße\r\n\r\nInnen: Grüße\r\n".encode()
    raw = (
        b"From: a@x.test\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b1"\r\n'
        b"\r\n"
        b"--b1\r\n"
        b"Content-Type: message/rfc822\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n" + inner + b"--b1--\r\n"
    )
    composed = compose_eml(raw)
    assert_wire_safe(composed.body)
    (part,) = parse(composed.body).iter_parts()
    assert part["Content-Transfer-Encoding"] == "7bit"
    embedded = part.get_content()
    assert embedded["Subject"] == "Grüße"
    assert text_of(embedded) == "Innen: Grüße"  # the last CRLF belongs to the boundary


def test_eml_utf8_filename_parameter_is_encoded() -> None:
    raw = (
        "From: a@x.test\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: application/pdf; name="Grüße.pdf"\r\n'
        'Content-Disposition: attachment; filename="Grüße.pdf"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "\r\n"
        "JVBERi0=\r\n"
    ).encode()
    composed = compose_eml(raw)
    assert_wire_safe(composed.body)
    assert parse(composed.body).get_filename() == "Grüße.pdf"


def test_eml_without_charset_gets_utf8_when_it_is_utf8() -> None:
    raw = "From: a@x.test\r\nSubject: x\r\n\r\nGrüße\r\n".encode()
    composed = compose_eml(raw)
    assert_wire_safe(composed.body)
    message = parse(composed.body)
    assert message["MIME-Version"] == "1.0"
    assert message.get_content_charset() == "utf-8"
    assert text_of(message) == "Grüße\n"
    assert (composed.has_message_id, composed.has_date, composed.has_to) == (False,) * 3


def test_eml_smtputf8_address_header_kept_utf8() -> None:
    raw = "From: Jörg <jörg@x.test>\r\nTo: ann@y.test\r\nSubject: Grüße\r\n\r\nhi\r\n".encode()
    composed = compose_eml(raw)
    assert composed.needs_smtputf8
    assert composed.from_addr.needs_smtputf8
    assert_wire_safe(composed.body, utf8_headers=True)
    lines = header_lines(composed.body)
    assert "From: Jörg <jörg@x.test>".encode() in lines
    assert any(line.startswith(b"Subject: =?utf-8?") for line in lines)  # still 7-bit


def test_eml_utf8_address_header_gets_punycode_and_encoded_names() -> None:
    raw = (
        "From: a@x.test\r\nTo: Grüße Team: Jöhn <j@bücher.test>, b@x.test;, c@x.test\r\n\r\nhi\r\n"
    )
    composed = compose_eml(raw.encode())
    assert_wire_safe(composed.body)
    to = parse(composed.body)["To"]
    assert [a.addr_spec for a in to.addresses] == [
        "j@xn--bcher-kva.test",
        "b@x.test",
        "c@x.test",
    ]
    assert to.groups[0].display_name == "Grüße Team"
    assert to.addresses[0].display_name == "Jöhn"


def test_eml_from_override() -> None:
    composed = compose_eml(EIGHT_BIT, from_override="Acme <no-reply@tx.acme.test>")
    message = parse(composed.body)
    assert message.get_all("From") == ["Acme <no-reply@tx.acme.test>"]
    assert header_lines(composed.body)[0] == b"From: Acme <no-reply@tx.acme.test>"
    assert composed.from_addr.addr == "no-reply@tx.acme.test"
    without_from = b"Subject: x\r\n\r\nbody\r\n"
    composed = compose_eml(without_from, from_override="a@x.test")
    assert header_lines(composed.body)[0] == b"From: a@x.test"


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (b"Subject: no sender\r\n\r\nbody\r\n", "no From"),
        (b"", "no From"),
        (b"From: a@x.test\r\nFrom: b@x.test\r\n\r\nx\r\n", "2 From headers"),
        (b"From: a@x.test, b@x.test\r\n\r\nx\r\n", "exactly one address"),
        (b"From: undisclosed\r\n\r\nx\r\n", "must have an @-sign"),
        (b"From: Team: ;\r\n\r\nx\r\n", "exactly one address"),
        ("From: Jöhn <bob@>\r\n\r\nx\r\n".encode(), "not a valid address"),
        (b"From: a@x.test\r\nSubject: caf\xe9\r\n\r\nx\r\n", "not UTF-8"),
        (b"From: a@x.test\r\nSubject: a\x00b\r\n\r\nx\r\n", "inject"),
        (b"From: a@x.test\r\nSubject: a\x0bb\r\n\r\nx\r\n", "control character"),
        (b"From: bob@\r\n\r\nx\r\n", "not a valid address"),
    ],
)
def test_eml_refused(raw: bytes, match: str) -> None:
    with pytest.raises(InputError, match=match) as info:
        compose_eml(raw)
    assert info.value.field.startswith("--eml")


def test_eml_long_header_line_is_refolded() -> None:
    words = " ".join(f"w{i}" for i in range(400))
    raw = f"From: a@x.test\r\nX-Long: {words}\r\n\r\nx\r\n".encode()
    composed = compose_eml(raw)
    assert_wire_safe(composed.body)
    assert parse(composed.body)["X-Long"] == words


def test_eml_then_delivery_headers() -> None:
    raw = b"From: a@x.test\r\nSubject: x\r\n\r\nbody\r\n"
    composed = compose_eml(raw)
    data = delivery_headers(message_id=MSG_ID, date=DATE, to="b@y.test") + composed.body
    assert_wire_safe(data)
    message = parse(data)
    assert (message["Message-ID"], message["To"]) == (MSG_ID, "b@y.test")


def test_composed_is_frozen() -> None:
    composed = compose(from_="a@x.test", subject="Hi", text="x")
    assert isinstance(composed, Composed)
    with pytest.raises(AttributeError):
        composed.size = 1  # type: ignore[misc]


@settings(max_examples=100, deadline=None)
@given(text=st.text(), blob=st.binary(max_size=600))
def test_eml_output_is_always_7bit_crlf(text: str, blob: bytes) -> None:
    raw = (
        b"From: a@x.test\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="=_b"\r\n'
        b"\r\n"
        b"--=_b\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n" + text.encode("utf-8", "surrogatepass") + b"\r\n"
        b"--=_b\r\n"
        b"Content-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: binary\r\n"
        b"\r\n" + blob + b"\r\n"
        b"--=_b--\r\n"
    )
    if b"--=_b" in raw.split(b"\r\n\r\n", 1)[1].replace(b"\r\n--=_b", b""):
        return  # the content itself looks like a boundary; not a message we can build
    composed = compose_eml(raw)
    assert_wire_safe(composed.body)
    text_part, blob_part = parse(composed.body).iter_parts()
    assert blob_part.get_content() == blob
    decoded = text_part.get_content()
    assert re.sub(r"\r\n|\r", "\n", decoded) == re.sub(r"\r\n|\r", "\n", text)


def test_a_letter_is_the_same_bytes_as_compose() -> None:
    from relaylane.delivery.compose import compose_letter, letterhead

    head = letterhead("Acme News <news@news.acme.test>", "help@acme.test")
    for subject, text, html in (
        ("Hello", "Hi\n", "<p>Hi</p>\n"),
        ("Grüße, Jürgen", "Lange Zeile " * 40 + "\n", "<p>é</p>"),
    ):
        letter = compose_letter(head, subject, text, html)
        full = compose(
            from_="Acme News <news@news.acme.test>", subject=subject, text=text, html=html,
            reply_to="help@acme.test",
        )  # fmt: skip
        strip = re.compile(rb"=+\d{19}==")  # the random MIME boundary
        assert strip.sub(b"B", letter) == strip.sub(b"B", full.body)
