"""What a relay's answer means: one attempt's reply (or connection fault) becomes a `Verdict`.

The product's core promise lives here. An attempt moves to another relay of the lane
(`Outcome.RELAY_FAULT`) only for an *infrastructure* fault of the relay itself: it cannot be
reached, it closed the session (421), it throttles us, or it refuses our account or sender.
A receiver's judgement of a recipient or of the content (5.1.1, 5.7.1 spam, 4.2.2 over quota,
...) never moves mail to another relay.

`classify` first tries the text rules (data: the shipped `bounce_rules.toml`, after the user's
own rules file when a `Classifier` is built with one), then an ordered list of small code
rules (`_RULES`); the first rule that answers wins.
The rules read the reply code, the RFC 3463 enhanced status code (only when its class agrees
with the reply code) and the wording, lower-cased. Everything is pure and total: `classify`
never raises, whatever the stage, code and text.

Stages are grouped as:
- session stages (CONNECT, EHLO, STARTTLS, AUTH): nothing about the message has been said yet,
  so any refusal is about the relay;
- MAIL: the relay judges our account and sender;
- message stages (RCPT, DATA, DATA_END, and LOCAL, a refusal relaylane made itself with an
  SMTP-like code): the answer is about this recipient or this message, except for a few
  phrases by which a relay speaks about itself (relay access denied, throttling, quota).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from relaylane.policy.bounce_rules import TextRule, first_match, reply_line, shipped_rules
from relaylane.policy.vocabulary import BounceClass, Outcome, Stage

__all__ = ["Classifier", "Fault", "Verdict", "classify", "split_enhanced"]


class Fault(StrEnum):
    """A connection-level fact the transport reports instead of (or before) a reply."""

    REFUSED = "refused"  # TCP connect refused or unreachable, or the relay's name did not resolve
    TIMEOUT = "timeout"  # connect timeout, or the relay stalled mid-session
    TLS = "tls"  # TLS handshake or certificate verification failed
    DISCONNECTED = "disconnected"  # connection dropped before a final reply (also mid-DATA)
    AUTH_UNSUPPORTED = "auth_unsupported"  # AUTH needed but the relay offers no usable mechanism
    # Added: the message needs SMTPUTF8 and the relay does not advertise it. Not an outage (other
    # mail still flows through this relay), so it is a permanent FAILED/UNSUPPORTED, not a fault.
    SMTPUTF8_UNSUPPORTED = "smtputf8_unsupported"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What policy concludes from one attempt."""

    outcome: Outcome
    bounce_class: BounceClass
    reason: str  # short human explanation, e.g. "relay throttling (421 4.7.0)"


# --------------------------------------------------------------------------------------------
# Enhanced status codes (RFC 3463): class.subject.detail, class 2/4/5, 1-3 digits each.

_REPLY_CODE_PREFIX = re.compile(r"[2-5]\d\d(?:[ -]|$)")
_ENHANCED_PREFIX = re.compile(r"#?([245])\.(\d{1,3})\.(\d{1,3})(?=[\s,;:()\[\]<>]|$)")


def split_enhanced(text: str) -> tuple[str | None, str]:
    """Split an RFC 3463 enhanced status code off the front of a reply's text.

    "5.1.1 User unknown" -> ("5.1.1", "User unknown"); "User unknown" -> (None, "User unknown").
    Also tolerated, as transports hand replies over in different shapes: a leading reply code
    ("550 5.1.1 ..." or "550-5.1.1 ..."), an Exchange-style "#5.1.1", leading zeros ("5.01.001"
    -> "5.1.1") and multi-line replies, where each line repeats the codes; the lines of the
    rest are joined with single spaces.
    """
    enhanced: str | None = None
    started = False
    parts: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        prefix = _REPLY_CODE_PREFIX.match(line)
        if prefix:
            line = line[prefix.end() :].lstrip()
        found = _ENHANCED_PREFIX.match(line)
        if found:
            code = f"{int(found[1])}.{int(found[2])}.{int(found[3])}"
            if not started:
                enhanced = code
            if code == enhanced:
                line = line[found.end() :].lstrip()
        if line or found:
            started = True
        if line:
            parts.append(line)
    return enhanced, " ".join(parts)


# --------------------------------------------------------------------------------------------
# Wording. Patterns run on the lower-cased text with whitespace collapsed.


def _words(*patterns: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in patterns))


# The relay asks us to slow down. Broad, so used only where no recipient is at stake (421,
# session stages, MAIL): "try again later" at RCPT is usually greylisting, not throttling.
_SLOW_DOWN = _words(
    r"too many",
    r"throttl",
    r"\brate\b",
    r"rate[- ]?limit",
    r"try (again )?later",
    r"slow down",
    r"\bvolume\b",  # Yahoo TSS04 "unexpected volume"
)

# The relay's own throttling, narrow enough to trust at RCPT/DATA/DATA_END.
_THROTTLING = _words(
    r"too many (connections|concurrent|sessions|messages|mails|emails|requests)",
    r"rate[- ]?limit",
    r"throttl",
    r"(sending|message|connection|send) rate",
)

# The relay's account-level sending quota (ESPs, Gmail SMTP relay): RELAY_FAULT even as 5xx.
# Receivers' "quota exceeded" means a full mailbox, hence the explicit "sending"/"daily" forms.
_SENDING_QUOTA = _words(
    r"sending (quota|limit)",
    r"(daily|hourly) (user |message |send |sending )*(quota|limit)",
    r"daily (user )?sending",
    r"maximum sending rate",
)

# The relay refuses our account, credentials or sender: a configuration problem of this relay.
_RELAY_CONFIG = _words(
    r"relay(ing)? (access )?(denied|not permitted|not allowed|prohibited)",
    r"(not permitted|not allowed|not authori[sz]ed|unable) to relay",
    r"authentication (is )?required",
    r"must (first )?authenticate",
    r"client (was )?not authenticated",
    r"must issue a starttls",
    r"sender address rejected",  # Postfix checks sender restrictions at RCPT (smtpd_delay_reject)
    r"not owned by",  # Postfix smtpd_sender_login_maps
    r"sending (has been |is )?paused",
    r"(your|sender'?s?) account (is |has been )?(suspended|disabled|paused|deactivated)",
    r"identities failed the check",  # SES: unverified identity
    r"email address is not verified",  # SES sandbox
)

# Reputation of the sending IP or domain.
_REPUTATION = _words(
    r"reputation",
    r"\bips?\b",
    r"block ?list",
    r"black ?list",
    r"deny ?list",
    r"(?<!not )\blisted\b",
    r"spamhaus",
    r"spamcop",
    r"barracuda",
    r"\b(rbl|dnsbl)s?\b",
    r"\bpoor\b",
    r"blocked using",
)

# The content was judged (spam, malware).
_SPAM = _words(r"spam", r"unsolicited", r"content", r"junk", r"phish", r"virus", r"malware")

# Without an enhanced code, these words alone say "blocked" (stricter than _REPUTATION/_SPAM).
_BLOCKED = _words(
    r"\bblock(ed|ing)?\b",
    r"block ?list",
    r"black ?list",
    r"deny ?list",
    r"reputation",
    r"spam",
    r"unsolicited",
    r"\b(rbl|dnsbl)s?\b",
    r"barracuda",
)

# Greylisting is a transient policy, not a block.
_GREYLIST = _words(r"gr[ae]ylist")

_MAILBOX_FULL = _words(
    r"mailbox (is )?full",
    r"over ?quota",
    r"quota exceeded",
    r"exceeded storage allocation",
    r"mailbox size limit",
    r"(mailbox|inbox) .{0,20}(storage|quota)",
)

_TOO_LARGE = _words(
    r"message (size|length)",
    r"message (is )?too (large|big)",
    r"size exceeds",
    r"exceeds? (the )?(maximum|fixed|size)",
    r"too (large|big)",
)

_UNSUPPORTED = _words(r"smtputf8")

_BAD_DOMAIN = _words(
    r"domain (does not|doesn't) exist",
    r"domain not found",
    r"no such domain",
    r"unrout(e)?able (address|domain)",
    r"null mx",
)

_INVALID_RECIPIENT = _words(
    r"user unknown",
    r"unknown user",
    r"no such (user|recipient|mailbox|address)",
    r"(does not|doesn't) exist",
    r"mailbox unavailable",
    r"mailbox not found",
    r"user not found",
    r"invalid (recipient|mailbox)",
    r"recipient (unknown|rejected|not found)",
    r"unknown recipient",
    r"address rejected",
    r"not listed in",
    # Yahoo: "dd This user doesn't have a yahoo.com account"
    r"(does not|doesn't) have an? [\w.-]{0,40} ?account",
)

# A 452 4.5.3 / "too many recipients" at RCPT concerns only that recipient (send it later).
_TOO_MANY_RECIPIENTS = _words(r"too many recipients")


# --------------------------------------------------------------------------------------------
# The reply as the rules see it.

_SESSION_STAGES = frozenset({Stage.CONNECT, Stage.EHLO, Stage.STARTTLS, Stage.AUTH})
_MESSAGE_STAGES = frozenset({Stage.RCPT, Stage.DATA, Stage.DATA_END, Stage.LOCAL, Stage.REPORT})


@dataclass(frozen=True, slots=True)
class _Reply:
    stage: Stage
    code: int | None
    enhanced: str | None  # "5.1.1", kept only when its class agrees with the reply code
    text: str  # the rest, lower-cased, whitespace collapsed

    @property
    def kind(self) -> int:  # 2, 4, 5 ...; 0 when there is no code
        return self.code // 100 if self.code is not None else 0

    def says(self, pattern: re.Pattern[str]) -> bool:
        return pattern.search(self.text) is not None

    def enhanced_in(self, *patterns: str) -> bool:
        """Does the enhanced code match one of "5.1.1" / "5.1.*" / "*.7.*"?"""
        if self.enhanced is None:
            return False
        parts = self.enhanced.split(".")
        for pattern in patterns:
            wanted = pattern.split(".")
            if all(w in ("*", p) for w, p in zip(wanted, parts, strict=True)):
                return True
        return False

    @property
    def undecided_enhanced(self) -> bool:
        """No enhanced code, or one that says nothing (x.0.0)."""
        return self.enhanced is None or self.enhanced_in("*.0.0")

    def tag(self) -> str:
        if self.code is None:
            return "no reply"
        return f"{self.code} {self.enhanced}" if self.enhanced else str(self.code)


def _verdict(outcome: Outcome, bounce_class: BounceClass, what: str, r: _Reply) -> Verdict:
    return Verdict(outcome, bounce_class, f"{what} ({r.tag()})")


def _relay_fault(bounce_class: BounceClass, what: str, r: _Reply) -> Verdict:
    return _verdict(Outcome.RELAY_FAULT, bounce_class, what, r)


def _block_class(r: _Reply) -> BounceClass:
    """Reputation first (so "Spamhaus" is not read as "spam"), then content, else policy."""
    if r.says(_REPUTATION):
        return BounceClass.REPUTATION_BLOCK
    if r.says(_SPAM):
        return BounceClass.SPAM_CONTENT
    return BounceClass.POLICY


def _is_too_large(r: _Reply) -> bool:
    """5.3.4 / 5.2.3, or size wording that is not about a full mailbox."""
    if r.enhanced_in("5.3.4", "5.2.3"):
        return True
    return r.says(_TOO_LARGE) and not r.says(_MAILBOX_FULL)


def _is_unsupported(r: _Reply) -> bool:
    """5.6.7 (RFC 6531: non-ASCII address without SMTPUTF8) or SMTPUTF8 named in the text."""
    return r.enhanced_in("5.6.7") or r.says(_UNSUPPORTED)


# --------------------------------------------------------------------------------------------
# The rules, in order. Each returns a Verdict when it decides, or None to pass on.

_Rule = Callable[[_Reply], Verdict | None]


def _no_reply(r: _Reply) -> Verdict | None:
    """No code and no fault: the relay did not answer at all, an infrastructure fault."""
    if r.code is None:
        return _relay_fault(BounceClass.RELAY_UNAVAILABLE, "no reply from relay", r)
    return None


def _success(r: _Reply) -> Verdict | None:
    """2xx after the final dot is the only success; 2xx elsewhere should not be classified."""
    if r.kind != 2:
        return None
    if r.stage is Stage.DATA_END:
        return _verdict(Outcome.SENT, BounceClass.NONE, "accepted", r)
    return _verdict(Outcome.FAILED, BounceClass.PROTOCOL_ERROR, f"unexpected 2xx at {r.stage}", r)


def _unexpected_code(r: _Reply) -> Verdict | None:
    """Not 2xx/4xx/5xx: a broken relay during the session, else a protocol error."""
    if r.kind in (4, 5):
        return None
    if r.stage in _SESSION_STAGES:
        return _relay_fault(BounceClass.RELAY_UNAVAILABLE, f"unexpected reply at {r.stage}", r)
    return _verdict(Outcome.FAILED, BounceClass.PROTOCOL_ERROR, f"unexpected reply at {r.stage}", r)


def _service_closing(r: _Reply) -> Verdict | None:
    """421 at any stage: the relay closes the session; throttling when it says so."""
    if r.code != 421:
        return None
    if r.says(_SLOW_DOWN):
        return _relay_fault(BounceClass.RATE_LIMITED, "relay throttling", r)
    return _relay_fault(BounceClass.RELAY_UNAVAILABLE, "relay closing the session", r)


def _relay_refuses_account(r: _Reply) -> Verdict | None:
    """Relay access denied, authentication required, sender refused, account paused: any stage."""
    if r.says(_RELAY_CONFIG):
        return _relay_fault(BounceClass.RELAY_CONFIG, "relay refuses our account or sender", r)
    return None


def _relay_sending_quota(r: _Reply) -> Verdict | None:
    """The relay account's own sending quota or rate, 4xx or 5xx, at any stage."""
    if r.says(_SENDING_QUOTA):
        return _relay_fault(BounceClass.RATE_LIMITED, "relay sending limit reached", r)
    return None


def _session_refusal(r: _Reply) -> Verdict | None:
    """Any 4xx/5xx before MAIL is about the relay: AUTH 5xx is our configuration."""
    if r.stage not in _SESSION_STAGES:
        return None
    if r.stage is Stage.AUTH and r.kind == 5:
        return _relay_fault(BounceClass.RELAY_CONFIG, "relay rejected our credentials", r)
    if r.kind == 4 and r.says(_SLOW_DOWN):
        return _relay_fault(BounceClass.RATE_LIMITED, "relay throttling", r)
    return _relay_fault(BounceClass.RELAY_UNAVAILABLE, f"relay refused at {r.stage}", r)


def _mail_refusal(r: _Reply) -> Verdict | None:
    """MAIL FROM refused: the relay judges our account and sender, not a recipient."""
    if r.stage is not Stage.MAIL:
        return None
    if r.kind == 4:
        throttled = r.says(_SLOW_DOWN) or (r.code in (451, 452) and r.enhanced_in("4.7.*"))
        if throttled:
            return _relay_fault(BounceClass.RATE_LIMITED, "relay throttling", r)
        return _relay_fault(BounceClass.RELAY_UNAVAILABLE, "relay cannot take mail now", r)
    # Decided differently from "5xx at MAIL is RELAY_CONFIG": the SIZE= and SMTPUTF8 parameters
    # are refused here for this message only; failing over (and counting towards a pause) for them
    # would punish a healthy relay.
    if _is_too_large(r):
        return _verdict(Outcome.FAILED, BounceClass.MESSAGE_TOO_LARGE, "message too large", r)
    if _is_unsupported(r):
        return _verdict(Outcome.FAILED, BounceClass.UNSUPPORTED, "SMTPUTF8 not supported", r)
    if r.enhanced_in("5.7.*") and (r.says(_REPUTATION) or r.says(_SPAM)):
        return _verdict(Outcome.BLOCKED, _block_class(r), "sender blocked", r)
    return _relay_fault(BounceClass.RELAY_CONFIG, "relay refuses our sender", r)


# From here on the stage is RCPT, DATA, DATA_END or LOCAL.


def _relay_throttling(r: _Reply) -> Verdict | None:
    """4xx with the relay's throttling words is the relay's own throttling.

    Not for recipient-level answers: 4.2.x (this mailbox) and 4.5.3 / "too many recipients"
    (only this recipient waits for the next transaction).
    """
    if r.kind != 4 or not r.says(_THROTTLING):
        return None
    if r.enhanced_in("4.2.*", "4.5.3") or r.says(_TOO_MANY_RECIPIENTS):
        return None
    return _relay_fault(BounceClass.RATE_LIMITED, "relay throttling", r)


# 4xx at a message stage: the enhanced codes that decide the class on their own.
_TEMPORARY_BY_CODE: tuple[tuple[str, BounceClass, str], ...] = (
    ("4.2.2", BounceClass.MAILBOX_FULL, "mailbox full"),
    ("4.5.3", BounceClass.TRANSIENT, "too many recipients"),
    ("4.4.*", BounceClass.ROUTING_ERROR, "routing problem"),
)


def _temporary_class(r: _Reply) -> tuple[BounceClass, str]:
    for pattern, bounce_class, what in _TEMPORARY_BY_CODE:
        if r.enhanced_in(pattern):
            return bounce_class, what
    if r.says(_TOO_MANY_RECIPIENTS):
        return BounceClass.TRANSIENT, "too many recipients"
    if r.enhanced_in("4.2.*") and r.says(_SLOW_DOWN):  # Gmail 4.2.1 "receiving mail at a rate"
        return BounceClass.RATE_LIMITED, "recipient receiving too fast"
    if r.says(_GREYLIST):
        return BounceClass.TRANSIENT, "greylisted"
    if r.enhanced_in("4.7.*"):
        return _block_class(r), "temporarily blocked"
    if r.says(_MAILBOX_FULL):
        return BounceClass.MAILBOX_FULL, "mailbox full"
    if r.says(_BLOCKED):
        return _block_class(r), "temporarily blocked"
    return BounceClass.TRANSIENT, "temporary failure"


def _temporary_refusal(r: _Reply) -> Verdict | None:
    """Any other 4xx at a message stage: retry later on the same relay."""
    if r.kind != 4:
        return None
    bounce_class, what = _temporary_class(r)
    return _verdict(Outcome.DEFERRED, bounce_class, what, r)


# 5xx at a message stage: enhanced codes that decide on their own, first match wins.
_PERMANENT_BY_CODE: tuple[tuple[str, Outcome, BounceClass, str], ...] = (
    ("5.1.2", Outcome.BOUNCED, BounceClass.BAD_DOMAIN, "domain does not exist"),
    # Decided: 5.1.7/5.1.8 are about OUR sender's address; never suppress the recipient.
    ("5.1.7", Outcome.FAILED, BounceClass.UNCLASSIFIED, "sender address refused"),
    ("5.1.8", Outcome.FAILED, BounceClass.UNCLASSIFIED, "sender address refused"),
    ("5.1.*", Outcome.BOUNCED, BounceClass.INVALID_RECIPIENT, "recipient does not exist"),
    ("5.2.1", Outcome.BOUNCED, BounceClass.INACTIVE_MAILBOX, "mailbox disabled"),
    ("5.2.2", Outcome.BOUNCED, BounceClass.MAILBOX_FULL, "mailbox full"),
    ("5.2.3", Outcome.FAILED, BounceClass.MESSAGE_TOO_LARGE, "message too large"),
    ("5.3.4", Outcome.FAILED, BounceClass.MESSAGE_TOO_LARGE, "message too large"),
    ("5.4.4", Outcome.BOUNCED, BounceClass.BAD_DOMAIN, "domain has no mail host"),
    ("5.4.*", Outcome.FAILED, BounceClass.ROUTING_ERROR, "routing problem"),
    ("5.5.*", Outcome.FAILED, BounceClass.PROTOCOL_ERROR, "protocol error"),
    ("5.6.7", Outcome.FAILED, BounceClass.UNSUPPORTED, "SMTPUTF8 not supported"),
)


def _permanent_by_code(r: _Reply) -> Verdict | None:
    """5xx whose enhanced code decides alone (the table above)."""
    for pattern, outcome, bounce_class, what in _PERMANENT_BY_CODE:
        if r.enhanced_in(pattern):
            return _verdict(outcome, bounce_class, what, r)
    return None


def _policy_refusal(r: _Reply) -> Verdict | None:
    """5.7.x: a reputation, content or policy refusal; hold and retry on the same relay."""
    if r.enhanced_in("5.7.*"):
        return _verdict(Outcome.BLOCKED, _block_class(r), "blocked", r)
    return None


def _mailbox_full_wording(r: _Reply) -> Verdict | None:
    """ "Mailbox full" / "over quota" (552's RFC 5321 text "exceeded storage allocation")."""
    if r.says(_MAILBOX_FULL):
        return _verdict(Outcome.BOUNCED, BounceClass.MAILBOX_FULL, "mailbox full", r)
    return None


def _too_large_wording(r: _Reply) -> Verdict | None:
    """552 (or any 5xx) saying the message is too large."""
    if _is_too_large(r):
        return _verdict(Outcome.FAILED, BounceClass.MESSAGE_TOO_LARGE, "message too large", r)
    return None


def _unsupported_wording(r: _Reply) -> Verdict | None:
    """A 5xx naming SMTPUTF8: this message needs an extension the relay lacks."""
    if r.says(_UNSUPPORTED):
        return _verdict(Outcome.FAILED, BounceClass.UNSUPPORTED, "SMTPUTF8 not supported", r)
    return None


def _blocked_wording(r: _Reply) -> Verdict | None:
    """Block/spam/reputation words. Before the recipient words on purpose: wrongly suppressing
    a good address is worse than holding a message that was really a bounce."""
    if r.says(_BLOCKED):
        return _verdict(Outcome.BLOCKED, _block_class(r), "blocked", r)
    return None


def _bad_domain_wording(r: _Reply) -> Verdict | None:
    """ "Domain does not exist" and friends."""
    if r.says(_BAD_DOMAIN):
        return _verdict(Outcome.BOUNCED, BounceClass.BAD_DOMAIN, "domain does not exist", r)
    return None


def _invalid_recipient_wording(r: _Reply) -> Verdict | None:
    """ "User unknown", "no such user", "does not exist", "mailbox unavailable", ..."""
    if r.says(_INVALID_RECIPIENT):
        return _verdict(
            Outcome.BOUNCED, BounceClass.INVALID_RECIPIENT, "recipient does not exist", r
        )
    return None


def _bare_550_at_rcpt(r: _Reply) -> Verdict | None:
    """A bare 550 to RCPT: RFC 5321's "mailbox unavailable"."""
    if r.code == 550 and r.stage is Stage.RCPT and r.undecided_enhanced:
        return _verdict(Outcome.BOUNCED, BounceClass.INVALID_RECIPIENT, "mailbox unavailable", r)
    return None


def _unclassified(r: _Reply) -> Verdict:
    """Anything else is permanent, with no suppression and no failover."""
    return _verdict(Outcome.FAILED, BounceClass.UNCLASSIFIED, "permanent failure", r)


# Before the text rules: what is structurally not a refusal to read.
_STRUCTURAL: tuple[_Rule, ...] = (_no_reply, _success, _unexpected_code)

_RULES: tuple[_Rule, ...] = (
    _service_closing,
    _relay_refuses_account,
    _relay_sending_quota,
    _session_refusal,
    _mail_refusal,
    # message stages only from here
    _relay_throttling,
    _temporary_refusal,
    _permanent_by_code,
    _policy_refusal,
    _mailbox_full_wording,
    _too_large_wording,
    _unsupported_wording,
    _blocked_wording,
    _bad_domain_wording,
    _invalid_recipient_wording,
    _bare_550_at_rcpt,
)


# Connection-level faults. All are RELAY_FAULT except where noted.
_FAULTS: dict[Fault, tuple[Outcome, BounceClass, str]] = {
    Fault.REFUSED: (Outcome.RELAY_FAULT, BounceClass.RELAY_UNAVAILABLE, "connection refused"),
    Fault.TIMEOUT: (Outcome.RELAY_FAULT, BounceClass.RELAY_UNAVAILABLE, "timed out"),
    Fault.TLS: (Outcome.RELAY_FAULT, BounceClass.RELAY_UNAVAILABLE, "TLS failure"),
    Fault.DISCONNECTED: (Outcome.RELAY_FAULT, BounceClass.RELAY_UNAVAILABLE, "disconnected"),
    # Decided: a relay that offers no usable AUTH is misconfigured (or we are), not down.
    Fault.AUTH_UNSUPPORTED: (
        Outcome.RELAY_FAULT,
        BounceClass.RELAY_CONFIG,
        "relay offers no usable AUTH mechanism",
    ),
    Fault.SMTPUTF8_UNSUPPORTED: (
        Outcome.FAILED,
        BounceClass.UNSUPPORTED,
        "relay does not support SMTPUTF8",
    ),
}


class Classifier:
    """Classifies replies with text rules (user rules first, then the shipped ones), then
    the built-in code rules. Pure and total: never raises."""

    def __init__(self, rules: Sequence[TextRule]) -> None:
        self.rules = tuple(rules)

    @classmethod
    def with_user_rules(cls, user_rules: Sequence[TextRule]) -> Classifier:
        return cls((*user_rules, *shipped_rules()))

    def __call__(
        self, stage: Stage, code: int | None, text: str, fault: Fault | None = None
    ) -> Verdict:
        """What one attempt's reply (or fault) means.

        `fault`, when given, wins over `code`. `text` is the reply's text, with or without
        the enhanced code, the reply code or continuation lines (see `split_enhanced`).
        """
        if fault is not None:
            outcome, bounce_class, what = _FAULTS[fault]
            return Verdict(outcome, bounce_class, f"{what} at {stage}")
        enhanced, rest = split_enhanced(text)
        if enhanced is not None and (code is None or int(enhanced[0]) != code // 100):
            enhanced = None  # RFC 3463: the class must agree with the reply code; else ignore
        reply = _Reply(stage, code, enhanced, " ".join(rest.lower().split()))
        for rule in _STRUCTURAL:
            verdict = rule(reply)
            if verdict is not None:
                return verdict
        matched = first_match(self.rules, stage, reply_line(stage, code, enhanced, reply.text))
        if matched is not None:
            return _rule_verdict(matched, reply)
        for rule in _RULES:
            verdict = rule(reply)
            if verdict is not None:
                return verdict
        return _unclassified(reply)


# What a text rule's class means when the rule names no outcome.
_ADDRESS_CLASSES = frozenset(
    {
        BounceClass.INVALID_RECIPIENT,
        BounceClass.BAD_DOMAIN,
        BounceClass.INACTIVE_MAILBOX,
        BounceClass.MAILBOX_FULL,
    }
)
_HELD_CLASSES = frozenset(
    {
        BounceClass.SPAM_CONTENT,
        BounceClass.REPUTATION_BLOCK,
        BounceClass.POLICY,
        BounceClass.AUTHENTICATION_REQUIRED,
        BounceClass.RATE_LIMITED,
        BounceClass.RELAY_CONFIG,
    }
)


def _rule_verdict(rule: TextRule, r: _Reply) -> Verdict:
    """A text rule's answer: temporary replies wait on the same relay; permanent ones
    bounce (address classes), wait on the same relay (relay-level and content classes)
    or fail."""
    outcome = rule.outcome
    if outcome is None:
        if r.kind == 4:
            outcome = Outcome.DEFERRED
        elif rule.bounce_class in _ADDRESS_CLASSES:
            outcome = Outcome.BOUNCED
        elif rule.bounce_class in _HELD_CLASSES:
            outcome = Outcome.BLOCKED
        else:
            outcome = Outcome.FAILED
    what = rule.note or rule.bounce_class.value.replace("_", " ")
    return _verdict(outcome, rule.bounce_class, what, r)


DEFAULT_CLASSIFIER = Classifier(shipped_rules())


def classify(stage: Stage, code: int | None, text: str, fault: Fault | None = None) -> Verdict:
    """`DEFAULT_CLASSIFIER` (the shipped rules, no user rules). Total: never raises."""
    return DEFAULT_CLASSIFIER(stage, code, text, fault)
