"""`relaylane relays` health commands (show, pause, resume, drain), run as a user runs
them against a real store."""

from __future__ import annotations

import getpass
import os
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from relaylane.config import load_config
from relaylane.store import open_store
from relaylane.store.schema import deliveries
from tests.cli_run import as_json, run, words
from tests.helpers import queue

D = deliveries.c


def write(tmp_path: Path, store_url: str) -> str:
    """Relays r1 and r2 share lane "tx"; relay "solo" is the only relay of lane "alone"."""
    relays = "".join(
        f"""
[[relay]]
name = "{name}"
host = "127.0.0.1"
port = {port}
tls = "none"
"""
        for name, port in (("r1", 2701), ("r2", 2702), ("solo", 2703))
    )
    path = tmp_path / "relaylane.toml"
    path.write_text(
        f"""
[store]
url = "{store_url}"
{relays}
[[lane]]
name = "tx"
purpose = "transactional"
relays = ["r1", "r2"]

[[lane]]
name = "alone"
purpose = "transactional"
relays = ["solo"]
"""
    )
    return str(path)


def by_name(report: dict[str, Any], name: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [r for r in report["relays"] if r["name"] == name]
    assert len(found) == 1
    return found[0]


def test_pause_then_resume_records_both_with_the_operator(tmp_path: Path, store_url: str) -> None:
    cfg = write(tmp_path, store_url)
    who = f"operator:{getpass.getuser()}"
    code, out = run("relays", "pause", "r1", "--reason", "provider maintenance", "-c", cfg)
    assert code == 0, out
    assert "paused relay r1" in words(out) and "within about a second" in words(out)
    shown = as_json("relays", "show", "r1", "-c", cfg)
    assert shown["health"]["state"] == "paused" and shown["health"]["cause"] == "operator"
    assert shown["health"]["until"] is None
    assert "provider maintenance" in shown["health"]["reason"]
    listed = by_name(as_json("relays", "-c", cfg), "r1")
    assert listed["health"]["state"] == "paused" and listed["held"] == 0
    assert set(listed["rates"]) == {"15m", "1h", "24h"}
    assert listed["rates"]["1h"]["attempts"] == 0
    assert "sent_today" in listed and "events" in listed  # the fields from before stay

    code, out = run("relays", "resume", "r1", "-c", cfg)
    assert code == 0, out
    assert "resumed relay r1" in words(out)
    shown = as_json("relays", "show", "r1", "-c", cfg)
    assert shown["health"]["state"] == "healthy"
    history = shown["history"]
    assert [(e["from"], e["to"]) for e in history] == [
        ("paused", "healthy"),
        ("healthy", "paused"),
    ]
    assert {e["actor"] for e in history} == {who}
    assert history[1]["cause"] == "operator" and history[1]["evidence"]["note"] == (
        "provider maintenance"
    )
    assert history[0]["reason"] == f"resumed by {who}"
    assert set(shown["rates"]) == {"15m", "1h", "24h", "7d"}
    assert shown["config"]["lanes"] == ["tx"]

    code, out = run("relays", "show", "r1", "-c", cfg)  # the tables
    assert code == 0, out
    assert "paused -> healthy" in out and f"(operator) by {who}" in out

    code, out = run("relays", "resume", "r1", "-c", cfg)  # nothing left to resume
    assert code == 0 and "nothing to resume" in words(out)
    assert len(as_json("relays", "show", "r1", "-c", cfg)["history"]) == 2


def test_pause_a_provider_with_failover_and_the_table(tmp_path: Path, store_url: str) -> None:
    cfg = write(tmp_path, store_url)
    code, out = run("relays", "pause", "r2", "--provider", "google", "--failover", "-c", cfg)
    assert code == 0, out
    assert "for maintenance" in words(out)
    r2 = by_name(as_json("relays", "-c", cfg), "r2")
    assert r2["health"]["state"] == "healthy"
    [path] = r2["providers"]
    assert (path["provider"], path["state"], path["cause"]) == ("google", "paused", "maintenance")
    code, out = run("relays", "-c", cfg)
    assert code == 0, out
    assert "google:" in out and "(mainten" in out  # folded in 80 columns


def _held(cfg_path: str, n: int) -> list[int]:
    """`n` deliveries in lane tx, held on r1 for google."""
    cfg = load_config(Path(cfg_path), os.environ)
    store = open_store(cfg.store.url, cfg.source_path.parent)
    try:
        ids = queue(store, cfg, "tx", [f"u{i}@gmail.com" for i in range(n)], time.time())
        with store.engine.begin() as conn:
            conn.execute(
                deliveries.update()
                .where(D.id.in_(ids))
                .values(state="held", relay="r1", provider="google", due_at=None)
            )
    finally:
        store.close()
    return ids


def _rows(cfg_path: str, ids: list[int]) -> list[dict[str, Any]]:
    cfg = load_config(Path(cfg_path), os.environ)
    store = open_store(cfg.store.url, cfg.source_path.parent)
    try:
        with store.engine.connect() as conn:
            stmt = sa.select(D.state, D.relay, D.avoid_relay, D.pinned).where(D.id.in_(ids))
            return [dict(row) for row in conn.execute(stmt).mappings()]
    finally:
        store.close()


def test_pause_provider_holds_and_drain_moves(tmp_path: Path, store_url: str) -> None:
    cfg = write(tmp_path, store_url)
    code, out = run("relays", "pause", "r1", "--provider", "google", "-c", cfg)
    assert code == 0, out
    ids = _held(cfg, 3)
    r1 = by_name(as_json("relays", "-c", cfg), "r1")
    [path] = r1["providers"]
    assert (path["provider"], path["state"], path["cause"], path["held"]) == (
        "google",
        "paused",
        "operator",
        3,
    )
    assert r1["held"] == 3
    shown = as_json("relays", "show", "r1", "-c", cfg)
    assert shown["held"] == 3 and shown["providers"][0]["held"] == 3

    code, out = run("relays", "drain", "r1", "--provider", "google", "-c", cfg)
    assert code == 2
    assert "--to-lane-relays" in words(out) and "other relays" in words(out)
    assert {r["state"] for r in _rows(cfg, ids)} == {"held"}

    code, out = run("relays", "drain", "r1", "--provider", "google", "--to-lane-relays", "-c", cfg)
    assert code == 0, out
    assert "drained 3 waiting deliveries" in words(out)
    rows = _rows(cfg, ids)
    assert all(
        r["state"] == "queued" and r["relay"] is None and r["avoid_relay"] == "r1" for r in rows
    )
    assert by_name(as_json("relays", "-c", cfg), "r1")["held"] == 0
    [drained, paused] = as_json("relays", "show", "r1", "-c", cfg)["history"][:2]
    assert drained["cause"] == "drain" and drained["evidence"] == {"moved": 3}
    assert paused["cause"] == "operator" and paused["provider"] == "google"


def test_drain_refuses_a_lane_s_only_relay(tmp_path: Path, store_url: str) -> None:
    cfg = write(tmp_path, store_url)
    code, out = run("relays", "drain", "solo", "--to-lane-relays", "-c", cfg)
    assert code == 1
    assert "only relay of lane alone" in words(out) and "no other relay" in words(out)


def test_unknown_relay_names_the_known_ones(tmp_path: Path, store_url: str) -> None:
    cfg = write(tmp_path, store_url)
    for command in ("show", "pause", "resume"):
        code, out = run("relays", command, "nope", "-c", cfg)
        assert code == 2, out
        assert 'no relay named "nope"' in words(out)
        assert "r1, r2, solo" in words(out)
    code, out = run("relays", "drain", "nope", "--to-lane-relays", "-c", cfg)
    assert code == 2 and 'no relay named "nope"' in words(out)
