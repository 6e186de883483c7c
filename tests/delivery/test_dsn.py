"""Delivery status notifications (relaylane.delivery.dsn), checked against RFC 3464."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage, Message
from email.utils import parsedate_to_datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from relaylane.delivery.dsn import ACTIONS, FailedRecipient, build_dsn, status_from_reply
from relaylane.errors import InputError

NOW = 1_800_000_000.0  # Fri, 15 Jan 2027 08:00:00 +0000
ARRIVAL = NOW - 3600
ORIGINAL = (
    b"From: Acme <no-reply@tx.acme.test>\r\n"
    b"To: bob@example.test\r\n"
    b"Subject: Your receipt\r\n"
    b"Message-ID: <orig-1@tx.acme.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"The body, which must not be returned.\r\n"
)
GMAIL_REPLY = (
    "550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n"
    "550-5.1.1 double-checking the recipient's email address for typos or\r\n"
    "550 5.1.1 unnecessary spaces. https://support.google.com/mail/?p=NoSuchUser"
)
BOB = FailedRecipient(
    recipient="bob@example.test",
    action="failed",
    status="5.1.1",
    diagnostic="550 5.1.1 <bob@example.test>: Recipient address rejected: User unknown",
    remote_mta="smtp.relay-a.test",
    last_attempt=NOW - 60,
)
CAROL = FailedRecipient(
    recipient="carol@example.test",
    action="failed",
    status="",
    diagnostic=GMAIL_REPLY,
    remote_mta="relay-b",
    last_attempt=None,
)


def dsn(*failed: FailedRecipient, **overrides: object) -> bytes:
    args: dict[str, object] = {
        "reporting_mta": "mx.relaylane.test",
        "original_envelope_from": "bounces@tx.acme.test",
        "original_message_id": "<orig-1@tx.acme.test>",
        "original_headers": ORIGINAL,
        "failed": failed or (BOB,),
        "arrival": ARRIVAL,
        "now": NOW,
        "from_domain": "tx.acme.test",
    } | overrides
    return build_dsn(**args)  # type: ignore[arg-type]


def parse(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def assert_wire_safe(data: bytes, *, utf8_headers: bool = False) -> None:
    """CRLF line endings only, lines <= 998 octets, 7-bit (headers UTF-8 if allowed)."""
    assert data.endswith(b"\r\n")
    for line in data[:-2].split(b"\r\n"):
        assert b"\r" not in line, line
        assert b"\n" not in line, line
        assert len(line) <= 998
        assert b"\x00" not in line
    head, _, body = data.partition(b"\r\n\r\n")
    assert body.isascii()
    if utf8_headers:
        head.decode("utf-8")
    else:
        assert head.isascii()


def parts(message: EmailMessage) -> list[EmailMessage]:
    return list(message.iter_parts())  # type: ignore[arg-type]


def report_blocks(message: EmailMessage) -> list[Message]:
    """The message/delivery-status groups: per-message fields, then one per recipient."""
    status = parts(message)[1]
    assert status.get_content_type() == "message/delivery-status"
    blocks = status.get_payload()
    assert isinstance(blocks, list)
    return blocks


def unfolded(value: str) -> str:
    return re.sub(r"\r?\n[ \t]", " ", value)


def human_text(message: EmailMessage) -> str:
    content = parts(message)[0].get_content()
    assert isinstance(content, str)
    return " ".join(content.split())


# --- structure ---------------------------------------------------------------------------


def test_top_level_headers() -> None:
    data = dsn()
    assert_wire_safe(data)
    message = parse(data)
    assert not message.defects
    sender = message["From"].addresses[0]
    assert sender.display_name == "Mail Delivery System"
    assert sender.addr_spec == "MAILER-DAEMON@tx.acme.test"
    assert message["To"].addresses[0].addr_spec == "bounces@tx.acme.test"
    assert message["Subject"] == "Undelivered Mail Returned to Sender"
    assert message["Date"].datetime.timestamp() == NOW
    assert re.fullmatch(r"<[0-9A-Z]{26}@tx\.acme\.test>", message["Message-ID"])
    assert message["Auto-Submitted"] == "auto-replied"
    assert message["MIME-Version"] == "1.0"
    assert message.get_content_type() == "multipart/report"
    assert message.get_param("report-type") == "delivery-status"
    for name in ("From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted"):
        assert len(message.get_all(name) or []) == 1


def test_three_parts_in_rfc_3464_order() -> None:
    message = parse(dsn())
    assert [p.get_content_type() for p in parts(message)] == [
        "text/plain",
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    assert all(not p.defects for p in message.walk())


def test_per_message_fields() -> None:
    per_message, *_ = report_blocks(parse(dsn()))
    assert per_message["Reporting-MTA"] == "dns; mx.relaylane.test"
    assert parsedate_to_datetime(per_message["Arrival-Date"]).timestamp() == ARRIVAL
    assert "Final-Recipient" not in per_message


def test_per_recipient_fields() -> None:
    _, bob, carol = report_blocks(parse(dsn(BOB, CAROL)))
    assert bob["Final-Recipient"] == "rfc822; bob@example.test"
    assert bob["Action"] == "failed"
    assert bob["Status"] == "5.1.1"
    assert bob["Remote-MTA"] == "dns; smtp.relay-a.test"
    assert bob["Diagnostic-Code"] == (
        "smtp; 550 5.1.1 <bob@example.test>: Recipient address rejected: User unknown"
    )
    assert parsedate_to_datetime(bob["Last-Attempt-Date"]).timestamp() == NOW - 60
    assert carol["Final-Recipient"] == "rfc822; carol@example.test"
    assert carol["Status"] == "5.1.1"  # derived from the reply
    assert carol["Remote-MTA"] == "dns; relay-b"
    assert "Last-Attempt-Date" not in carol


def test_required_fields_and_typed_values_in_every_block() -> None:
    """RFC 3464 2.2-2.3: Reporting-MTA per message; Final-Recipient, Action and Status per
    recipient; typed fields are `type; value`; Status is class.subject.detail."""
    per_message, *recipients = report_blocks(parse(dsn(BOB, CAROL)))
    typed = re.compile(r"[A-Za-z0-9-]+; \S.*")
    assert typed.fullmatch(per_message["Reporting-MTA"])
    assert len(recipients) == 2
    for block in recipients:
        assert typed.fullmatch(block["Final-Recipient"])
        assert block["Action"] in ACTIONS
        assert re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", block["Status"])
        for name in ("Remote-MTA", "Diagnostic-Code"):
            if name in block:
                assert typed.fullmatch(unfolded(block[name]))


def test_multi_line_reply_becomes_one_diagnostic_line() -> None:
    data = dsn(CAROL)
    assert_wire_safe(data)
    _, carol = report_blocks(parse(data))
    diagnostic = unfolded(carol["Diagnostic-Code"])
    assert diagnostic == (
        "smtp; 550 5.1.1 The email account that you tried to reach does not exist. Please try "
        "double-checking the recipient's email address for typos or unnecessary spaces. "
        "https://support.google.com/mail/?p=NoSuchUser"
    )
    raw = data.decode("ascii")
    assert "Diagnostic-Code: smtp; 550 5.1.1 The email" in raw
    assert all(len(line) <= 78 for line in raw.split("\r\n"))  # folded


def test_human_part_lists_each_recipient_and_reply() -> None:
    message = parse(dsn(BOB, CAROL))
    human = parts(message)[0]
    assert human.get_content_charset() == "us-ascii"
    assert human["Content-Transfer-Encoding"] == "7bit"
    text = human_text(message)
    assert "mx.relaylane.test" in text
    assert "<orig-1@tx.acme.test>" in text
    assert "<bob@example.test>: failed (5.1.1)" in text
    assert "Recipient address rejected: User unknown" in text
    assert "smtp.relay-a.test" in text
    assert "<carol@example.test>: failed (5.1.1)" in text
    assert "double-checking the recipient's email address" in text


def test_original_headers_only_the_header_block() -> None:
    data = dsn()
    headers = parts(parse(data))[2]
    assert headers["Content-Transfer-Encoding"] in (None, "7bit")
    assert headers.get_payload(decode=True) == ORIGINAL.split(b"\r\n\r\n")[0] + b"\r\n"
    assert b"must not be returned" not in data


def test_original_headers_with_lf_endings_and_8bit() -> None:
    original = "From: Jöhn <j@x.test>\nSubject: Grüße\n\nBody Grüße\n".encode()
    data = dsn(original_headers=original)
    assert_wire_safe(data)
    headers = parts(parse(data))[2]
    assert headers["Content-Transfer-Encoding"] == "quoted-printable"
    assert (
        headers.get_payload(decode=True) == "From: Jöhn <j@x.test>\r\nSubject: Grüße\r\n".encode()
    )


def test_headers_only_original_without_blank_line() -> None:
    data = dsn(original_headers=b"From: a@x.test\r\nSubject: s")
    assert_wire_safe(data)
    assert parts(parse(data))[2].get_payload(decode=True) == b"From: a@x.test\r\nSubject: s\r\n"


def test_no_original_headers_gives_two_parts() -> None:
    for original in (b"", b"\r\nbody only\r\n"):
        data = dsn(original_headers=original)
        assert_wire_safe(data)
        assert [p.get_content_type() for p in parts(parse(data))] == [
            "text/plain",
            "message/delivery-status",
        ]


# --- delayed, actions and status ------------------------------------------------------------


def test_all_delayed_is_delayed_mail() -> None:
    delayed = FailedRecipient("bob@example.test", "delayed", "", None, None, None)
    message = parse(dsn(delayed))
    assert message["Subject"] == "Delayed Mail"
    _, block = report_blocks(message)
    assert (block["Action"], block["Status"]) == ("delayed", "4.0.0")
    assert "keep trying" in human_text(message)
    assert parts(message)[2]["Content-Description"] == "Delayed Message Headers"


def test_mixed_failed_and_delayed_is_undelivered() -> None:
    delayed = FailedRecipient("dan@example.test", "Delayed", "4.2.2", "452 4.2.2 full", None, None)
    message = parse(dsn(BOB, delayed))
    assert message["Subject"] == "Undelivered Mail Returned to Sender"
    assert [b["Action"] for b in report_blocks(message)[1:]] == ["failed", "delayed"]


@pytest.mark.parametrize(
    ("status", "diagnostic", "expected"),
    [
        ("5.1.1", None, "5.1.1"),
        (" 5.01.001 ", None, "5.1.1"),
        ("", None, "5.0.0"),
        ("unknown", "550 5.7.1 spam", "5.7.1"),
        ("", "554 rejected", "5.0.0"),
        ("", "5.2.2 mailbox full", "5.2.2"),
        ("", "connection refused", "5.0.0"),
        ("9.9.9", "550 5.4.1 no access", "5.4.1"),
    ],
)
def test_status_is_given_or_derived(status: str, diagnostic: str | None, expected: str) -> None:
    entry = FailedRecipient("bob@example.test", "failed", status, diagnostic, None, None)
    _, block = report_blocks(parse(dsn(entry)))
    assert block["Status"] == expected


@pytest.mark.parametrize(
    ("code", "reply", "expected"),
    [
        (550, "5.1.1 user unknown", "5.1.1"),
        (None, "550 5.1.1 user unknown", "5.1.1"),
        (None, "550-5.1.1 a\r\n550 5.1.1 b", "5.1.1"),
        (550, "#5.1.0 Address rejected", "5.1.0"),
        (550, "5.01.001 padded", "5.1.1"),
        (550, "user unknown", "5.0.0"),
        (None, "452 too many recipients", "4.0.0"),
        (421, "4.7.0 try later", "4.7.0"),
        (550, "4.7.0 class disagrees with the code", "5.0.0"),
        (450, "5.1.1 class disagrees with the code", "4.0.0"),
        (None, "", "5.0.0"),
        (None, "connection timed out", "5.0.0"),
        (None, "4.4.1 no answer", "4.4.1"),
        (250, "2.0.0 ok", "2.0.0"),
        (999, "", "5.0.0"),
        (354, "go ahead", "5.0.0"),
    ],
)
def test_status_from_reply(code: int | None, reply: str, expected: str) -> None:
    assert status_from_reply(code, reply) == expected


# --- sanitizing -----------------------------------------------------------------------------------


def test_diagnostic_cannot_inject_fields_or_headers() -> None:
    entry = FailedRecipient(
        "bob@example.test",
        "failed",
        "5.1.1",
        "550 5.1.1 no\r\nAction: delivered\r\n\r\nFinal-Recipient: rfc822; evil@x.test\x00\x1b",
        "relay\r\nX-Evil: 1",
        None,
    )
    data = dsn(entry)
    assert_wire_safe(data)
    blocks = report_blocks(parse(data))
    assert len(blocks) == 2
    block = blocks[1]
    assert block.get_all("Action") == ["failed"]
    assert block.get_all("Final-Recipient") == ["rfc822; bob@example.test"]
    assert "X-Evil" not in block
    assert block["Remote-MTA"] == "dns; relay X-Evil: 1"
    assert unfolded(block["Diagnostic-Code"]) == (
        "smtp; 550 5.1.1 no Action: delivered Final-Recipient: rfc822; evil@x.test"
    )


def test_long_unbreakable_diagnostic_stays_within_line_limits() -> None:
    token = "A" * 3000
    entry = FailedRecipient("bob@example.test", "failed", "5.0.0", f"550 {token}", None, None)
    data = dsn(entry)
    assert_wire_safe(data)
    _, block = report_blocks(parse(data))
    assert unfolded(block["Diagnostic-Code"]).replace(" ", "") == f"smtp;550{token}"


def test_non_ascii_recipient_and_diagnostic_stay_7bit() -> None:
    entry = FailedRecipient(
        "jörg+tag=x@bücher.test", "failed", "5.1.1", "550 5.1.1 Jörg?", None, None
    )
    data = dsn(entry)
    assert_wire_safe(data)
    message = parse(data)
    _, block = report_blocks(message)
    # RFC 6533 utf-8-addr-xtext: non-ASCII, '+' and '=' as \x{HEX}
    assert block["Final-Recipient"] == "utf-8; j\\x{F6}rg\\x{2B}tag\\x{3D}x@b\\x{FC}cher.test"
    assert block["Diagnostic-Code"] == "smtp; 550 5.1.1 J\\x{F6}rg?"
    human = parts(message)[0]
    assert human.get_content_charset() == "utf-8"
    assert human["Content-Transfer-Encoding"] == "quoted-printable"
    assert "<jörg+tag=x@bücher.test>: failed (5.1.1)" in human_text(message)


def test_diagnostic_without_reply_code_is_not_smtp() -> None:
    entry = FailedRecipient(
        "bob@example.test", "failed", "", "message expired after 5 days", None, None
    )
    _, block = report_blocks(parse(dsn(entry)))
    assert block["Diagnostic-Code"] == "X-Relaylane; message expired after 5 days"
    assert block["Status"] == "5.0.0"


def test_smtputf8_envelope_sender_gets_utf8_to_header_only() -> None:
    data = dsn(original_envelope_from="<jörg@x.test>")
    assert_wire_safe(data, utf8_headers=True)
    assert "To: jörg@x.test\r\n".encode() in data
    message = email.message_from_string(data.decode("utf-8"), policy=email.policy.default)
    assert message["To"].addresses[0].addr_spec == "jörg@x.test"
    assert not message.defects


def test_envelope_sender_in_angle_brackets_and_idn_domain() -> None:
    message = parse(dsn(original_envelope_from="<b@bücher.test>", from_domain="Bücher.test"))
    assert message["To"].addresses[0].addr_spec == "b@xn--bcher-kva.test"
    assert message["From"].addresses[0].addr_spec == "MAILER-DAEMON@xn--bcher-kva.test"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"original_envelope_from": ""}, "original_envelope_from"),
        ({"original_envelope_from": "<>"}, "original_envelope_from"),
        ({"original_envelope_from": "not an address"}, "original_envelope_from"),
        ({"original_envelope_from": "Bob <b@x.test>"}, "original_envelope_from"),
        ({"failed": ()}, "failed"),
        ({"failed": (FailedRecipient("b@x.test", "bounced", "", None, None, None),)}, "failed"),
        ({"from_domain": "not a domain"}, "Message-ID domain"),
        ({"reporting_mta": " \r\n "}, "reporting_mta"),
    ],
)
def test_refused(overrides: dict[str, object], field: str) -> None:
    with pytest.raises(InputError) as info:
        dsn(**overrides)
    assert info.value.field == field
    assert info.value.fix


def test_boundary_not_in_content() -> None:
    message = parse(dsn(BOB, CAROL))
    boundary = message.get_boundary()
    assert boundary is not None
    assert 1 <= len(boundary) <= 70
    assert re.fullmatch(r"[0-9A-Za-z'()+_,./:=?-]+", boundary)


# --- property test -------------------------------------------------------------------------------

_TEXT = st.text(max_size=300)


@settings(max_examples=150, deadline=None)
@given(
    recipients=st.lists(
        st.tuples(
            st.emails(),
            st.sampled_from(["failed", "delayed"]),
            _TEXT,
            st.none() | _TEXT,
            st.none() | _TEXT,
        ),
        min_size=1,
        max_size=4,
    ),
    original=st.binary(max_size=2000),
    message_id=_TEXT,
)
def test_dsn_is_always_wire_safe_and_parses(
    recipients: list[tuple[str, str, str, str | None, str | None]],
    original: bytes,
    message_id: str,
) -> None:
    failed = [
        FailedRecipient(addr, action, status, diagnostic, remote, NOW)
        for addr, action, status, diagnostic, remote in recipients
    ]
    data = dsn(*failed, original_headers=original, original_message_id=message_id)
    assert_wire_safe(data)
    message = parse(data)
    blocks = report_blocks(message)
    assert len(blocks) == len(failed) + 1
    for block, entry in zip(blocks[1:], failed, strict=True):
        assert block["Action"] == entry.action
        assert re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", block["Status"])
