"""parse_report: total on any input (properties), and focused readings of DSN/ARF details."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relaylane.bounces.classes import classify_finding
from relaylane.bounces.parse import parse_report
from relaylane.bounces.report import Event, ParsedReport, ReportKind

CORPUS = Path(__file__).parent / "corpus"
SAMPLES = [path.read_bytes() for path in sorted(CORPUS.glob("*.eml"))]
TOKEN = "abcdefghijklmnopqrstuvwxyz234567"
OTHER = "mfrggzdfmztwq2lknnwg23tpobyxe43u"
_TOKEN_SHAPE = re.compile(r"[a-z2-7]{20,60}")

PROPS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check_total(raw: bytes) -> ParsedReport:
    """What every reading must satisfy, whatever the input."""
    report = parse_report(raw)
    assert isinstance(report, ParsedReport)
    assert report.findings
    assert all(_TOKEN_SHAPE.fullmatch(token) for token in report.ids)
    assert all("@" in address for address in report.addresses)
    if report.kind is ReportKind.AUTO_REPLY:
        assert all(f.event is Event.AUTO_REPLY for f in report.findings)
    for finding in report.findings:
        classify_finding(finding)  # total as well
    return report


# ------------------------------------------------------------------ properties


@PROPS
@given(st.binary(max_size=4000))
def test_arbitrary_bytes(raw: bytes) -> None:
    check_total(raw)


@PROPS
@given(st.text(max_size=3000))
def test_arbitrary_text(text: str) -> None:
    check_total(text.encode("utf-8", errors="surrogatepass"))


@PROPS
@given(
    st.sampled_from(SAMPLES),
    st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 255)), max_size=12),
    st.floats(0.05, 1),
)
def test_mutated_corpus_samples(sample: bytes, flips: list[tuple[float, int]], keep: float) -> None:
    data = bytearray(sample)
    for where, value in flips:
        data[int(where * len(data))] = value
    check_total(bytes(data[: max(1, int(len(data) * keep))]))


HEADER_NAMES = st.sampled_from(
    [
        "From",
        "To",
        "Subject",
        "Content-Type",
        "Content-Transfer-Encoding",
        "Auto-Submitted",
        "X-Autoreply",
        "Precedence",
        "Delivered-To",
        "X-Original-To",
        "Envelope-To",
        "X-Failed-Recipients",
        "X-Relaylane-ID",
        "MIME-Version",
    ]
)
HEADER_VALUES = st.one_of(
    st.text(max_size=80).map(lambda s: s.replace("\n", " ").replace("\r", " ")),
    st.sampled_from(
        [
            "multipart/report; report-type=delivery-status; boundary=b",
            "multipart/report; report-type=feedback-report; boundary=b",
            "multipart/report; report-type*=us-ascii''feedback-report; boundary=\"b",
            "message/delivery-status",
            "text/plain; charset=bogus-charset",
            "base64",
            "quoted-printable",
            "auto-replied",
            "=?utf-8?b?w6k=?= =?bad?q?x?=",
            "<b-" + TOKEN + "@bounces.acme.test>",
            TOKEN,
            "Undelivered Mail Returned to Sender",
            "Automatic reply: hello",
        ]
    ),
)
BODIES = st.one_of(
    st.text(max_size=400),
    st.sampled_from(
        [
            "--b\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@b.test\n",
            "Hi. This is the qmail-send program\n\n<x@y.test>:\nRemote host said: 550 5.1.1\n",
            "I am out of the office",
            "--b--\n",
        ]
    ),
)


@PROPS
@given(st.lists(st.tuples(HEADER_NAMES, HEADER_VALUES), max_size=12), BODIES)
def test_random_headers(headers: list[tuple[str, str]], body: str) -> None:
    head = "".join(f"{name}: {value}\n" for name, value in headers)
    check_total(f"{head}\n{body}".encode("utf-8", errors="surrogatepass"))


FIELD_NAMES = st.sampled_from(
    [
        "Reporting-MTA",
        "Final-Recipient",
        "Original-Recipient",
        "Action",
        "Status",
        "Diagnostic-Code",
        "Remote-MTA",
        "Feedback-Type",
        "User-Agent",
        "Original-Rcpt-To",
        "Disposition",
        "X-Relaylane-ID",
    ]
)
FIELD_VALUES = st.one_of(
    st.text(max_size=60).map(lambda s: s.replace("\n", " ").replace("\r", " ")),
    st.sampled_from(
        [
            "rfc822; someone@example.test",
            "rfc822;",
            "failed",
            "delayed",
            "relayed (x)",
            "5.01.001",
            "4.4.7",
            "9.9.9",
            "smtp; 550-5.1.1 a\n 550 5.1.1 b",
            "smtp;",
            "abuse",
            "not-spam",
            TOKEN,
            "<" + TOKEN + ">",
        ]
    ),
)
PART_TYPES = st.sampled_from(
    [
        "message/delivery-status",
        "message/global-delivery-status",
        "message/feedback-report",
        "message/disposition-notification",
        "text/plain",
        "text/html",
        "message/rfc822",
        "text/rfc822-headers",
        "multipart/mixed; boundary=inner",
        "application/octet-stream",
    ]
)
REPORT_TYPES = st.sampled_from(
    ["delivery-status", "feedback-report", "disposition-notification", "", "other"]
)


@st.composite
def report_messages(draw: st.DrawFn) -> bytes:
    """A multipart/report of random parts, each a few blocks of random fields."""
    lines = [
        f"From: {draw(st.sampled_from(['MAILER-DAEMON@x.test', 'a@b.test', '', '<>']))}",
        f"To: b-{TOKEN}@bounces.acme.test",
        f"Content-Type: multipart/report; report-type={draw(REPORT_TYPES)}; boundary=outer",
        "",
    ]
    for _ in range(draw(st.integers(0, 4))):
        lines += ["--outer", f"Content-Type: {draw(PART_TYPES)}"]
        if draw(st.booleans()):
            lines.append("Content-Transfer-Encoding: base64")
        lines.append("")
        for _ in range(draw(st.integers(0, 3))):
            fields = draw(st.lists(st.tuples(FIELD_NAMES, FIELD_VALUES), max_size=6))
            lines += [f"{name}: {value}" for name, value in fields]
            lines.append("")
    if draw(st.booleans()):
        lines.append("--outer--")
    return "\n".join(lines).encode("utf-8", errors="surrogatepass")


@PROPS
@given(report_messages())
def test_random_report_structures(raw: bytes) -> None:
    check_total(raw)


def test_deeply_nested_multiparts() -> None:
    head = "Content-Type: multipart/mixed; boundary=b{0}\n\n--b{0}\n"
    raw = "".join(head.format(i) for i in range(300)) + "Final-Recipient: rfc822; a@b.test\n"
    check_total(raw.encode())


@pytest.mark.parametrize("raw", [b"", b"\x00", b"\n\n", b"From:", b"\xff" * 10_000])
def test_garbage_is_unknown(raw: bytes) -> None:
    report = check_total(raw)
    assert report.kind is ReportKind.UNKNOWN
    assert report.findings == (report.findings[0],)
    assert report.findings[0].event is Event.UNKNOWN
    assert report.findings[0].recipient is None


# ------------------------------------------------------------------ focused readings


def dsn(*blocks: str, returned: str = "", returned_type: str = "message/rfc822") -> bytes:
    """A minimal multipart/report DSN with the given recipient blocks."""
    parts = [
        "From: MAILER-DAEMON@mail.acme.test",
        f"To: b-{TOKEN}@bounces.acme.test",
        "Subject: Undelivered Mail Returned to Sender",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        'Content-Type: multipart/report; report-type=delivery-status; boundary="BB"',
        "",
        "--BB",
        "Content-Type: text/plain",
        "",
        "Your message could not be delivered.",
        "",
        "--BB",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mail.acme.test",
        "",
        "\n\n".join(blocks),
        "",
    ]
    if returned:
        parts += ["--BB", f"Content-Type: {returned_type}", "", returned, ""]
    parts.append("--BB--")
    return "\n".join(parts).encode()


def test_folded_diagnostic_code_is_unfolded() -> None:
    report = parse_report(
        dsn(
            "Final-Recipient: rfc822; someone@example.test\n"
            "Action: failed\n"
            "Status: 5.1.1\n"
            "Diagnostic-Code: smtp; 550 5.1.1 <someone@example.test>: Recipient\n"
            "    address rejected:\n"
            "\tUser unknown"
        )
    )
    assert report.kind is ReportKind.DSN
    (finding,) = report.findings
    assert finding == finding.__class__(
        Event.BOUNCED,
        "someone@example.test",
        550,
        "5.1.1",
        "550 5.1.1 <someone@example.test>: Recipient address rejected: User unknown",
    )
    assert report.reporter == "mail.acme.test"


def test_multiline_reply_codes_are_joined() -> None:
    report = parse_report(
        dsn(
            "Final-Recipient: rfc822; sam@gmail.example\n"
            "Action: failed\n"
            "Status: 5.1.1\n"
            "Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach\n"
            " 550-5.1.1 does not exist. Please try double-checking\n"
            " 550 5.1.1 the address. a1si - gsmtp"
        )
    )
    assert report.findings[0].diagnostic == (
        "550 5.1.1 The email account that you tried to reach does not exist. "
        "Please try double-checking the address. a1si - gsmtp"
    )


def test_several_recipients_give_several_findings() -> None:
    report = parse_report(
        dsn(
            "Final-Recipient: rfc822; a@one.test\nAction: failed\nStatus: 5.1.1",
            "Final-Recipient: rfc822; b@two.test\nAction: delayed\nStatus: 4.4.1",
            "Final-Recipient: rfc822; c@three.test\nAction: delivered\nStatus: 2.0.0",
            "Final-Recipient: rfc822; d@four.test\nAction: expanded\nStatus: 2.0.0",
        )
    )
    assert [(f.recipient, f.event) for f in report.findings] == [
        ("a@one.test", Event.BOUNCED),
        ("b@two.test", Event.DELAYED),
        ("c@three.test", Event.DELIVERED),
        ("d@four.test", Event.DELIVERED),
    ]


def test_original_recipient_is_preferred() -> None:
    report = parse_report(
        dsn(
            "Original-Recipient: rfc822;Alias@Example.TEST\n"
            "Final-Recipient: rfc822; mailbox-1234@store.example.test\n"
            "Action: failed\n"
            "Status: 5.2.2"
        )
    )
    assert report.findings[0].recipient == "Alias@example.test"


def test_an_empty_original_recipient_falls_back_to_final() -> None:
    report = parse_report(
        dsn("Original-Recipient: rfc822;\nFinal-Recipient: RFC822; <x@y.test>\nAction: failed")
    )
    assert report.findings[0].recipient == "x@y.test"


@pytest.mark.parametrize(
    ("status", "normal"),
    [("5.01.001", "5.1.1"), ("4.04.007", "4.4.7"), ("5.1.10", "5.1.10"), ("2.0.0 (ok)", "2.0.0")],
)
def test_leading_zeros_are_stripped_from_status(status: str, normal: str) -> None:
    report = parse_report(
        dsn(f"Final-Recipient: rfc822; a@b.test\nAction: failed\nStatus: {status}")
    )
    assert report.findings[0].status == normal


def test_event_follows_status_when_action_is_missing() -> None:
    report = parse_report(dsn("Final-Recipient: rfc822; a@b.test\nStatus: 4.2.2"))
    assert report.findings[0].event is Event.DELAYED


def test_id_in_text_rfc822_headers_part() -> None:
    headers = f"From: billing@acme.test\nTo: a@b.test\nX-Relaylane-ID: < {OTHER} >\n"
    report = parse_report(
        dsn(
            "Final-Recipient: rfc822; a@b.test\nAction: failed\nStatus: 5.1.1",
            returned=headers,
            returned_type="text/rfc822-headers",
        )
    )
    assert report.ids == (OTHER,)


def test_id_in_a_base64_returned_text_and_raw_fallback() -> None:
    import base64

    quoted = f"Original headers:\n> X-Relaylane-ID: {TOKEN}\n"
    encoded = base64.b64encode(quoted.encode()).decode()
    raw = (
        "From: MAILER-DAEMON@x.test\nSubject: failure notice\n"
        "Content-Transfer-Encoding: base64\n\n" + encoded + "\n"
    ).encode()
    assert parse_report(raw).ids == (TOKEN,)
    plain = b"Subject: x\n\nbody\nX-Relaylane-ID: " + OTHER.encode() + b"\n"
    assert parse_report(plain).ids == (OTHER,)


@pytest.mark.parametrize(
    "value",
    ["tooshort2345", "abcdefghijklmnopqrstuvwxyz0189aa", "a" * 61, "", "<>"],
)
def test_malformed_ids_are_ignored(value: str) -> None:
    raw = dsn(
        "Final-Recipient: rfc822; a@b.test\nAction: failed",
        returned=f"From: a@b.test\nX-Relaylane-ID: {value}\n",
        returned_type="text/rfc822-headers",
    )
    assert parse_report(raw).ids == ()


def test_addresses_in_order_without_duplicates() -> None:
    raw = (
        f"To: Bounces <b-{TOKEN}@Bounces.Acme.TEST>\n"
        f"Delivered-To: b-{TOKEN}@bounces.acme.test\n"
        "X-Original-To: fbl@acme.test\n"
        "Envelope-To: other@ACME.test\n"
        "Subject: hello\n\nhi\n"
    ).encode()
    assert parse_report(raw).addresses == (
        f"b-{TOKEN}@bounces.acme.test",
        "fbl@acme.test",
        "other@acme.test",
    )


def test_delivery_status_typed_text_plain() -> None:
    raw = dsn("Final-Recipient: rfc822; a@b.test\nAction: failed\nStatus: 5.1.1").replace(
        b"Content-Type: message/delivery-status", b"Content-Type: text/plain"
    )
    report = parse_report(raw)
    assert (report.kind, report.findings[0].recipient) == (ReportKind.DSN, "a@b.test")


def arf(feedback: str, returned: str = "") -> bytes:
    return (
        "From: fbl@isp.test\nTo: fbl@acme.test\nSubject: report\nMIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=feedback-report; boundary=F\n\n"
        "--F\nContent-Type: text/plain\n\nA complaint.\n\n"
        f"--F\nContent-Type: message/feedback-report\n\n{feedback}\n\n"
        f"--F\nContent-Type: message/rfc822\n\n{returned}\n--F--\n"
    ).encode()


@pytest.mark.parametrize(
    ("feedback_type", "event"),
    [
        ("abuse", Event.COMPLAINED),
        ("fraud", Event.COMPLAINED),
        ("virus", Event.COMPLAINED),
        ("other", Event.COMPLAINED),
        ("not-spam", Event.UNKNOWN),
        ("auth-failure", Event.UNKNOWN),
    ],
)
def test_arf_feedback_types(feedback_type: str, event: Event) -> None:
    report = parse_report(arf(f"Feedback-Type: {feedback_type}\nOriginal-Rcpt-To: <u@isp.test>"))
    assert report.kind is ReportKind.ARF
    assert report.feedback_type == feedback_type
    assert (report.findings[0].event, report.findings[0].recipient) == (event, "u@isp.test")


def test_arf_recipient_from_the_returned_message() -> None:
    returned = f"From: billing@acme.test\nTo: Someone <Someone@ISP.test>\nX-Relaylane-ID: {TOKEN}\n"
    report = parse_report(arf("Feedback-Type: abuse\nUser-Agent: FBL/1.0", returned))
    assert report.findings[0].recipient == "Someone@isp.test"
    assert report.ids == (TOKEN,)
    assert report.reporter == "FBL/1.0"


def test_auto_submitted_alone_does_not_turn_a_bounce_into_an_auto_reply() -> None:
    raw = (
        b"From: Mail Delivery System <MAILER-DAEMON@mx.test>\n"
        b"Auto-Submitted: auto-replied\nSubject: Mail delivery failed\n\n"
        b"A message that you sent could not be delivered to one or more of its recipients.\n\n"
        b"  x@y.test\n    550 5.1.1 User unknown\n"
    )
    report = parse_report(raw)
    assert (report.kind, report.findings[0].event) == (ReportKind.PLAIN, Event.BOUNCED)
    assert report.findings[0].recipient == "x@y.test"


def test_an_auto_reply_mentioning_failure_stays_an_auto_reply() -> None:
    raw = (
        b"From: Ann <ann@corp.test>\nSubject: Out of Office\n\n"
        b"I am away. Mail could not be delivered to my assistant: 550 5.1.1 user unknown.\n"
    )
    report = parse_report(raw)
    assert report.kind is ReportKind.AUTO_REPLY
    assert report.findings[0].recipient == "ann@corp.test"
