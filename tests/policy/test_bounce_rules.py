"""Classification rules as data: shipped codes, user rules first, clear errors."""

from __future__ import annotations

import pytest

from relaylane.policy.bounce_rules import RulesError, parse_rules, shipped_rules
from relaylane.policy.classify import Classifier, classify
from relaylane.policy.vocabulary import (
    ADDRESS_LEVEL_CLASSES,
    RELAY_LEVEL_CLASSES,
    BounceClass,
    Outcome,
    Stage,
)

B, S = BounceClass, Stage

SHIPPED = [
    # Gmail authentication and rate codes
    (
        S.DATA_END,
        550,
        "5.7.26 This mail has been blocked because the sender is unauthenticated.",
        B.AUTHENTICATION_REQUIRED,
    ),
    (S.DATA_END, 421, "4.7.27 SPF check did not pass", B.AUTHENTICATION_REQUIRED),
    (S.DATA_END, 421, "4.7.30 DKIM check did not pass", B.AUTHENTICATION_REQUIRED),
    (S.DATA_END, 550, "5.7.32 DMARC alignment", B.AUTHENTICATION_REQUIRED),
    (S.RCPT, 421, "4.7.23 The sending IP does not have a PTR record", B.AUTHENTICATION_REQUIRED),
    (
        S.RCPT,
        550,
        "5.7.25 The IP address sending this message does not have a PTR record setup",
        B.AUTHENTICATION_REQUIRED,
    ),
    (
        S.DATA_END,
        421,
        "4.7.29 Your email has been rate limited because this message wasn't sent over TLS",
        B.RATE_LIMITED,
    ),
    (
        S.DATA_END,
        421,
        "4.7.28 Our system has detected an unusual rate of unsolicited mail",
        B.RATE_LIMITED,
    ),
    # Yahoo
    (
        S.MAIL,
        421,
        "4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume",
        B.RATE_LIMITED,
    ),
    (
        S.MAIL,
        553,
        "5.7.2 [TSS09] All messages from 192.0.2.1 will be permanently deferred",
        B.REPUTATION_BLOCK,
    ),
    (
        S.DATA_END,
        554,
        "5.7.9 Message not accepted for policy reasons. See https://postmaster.yahooinc.com",
        B.POLICY,
    ),
    # Microsoft
    (
        S.DATA_END,
        550,
        "5.7.515 Access denied, acme.test does not meet the required authentication level",
        B.AUTHENTICATION_REQUIRED,
    ),
    (
        S.RCPT,
        550,
        "5.7.1 Unfortunately, messages from [192.0.2.1] weren't sent (S3150)",
        B.REPUTATION_BLOCK,
    ),
    (S.RCPT, 550, "5.7.606 Access denied, banned sending IP [192.0.2.1]", B.REPUTATION_BLOCK),
    (
        S.RCPT,
        550,
        "5.4.1 Recipient address rejected: Access denied. AS(201806281)",
        B.INVALID_RECIPIENT,
    ),
    # Amazon SES
    (
        S.DATA_END,
        554,
        "Message rejected: Email address is not verified.",
        B.RELAY_CONFIG,
    ),
    (S.DATA_END, 554, "Message rejected: Sending paused for this account.", B.RELAY_CONFIG),
]


@pytest.mark.parametrize(("stage", "code", "text", "expected"), SHIPPED)
def test_shipped_codes(stage: Stage, code: int, text: str, expected: BounceClass) -> None:
    verdict = classify(stage, code, text)
    assert verdict.bounce_class is expected, verdict.reason


@pytest.mark.parametrize(("stage", "code", "text", "expected"), SHIPPED)
def test_relay_level_classes_never_fail_over_or_bounce(
    stage: Stage, code: int, text: str, expected: BounceClass
) -> None:
    verdict = classify(stage, code, text)
    if expected in RELAY_LEVEL_CLASSES:
        assert verdict.outcome in (Outcome.DEFERRED, Outcome.BLOCKED)
    if expected not in ADDRESS_LEVEL_CLASSES:
        assert verdict.outcome is not Outcome.BOUNCED


def test_user_rules_come_first() -> None:
    rules = parse_rules(
        """
[[rule]]
note = "our partner's wording for a closed account"
match = 'account has been closed'
class = "inactive_mailbox"

[[rule]]
match = ' 5\\.7\\.26 '
class = "policy"
outcome = "failed"
stages = ["data_end"]
""",
        "mine.toml",
    )
    classifier = Classifier.with_user_rules(rules)
    closed = classifier(S.RCPT, 550, "5.0.0 This account has been closed")
    assert (closed.outcome, closed.bounce_class) == (Outcome.BOUNCED, B.INACTIVE_MAILBOX)
    mine = classifier(S.DATA_END, 550, "5.7.26 unauthenticated")
    assert (mine.outcome, mine.bounce_class) == (Outcome.FAILED, B.POLICY)
    # not at that stage: the shipped rule answers
    assert (
        classifier(S.RCPT, 550, "5.7.26 unauthenticated").bounce_class is B.AUTHENTICATION_REQUIRED
    )


def test_a_bad_rules_file_names_each_rule_key_and_fix() -> None:
    with pytest.raises(RulesError) as caught:
        parse_rules(
            """
[[rule]]
match = '(unclosed'
class = "invalid_recipient"

[[rule]]
match = 'x'
class = "not_a_class"
colour = "red"

[[rule]]
class = "policy"
stages = ["dkim"]
""",
            "mine.toml",
        )
    problems = "\n".join(caught.value.problems)
    assert "rule[0]: match = '(unclosed' is not a regular expression" in problems
    assert "rule[1]: class = 'not_a_class' is not valid; use one of:" in problems
    assert 'rule[1]: unknown key "colour"' in problems
    assert "rule[2]: match is missing" in problems
    assert "rule[2]: stages lists 'dkim'" in problems


def test_the_shipped_file_parses_and_has_notes() -> None:
    rules = shipped_rules()
    assert len(rules) >= 15
    assert all(rule.note for rule in rules)
