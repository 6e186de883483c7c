"""The corpus: every sample reads as expected.toml says, and the corpus covers each system.

The samples in corpus/ were written for relaylane from the formats of the named systems;
addresses use .test/.example domains. expected.toml holds, per file, the kind, the first
finding's event, recipient and class (`classify_finding(findings[0]).bounce_class`), and
the X-Relaylane-ID tokens found.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from relaylane.bounces.classes import classify_finding
from relaylane.bounces.parse import parse_report
from relaylane.bounces.report import Event, ParsedReport, ReportKind

CORPUS = Path(__file__).parent / "corpus"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads(
    (CORPUS / "expected.toml").read_text(encoding="utf-8")
)
SAMPLES = sorted(path.name for path in CORPUS.glob("*.eml"))

SYSTEMS = (
    "postfix",
    "exim",
    "sendmail",
    "exchange",
    "gmail",
    "yahoo",
    "qmail",
    "ses",
    "sendgrid",
    "arf-yahoo",
    "arf-microsoft",
    "arf-generic",
    "autoreply",
    "garbage",
    "unknown",
)


def _read(name: str) -> ParsedReport:
    return parse_report((CORPUS / name).read_bytes())


def test_corpus_is_large_enough_and_covers_each_system() -> None:
    assert len(SAMPLES) >= 50
    for system in SYSTEMS:
        assert any(name.startswith(f"{system}-") for name in SAMPLES), system


def test_every_sample_has_expectations_and_back() -> None:
    assert set(SAMPLES) == set(EXPECTED)


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_reads_as_expected(name: str) -> None:
    expected = EXPECTED[name]
    report = _read(name)
    first = report.findings[0]
    assert report.kind == ReportKind(expected["kind"])
    assert first.event == Event(expected["event"])
    assert first.recipient == expected.get("recipient")
    assert list(report.ids) == expected.get("ids", [])


@pytest.mark.parametrize("name", SAMPLES)
def test_sample_class(name: str) -> None:
    expected = EXPECTED[name]
    verdict = classify_finding(_read(name).findings[0])
    assert verdict.bounce_class == expected["class"]
    assert verdict.expired is expected.get("expired", False)


@pytest.mark.parametrize("name", SAMPLES)
def test_automatic_answers_never_bounce(name: str) -> None:
    report = _read(name)
    if report.kind is ReportKind.AUTO_REPLY:
        assert {f.event for f in report.findings} == {Event.AUTO_REPLY}
    if name.startswith("autoreply-"):
        assert report.kind is ReportKind.AUTO_REPLY


def test_a_dsn_with_two_recipients_gives_two_findings() -> None:
    report = _read("postfix-two-recipients.eml")
    assert [(f.recipient, f.status) for f in report.findings] == [
        ("henry@example.test", "5.1.1"),
        ("iris@example.test", "5.2.2"),
    ]


def test_addresses_reporter_and_subject() -> None:
    report = _read("postfix-user-unknown.eml")
    assert report.addresses == ("b-abcdefghijklmnopqrstuvwxyz234567@bounces.acme.test",)
    assert report.reporter == "mail.acme.test"
    assert report.subject == "Undelivered Mail Returned to Sender"
    french = _read("autoreply-french-reponse-automatique.eml")
    assert french.subject == "Réponse automatique : Votre relevé de mars"
    arf = _read("arf-generic-abuse.eml")
    assert (arf.feedback_type, arf.reporter) == ("abuse", "fbl.isp.example.test")


def test_expired_sample_keeps_the_diagnostic_code() -> None:
    first = _read("postfix-expired-4.4.7.eml").findings[0]
    assert (first.status, first.code) == ("4.4.7", 452)
    assert "4.2.2" in first.diagnostic
