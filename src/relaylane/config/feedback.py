"""Configuration of what comes back: the bounce receiver, bounce classification rules,
and each lane's suppression policy.

Every default is named here and documented in docs/configuration.md.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, StrictBool, StrictInt, ValidationInfo, field_validator

from relaylane.config.base import Model
from relaylane.config.durations import Duration
from relaylane.config.serving import Listen, existing_file
from relaylane.config.sizes import Size
from relaylane.policy.bounce_rules import parse_rules
from relaylane.policy.classify import DEFAULT_CLASSIFIER, Classifier
from relaylane.policy.suppression import HardBounceScope

DEFAULT_BOUNCES_LISTEN = "127.0.0.1:2526"
DEFAULT_BOUNCE_MESSAGE_SIZE = 10_000_000  # bytes: bounces quote the original message
DEFAULT_KEEP_RAW = 262_144  # bytes of an inbound report kept as evidence
DEFAULT_MAILBOX_FULL_LIMIT = 3  # distinct messages that found the mailbox full ...
DEFAULT_MAILBOX_FULL_WINDOW = 14 * 86400.0  # ... within this window suppress the address


class LaneSuppression(Model):
    """A lane's [lane.suppression] table: which evidence suppresses its recipients.

    - hard bounces suppress `hard_bounces` (global by default);
    - a complaint about mail from any lane suppresses every lane whose `complaints` is
      true, except that a transactional lane listens only to complaints about its own mail
      (so one complaint about a newsletter never stops password resets);
    - an unsubscribe suppresses the list it came from, or this lane for mail sent without
      a list, when `unsubscribes` is true;
    - a full mailbox suppresses (in this lane) after `mailbox_full_limit` distinct messages
      found it full within `mailbox_full_window`; 0 turns that off.

    Transactional lanes may opt out with `complaints = false` / `unsubscribes = false`.
    """

    hard_bounces: HardBounceScope = HardBounceScope.GLOBAL
    complaints: StrictBool = True
    unsubscribes: StrictBool = True
    mailbox_full_limit: StrictInt = Field(default=DEFAULT_MAILBOX_FULL_LIMIT, ge=0)
    mailbox_full_window: Duration = Field(default=DEFAULT_MAILBOX_FULL_WINDOW, gt=0)


class BouncesConfig(Model):
    """[bounces]: the SMTP listener that receives bounces and complaint reports for the
    return-path domains (part of `relaylane serve`, or alone: `relaylane bounces serve`)."""

    listen: Listen = DEFAULT_BOUNCES_LISTEN
    hostname: str | None = None  # the name in the greeting; default: the machine's FQDN
    max_message_size: Size = DEFAULT_BOUNCE_MESSAGE_SIZE
    keep_raw: Size = DEFAULT_KEEP_RAW  # bytes of each report kept as evidence
    enabled: StrictBool = True  # false: `serve` does not start the listener


class ClassificationConfig(Model):
    """[classification]: your own bounce rules, tried before the shipped ones."""

    rules_file: Path | None = None

    @field_validator("rules_file")
    @classmethod
    def _rules_file_ok(cls, value: Path | None, info: ValidationInfo) -> Path | None:
        return existing_file(value, info)


def classifier_for(config: ClassificationConfig) -> Classifier:
    """The shipped rules, after the user's rules file when one is configured (the loader
    has already checked that it parses)."""
    if config.rules_file is None:
        return DEFAULT_CLASSIFIER
    text = config.rules_file.read_text("utf-8")
    return Classifier.with_user_rules(parse_rules(text, str(config.rules_file)))
