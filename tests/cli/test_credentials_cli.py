"""`relaylane keys` and `relaylane smtp-users`, as an operator runs them."""

from __future__ import annotations

import json
from pathlib import Path

from relaylane.auth.secrets import api_key_matches, verify_password
from relaylane.store import open_store
from tests.cli.test_cli import run, write_config

LANES = """
[[relay]]
name = "mkt"
host = "127.0.0.1"
port = 2526
tls = "none"

[[lane]]
name = "marketing"
purpose = "marketing"
relays = ["mkt"]
"""


def test_keys_create_list_revoke(tmp_path: Path, store_url: str) -> None:
    cfg = str(write_config(tmp_path, store_url, extra=LANES))
    code, out = run("keys", "create", "--scope", "send", "--lanes", "transactional", "-c", cfg)
    assert code == 0, out
    token = out.split()[0]
    assert token.startswith("rl_") and "Shown once" in out
    code, out = run(
        "keys", "create", "--scope", "send,read", "--lanes", "transactional,marketing",
        "--name", "billing", "-c", cfg, "--json",
    )  # fmt: skip
    made = json.loads(out)
    assert made["scopes"] == ["read", "send"] and made["lanes"] == ["transactional", "marketing"]

    store = open_store(store_url)
    row = store.credentials.api_key(token.split("_")[1])
    assert api_key_matches(token, row.secret_hash) and row.lanes == ("transactional",)
    store.close()

    code, out = run("keys", "list", "-c", cfg, "--json")
    listed = json.loads(out)
    assert [k["name"] for k in listed] == [token.split("_")[1], "billing"]
    assert token not in out and "secret" not in out
    assert run("keys", "revoke", made["key_id"], "-c", cfg)[0] == 0
    assert len(json.loads(run("keys", "list", "-c", cfg, "--json")[1])) == 1
    assert len(json.loads(run("keys", "list", "--all", "-c", cfg, "--json")[1])) == 2


def test_keys_refuse_bad_scopes_and_lanes(tmp_path: Path, store_url: str) -> None:
    cfg = str(write_config(tmp_path, store_url))
    code, out = run("keys", "create", "--scope", "write", "--lanes", "transactional", "-c", cfg)
    assert code == 2 and "unknown scope 'write'" in out
    code, out = run("keys", "create", "--scope", "send", "--lanes", "bulk", "-c", cfg)
    assert code == 2 and "unknown lane(s) bulk" in out and "transactional" in out
    code, out = run("keys", "create", "--scope", "send", "-c", cfg)
    assert code == 2 and "at least one lane" in out
    assert run("keys", "create", "--scope", "read", "-c", cfg)[0] == 0  # read needs no lane
    code, out = run("keys", "revoke", "0123456789ab", "-c", cfg)
    assert code == 1 and "no API key" in out


def test_smtp_users(tmp_path: Path, store_url: str) -> None:
    cfg = str(write_config(tmp_path, store_url, extra=LANES))
    code, out = run("smtp-users", "create", "app", "--lanes", "transactional", "-c", cfg)
    assert code == 0, out
    password = out.split()[0]
    code, out = run(
        "smtp-users", "create", "crm", "--lanes", "marketing", "--password",
        "a long enough secret", "--notify", "dsn", "-c", cfg, "--json",
    )  # fmt: skip
    assert code == 0 and json.loads(out)["password"] is None  # the caller chose it
    store = open_store(store_url)
    assert verify_password(password, store.credentials.smtp_user("app").password_hash)
    crm = store.credentials.smtp_user("crm")
    assert crm.notify == "dsn" and crm.lanes == ("marketing",)
    store.close()

    code, out = run("smtp-users", "create", "app", "--lanes", "transactional", "-c", cfg)
    assert code == 2 and "already exists" in out
    code, out = run(
        "smtp-users", "create", "x", "--lanes", "transactional", "--password", "short", "-c", cfg
    )
    assert code == 2 and "shorter than 12" in out
    assert run("smtp-users", "revoke", "app", "-c", cfg)[0] == 0
    listed = json.loads(run("smtp-users", "list", "-c", cfg, "--json")[1])
    assert [u["name"] for u in listed] == ["crm"] and "password" not in listed[0]
    code, out = run("smtp-users", "create", "app", "--lanes", "transactional", "-c", cfg)
    assert code == 2 and "a revoked SMTP user" in out  # names are never reused
