"""classify: real-world replies, and the promise that a receiver's judgement never fails over."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from relaylane.policy.classify import Classifier, Fault, Verdict, classify, split_enhanced
from relaylane.policy.vocabulary import ADDRESS_LEVEL_CLASSES, BounceClass, Outcome, Stage

O = Outcome  # noqa: E741  (short aliases keep the reply table readable)
B = BounceClass
S = Stage

GMAIL_NO_SUCH_USER = (
    "550-5.1.1 The email account that you tried to reach does not exist. Please try\n"
    "550-5.1.1 double-checking the recipient's email address for typos or\n"
    "550-5.1.1 unnecessary spaces. Learn more at\n"
    "550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1si123.45 - gsmtp"
)

# (stage, code, text, outcome, bounce class). Texts are as relays and receivers send them.
REAL_WORLD: list[tuple[Stage, int, str, Outcome, BounceClass]] = [
    # --- accepted
    (S.DATA_END, 250, "2.0.0 Ok: queued as 4Bx3Zq1kWz", O.SENT, B.NONE),
    (S.DATA_END, 250, "Ok: queued as 12345", O.SENT, B.NONE),
    (S.DATA_END, 250, "2.0.0 OK 1700000000 a1-20020a.123 - gsmtp", O.SENT, B.NONE),
    # --- recipients that do not exist
    (S.RCPT, 550, GMAIL_NO_SUCH_USER, O.BOUNCED, B.INVALID_RECIPIENT),
    (
        S.RCPT,
        550,
        "5.1.1 The email account that you tried to reach does not exist.",
        O.BOUNCED,
        B.INVALID_RECIPIENT,
    ),
    (
        S.RCPT,
        550,
        "5.1.1 <x@example.com>: Recipient address rejected: User unknown in relay recipient table",
        O.BOUNCED,
        B.INVALID_RECIPIENT,
    ),
    (
        S.RCPT,
        550,
        "5.1.1 <x@example.com>: Recipient address rejected: User unknown in virtual mailbox table",
        O.BOUNCED,
        B.INVALID_RECIPIENT,
    ),
    (
        S.RCPT,
        550,
        "5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        O.BOUNCED,
        B.INVALID_RECIPIENT,
    ),
    (S.RCPT, 550, "5.1.0 Address rejected.", O.BOUNCED, B.INVALID_RECIPIENT),
    (S.RCPT, 551, "5.1.6 Recipient no longer on server", O.BOUNCED, B.INVALID_RECIPIENT),
    (S.RCPT, 553, "5.1.3 Bad recipient address syntax", O.BOUNCED, B.INVALID_RECIPIENT),
    (
        S.RCPT,
        554,
        "delivery error: dd This user doesn't have a yahoo.com account (x@yahoo.com) [0]",
        O.BOUNCED,
        B.INVALID_RECIPIENT,
    ),
    (
        S.RCPT,
        550,
        "Requested action not taken: mailbox unavailable",
        O.BOUNCED,
        B.INVALID_RECIPIENT,
    ),
    (S.RCPT, 550, "No such user here", O.BOUNCED, B.INVALID_RECIPIENT),
    (S.RCPT, 550, "Invalid recipient <x@example.com>", O.BOUNCED, B.INVALID_RECIPIENT),
    (S.RCPT, 553, "sorry, that mailbox does not exist", O.BOUNCED, B.INVALID_RECIPIENT),
    (S.RCPT, 550, "#5.1.0 Address rejected x@example.com", O.BOUNCED, B.INVALID_RECIPIENT),
    (S.DATA_END, 550, "5.1.1 user unknown", O.BOUNCED, B.INVALID_RECIPIENT),
    (S.RCPT, 550, "", O.BOUNCED, B.INVALID_RECIPIENT),  # a bare 550 at RCPT
    (S.RCPT, 550, "Go away", O.BOUNCED, B.INVALID_RECIPIENT),
    (S.RCPT, 550, "5.0.0 Go away", O.BOUNCED, B.INVALID_RECIPIENT),
    (S.RCPT, 550, "4.1.1 User unknown", O.BOUNCED, B.INVALID_RECIPIENT),  # class mismatch ignored
    # --- domains
    (S.RCPT, 550, "5.1.2 Bad destination system address", O.BOUNCED, B.BAD_DOMAIN),
    (S.RCPT, 550, "5.4.4 Unrouteable address", O.BOUNCED, B.BAD_DOMAIN),
    (S.RCPT, 550, "Domain does not exist", O.BOUNCED, B.BAD_DOMAIN),
    # --- mailboxes
    (
        S.RCPT,
        550,
        "5.2.1 The email account that you tried to reach is disabled.",
        O.BOUNCED,
        B.INACTIVE_MAILBOX,
    ),
    (
        S.DATA_END,
        552,
        "5.2.2 The email account that you tried to reach is over quota.",
        O.BOUNCED,
        B.MAILBOX_FULL,
    ),
    (S.RCPT, 552, "5.2.2 Mailbox size limit exceeded", O.BOUNCED, B.MAILBOX_FULL),
    (
        S.RCPT,
        552,
        "Requested mail action aborted: exceeded storage allocation",
        O.BOUNCED,
        B.MAILBOX_FULL,
    ),
    (
        S.RCPT,
        452,
        "4.2.2 The email account that you tried to reach is over quota.",
        O.DEFERRED,
        B.MAILBOX_FULL,
    ),
    (S.RCPT, 452, "Mailbox full", O.DEFERRED, B.MAILBOX_FULL),
    (
        S.RCPT,
        450,
        "4.2.1 The user you are trying to contact is receiving mail at a rate that prevents "
        "additional messages from being delivered.",
        O.DEFERRED,
        B.RATE_LIMITED,
    ),
    # --- reputation, spam and policy blocks (never fail over)
    (
        S.RCPT,
        550,
        "5.7.1 Service unavailable; Client host [1.2.3.4] blocked using Spamhaus",
        O.BLOCKED,
        B.REPUTATION_BLOCK,
    ),
    (
        S.RCPT,
        554,
        "5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org; "
        "https://www.spamhaus.org/query/ip/192.0.2.1",
        O.BLOCKED,
        B.REPUTATION_BLOCK,
    ),
    (
        S.DATA_END,
        550,
        "5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent. Please contact your "
        "Internet service provider since part of their network is on our block list (S3150). "
        "You can also refer your provider to http://mail.live.com/mail/troubleshooting.aspx#errors.",
        O.BLOCKED,
        B.REPUTATION_BLOCK,
    ),
    (
        S.RCPT,
        550,
        "5.7.708 Service unavailable. Access denied, traffic not accepted from this IP.",
        O.BLOCKED,
        B.REPUTATION_BLOCK,
    ),
    (
        S.DATA_END,
        550,
        "5.7.1 Our system has detected that this message is likely suspicious due to the very "
        "low reputation of the sending domain.",
        O.BLOCKED,
        B.REPUTATION_BLOCK,
    ),
    (
        S.DATA_END,
        550,
        "5.7.1 [192.0.2.1] Our system has detected that this message is likely unsolicited "
        "mail. To reduce the amount of spam sent to Gmail, this message has been blocked.",
        O.BLOCKED,
        B.SPAM_CONTENT,
    ),
    (
        S.DATA_END,
        550,
        "5.7.1 Message rejected due to content restrictions",
        O.BLOCKED,
        B.SPAM_CONTENT,
    ),
    (
        S.DATA_END,
        550,
        "5.7.350 Remote server returned message detected as spam",
        O.BLOCKED,
        B.SPAM_CONTENT,
    ),
    (S.DATA_END, 554, "5.7.1 Virus found", O.BLOCKED, B.SPAM_CONTENT),
    (
        S.DATA_END,
        550,
        "5.7.26 Unauthenticated email from example.com is not accepted due to domain's DMARC "
        "policy. Please contact the administrator of example.com domain if this was a "
        "legitimate mail.",
        O.BLOCKED,
        B.AUTHENTICATION_REQUIRED,
    ),
    (
        S.DATA_END,
        550,
        "5.7.26 This mail has been blocked because the sender is unauthenticated. Gmail "
        "requires all senders to authenticate with either SPF or DKIM.",
        O.BLOCKED,
        B.AUTHENTICATION_REQUIRED,
    ),
    (S.DATA_END, 554, "5.7.9 Message not accepted for policy reasons.", O.BLOCKED, B.POLICY),
    (S.RCPT, 550, "Message rejected as spam", O.BLOCKED, B.SPAM_CONTENT),
    (S.RCPT, 550, "Your IP is blacklisted", O.BLOCKED, B.REPUTATION_BLOCK),
    (S.RCPT, 554, "Recipient blocked by policy", O.BLOCKED, B.POLICY),
    (
        S.RCPT,
        451,
        "4.7.500 Server busy. Please try again later from [192.0.2.1]. (S77719)",
        O.DEFERRED,
        B.POLICY,
    ),
    (
        S.RCPT,
        450,
        "4.7.1 Client host rejected: cannot find your hostname, [192.0.2.1]",
        O.DEFERRED,
        B.POLICY,
    ),
    (
        S.RCPT,
        450,
        "4.7.1 Service unavailable; Client host [192.0.2.1] blocked using bl.spamcop.net",
        O.DEFERRED,
        B.REPUTATION_BLOCK,
    ),
    (S.RCPT, 451, "4.7.1 Greylisting in action, please come back later", O.DEFERRED, B.TRANSIENT),
    (S.RCPT, 450, "Greylisted, see http://postgrey.schweikert.ch/", O.DEFERRED, B.TRANSIENT),
    # --- temporary, same relay
    (S.RCPT, 451, "4.3.0 Temporary local problem", O.DEFERRED, B.TRANSIENT),
    (S.DATA_END, 451, "4.3.0 Temporary local problem - please try later", O.DEFERRED, B.TRANSIENT),
    (S.RCPT, 452, "4.3.1 Insufficient system storage", O.DEFERRED, B.TRANSIENT),
    (S.RCPT, 450, "4.4.1 No answer from host", O.DEFERRED, B.ROUTING_ERROR),
    (S.RCPT, 451, "4.4.0 DNS resolving error", O.DEFERRED, B.ROUTING_ERROR),
    (S.RCPT, 452, "4.5.3 Too many recipients", O.DEFERRED, B.TRANSIENT),
    (S.RCPT, 452, "Too many recipients received this hour", O.DEFERRED, B.TRANSIENT),
    (S.DATA, 451, "Requested action aborted: local error in processing", O.DEFERRED, B.TRANSIENT),
    # --- permanent, not about the address
    (S.DATA_END, 552, "5.3.4 Message size exceeds fixed limit", O.FAILED, B.MESSAGE_TOO_LARGE),
    (
        S.DATA_END,
        552,
        "Message size exceeds maximum permitted",
        O.FAILED,
        B.MESSAGE_TOO_LARGE,
    ),
    (
        S.DATA_END,
        552,
        "5.2.3 Message length exceeds administrative limit",
        O.FAILED,
        B.MESSAGE_TOO_LARGE,
    ),
    (S.LOCAL, 552, "5.3.4 message larger than the relay's SIZE", O.FAILED, B.MESSAGE_TOO_LARGE),
    (S.RCPT, 550, "5.4.1 Recipient address rejected: Access denied", O.FAILED, B.ROUTING_ERROR),
    (S.DATA, 554, "5.5.1 Error: no valid recipients", O.FAILED, B.PROTOCOL_ERROR),
    (S.DATA, 503, "5.5.1 Error: need RCPT command", O.FAILED, B.PROTOCOL_ERROR),
    (
        S.RCPT,
        553,
        "5.6.7 Non-ASCII addresses not permitted for that recipient",
        O.FAILED,
        B.UNSUPPORTED,
    ),
    (S.RCPT, 553, "5.1.8 Bad sender's system address", O.FAILED, B.UNCLASSIFIED),
    (S.DATA_END, 554, "Transaction failed", O.FAILED, B.UNCLASSIFIED),
    (S.DATA_END, 550, "Go away", O.FAILED, B.UNCLASSIFIED),  # "bare 550" is a RCPT-only meaning
    (S.DATA_END, 554, "5.6.0 Other or undefined media error", O.FAILED, B.UNCLASSIFIED),
    # --- the relay refuses OUR account or sender, even at RCPT/DATA_END: fail over
    (S.RCPT, 554, "5.7.1 <x@example.com>: Relay access denied", O.RELAY_FAULT, B.RELAY_CONFIG),
    (S.RCPT, 454, "4.7.1 <x@example.com>: Relay access denied", O.RELAY_FAULT, B.RELAY_CONFIG),
    (S.RCPT, 550, "5.7.1 Unable to relay", O.RELAY_FAULT, B.RELAY_CONFIG),
    (S.RCPT, 550, "5.7.1 Relaying denied", O.RELAY_FAULT, B.RELAY_CONFIG),
    (S.RCPT, 550, "We are not permitted to relay for you", O.RELAY_FAULT, B.RELAY_CONFIG),
    (S.RCPT, 530, "5.7.0 Authentication required", O.RELAY_FAULT, B.RELAY_CONFIG),
    (S.RCPT, 530, "5.7.1 Client was not authenticated", O.RELAY_FAULT, B.RELAY_CONFIG),
    (
        S.RCPT,
        553,
        "5.7.1 <a@example.com>: Sender address rejected: not owned by user bob",
        O.RELAY_FAULT,
        B.RELAY_CONFIG,
    ),
    (
        S.RCPT,
        550,
        "5.1.0 <a@example.com>: Sender address rejected: User unknown in local recipient table",
        O.RELAY_FAULT,
        B.RELAY_CONFIG,
    ),
    (
        S.DATA_END,
        554,
        "Message rejected: Email address is not verified. The following identities failed the "
        "check in region US-EAST-1: a@example.com",
        O.BLOCKED,  # a relay account problem: never moved to another relay
        B.RELAY_CONFIG,
    ),
    (
        S.DATA_END,
        554,
        "Message rejected: Sending paused for this account.",
        O.BLOCKED,  # SES paused the account for its reputation: never spread
        B.RELAY_CONFIG,
    ),
    # --- the relay throttles us, at any stage: fail over
    (
        S.DATA_END,
        454,
        "Throttling failure: Maximum sending rate exceeded.",
        O.RELAY_FAULT,
        B.RATE_LIMITED,
    ),
    (
        S.MAIL,
        454,
        "Throttling failure: Daily message quota exceeded.",
        O.RELAY_FAULT,
        B.RATE_LIMITED,
    ),
    (S.MAIL, 550, "5.4.5 Daily user sending quota exceeded.", O.RELAY_FAULT, B.RATE_LIMITED),
    (S.RCPT, 550, "5.4.5 Daily user sending limit exceeded.", O.RELAY_FAULT, B.RATE_LIMITED),
    (S.RCPT, 450, "4.7.1 Rate limit exceeded", O.RELAY_FAULT, B.RATE_LIMITED),
    (S.RCPT, 451, "4.7.0 Too many messages, slow down", O.RELAY_FAULT, B.RATE_LIMITED),
    (S.DATA_END, 450, "Too many connections from your host", O.RELAY_FAULT, B.RATE_LIMITED),
    (S.RCPT, 451, "Ratelimited: sender throttled", O.RELAY_FAULT, B.RATE_LIMITED),
    # --- 421: the relay closes the session, at any stage
    (
        S.MAIL,
        421,
        "4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume "
        "or user complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes",
        O.DEFERRED,  # a receiver's verdict on our traffic: wait on the same relay
        B.RATE_LIMITED,
    ),
    (S.CONNECT, 421, "4.7.0 Too many connections", O.RELAY_FAULT, B.RATE_LIMITED),
    (S.RCPT, 421, "4.7.0 Try again later, closing connection.", O.RELAY_FAULT, B.RATE_LIMITED),
    (
        S.RCPT,
        421,
        "4.3.2 Service not available, closing transmission channel",
        O.RELAY_FAULT,
        B.RELAY_UNAVAILABLE,
    ),
    (S.DATA_END, 421, "4.4.2 Connection timed out", O.RELAY_FAULT, B.RELAY_UNAVAILABLE),
    # --- session stages: always about the relay
    (S.CONNECT, 554, "No SMTP service here", O.RELAY_FAULT, B.RELAY_UNAVAILABLE),
    (
        S.CONNECT,
        554,
        "5.7.1 Your access to this mail system has been rejected due to poor reputation",
        O.RELAY_FAULT,
        B.RELAY_UNAVAILABLE,
    ),
    (S.CONNECT, 450, "Too many concurrent SMTP connections", O.RELAY_FAULT, B.RATE_LIMITED),
    (S.EHLO, 500, "5.5.1 Command unrecognized", O.RELAY_FAULT, B.RELAY_UNAVAILABLE),
    (S.EHLO, 530, "5.7.0 Must issue a STARTTLS command first", O.RELAY_FAULT, B.RELAY_CONFIG),
    (S.STARTTLS, 454, "4.7.0 TLS not available", O.RELAY_FAULT, B.RELAY_UNAVAILABLE),
    (
        S.STARTTLS,
        454,
        "4.7.0 TLS not available due to local problem",
        O.RELAY_FAULT,
        B.RELAY_UNAVAILABLE,
    ),
    (S.AUTH, 535, "5.7.8 Authentication credentials invalid", O.RELAY_FAULT, B.RELAY_CONFIG),
    (
        S.AUTH,
        535,
        "5.7.8 Username and Password not accepted. Learn more at "
        "https://support.google.com/mail/?p=BadCredentials",
        O.RELAY_FAULT,
        B.RELAY_CONFIG,
    ),
    (S.AUTH, 534, "5.7.9 Application-specific password required.", O.RELAY_FAULT, B.RELAY_CONFIG),
    (S.AUTH, 535, "Authentication failed", O.RELAY_FAULT, B.RELAY_CONFIG),
    (S.AUTH, 454, "4.7.0 Temporary authentication failure", O.RELAY_FAULT, B.RELAY_UNAVAILABLE),
    (
        S.AUTH,
        451,
        "Authentication failed: Maximum credits exceeded",
        O.RELAY_FAULT,
        B.RELAY_UNAVAILABLE,
    ),
    # --- MAIL: the relay judges our account and sender
    (S.MAIL, 451, "4.3.0 Temporary local problem", O.RELAY_FAULT, B.RELAY_UNAVAILABLE),
    (S.MAIL, 452, "4.3.1 Insufficient system storage", O.RELAY_FAULT, B.RELAY_UNAVAILABLE),
    (S.MAIL, 451, "4.7.1 Please slow down", O.RELAY_FAULT, B.RATE_LIMITED),
    (S.MAIL, 452, "4.7.0 Temporary refusal", O.RELAY_FAULT, B.RATE_LIMITED),
    (S.MAIL, 550, "5.1.0 Sender rejected", O.RELAY_FAULT, B.RELAY_CONFIG),
    (S.MAIL, 530, "5.7.0 Authentication required", O.RELAY_FAULT, B.RELAY_CONFIG),
    (
        S.MAIL,
        550,
        "5.7.60 SMTP; Client does not have permissions to send as this sender",
        O.RELAY_FAULT,
        B.RELAY_CONFIG,
    ),
    (S.MAIL, 550, "Unauthenticated senders not allowed", O.RELAY_FAULT, B.RELAY_CONFIG),
    (
        S.MAIL,
        550,
        "5.7.1 Sender IP 192.0.2.1 is listed on Spamhaus",
        O.BLOCKED,
        B.REPUTATION_BLOCK,
    ),
    (S.MAIL, 554, "5.7.1 Rejected: spam source", O.BLOCKED, B.SPAM_CONTENT),
    (S.MAIL, 552, "5.3.4 Message size exceeds fixed limit", O.FAILED, B.MESSAGE_TOO_LARGE),
    (S.MAIL, 555, "5.5.4 Unsupported option: SMTPUTF8", O.FAILED, B.UNSUPPORTED),
    # --- replies that should not be classified at that stage
    (S.RCPT, 250, "2.1.5 Ok", O.FAILED, B.PROTOCOL_ERROR),
    (S.DATA_END, 354, "End data with <CR><LF>.<CR><LF>", O.FAILED, B.PROTOCOL_ERROR),
    (S.EHLO, 354, "what?", O.RELAY_FAULT, B.RELAY_UNAVAILABLE),
    (S.DATA_END, 999, "garbage", O.FAILED, B.PROTOCOL_ERROR),
]


@pytest.mark.parametrize(
    ("stage", "code", "text", "outcome", "bounce_class"),
    REAL_WORLD,
    ids=[f"{s}-{c}-{t[:40]}" for s, c, t, _, _ in REAL_WORLD],
)
def test_real_world_replies(
    stage: Stage, code: int, text: str, outcome: Outcome, bounce_class: BounceClass
) -> None:
    verdict = classify(stage, code, text)
    assert (verdict.outcome, verdict.bounce_class) == (outcome, bounce_class), verdict.reason


def test_reply_code_in_the_text_is_tolerated() -> None:
    bare = classify(S.RCPT, 550, "5.1.1 User unknown")
    prefixed = classify(S.RCPT, 550, "550 5.1.1 User unknown")
    assert bare == prefixed
    assert bare.reason == "recipient does not exist (550 5.1.1)"


def test_reason_is_short_and_names_the_codes() -> None:
    assert classify(S.MAIL, 421, "4.7.0 too many connections").reason == (
        "relay throttling (421 4.7.0)"
    )
    assert classify(S.RCPT, 550, "").reason == "mailbox unavailable (550)"
    assert classify(S.DATA_END, 250, "2.0.0 Ok").reason == "accepted (250 2.0.0)"


@pytest.mark.parametrize(
    ("fault", "bounce_class"),
    [
        (Fault.REFUSED, B.RELAY_UNAVAILABLE),
        (Fault.TIMEOUT, B.RELAY_UNAVAILABLE),
        (Fault.TLS, B.RELAY_UNAVAILABLE),
        (Fault.DISCONNECTED, B.RELAY_UNAVAILABLE),
        (Fault.AUTH_UNSUPPORTED, B.RELAY_CONFIG),
    ],
)
def test_connection_faults_fail_over(fault: Fault, bounce_class: BounceClass) -> None:
    verdict = classify(S.CONNECT, None, "", fault)
    assert (verdict.outcome, verdict.bounce_class) == (O.RELAY_FAULT, bounce_class)
    assert verdict.reason.endswith("at connect")


def test_disconnect_mid_data_fails_over() -> None:
    verdict = classify(S.DATA_END, None, "Connection lost", Fault.DISCONNECTED)
    assert verdict == Verdict(O.RELAY_FAULT, B.RELAY_UNAVAILABLE, "disconnected at data_end")


def test_fault_wins_over_a_code() -> None:
    verdict = classify(S.RCPT, 550, "5.1.1 User unknown", Fault.TIMEOUT)
    assert verdict.outcome is O.RELAY_FAULT


def test_missing_smtputf8_is_a_permanent_failure_not_an_outage() -> None:
    verdict = classify(S.MAIL, None, "", Fault.SMTPUTF8_UNSUPPORTED)
    assert (verdict.outcome, verdict.bounce_class) == (O.FAILED, B.UNSUPPORTED)


def test_no_reply_at_all_is_a_relay_fault() -> None:
    verdict = classify(S.DATA_END, None, "")
    assert (verdict.outcome, verdict.bounce_class) == (O.RELAY_FAULT, B.RELAY_UNAVAILABLE)


@pytest.mark.parametrize("stage", [S.CONNECT, S.EHLO, S.STARTTLS, S.AUTH, S.MAIL, S.RCPT, S.DATA])
def test_2xx_is_success_only_after_data(stage: Stage) -> None:
    verdict = classify(stage, 250, "2.0.0 Ok")
    assert (verdict.outcome, verdict.bounce_class) == (O.FAILED, B.PROTOCOL_ERROR)


# --- split_enhanced


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5.1.1 User unknown", ("5.1.1", "User unknown")),
        ("User unknown", (None, "User unknown")),
        ("", (None, "")),
        ("5.1.1", ("5.1.1", "")),
        ("  4.7.0   Try later ", ("4.7.0", "Try later")),
        ("5.7.26 Unauthenticated email", ("5.7.26", "Unauthenticated email")),
        ("5.1.10 RESOLVER.ADR.RecipientNotFound", ("5.1.10", "RESOLVER.ADR.RecipientNotFound")),
        ("550 5.1.1 User unknown", ("5.1.1", "User unknown")),
        ("550-5.1.1 User unknown", ("5.1.1", "User unknown")),
        ("#5.1.0 Address rejected", ("5.1.0", "Address rejected")),
        ("5.01.001 padded", ("5.1.1", "padded")),
        ("5.1.1: colon", ("5.1.1", ": colon")),
        ("6.1.1 not a class", (None, "6.1.1 not a class")),
        ("5.1 too short", (None, "5.1 too short")),
        ("5.1.1234 too long", (None, "5.1.1234 too long")),
        ("5.1.1User glued", (None, "5.1.1User glued")),
        ("1.2.3.4 is an address", (None, "1.2.3.4 is an address")),
        (
            GMAIL_NO_SUCH_USER,
            (
                "5.1.1",
                "The email account that you tried to reach does not exist. Please try "
                "double-checking the recipient's email address for typos or unnecessary "
                "spaces. Learn more at https://support.google.com/mail/?p=NoSuchUser "
                "a1si123.45 - gsmtp",
            ),
        ),
        ("5.7.1 first\n5.7.2 second", ("5.7.1", "first 5.7.2 second")),
        ("550-\n550 5.1.1 User unknown", ("5.1.1", "User unknown")),
        ("first line\n5.1.1 second", (None, "first line 5.1.1 second")),
    ],
)
def test_split_enhanced(text: str, expected: tuple[str | None, str]) -> None:
    assert split_enhanced(text) == expected


@given(
    st.sampled_from("245"),
    st.integers(0, 999),
    st.integers(0, 999),
    st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), max_size=40),
)
def test_split_enhanced_round_trip(cls: str, subject: int, detail: int, rest: str) -> None:
    assume(not re.match(r"\s*#?[245]\.\d", rest))  # rest must not start with another code
    code, text = split_enhanced(f"{cls}.{subject}.{detail} {rest}")
    assert code == f"{cls}.{subject}.{detail}"
    assert text == rest.strip()


@given(st.text())
def test_split_enhanced_never_raises(text: str) -> None:
    code, rest = split_enhanced(text)
    assert code is None or re.fullmatch(r"[245]\.\d{1,3}\.\d{1,3}", code)
    assert "\n" not in rest


# --- properties

codes = st.one_of(st.none(), st.integers(), st.integers(100, 699))
stages = st.sampled_from(list(Stage))
faults = st.one_of(st.none(), st.sampled_from(list(Fault)))

FRAGMENTS = [
    "5.1.1",
    "5.7.1",
    "4.7.0",
    "4.2.2",
    "5.2.2",
    "5.4.1",
    "5.5.1",
    "5.3.4",
    "4.5.3",
    "#5.1.0",
    "user unknown",
    "mailbox unavailable",
    "spam",
    "blocked using spamhaus",
    "block list",
    "your ip",
    "poor reputation",
    "content rejected",
    "over quota",
    "mailbox full",
    "try again later",
    "greylisted",
    "temporary local problem",
    "message size exceeds fixed limit",
    "service unavailable",
    "access denied",
    "policy",
    "dmarc",
    "does not exist",
    "go away",
    "[192.0.2.1]",
    "<x@example.com>",
    "please",
    "server busy",
    "closing",
    "unrouteable",
]

# Words by which a relay speaks about itself (relaying, authentication, its account, throttling).
RELAY_WORDS = [
    "relay",
    "throttl",
    "rate",
    "too many",
    "auth",
    "quota",
    "limit",
    "sending",
    "paused",
    "account",
    "verified",
    "identit",
    "sender",
    "starttls",
    "owned",
]

reply_texts = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(FRAGMENTS), max_size=6).map(" ".join),
    st.tuples(
        st.lists(st.sampled_from(FRAGMENTS), max_size=4).map(" ".join),
        st.text(max_size=20),
    ).map(" ".join),
)


@given(stages, codes, st.text(), faults)
def test_classify_never_raises(
    stage: Stage, code: int | None, text: str, fault: Fault | None
) -> None:
    verdict = classify(stage, code, text, fault)
    assert isinstance(verdict.outcome, Outcome)
    assert isinstance(verdict.bounce_class, BounceClass)
    assert verdict.reason


@given(st.sampled_from([S.RCPT, S.DATA, S.DATA_END]), st.integers(400, 599), reply_texts)
def test_a_receivers_judgement_never_fails_over(stage: Stage, code: int, text: str) -> None:
    """The core promise: without relay/throttle wording, a message-stage reply stays put."""
    assume(code != 421)
    assume(not any(word in text.lower() for word in RELAY_WORDS))
    verdict = classify(stage, code, text)
    assert verdict.outcome is not O.RELAY_FAULT, verdict
    if code < 500:
        assert verdict.outcome is O.DEFERRED
    else:
        assert verdict.outcome in (O.BOUNCED, O.BLOCKED, O.FAILED)


@given(stages, st.integers(400, 599), reply_texts)
def test_bounces_come_only_from_permanent_message_stage_replies(
    stage: Stage, code: int, text: str
) -> None:
    """A bounce suppresses the address: only a 5xx about a recipient or message may do that."""
    verdict = classify(stage, code, text)
    if verdict.outcome is O.BOUNCED:
        assert code >= 500
        assert stage in (S.RCPT, S.DATA, S.DATA_END, S.LOCAL, S.REPORT)


@given(st.sampled_from([S.CONNECT, S.EHLO, S.STARTTLS, S.AUTH]), st.integers(400, 599), reply_texts)
def test_session_refusals_always_fail_over(stage: Stage, code: int, text: str) -> None:
    assert classify(stage, code, text).outcome is O.RELAY_FAULT


@given(stages, reply_texts)
def test_421_fails_over_unless_a_text_rule_says_it_is_about_our_traffic(
    stage: Stage, text: str
) -> None:
    without_rules = Classifier(())(stage, 421, text)
    assert without_rules.outcome is O.RELAY_FAULT
    assert without_rules.bounce_class in (B.RATE_LIMITED, B.RELAY_UNAVAILABLE, B.RELAY_CONFIG)
    verdict = classify(stage, 421, text)
    assert verdict.outcome in (O.RELAY_FAULT, O.DEFERRED)
    assert verdict.bounce_class not in ADDRESS_LEVEL_CLASSES


@given(stages, codes, st.text(), st.sampled_from(list(Fault)))
def test_a_fault_decides_regardless_of_the_reply(
    stage: Stage, code: int | None, text: str, fault: Fault
) -> None:
    verdict = classify(stage, code, text, fault)
    expected = O.FAILED if fault is Fault.SMTPUTF8_UNSUPPORTED else O.RELAY_FAULT
    assert verdict.outcome is expected


@given(stages, st.integers(200, 299), st.text())
def test_success_only_at_data_end(stage: Stage, code: int, text: str) -> None:
    verdict = classify(stage, code, text)
    if stage is S.DATA_END:
        assert verdict == Verdict(O.SENT, B.NONE, verdict.reason)
    else:
        assert (verdict.outcome, verdict.bounce_class) == (O.FAILED, B.PROTOCOL_ERROR)
