"""`relaylane suppress`: adding, lifting, listing, importing and exporting suppressions."""

from __future__ import annotations

import csv
import io
import json
import time
from pathlib import Path

from tests.cli.test_cli import run, send, write_config

NEWS_LANE = """
[[relay]]
name = "bulk"
host = "127.0.0.1"
port = 2526
tls = "none"

[[lane]]
name = "newsletters"
purpose = "marketing"
relays = ["bulk"]
"""


def config(tmp_path: Path, store_url: str) -> str:
    return str(write_config(tmp_path, store_url, extra=NEWS_LANE))


def queue(cfg: str, to: str, lane: str = "transactional") -> int:
    code, out = send(cfg, "--to", to, "--subject", "Hi", "--text", "Hi", "--json", lane=lane)
    assert code == 0, out
    return int(json.loads(out)["deliveries"][0]["id"])


def states(cfg: str) -> dict[int, str]:
    code, out = run("messages", "list", "--config", cfg, "--json")
    assert code == 0, out
    return {d["id"]: d["state"] for d in json.loads(out)}


def entries(cfg: str, *args: str) -> list[dict[str, object]]:
    code, out = run("suppress", "list", "--config", cfg, "--json", *args)
    assert code == 0, out
    rows: list[dict[str, object]] = json.loads(out)
    return rows


def test_add_stops_waiting_deliveries_once(tmp_path: Path, store_url: str) -> None:
    cfg = config(tmp_path, store_url)
    bob, ann = queue(cfg, "bob@example.test"), queue(cfg, "ann@example.test")
    code, out = run("suppress", "add", "Bob@example.test", "--config", cfg, "--note", "asked")
    assert code == 0, out
    assert "added 1" in out and "stopped 1" in out
    assert states(cfg) == {bob: "suppressed", ann: "queued"}
    code, out = run("suppress", "add", "Bob@example.test", "--config", cfg, "--json")
    assert code == 0, out
    assert json.loads(out) == {
        "added": 0,
        "already_present": 1,
        "stopped": 0,
        "scope": "global",
        "reason": "manual",
        "expires_at": None,
    }
    [row] = entries(cfg)
    assert (row["address"], row["scope"], row["reason"], row["source"], row["note"]) == (
        "Bob@example.test",
        "global",
        "manual",
        "cli",
        "asked",
    )


def test_lane_scope_stops_only_that_lane(tmp_path: Path, store_url: str) -> None:
    cfg = config(tmp_path, store_url)
    tx = queue(cfg, "bob@example.test")
    news = queue(cfg, "bob@example.test", lane="newsletters")
    code, out = run(
        "suppress",
        "add",
        "bob@example.test",
        "--scope",
        "lane:newsletters",
        "--reason",
        "unsubscribe",
        "--config",
        cfg,
    )
    assert code == 0, out
    assert "stopped 1" in out
    assert states(cfg) == {tx: "queued", news: "suppressed"}
    assert [r["scope"] for r in entries(cfg, "--scope", "lane:newsletters")] == ["lane:newsletters"]
    assert entries(cfg, "--scope", "global") == []


def test_bad_input_exits_2_and_adds_nothing(tmp_path: Path, store_url: str) -> None:
    cfg = config(tmp_path, store_url)
    code, out = run("suppress", "add", "ok@example.test", "bob@", "--config", cfg)
    assert code == 2 and "bob@" in out and "ADDRESS" in out
    code, out = run("suppress", "add", "ok@example.test", "--scope", "lane:nope", "--config", cfg)
    assert code == 2 and "nope" in out and "transactional" in out and "newsletters" in out
    code, out = run("suppress", "add", "ok@example.test", "--scope", "planet", "--config", cfg)
    assert code == 2 and "lane:NAME" in out
    code, out = run("suppress", "add", "ok@example.test", "--expires", "soon", "--config", cfg)
    assert code == 2 and "--expires" in out
    code, out = run("suppress", "add", "ok@example.test", "--reason", "bored", "--config", cfg)
    assert code == 2 and "bored" in out
    assert entries(cfg) == []


def test_remove_lifts_only_the_named_scope(tmp_path: Path, store_url: str) -> None:
    cfg = config(tmp_path, store_url)
    for scope in ("global", "list:spring"):
        code, out = run("suppress", "add", "bob@example.test", "--scope", scope, "--config", cfg)
        assert code == 0, out
    code, out = run("suppress", "remove", "BOB@example.test", "--config", cfg)
    assert code == 0 and "removed" in out
    assert [r["scope"] for r in entries(cfg)] == ["list:spring"]
    code, out = run("suppress", "remove", "bob@example.test", "--config", cfg)
    assert code == 1 and "not suppressed" in out
    code, out = run("suppress", "list", "--config", cfg, "--address", "bob@example.test")
    assert code == 0 and "bob@example.test" in out and "list:spring" in out


def test_list_table_and_limit(tmp_path: Path, store_url: str) -> None:
    cfg = config(tmp_path, store_url)
    code, out = run("suppress", "add", "a@x.test", "b@x.test", "--note", "[vip]", "--config", cfg)
    assert code == 0, out
    code, out = run("suppress", "list", "--config", cfg)
    assert code == 0, out
    assert "2 suppression(s)" in out and "a@x.test" in out and "[vip]" in out  # not markup
    assert [r["address"] for r in entries(cfg, "--limit", "1")] == ["a@x.test"]
    assert [r["address"] for r in entries(cfg, "--address", "b@x.test")] == ["b@x.test"]


def test_expires_is_stored_and_shown(tmp_path: Path, store_url: str) -> None:
    cfg = config(tmp_path, store_url)
    code, out = run("suppress", "add", "a@x.test", "--expires", "30d", "--config", cfg, "--json")
    assert code == 0, out
    assert json.loads(out)["expires_at"].endswith("Z")
    [row] = entries(cfg)
    assert isinstance(row["created_at"], float) and isinstance(row["expires_at"], float)
    assert abs(row["expires_at"] - row["created_at"] - 30 * 86400) < 5
    code, out = run("suppress", "add", "a@x.test", "--expires", "0s", "--config", cfg)
    assert code == 2 and "more than 0" in out


def test_import_keeps_good_rows_and_reports_bad_lines(tmp_path: Path, store_url: str) -> None:
    cfg = config(tmp_path, store_url)
    waiting = queue(cfg, "carol@example.test")
    code, _ = run("suppress", "add", "dave@example.test", "--config", cfg)
    assert code == 0
    path = tmp_path / "old.csv"
    path.write_text(
        "Name,EMAIL,Reason,scope\n"
        "Ann,ann@example.test,,\n"  # line 2: flags' defaults
        "Bob,bob@,,\n"  # line 3: bad address
        "\n"  # line 4: blank, skipped
        "Carol,carol@example.test,complaint,\n"  # line 5: stops her waiting mail
        'Dan,"dan@example.test",bored,\n'  # line 6: unknown reason
        "Dave,dave@example.test,,\n"  # line 7: already present
        "Eve,eve@example.test,,lane:nope\n"  # line 8: unknown lane
        "Fay,fay@example.test,,list:spring\n"  # line 9: per-row scope
    )
    code, out = run("suppress", "import", str(path), "--reason", "hard_bounce", "--config", cfg)
    assert code == 0, out
    assert "line 3: 'bob@'" in out
    assert "line 6: unknown reason 'bored'" in out
    assert "line 8: unknown lane 'nope'" in out
    assert "read 7 row(s): 3 added, 1 already present, 3 bad; stopped 1" in out
    got = {r["address"]: (r["reason"], r["scope"], r["source"]) for r in entries(cfg)}
    assert got == {
        "dave@example.test": ("manual", "global", "cli"),
        "ann@example.test": ("hard_bounce", "global", "import"),
        "carol@example.test": ("complaint", "global", "import"),
        "fay@example.test": ("hard_bounce", "list:spring", "import"),
    }
    assert states(cfg) == {waiting: "suppressed"}


def test_import_json_first_column_and_failures(tmp_path: Path, store_url: str) -> None:
    cfg = config(tmp_path, store_url)
    path = tmp_path / "plain.csv"
    path.write_text("who,when\nann@example.test,yesterday\nnope\n")
    code, out = run("suppress", "import", str(path), "--config", cfg, "--json")
    assert code == 0, out
    assert json.loads(out) == {
        "rows": 2,
        "added": 1,
        "already_present": 0,
        "bad": [{"line": 3, "problem": json.loads(out)["bad"][0]["problem"]}],
        "stopped": 0,
    }
    assert "'nope'" in json.loads(out)["bad"][0]["problem"]
    all_bad = tmp_path / "bad.csv"
    all_bad.write_text("email\nx@\ny@\n")
    code, out = run("suppress", "import", str(all_bad), "--config", cfg)
    assert code == 2 and "line 2" in out and "line 3" in out and "0 added" in out
    code, out = run("suppress", "import", str(tmp_path / "missing.csv"), "--config", cfg)
    assert code == 2 and "missing.csv" in out
    binary = tmp_path / "latin.csv"
    binary.write_bytes(b"email,note\nann@example.test,caf\xe9\n")
    code, out = run("suppress", "import", str(binary), "--config", cfg)
    assert code == 2 and "UTF-8" in out
    assert [r["address"] for r in entries(cfg)] == ["ann@example.test"]


def test_import_adds_in_chunks(tmp_path: Path, store_url: str) -> None:
    cfg = config(tmp_path, store_url)
    path = tmp_path / "big.csv"
    path.write_text("email\n" + "".join(f"u{i}@example.test\n" for i in range(2500)))
    code, out = run("suppress", "import", str(path), "--config", cfg, "--json")
    assert code == 0, out
    assert json.loads(out)["added"] == 2500
    assert len(entries(cfg, "--limit", "5000")) == 2500


def test_export_round_trips_through_import(tmp_path: Path, store_url: str) -> None:
    cfg = config(tmp_path, store_url)
    adds = [
        ("ann@example.test", "--scope", "global", "--note", 'says "no", twice'),
        ("bob@example.test", "--scope", "lane:newsletters", "--reason", "complaint"),
        ("cat@example.test", "--scope", "list:spring", "--expires", "30d"),
    ]
    for args in adds:
        code, out = run("suppress", "add", *args, "--config", cfg)
        assert code == 0, out
    code, exported = run("suppress", "export", "--config", cfg)
    assert code == 0, exported
    rows = list(csv.DictReader(io.StringIO(exported)))
    assert list(rows[0]) == [
        "email",
        "scope",
        "reason",
        "source",
        "created_at",
        "expires_at",
        "note",
    ]
    assert rows[0]["created_at"].endswith("Z") and rows[2]["expires_at"].endswith("Z")
    code, out = run("suppress", "export", "--config", cfg, "--scope", "list:spring", "--json")
    assert code == 0 and [r["email"] for r in json.loads(out)] == ["cat@example.test"]

    fresh_dir = tmp_path / "fresh"
    fresh_dir.mkdir()
    fresh = config(fresh_dir, f"sqlite:///{fresh_dir / 'fresh.db'}")
    dump = tmp_path / "export.csv"
    dump.write_text(exported)
    code, out = run("suppress", "import", str(dump), "--config", fresh)
    assert code == 0 and "3 added" in out, out

    def key(row: dict[str, object]) -> tuple[object, ...]:
        expires = row["expires_at"]
        return (
            row["address"],
            row["scope"],
            row["reason"],
            row["note"],
            None if expires is None else int(float(str(expires))),  # export keeps seconds
        )

    assert [key(r) for r in entries(fresh)] == [key(r) for r in entries(cfg)]
    assert {r["source"] for r in entries(fresh)} == {"import"}
    assert time.time() + 29 * 86400 < float(str(entries(fresh)[2]["expires_at"]))
