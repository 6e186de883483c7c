"""Structured logs: JSON lines and text with context, secrets redacted, and
`relaylane worker --log-format json` for real."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from relaylane.config.logs import LogFormat, LogLevel
from relaylane.monitor.logs import CONTEXT_KEYS, configure_logging, log_handler
from relaylane.monitor.redact import redact
from relaylane.sim import SimRelay
from tests.cli.test_cli import send, write_config

SECRET = "hunter2-Zq9"


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, dict[LogFormat, io.StringIO]]]:
    """A private logger writing both formats into strings."""
    logger = logging.getLogger("relaylane.test.logs")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    streams = {fmt: io.StringIO() for fmt in LogFormat}
    handlers = [log_handler(fmt, stream) for fmt, stream in streams.items()]
    for handler in handlers:
        logger.addHandler(handler)
    yield logger, streams
    for handler in handlers:
        logger.removeHandler(handler)


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_json_line_has_the_fields_and_the_context(
    capture: tuple[logging.Logger, dict[LogFormat, io.StringIO]],
) -> None:
    logger, streams = capture
    context = {"delivery_id": 41, "lane": "transactional", "relay": "tx-primary",
               "provider": "google", "message_ref": "<a1@tx.acme.test>"}  # fmt: skip
    logger.warning("delivery %d deferred: %s", 41, "451 4.7.1 try later", extra=context)
    [line] = lines(streams[LogFormat.JSON])
    record = json.loads(line)
    assert record["level"] == "warning"
    assert record["logger"] == "relaylane.test.logs"
    assert record["message"] == "delivery 41 deferred: 451 4.7.1 try later"
    assert {k: record[k] for k in CONTEXT_KEYS} == context
    stamp = datetime.fromisoformat(record["ts"].replace("Z", "+00:00"))
    assert stamp.tzinfo is not None and stamp.utcoffset() == UTC.utcoffset(None)
    assert record["ts"].endswith("Z")
    assert abs(stamp.timestamp() - datetime.now(UTC).timestamp()) < 60
    assert "exception" not in record


def test_json_without_context_has_only_the_base_fields(
    capture: tuple[logging.Logger, dict[LogFormat, io.StringIO]],
) -> None:
    logger, streams = capture
    logger.info("worker started")
    record = json.loads(lines(streams[LogFormat.JSON])[0])
    assert set(record) == {"ts", "level", "logger", "message"}


def test_exception_is_one_string_field_and_redacted(
    capture: tuple[logging.Logger, dict[LogFormat, io.StringIO]],
) -> None:
    logger, streams = capture
    try:
        raise ConnectionError(f"cannot reach postgresql://app:{SECRET}@db.internal/relaylane")
    except ConnectionError:
        logger.exception("store unavailable", extra={"lane": "marketing"})
    [line] = lines(streams[LogFormat.JSON])  # the traceback stays inside one line
    record = json.loads(line)
    assert record["exception"].startswith("Traceback (most recent call last):")
    assert "ConnectionError" in record["exception"]
    assert "postgresql://app:***@db.internal/relaylane" in record["exception"]
    assert SECRET not in line and SECRET not in streams[LogFormat.TEXT].getvalue()


def test_text_line_carries_the_context(
    capture: tuple[logging.Logger, dict[LogFormat, io.StringIO]],
) -> None:
    logger, streams = capture
    logger.info("sent", extra={"delivery_id": 7, "lane": "tx", "relay": "r1"})
    logger.info("no context")
    first, second = lines(streams[LogFormat.TEXT])
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO relaylane\.test\.logs: sent "
        r"\[delivery_id=7 lane=tx relay=r1\]",
        first,
    )
    assert second.endswith("relaylane.test.logs: no context")


def test_secrets_in_messages_and_arguments_are_redacted(
    capture: tuple[logging.Logger, dict[LogFormat, io.StringIO]],
) -> None:
    logger, streams = capture
    logger.info("connecting to %s", f"smtp://acme:{SECRET}@smtp.tx.acme.test:587")
    logger.info("relay said AUTH PLAIN AGFjbWUAaHVudGVyMi1acTk= was refused")
    logger.info("webhook call failed: token=%s&x=1", SECRET, extra={"relay": f"password={SECRET}"})
    for fmt in LogFormat:
        text = streams[fmt].getvalue()
        assert SECRET not in text and "AGFjbWUAaHVudGVyMi1acTk=" not in text
        assert "smtp://acme:***@smtp.tx.acme.test:587" in text
        assert "AUTH PLAIN ***" in text and "token=***&x=1" in text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://app:s3cr3t@db:5432/rl", "postgresql://app:***@db:5432/rl"),
        ("postgresql://app:pa/ss@db/rl", "postgresql://app:***@db/rl"),
        ("smtps://user%40acme:p%40ss@smtp.example:465", "smtps://user%40acme:***@smtp.example:465"),
        ("sqlite:///var/lib/relaylane.db", "sqlite:///var/lib/relaylane.db"),
        ("http://127.0.0.1:8025/v1/messages", "http://127.0.0.1:8025/v1/messages"),
        ("postgresql://app@db/rl", "postgresql://app@db/rl"),
        ("password=hunter2 then", "password=*** then"),
        ("PASSWORD = hunter2", "PASSWORD = ***"),
        ('{"password": "hunter2", "user": "bob"}', '{"password": "***", "user": "bob"}'),
        ("api_token: abc123", "api_token: ***"),
        ("client_secret=abc&grant=x", "client_secret=***&grant=x"),
        ("secret='abc'", "secret='***'"),
        ("password_env = TX_PRIMARY_PASSWORD", "password_env = TX_PRIMARY_PASSWORD"),
        ("Authorization: Bearer rl_0123456789ab_SeCrEt-x", "Authorization: Bearer ***"),
        ("key rl_0123456789ab_SeCrEt-x revoked", "key rl_0123456789ab_*** revoked"),
        ("AUTH PLAIN AGJvYgBzM2NyM3Q=", "AUTH PLAIN ***"),
        ("auth login Ym9i", "auth login ***"),
        ("AUTH XOAUTH2 dXNlcj1ib2IBYXV0aD1CZWFyZXIgeHl6AQE=", "AUTH XOAUTH2 ***"),
        ("250-AUTH PLAIN LOGIN CRAM-MD5", "250-AUTH PLAIN LOGIN CRAM-MD5"),
        ("535 5.7.8 AUTH failed: bad password", "535 5.7.8 AUTH failed: bad password"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_configure_logging_leaves_a_configured_root_alone() -> None:
    root = logging.getLogger()
    ours = logging.NullHandler()  # someone (an embedding application) configured logging
    root.addHandler(ours)
    before = list(root.handlers)
    try:
        assert configure_logging(LogFormat.JSON, LogLevel.DEBUG) is None
        assert root.handlers == before
    finally:
        root.removeHandler(ours)


async def test_worker_logs_json_lines_as_the_config_says(tmp_path: Path, store_url: str) -> None:
    """`[log] format = "json"`: `relaylane worker` writes every log line as JSON."""
    async with SimRelay() as sim:
        path = write_config(tmp_path, store_url, sim.port, extra='[log]\nformat = "json"\n')
        code, out = await asyncio.to_thread(
            send, str(path), "--to", "b@example.test", "--text", "x"
        )
        assert code == 0, out
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "relaylane", "worker", "--until-idle", "--metrics-port", "0",
            "--config", str(path),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, stderr.decode()
    assert "worker done: 1 sent" in stdout.decode()
    records = [json.loads(line) for line in stderr.decode().splitlines()]  # all of them JSON
    [started] = [r for r in records if r["message"].startswith("metrics on http://127.0.0.1:")]
    assert started["logger"] == "relaylane.metrics" and started["level"] == "info"
    assert sim.accepted == 1
