"""`relaylane dkim keygen | rotate | status`, and a switched rotation signing."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

from relaylane.dkim import load_signing_key
from relaylane.dkim.rotation import RotationState
from relaylane.store import open_store
from tests.cli.test_cli import run, write_config


def test_keygen_writes_a_private_key_and_prints_its_record(tmp_path: Path) -> None:
    out = tmp_path / "k" / "news.pem"
    code, text = run("dkim", "keygen", "news.acme.test", "-s", "rl1", "--out", str(out))
    assert code == 0, text
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert "rl1._domainkey.news.acme.test. IN TXT" in text and "v=DKIM1; k=rsa; p=" in text
    assert '[domain."news.acme.test"] dkim' in text
    assert "PRIVATE KEY" not in text
    code, text = run("dkim", "keygen", "news.acme.test", "-s", "rl1", "--out", str(out))
    assert code == 2 and "already exists" in text
    code, text = run("dkim", "keygen", "news.acme.test", "-s", "e1", "--type", "ed25519",
                     "--out", str(tmp_path / "e.pem"))  # fmt: skip
    assert code == 0 and "k=ed25519" in text
    assert load_signing_key(tmp_path / "e.pem", "e1").kind == "ed25519"


def test_rotate_adds_a_pending_key_and_status_shows_it(tmp_path: Path, store_url: str) -> None:
    key = tmp_path / "keys" / "tx.pem"
    assert run("dkim", "keygen", "acme.test", "-s", "rl1", "--out", str(key))[0] == 0
    extra = f'\n[domain."acme.test"]\ndkim = [ {{ selector = "rl1", key_file = "{key}" }} ]\n'
    cfg = str(write_config(tmp_path, store_url, extra=extra))
    code, text = run("dkim", "rotate", "acme.test", "--selector", "rl2", "--config", cfg)
    assert code == 0, text
    assert "rl2._domainkey.acme.test. IN TXT" in text and "signs with rl1 until" in text
    code, text = run("dkim", "rotate", "acme.test", "--config", cfg)
    assert code == 2 and "already waiting" in text
    code, text = run("dkim", "status", "--config", cfg, "--json")
    status = json.loads(text)
    assert status["signing"] == {"acme.test": ["rl1"]}  # pending: the old key still signs
    store = open_store(store_url)
    [rotation] = store.rotations.list("acme.test")
    assert (rotation.old_selector, rotation.new_selector, rotation.state) == (
        "rl1", "rl2", RotationState.PENDING,
    )  # fmt: skip
    store.rotations.move(rotation.id, RotationState.SWITCHED, time.time())
    store.close()
    status = json.loads(run("dkim", "status", "--config", cfg, "--json")[1])
    assert status["signing"] == {"acme.test": ["rl2"]}
