"""Running `relaylane` commands in-process in tests, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from relaylane.cli.app import app

runner = CliRunner()


def one_relay_config(tmp_path: Path, store_url: str, lane: str, purpose: str) -> str:
    """A relaylane.toml with one relay (never contacted) and one lane; returns its path."""
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

[[lane]]
name = "{lane}"
purpose = "{purpose}"
relays = ["r1"]
"""
    )
    return str(path)


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def words(text: str) -> str:
    return " ".join(text.split())  # rich wraps long lines


def as_json(*args: str) -> Any:
    code, out = run(*args, "--json")
    assert code == 0, out
    return json.loads(out)
