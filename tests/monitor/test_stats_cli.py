"""`relaylane stats`, run as a user runs it: JSON and tables, filters and errors."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from relaylane.cli import stats as stats_cli
from relaylane.cli.app import app as relaylane_app
from relaylane.monitor.tally import MetricTally
from relaylane.policy.vocabulary import BounceClass, Outcome, Stage
from relaylane.records import NewDelivery, NewMessage
from relaylane.store import open_store
from tests.cli.test_cli import write_config

app = typer.Typer()
app.command("stats")(stats_cli.stats)
app.command("other")(lambda: None)  # two commands: typer then keeps "stats" as a name
runner = CliRunner()

MARKETING = """
[[relay]]
name = "mkt-a"
host = "127.0.0.1"
port = 2602
tls = "none"

[[lane]]
name = "marketing"
purpose = "marketing"
relays = ["mkt-a"]
"""


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["stats", *args])
    return result.exit_code, result.output


def report(cfg: str, *args: str) -> dict[str, Any]:
    code, out = run("--config", cfg, "--json", *args)
    assert code == 0, out
    data: dict[str, Any] = json.loads(out)
    return data


def attempt(tally: MetricTally, at: float, relay: str, provider: str, lane: str,
            outcome: Outcome, bounce_class: BounceClass = BounceClass.NONE,
            stage: Stage = Stage.RCPT) -> None:  # fmt: skip
    tally.attempt(at, relay, provider, lane, "", stage=stage, outcome=outcome,
                  bounce_class=bounce_class)  # fmt: skip


def seed(store_url: str, now: float) -> None:
    """An hour ago and now on tx-primary (gmail, yahoo); two days ago on mkt-a."""
    tally = MetricTally()
    for _ in range(8):
        attempt(tally, now - 30, "tx-primary", "gmail", "transactional", Outcome.SENT,
                stage=Stage.DATA_END)  # fmt: skip
        tally.latency(now - 30, "tx-primary", "gmail", "transactional", "", 0.4)
    attempt(tally, now - 30, "tx-primary", "gmail", "transactional", Outcome.BLOCKED,
            BounceClass.REPUTATION_BLOCK)  # fmt: skip
    attempt(tally, now - 30, "tx-primary", "yahoo", "transactional", Outcome.BOUNCED,
            BounceClass.INVALID_RECIPIENT)  # fmt: skip
    attempt(tally, now - 1800, "tx-primary", "yahoo", "transactional", Outcome.DEFERRED,
            BounceClass.TRANSIENT)  # fmt: skip
    attempt(tally, now - 1800, "tx-primary", "", "transactional", Outcome.RELAY_FAULT,
            BounceClass.RELAY_UNAVAILABLE, Stage.CONNECT)  # fmt: skip
    for _ in range(4):
        attempt(tally, now - 2 * 86_400, "mkt-a", "gmail", "marketing", Outcome.SENT,
                stage=Stage.DATA_END)  # fmt: skip
    store = open_store(store_url)
    try:
        store.metrics.add(tally.drain())
        message = NewMessage(
            lane="transactional", mail_from="a@tx.acme.test", from_domain="tx.acme.test",
            body=b"Subject: x\r\n\r\nx\r\n", smtputf8=False, created_at=now - 600,
            expires_at=now + 3600,
            deliveries=(NewDelivery("bob@example.test", "<1@tx.acme.test>", b""),),
        )  # fmt: skip
        store.queue.enqueue([message])
    finally:
        store.close()


@pytest.fixture
def cfg(tmp_path: Path, store_url: str) -> str:
    seed(store_url, time.time())
    return str(write_config(tmp_path, store_url, extra=MARKETING))


def test_json_has_the_asked_window_the_standard_ones_rates_latency_and_queue(cfg: str) -> None:
    data = report(cfg, "--relay", "tx-primary", "--since", "1h")
    assert data["since"] == "1h" and data["since_seconds"] == 3600
    assert list(data["windows"]) == ["15m", "1h", "24h", "7d"]
    assert data["filters"] == {"relay": "tx-primary", "lane": None, "provider": None,
                               "campaign": None}  # fmt: skip
    hour = data["window"]
    assert hour == data["windows"]["1h"]
    counts = hour["counts"]
    assert (counts["attempts"], counts["answered"], counts["sent"]) == (12, 11, 8)
    assert (counts["blocked"], counts["deferred"], counts["bounced"]) == (1, 1, 1)
    assert (counts["relay_faults"], counts["conn_failures"]) == (1, 1)
    assert hour["bounces"] == {"invalid_recipient": 1}
    assert hour["rates"]["block_rate"] == pytest.approx(1 / 11)
    assert hour["rates"]["relay_fault_rate"] == pytest.approx(1 / 12)
    assert 0.25 < hour["latency"]["p50"] <= 0.5 and hour["latency"]["count"] == 8
    quarter = data["windows"]["15m"]["counts"]
    assert (quarter["attempts"], quarter["deferred"]) == (10, 0)
    assert set(data["by_provider"]) == {"", "gmail", "yahoo"}
    assert data["by_provider"]["yahoo"]["counts"]["bounced"] == 1
    assert data["by_relay"].keys() == {"tx-primary"}
    [lane] = data["queue"]
    assert lane["lane"] == "transactional" and lane["depth"] == 1
    assert lane["by_state"] == {"queued": 1} and 590 <= lane["oldest_age"] < 700


def test_without_a_relay_it_covers_every_relay_and_an_odd_window_is_its_own_column(
    cfg: str,
) -> None:
    data = report(cfg, "--since", "3d")
    assert list(data["windows"]) == ["15m", "1h", "24h", "3d", "7d"]
    assert data["window"]["counts"]["sent"] == 12
    assert data["windows"]["24h"]["counts"]["sent"] == 8
    assert set(data["by_relay"]) == {"tx-primary", "mkt-a"}
    assert [q["lane"] for q in data["queue"]] == ["transactional", "marketing"]
    assert report(cfg, "--since", "1d")["since"] == "24h"  # a standard window's name


def test_lane_provider_and_campaign_filters(cfg: str) -> None:
    assert report(cfg, "--lane", "marketing", "--since", "7d")["window"]["counts"]["sent"] == 4
    gmail = report(cfg, "--provider", "gmail", "--since", "7d")["window"]["counts"]
    assert (gmail["sent"], gmail["blocked"], gmail["bounced"]) == (12, 1, 0)
    nothing = report(cfg, "--campaign", "spring")["window"]["counts"]
    assert not any(nothing.values())
    queue = report(cfg, "--lane", "marketing")["queue"]
    assert queue == [{"lane": "marketing", "depth": 0, "by_state": {}, "oldest_age": None}]


def test_the_tables_show_windows_rates_latency_providers_and_the_queue(cfg: str) -> None:
    code, out = run("--config", cfg, "--relay", "tx-primary")
    assert code == 0, out
    for text in ("relay tx-primary", "24h*", "7d", "block rate", "latency p95", "gmail",
                 "yahoo", "invalid_recipient", "queue now", "transactional", "9.09%"):  # fmt: skip
        assert text in out, text
    assert "by relay" not in out
    code, out = run("--config", cfg, "--since", "7d")
    assert code == 0 and "by relay" in out and "mkt-a" in out


def test_an_empty_selection_says_so(cfg: str) -> None:
    code, out = run("--config", cfg, "--campaign", "nothing-here", "--since", "15m")
    assert code == 0 and "no metrics recorded in the last 15m" in out


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (("--relay", "nope"), ['no relay named "nope"', "tx-primary, mkt-a"]),
        (("--lane", "nope"), ['no lane named "nope"', "transactional, marketing"]),
        (("--since", "yesterday"), ["--since", "'yesterday' is not a duration", "24h"]),
        (("--since", "0m"), ["--since", "empty window"]),
        (("--since", "30m1h"), ["--since", "not a duration"]),
    ],
)
def test_bad_names_and_windows_are_refused_naming_the_fix(
    cfg: str, args: tuple[str, ...], words: list[str]
) -> None:
    code, out = run("--config", cfg, *args)
    assert code == 2
    flat = " ".join(out.split())
    for word in words:
        assert word in flat, (word, out)
    assert "Traceback" not in out


def test_stats_is_a_relaylane_command() -> None:
    result = runner.invoke(relaylane_app, ["stats", "--help"])
    assert result.exit_code == 0 and "--since" in result.output
