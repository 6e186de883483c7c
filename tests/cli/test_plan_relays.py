"""`relaylane plan` and `relaylane relays`, run as a user runs them."""

from __future__ import annotations

import json
import time
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from relaylane.cli import plan as plan_cli
from relaylane.cli import relays as relays_cli
from relaylane.policy.pacing.caps import Period, period_end, period_start
from relaylane.policy.pacing.warmup import WarmupState
from relaylane.store import open_store
from relaylane.store.pacing import PacingEvent, SentCount, WarmupRow
from relaylane.store.schema import deliveries
from tests.cli.test_cli import send, write_config

# The two commands on an app of their own (cli/app.py registers them for users).
app = typer.Typer()
app.command("plan")(plan_cli.plan)
app.command("relays")(relays_cli.relays)
runner = CliRunner()

BERLIN = "Europe/Berlin"
START = "2026-06-01T00:00:00+02:00"  # midnight in Berlin: a fresh local day


def berlin(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(BERLIN)).timestamp()


def news_lane(relay_keys: str = 'rate = "10/s"\ndaily_cap = 50000', extra: str = "") -> str:
    """Two relays "a" and "b" with `relay_keys` in a marketing lane "news"."""
    relays = "".join(
        f"""
[[relay]]
name = "{name}"
host = "127.0.0.1"
port = {port}
tls = "none"
{relay_keys}
"""
        for name, port in (("a", 2601), ("b", 2602))
    )
    return f"""
[pacing]
timezone = "{BERLIN}"
{extra}
{relays}
[[lane]]
name = "news"
purpose = "marketing"
relays = ["a", "b"]
"""


def config(tmp_path: Path, store_url: str, **kw: str) -> str:
    return str(write_config(tmp_path, store_url, extra=news_lane(**kw)))


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def plan_json(cfg: str, *args: str) -> dict[str, Any]:
    code, out = run("plan", "--config", cfg, "--lane", "news", "--start", START, "--json", *args)
    assert code == 0, out
    data: dict[str, Any] = json.loads(out)
    return data


def busy(data: dict[str, Any]) -> dict[str, float]:
    """Local hour → sent, for the hours in which anything is sent."""
    return {row["hour_local"]: row["sent"] for row in data["rows"] if row["sent"] > 0.5}


def words(text: str) -> str:
    return " ".join(text.split())  # rich wraps long lines


def test_plan_finishes_when_the_daily_caps_allow(tmp_path: Path, store_url: str) -> None:
    # Two relays at 10/s with 50,000 a day each. Day 1: 72,000 in the first hour (2 x 10/s
    # x 3600 s), then 28,000 until both caps are reached at 01:23:20. Day 2: the last
    # 20,000 at 20/s take 1,000 s: done at 00:16:40 on June 2nd, Berlin time.
    cfg = config(tmp_path, store_url)
    data = plan_json(cfg, "--count", "120000")
    assert data["finish_time"] == berlin("2026-06-02T00:16:40")
    assert data["finish_local"] == "2026-06-02 00:16:40"
    assert data["timezone"] == BERLIN and data["within_horizon"]
    assert busy(data) == {
        "2026-06-01 00:00": 72_000,
        "2026-06-01 01:00": 28_000,
        "2026-06-02 00:00": 20_000,
    }
    last = data["rows"][-1]
    assert last["hour_local"] == "2026-06-02 00:00"
    assert last["cumulative"] == 120_000 and last["percent_done"] == 100.0
    assert data["rows"][1]["percent_done"] == 83.333  # 100,000 of 120,000
    assert [(r["name"], r["rate"], r["daily_cap"]) for r in data["relays"]] == [
        ("a", 10.0, 50_000),
        ("b", 10.0, 50_000),
    ]

    code, out = run(
        "plan", "--config", cfg, "--lane", "news", "--count", "120000", "--start", START
    )
    assert code == 0, out
    text = words(out)
    assert (
        "120,000 deliveries in lane news finish at 2026-06-02 00:16 Europe/Berlin, in 1d 16m"
        in text
    )
    assert "72,000" in text and "83.3%" in text and "100.0%" in text
    assert "clean delivery" in text and "no new deferrals or blocks" in text
    assert "warms up" not in text  # no relay warms up: no note about it


def test_a_split_by_provider_uses_the_provider_rates(tmp_path: Path, store_url: str) -> None:
    # google is 2/s per relay, so its 3,600 take 900 s on two relays; "other" is paced like
    # "default" (100/s) and gets the rest of each relay's 10/s, done long before.
    cfg = config(
        tmp_path, store_url, relay_keys='rate = "10/s"', extra='[provider.google]\nrate = "2/s"'
    )
    data = plan_json(cfg, "--count", "7200", "--by-provider", "google=50%")
    assert data["split"] == {"google": 0.5, "other": 0.5}
    assert data["provider_rates"] == {"google": 2.0, "other": 100.0}
    assert data["finish_time"] == berlin("2026-06-01T00:15:00")
    assert data["rows"][0]["sent_by_provider"] == {"google": 3600, "other": 3600}
    # All of it paced like "default": 20/s on the relays' own rates, 360 s.
    assert plan_json(cfg, "--count", "7200")["finish_time"] == berlin("2026-06-01T00:06:00")

    code, out = run(
        "plan", "--config", cfg, "-l", "news", "-n", "7200", "--start", START,
        "--by-provider", "google=50%,acme=10%",
    )  # fmt: skip
    assert code == 0, out
    text = words(out)
    assert "google" in text and "other" in text and "acme" in text
    assert 'acme: no such provider in the provider table, paced like "default"' in text


def test_what_was_sent_today_reduces_todays_room(tmp_path: Path, store_url: str) -> None:
    # Relay a sent 30,000 today already: 20,000 more today (2,000 s), b its 50,000; the
    # last 50,000 on day 2 at 20/s take 2,500 s: done at 00:41:40.
    cfg = config(tmp_path, store_url)
    start = berlin("2026-06-01T00:00:00")
    day = period_start(start, BERLIN, Period.DAY)
    store = open_store(store_url)
    try:
        store.pacing.flush(
            [
                SentCount("a", "", "day", day, 30_000),
                SentCount("a", "", "day", day - 86_400, 50_000),  # yesterday: no matter
                SentCount("a", "news.acme.test|google", "day", day, 9_999),  # a path's own
            ],
            [],
        )
    finally:
        store.close()
    data = plan_json(cfg, "--count", "120000")
    assert [(r["name"], r["sent_today"]) for r in data["relays"]] == [("a", 30_000), ("b", 0)]
    assert busy(data) == {
        "2026-06-01 00:00": 56_000,  # a's 20,000 in 2,000 s, b's 36,000
        "2026-06-01 01:00": 14_000,
        "2026-06-02 00:00": 50_000,
    }
    assert data["finish_time"] == berlin("2026-06-02T00:41:40")


def test_a_warmup_schedule_spreads_the_deliveries_over_days(tmp_path: Path, store_url: str) -> None:
    # 100, 200, 400 a day per relay, each step a day long: 200 on day 1, 400 on day 2 and
    # the last 400 on day 3 at 20/s (20 s).
    cfg = config(
        tmp_path,
        store_url,
        relay_keys='rate = "10/s"\nwarmup = "slow"',
        extra="[warmup.slow]\nschedule = [100, 200, 400]",
    )
    data = plan_json(cfg, "--count", "1000")
    assert busy(data) == {
        "2026-06-01 00:00": 200,
        "2026-06-02 00:00": 400,
        "2026-06-03 00:00": 400,
    }
    assert data["finish_local"] == "2026-06-03 00:00:20"
    assert data["relays"][0]["warmup"] == "slow"
    assert data["relays"][0]["warmup_schedule"] == [100, 200, 400]
    assert data["relays"][0]["warmup_step"] == 1
    assert data["relays"][0]["warmup_provider_steps"] == {"default": 1}
    assert data["from_domain"] is None

    code, out = run("plan", "--config", cfg, "-l", "news", "-n", "1000", "--start", START)
    assert code == 0, out
    text = words(out)
    assert "finish at 2026-06-03 00:00 Europe/Berlin, in 2d 0m" in text
    assert "relay a warms up: step 1 of 3 (100/day), not started yet" in text
    assert "give --from-domain" in text


def test_plan_continues_the_stored_warmup_progress(tmp_path: Path, store_url: str) -> None:
    # Relay a is at its last step (400/day) on the relay and on news.acme.test × default;
    # b has not started (100/day). Day 1: 500. Day 2: b may send 200 (it advanced), so the
    # last 500 go 20 s on both relays (400) and 10 s more on a alone: done at 00:00:30.
    cfg = config(
        tmp_path,
        store_url,
        relay_keys='rate = "10/s"\nwarmup = "slow"',
        extra="[warmup.slow]\nschedule = [100, 200, 400]",
    )
    start = berlin("2026-06-01T00:00:00")
    warm = asdict(WarmupState(step=2, step_started_at=start - 86_400, last_sent_at=start - 600))
    store = open_store(store_url)
    try:
        rows = [WarmupRow("a", "", warm), WarmupRow("a", "news.acme.test|default", warm)]
        store.pacing.flush([], [], rows, start)
    finally:
        store.close()
    data = plan_json(cfg, "--count", "1000", "--from-domain", "News.Acme.Test")
    assert data["from_domain"] == "news.acme.test"
    assert [r["warmup_step"] for r in data["relays"]] == [3, 1]
    assert [r["warmup_provider_steps"] for r in data["relays"]] == [{"default": 3}, {"default": 1}]
    assert busy(data) == {"2026-06-01 00:00": 500, "2026-06-02 00:00": 500}
    assert data["finish_local"] == "2026-06-02 00:00:30"
    assert any("relay a warms up: step 3 of 3 (400/day);" in n for n in data["notes"])
    # Another domain's paths start again: a sends 100 on day 1 as b does, like a new relay.
    assert plan_json(cfg, "--count", "1000")["finish_local"] == "2026-06-03 00:00:20"


def test_plan_waits_for_the_lanes_send_window(tmp_path: Path, store_url: str) -> None:
    # 300,000 at 20/s take 15,000 s (4h 10m) from 09:00, when the window opens.
    cfg = config(tmp_path, store_url, relay_keys='rate = "10/s"')
    path = Path(cfg)
    path.write_text(path.read_text() + 'send_window = "09:00-17:00"\n')
    data = plan_json(cfg, "--count", "300000")
    assert data["send_window"] == "09:00-17:00"
    assert min(busy(data)) == "2026-06-01 09:00"
    assert data["finish_local"] == "2026-06-01 13:10:00"
    assert any('send window "09:00-17:00"' in note for note in data["notes"])


def test_a_plan_beyond_the_horizon_names_the_binding_limit(tmp_path: Path, store_url: str) -> None:
    cfg = config(tmp_path, store_url, relay_keys="daily_cap = 1")
    data = plan_json(cfg, "--count", "1000")
    assert data["finish_time"] is None and not data["within_horizon"]
    assert data["rows"][-1]["cumulative"] == 2 * 366  # one a day on each relay
    assert "daily_cap 1 on a; daily_cap 1 on b" in data["binding_limit"]
    assert "about 2 deliveries a day" in data["binding_limit"]
    text = words(data["summary"])
    assert "do not finish within the horizon (366 days): 732 sent" in text


def test_plan_refuses_bad_input_naming_the_option(tmp_path: Path, store_url: str) -> None:
    cfg = config(tmp_path, store_url)
    base = ("plan", "--config", cfg, "--start", START)
    code, out = run(*base, "--lane", "newz", "--count", "10")
    assert code == 2 and "--lane" in out and 'no lane named "newz"' in out
    assert "transactional, news" in words(out)
    code, out = run(*base, "--lane", "news", "--count", "0")
    assert code == 2 and "--count" in out
    code, out = run(*base, "--lane", "news", "--count", "10", "--by-provider", "google=70%,x=40%")
    assert code == 2 and "--by-provider" in out and "110%" in out
    assert "Fix:" in out and "100%" in out
    code, out = run(*base, "--lane", "news", "--count", "10", "--by-provider", "google:60")
    assert code == 2 and "--by-provider" in out and "google=60%" in words(out)
    code, out = run("plan", "--config", cfg, "-l", "news", "-n", "10", "--start", "tomorrow")
    assert code == 2 and "--start" in out and "ISO 8601" in out
    assert "Traceback" not in out


def test_relays_json_shows_caps_counts_and_backoff_causes(tmp_path: Path, store_url: str) -> None:
    cfg = config(
        tmp_path,
        store_url,
        relay_keys='rate = "10/s"\nhourly_cap = 1000\ndaily_cap = 5000\nwarmup = "slow"',
        extra="[warmup.slow]\nschedule = [100, 200, 400]",
    )
    now = time.time()
    if period_end(now, BERLIN, Period.HOUR) - now < 10:  # keep the test inside one hour
        time.sleep(period_end(now, BERLIN, Period.HOUR) - now + 0.1)
        now = time.time()
    hour = period_start(now, BERLIN, Period.HOUR)
    day = period_start(now, BERLIN, Period.DAY)
    cause = "421 4.7.28 Gmail has detected an unusual rate of unsolicited mail"
    warm = WarmupState(1, 30, 0, 0, now - 60, now - 3600, day, 30)  # step 2, 30 sent in it
    for to in ("bob@example.test", "ann@example.test"):
        code, out = send(cfg, "--to", to, "--subject", "Hi", "--text", "Hi", lane="news")
        assert code == 0, out
    store = open_store(store_url)
    try:
        store.pacing.flush(
            [
                SentCount("a", "", "hour", hour, 120),
                SentCount("a", "", "day", day, 700),
                SentCount("a", "", "hour", hour - 3600, 999),  # the hour before
                SentCount("b", "", "day", day, 5),
            ],
            [
                PacingEvent(now - 120, "a", "google", "slow", 5.0, now + 1680, cause),
                PacingEvent(now - 60, "a", "microsoft", "suspend", 0.0, now + 3540, "S3150"),
                PacingEvent(now - 30, "a", "google", "warmup", None, None, "warm-up relay: ..."),
            ],
            [WarmupRow("a", "", asdict(warm))],
            now,
        )
        with store.engine.begin() as conn:
            conn.execute(sa.update(deliveries).values(relay="a", state="sent"))
    finally:
        store.close()

    code, out = run("relays", "--config", cfg, "--json")
    assert code == 0, out
    data = json.loads(out)
    assert data["timezone"] == BERLIN
    relays = {r["name"]: r for r in data["relays"]}
    assert list(relays) == ["tx-primary", "a", "b"]
    a = relays["a"]
    assert (a["kind"], a["lanes"], a["rate"], a["rate_text"]) == ("mta", ["news"], 10.0, "10/s")
    assert (a["hourly_cap"], a["sent_this_hour"], a["daily_cap"], a["sent_today"]) == (
        1000, 120, 5000, 700,
    )  # fmt: skip
    assert a["warmup"] == "slow" and a["deliveries"] == {"sent": 2}
    [path] = a["warmup_paths"]
    assert (path["path"], path["step"], path["volume"], path["sent_in_step"]) == (
        "relay", 2, 200, 30,
    )  # fmt: skip
    assert relays["b"]["warmup_paths"] == []
    assert [(e["provider"], e["action"]) for e in a["events"]] == [
        ("google", "warmup"),
        ("microsoft", "suspend"),
        ("google", "slow"),
    ]
    google = a["latest_by_provider"]["google"]  # the latest rate change, not the warm-up
    assert google["cause"] == cause and google["rate"] == 5.0 and google["rate_text"] == "5/s"
    assert google["until"] == now + 1680
    assert (relays["b"]["sent_this_hour"], relays["b"]["sent_today"]) == (0, 5)
    assert relays["b"]["events"] == [] and relays["tx-primary"]["lanes"] == ["transactional"]

    code, out = run("relays", "--config", cfg)
    assert code == 0, out
    text = words(out)
    assert "120/1,000" in text and "700/5,000" in text
    assert "S3150" in text and "suspend" in text and "relaylane relays --json" in text
    assert "slow 2/3 200/day" in text and "slow not started" in text

    # plan sees the backoff still in force, and the deliveries already waiting
    code, out = send(cfg, "--to", "cy@example.test", "--subject", "Hi", "--text", "Hi", lane="news")
    assert code == 0, out
    notes = plan_json(cfg, "--count", "10")["notes"]
    assert any("lane news already has 1 delivery waiting" in note for note in notes)
    assert any("google was slowed to 5/s (configured 10/s)" in note for note in notes)
    assert any("microsoft was suspended until" in note for note in notes)
