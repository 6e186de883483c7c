"""The `relaylane` command line, as a user runs it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from relaylane.cli.app import app
from relaylane.sim import Behaviour, SimRelay, refusing_port
from relaylane.store import open_store

runner = CliRunner()


def write_config(tmp_path: Path, store_url: str, port: int = 2525, extra: str = "") -> Path:
    path = tmp_path / "relaylane.toml"
    path.write_text(
        f"""
[store]
url = "{store_url}"

[worker]
idle_poll = "50ms"

[[relay]]
name = "tx-primary"
host = "127.0.0.1"
port = {port}
tls = "none"
timeouts = {{ connect = 5, command = 5, data_end = 5 }}

[[lane]]
name = "transactional"
purpose = "transactional"
relays = ["tx-primary"]
{extra}
"""
    )
    return path


async def start_worker(*args: str) -> asyncio.subprocess.Process:
    """`relaylane worker ARGS` as its own process, output (stdout and stderr) piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "relaylane",
        "worker",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )


def send(
    cfg: str, *args: str, lane: str = "transactional", from_: str = "a@tx.acme.test"
) -> tuple[int, str]:
    """`relaylane send` in the usual lane and from the usual sender, plus ARGS."""
    return run("send", "--config", cfg, "--lane", lane, "--from", from_, *args)


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_init_writes_a_starter_that_checks(tmp_path: Path) -> None:
    path = tmp_path / "relaylane.toml"
    code, out = run("init", str(path))
    assert code == 0 and path.exists()
    assert "[[relay]]" in path.read_text() and "#" in path.read_text()
    code, out = run("init", str(path))
    assert code == 1 and "--force" in out
    code, out = run("check", "--config", str(path))
    assert code == 0, out
    assert "ok" in out and "lane transactional" in out


def test_check_names_every_problem_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        """
[[relay]]
name = "a"
host = "127.0.0.1"
tls = "startls"
colour = "blue"

[[lane]]
name = "transactional"
purpose = "transactional"
relays = ["a", "b"]
"""
    )
    code, out = run("check", "--config", str(path))
    assert code == 1
    assert "Traceback" not in out
    assert "startls" in out and "starttls" in out  # the bad value and the right one
    assert "colour" in out  # the unknown key
    assert '"b"' in out or "'b'" in out or " b" in out  # the unknown relay
    assert "bad.toml" in out.replace("\n", "")  # rich may wrap a long temporary path


def test_check_reports_a_missing_password_variable(tmp_path: Path) -> None:
    path = write_config(tmp_path, "sqlite:///x.db")
    text = path.read_text().replace(
        'tls = "none"', 'tls = "none"\nusername = "acme"\npassword_env = "RL_TEST_NOPE"'
    )
    path.write_text(text)
    code, out = run("check", "--config", str(path))
    assert code == 1 and "RL_TEST_NOPE" in out


def test_missing_config_says_how_to_make_one(tmp_path: Path) -> None:
    code, out = run("check", "--config", str(tmp_path / "none.toml"))
    assert code == 1 and "relaylane init" in out


def test_config_from_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write_config(tmp_path, f"sqlite:///{tmp_path / 'rl.db'}")
    monkeypatch.setenv("RELAYLANE_CONFIG", str(path))
    code, out = run("check")
    assert code == 0, out


def test_send_prints_ids_and_refuses_bad_input(tmp_path: Path, store_url: str) -> None:
    cfg = str(write_config(tmp_path, store_url))
    code, out = send(
        cfg,
        "--to",
        "bob@example.test",
        "--to",
        "ann@example.test",
        "--to",
        "Bob@example.test",  # the same recipient again: sent once
        "--subject",
        "Reset",
        "--text",
        "Hi",
        "--json",
        from_="Acme <no-reply@tx.acme.test>",
    )
    assert code == 0, out
    sent = json.loads(out)
    assert [d["recipient"] for d in sent["deliveries"]] == ["bob@example.test", "ann@example.test"]
    code, out = send(
        cfg, "--to", "bob@example.test", "--subject", "Reset\r\nBcc: evil@x.test", "--text", "Hi"
    )
    assert code == 2 and "Subject" in out
    code, out = send(cfg, "--to", "bob@", "--subject", "x", "--text", "Hi")
    assert code == 2 and "bob@" in out
    code, out = send(cfg, "--to", "b@example.test", "--text", "x", lane="newsletters")
    assert code == 2 and "transactional" in out  # names the lanes that exist
    store = open_store(store_url)
    assert store.reads.status(time.time()).by_state == {"queued": 2}  # nothing bad got in
    store.close()


def test_send_to_file_is_one_commit_one_delivery_each(tmp_path: Path, store_url: str) -> None:
    cfg = str(write_config(tmp_path, store_url))
    recipients = tmp_path / "list.txt"
    recipients.write_text("# spring list\none@example.test\n\ntwo@example.test\nOne@example.test\n")
    text = tmp_path / "body.txt"
    text.write_text("Grüße aus Berlin\n")
    code, out = send(
        cfg,
        "--to-file",
        str(recipients),
        "--subject",
        "Spring",
        "--text-file",
        str(text),
        "--json",
    )
    assert code == 0, out
    ids = [d["id"] for d in json.loads(out)["deliveries"]]
    assert len(ids) == 2  # the comment, the blank line and the duplicate are skipped
    store = open_store(store_url)
    rows = store.reads.list_deliveries()
    assert len({r.message_id for r in rows}) == 1  # one stored body
    store.close()
    bad = tmp_path / "bad.txt"
    bad.write_text("ok@example.test\nnot-an-address\n")
    code, out = send(
        cfg,
        "--to-file",
        str(bad),
        "--text",
        "x",
    )
    assert code == 2 and "bad.txt:2" in out


async def test_send_worker_status_and_show_end_to_end(tmp_path: Path, store_url: str) -> None:
    rules = [(r"^ghost@", "550 5.1.1 [MX04] User unknown")]  # brackets are not markup
    async with SimRelay(Behaviour(rcpt_rules=rules)) as sim:
        cfg = str(write_config(tmp_path, store_url, sim.port))
        code, out = await asyncio.to_thread(
            send,
            cfg,
            "--to",
            "bob@example.test",
            "--to",
            "ghost@example.test",
            "--subject",
            "Reset",
            "--text",
            "Hi",
            "--json",
            from_="Acme <no-reply@tx.acme.test>",
        )
        assert code == 0, out
        bob, ghost = (d["id"] for d in json.loads(out)["deliveries"])
        proc = await start_worker("--until-idle", "--config", cfg)
        output, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, output.decode()
    assert "1 sent" in output.decode() and "1 bounced" in output.decode()
    code, out = run("status", "--config", cfg, "--json")
    status = json.loads(out)
    assert status["by_state"] == {"sent": 1, "bounced": 1}
    assert status["by_relay"] == {"tx-primary": {"sent": 1, "bounced": 1}}
    code, out = run("messages", "show", str(bob), "--config", cfg, "--json")
    detail = json.loads(out)
    assert detail["delivery"]["state"] == "sent"
    assert detail["delivery"]["relay_queue_id"] == sim.received[0].queue_id
    assert detail["attempts"][0]["reply"].startswith("250")
    code, out = run("messages", "show", str(ghost), "--config", cfg)
    assert code == 0 and "bounced" in out and "[MX04]" in out
    code, out = run("messages", "list", "--state", "bounced", "--config", cfg, "--json")
    assert [r["id"] for r in json.loads(out)] == [ghost]
    code, out = run("messages", "list", "--config", cfg)
    assert code == 0 and "550 5.1.1" in out and "550 550" not in out
    code, out = run("messages", "list", "--state", "lost", "--config", cfg)
    assert code == 2 and "queued" in out
    code, out = run("messages", "show", "999999", "--config", cfg)
    assert code == 1 and "999999" in out
    code, out = run("status", "--config", cfg)
    assert code == 0 and "tx-primary" in out


async def test_sigterm_stops_the_worker_with_nothing_lost(tmp_path: Path, store_url: str) -> None:
    async with SimRelay(Behaviour(delay=0.005)) as sim:
        cfg = str(write_config(tmp_path, store_url, sim.port))
        recipients = tmp_path / "r.txt"
        recipients.write_text("\n".join(f"u{i}@example.test" for i in range(1500)))
        code, out = await asyncio.to_thread(
            send,
            cfg,
            "--to-file",
            str(recipients),
            "--text",
            "x",
        )
        assert code == 0, out
        proc = await start_worker("--config", cfg, "--report-every", "0.2")
        deadline = time.monotonic() + 30
        while sim.accepted < 50 and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.5)  # long enough for at least one 0.2 s summary
        os.kill(proc.pid, signal.SIGTERM)
        output, _ = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, output.decode()
        accepted = sim.accepted
    assert "last 0.2s: " in output.decode()  # the periodic summary
    counts = json.loads(run("status", "--config", cfg, "--json")[1])["by_state"]
    assert "sending" not in counts
    assert counts["sent"] == accepted  # everything the relay accepted is recorded
    assert counts["sent"] + counts.get("queued", 0) == 1500


def test_db_upgrade_is_idempotent(tmp_path: Path, store_url: str) -> None:
    cfg = str(write_config(tmp_path, store_url))
    code, out = run("db", "upgrade", "--config", cfg)
    assert code == 0 and "revision" in out
    code, out = run("db", "upgrade", "--config", cfg)
    assert code == 0 and "already at revision" in out


def test_demo_quick_summary() -> None:
    code, out = run("demo", "--quick", "--json")
    assert code == 0, out
    summary = json.loads(out)
    relays = {r["relay"]: r for r in summary["relays"]}
    assert summary["recorded"] == summary["queued"]  # every delivery has a recorded outcome
    assert relays["tx-primary"]["faults"] >= 1 and relays["tx-primary"]["failovers"] >= 1
    assert relays["tx-primary"]["sent"] == 0 and relays["tx-backup"]["sent"] >= 19
    assert relays["mkt-c"]["faults"] >= 1  # it started throttling; its share moved
    assert summary["lanes"]["outreach"]["blocked"] >= 1
    assert summary["lanes"]["marketing"]["bounced"] >= 1
    assert summary["transactional_p95"] is not None


async def test_worker_logs_when_a_delivery_fails_over(tmp_path: Path, store_url: str) -> None:
    async with SimRelay() as backup:
        extra = f"""
[[relay]]
name = "tx-backup"
host = "127.0.0.1"
port = {backup.port}
tls = "none"
"""
        path = write_config(tmp_path, store_url, refusing_port())
        text = path.read_text().replace(
            'relays = ["tx-primary"]', 'relays = ["tx-primary", "tx-backup"]'
        )
        path.write_text(text + extra)
        code, out = await asyncio.to_thread(
            send, str(path), "--to", "b@example.test", "--text", "x"
        )
        assert code == 0, out
        proc = await start_worker("--until-idle", "--config", str(path))
        output, _ = await asyncio.wait_for(proc.communicate(), 60)
    text_out = output.decode()
    assert proc.returncode == 0, text_out
    assert "relay tx-primary: " in text_out and "fails over to tx-backup" in text_out
    assert backup.accepted == 1


def test_error_messages_keep_their_brackets(tmp_path: Path) -> None:
    """Section names like [http] and [[relay]] are text, not console markup."""
    path = tmp_path / "relaylane.toml"
    path.write_text('[http]\nlisten = "nowhere"\n[store]\nurl = "sqlite:///x.db"\n')
    code, out = run("check", "--config", str(path))
    assert code == 1
    assert "[[relay]]" in out and 'http: listen = "nowhere"' in out
