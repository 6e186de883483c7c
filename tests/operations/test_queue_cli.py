"""`relaylane queue` and `relaylane lanes` as an operator runs them."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from relaylane.config import load_config
from relaylane.store import Store
from tests.cli_run import run, runner, words
from tests.helpers import queue
from tests.operations.queue_fixture import snapshot


def write_config(tmp_path: Path, store_url: str) -> tuple[str, str]:
    path = tmp_path / "relaylane.toml"
    path.write_text(
        f"""
[store]
url = "{store_url}"

[[relay]]
name = "r1"
host = "127.0.0.1"
port = 2701
tls = "none"

[[relay]]
name = "r2"
host = "127.0.0.1"
port = 2702
tls = "none"

[[lane]]
name = "tx"
purpose = "transactional"
relays = ["r1"]

[[lane]]
name = "news"
purpose = "marketing"
relays = ["r2"]
"""
    )
    return "--config", str(path)


@pytest.fixture
def cli(store: Store, store_url: str, tmp_path: Path) -> tuple[str, str]:
    return write_config(tmp_path, store_url)


def test_list_dry_run_and_hold(store: Store, cli: tuple[str, str]) -> None:
    cfg = load_config(Path(cli[1]), {})
    now = time.time()
    queue(store, cfg, "tx", ["a@x.example", "b@y.example"], now)
    queue(store, cfg, "news", ["c@x.example"], now, from_="News <n@news.acme.test>")
    code, out = run("queue", "list", *cli)
    assert code == 0 and "3 match (queued 3)" in words(out)
    listed = json.loads(run("queue", "list", "--domain", "x.example", "--json", *cli)[1])
    assert listed["count"] == 2 and {d["lane"] for d in listed["deliveries"]} == {"tx", "news"}
    before = snapshot(store)
    code, out = run("queue", "hold", "--lane", "tx", "--dry-run", *cli)
    assert code == 0 and "would change 2 deliveries" in words(out) and "nothing changed" in out
    assert snapshot(store) == before and store.audit.entries() == []
    code, out = run("queue", "hold", "--lane", "tx", "--reason", "incident", *cli)
    assert code == 0 and "held 2 deliveries (lane tx)" in words(out)
    [entry] = store.audit.entries()
    assert entry.action == "queue.hold" and entry.actor.startswith("operator:")
    assert entry.effect == {"held": 2}
    code, out = run("queue", "list", "--state", "held", "--json", *cli)
    assert json.loads(out)["count"] == 2


def test_bad_options_are_clear(cli: tuple[str, str]) -> None:
    code, out = run("queue", "hold", "--lane", "bulk", *cli)
    assert code == 2 and '--lane: no lane named "bulk"' in words(out)
    code, out = run("queue", "list", "--older-than", "soon", *cli)
    assert code == 2 and "--older-than" in out
    code, out = run("queue", "requeue", "--state", "queued", *cli)
    assert code == 2 and "requeue never changes deliveries that are queued" in words(out)


def test_more_than_a_thousand_asks_first(store: Store, cli: tuple[str, str]) -> None:
    cfg = load_config(Path(cli[1]), {})
    now = time.time()
    for batch in range(11):
        queue(store, cfg, "tx", [f"u{batch}-{i}@x.example" for i in range(100)], now)
    before = snapshot(store)
    result = runner.invoke(__import__("relaylane.cli.app").cli.app.app,
                           ["queue", "cancel", *cli], input="n\n")  # fmt: skip
    assert result.exit_code == 1 and "cancel 1,100 deliveries" in words(result.output)
    assert "nothing changed" in result.output
    assert snapshot(store) == before and store.audit.entries() == []
    code, out = run("queue", "cancel", "--json", *cli)
    assert code == 2 and "--yes" in out
    code, out = run("queue", "cancel", "--yes", *cli)
    assert code == 0 and "cancelled 1,100 deliveries" in words(out)


def test_lanes_pause_resume_and_list(store: Store, cli: tuple[str, str]) -> None:
    code, out = run("lanes", "pause", "news", "--reason", "bad copy", *cli)
    assert code == 0 and "paused lane news" in out
    lanes = {ln["name"]: ln for ln in json.loads(run("lanes", "--json", *cli)[1])["lanes"]}
    assert lanes["news"]["paused"] and lanes["news"]["reason"] == "bad copy"
    assert not lanes["tx"]["paused"]
    code, out = run("lanes", *cli)
    assert code == 0 and "paused" in out
    code, out = run("lanes", "resume", "news", *cli)
    assert code == 0 and "resumed lane news" in out
    code, out = run("lanes", "resume", "news", *cli)
    assert code == 0 and "not paused" in out
    code, out = run("lanes", "pause", "bulk", *cli)
    assert code == 2 and 'no lane named "bulk"' in out
    assert [e.action for e in store.audit.entries()] == ["lane.resume", "lane.pause"]
