"""Bounce classification rules as data: regular expressions over one reply line.

A rules file (TOML, an array of `[[rule]]` tables) maps "STAGE CODE ENHANCED TEXT" to a
bounce class. relaylane ships `bounce_rules.toml` (Gmail, Yahoo, Microsoft and SES codes);
`[classification] rules_file` adds the user's own, tried first. Pure: loading reads text.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, TypeVar

from relaylane.policy.vocabulary import BounceClass, Outcome, Stage

_E = TypeVar("_E", BounceClass, Outcome)
SHIPPED_RULES = "bounce_rules.toml"
DEFAULT_STAGES = frozenset({Stage.MAIL, Stage.RCPT, Stage.DATA, Stage.DATA_END})
_KEYS = {"match", "class", "outcome", "stages", "note"}
_OUTCOMES = (
    Outcome.DEFERRED,
    Outcome.BLOCKED,
    Outcome.BOUNCED,
    Outcome.FAILED,
    Outcome.RELAY_FAULT,
)


class RulesError(ValueError):
    """A rules file that cannot be used; `problems` name the rule, the key and the fix."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        super().__init__(f"{source}: " + "; ".join(self.problems))


@dataclass(frozen=True, slots=True)
class TextRule:
    pattern: re.Pattern[str]
    bounce_class: BounceClass
    outcome: Outcome | None  # None: follows from the class and the reply code
    stages: frozenset[Stage]
    note: str


def reply_line(stage: Stage, code: int | None, enhanced: str | None, text: str) -> str:
    """What rules match on: "rcpt 550 5.1.1 user unknown" (text already lower-cased)."""
    return f"{stage.value} {code if code is not None else '-'} {enhanced or '-'} {text}"


def first_match(rules: Sequence[TextRule], stage: Stage, line: str) -> TextRule | None:
    for rule in rules:
        if stage in rule.stages and rule.pattern.search(line):
            return rule
    return None


def parse_rules(text: str, source: str) -> tuple[TextRule, ...]:
    """Rules from a TOML document; raises RulesError listing every problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RulesError(source, [f"TOML syntax error: {exc}"]) from None
    problems: list[str] = [
        f'unknown key "{k}"; write each rule as a [[rule]] table' for k in data if k != "rule"
    ]
    raw = data.get("rule", [])
    if not isinstance(raw, list):
        raise RulesError(source, ["rule must be an array of tables: write [[rule]]"])
    rules: list[TextRule] = []
    for index, entry in enumerate(raw):
        rule = _rule(entry, f"rule[{index}]", problems)
        if rule is not None:
            rules.append(rule)
    if problems:
        raise RulesError(source, problems)
    return tuple(rules)


def shipped_rules() -> tuple[TextRule, ...]:
    text = resources.files("relaylane.policy").joinpath(SHIPPED_RULES).read_text("utf-8")
    return parse_rules(text, SHIPPED_RULES)


def _rule(entry: Any, where: str, problems: list[str]) -> TextRule | None:
    if not isinstance(entry, dict):
        problems.append(f"{where} must be a table with match and class")
        return None
    found = len(problems)
    for key in sorted(set(entry) - _KEYS):
        problems.append(f'{where}: unknown key "{key}"; valid keys: {", ".join(sorted(_KEYS))}')
    pattern = _pattern(entry.get("match"), where, problems)
    bounce_class = _choice(entry.get("class"), BounceClass, "class", where, problems)
    outcome = None
    if "outcome" in entry:
        outcome = _choice(entry["outcome"], Outcome, "outcome", where, problems, _OUTCOMES)
    stages = _stages(entry.get("stages"), where, problems)
    if len(problems) > found or pattern is None or bounce_class is None:
        return None
    return TextRule(pattern, bounce_class, outcome, stages, str(entry.get("note", "")))


def _pattern(value: Any, where: str, problems: list[str]) -> re.Pattern[str] | None:
    if not isinstance(value, str) or not value:
        problems.append(f"{where}: match is missing; add match = 'a regular expression'")
        return None
    try:
        return re.compile(value, re.IGNORECASE)
    except re.error as exc:
        problems.append(f"{where}: match = {value!r} is not a regular expression ({exc})")
        return None


def _choice(
    value: Any,
    kind: type[_E],
    key: str,
    where: str,
    problems: list[str],
    allowed: Sequence[_E] | None = None,
) -> _E | None:
    choices = list(allowed) if allowed is not None else list(kind)
    try:
        member = kind(value)
    except ValueError:
        member = None
    if member is None or member not in choices:
        names = ", ".join(c.value for c in choices)
        problems.append(f"{where}: {key} = {value!r} is not valid; use one of: {names}")
        return None
    return member


def _stages(value: Any, where: str, problems: list[str]) -> frozenset[Stage]:
    if value is None:
        return DEFAULT_STAGES
    names = ", ".join(s.value for s in Stage)
    if not isinstance(value, list) or not value:
        problems.append(f'{where}: stages must be a list such as ["rcpt", "data_end"]')
        return DEFAULT_STAGES
    stages: set[Stage] = set()
    for item in value:
        try:
            stages.add(Stage(item))
        except ValueError:
            problems.append(f"{where}: stages lists {item!r}; use some of: {names}")
    return frozenset(stages)
