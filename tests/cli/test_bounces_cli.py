"""`relaylane bounces import | list | rotate-key` from the command line."""

from __future__ import annotations

import json
import mailbox
import time
from pathlib import Path

import sqlalchemy as sa

from relaylane.store import open_store
from relaylane.store.schema import deliveries
from tests.cli.test_cli import run, send, write_config

CORPUS = Path(__file__).resolve().parents[1] / "bounces" / "corpus"
DSN = """From: MAILER-DAEMON@peer.test
To: b-{token}@bounces.tx.acme.test
Subject: Undelivered Mail Returned to Sender
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B"

--B
Content-Type: message/delivery-status

Reporting-MTA: dns; peer.test

Final-Recipient: rfc822; gone@example.test
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown

--B--
"""


def sent_delivery(cfg: str, store_url: str) -> tuple[int, str]:
    code, out = send(cfg, "--to", "gone@example.test", "--text", "x", "--json")
    assert code == 0, out
    did = json.loads(out)["deliveries"][0]["id"]
    store = open_store(store_url)
    with store.engine.begin() as conn:
        conn.execute(deliveries.update().where(deliveries.c.id == did).values(
            state="sent", due_at=None, relay="tx-primary"))  # fmt: skip
    token = store.token_keys.ring(time.time()).token(did)
    store.close()
    return did, token


def test_import_reads_eml_mbox_and_maildir_and_acts_only_on_our_mail(
    tmp_path: Path, store_url: str
) -> None:
    cfg = str(write_config(tmp_path, store_url))
    did, token = sent_delivery(cfg, store_url)
    ours = tmp_path / "ours.eml"
    ours.write_text(DSN.format(token=token))
    box = mailbox.mbox(tmp_path / "old.mbox")
    samples = sorted(CORPUS.glob("postfix-*.eml"))[:3]
    for sample in samples:
        box.add(sample.read_bytes())
    box.close()
    maildir = mailbox.Maildir(tmp_path / "Maildir", create=True)
    for sample in sorted(CORPUS.glob("autoreply-*.eml"))[:2]:
        maildir.add(sample.read_bytes())
    code, out = run(
        "bounces", "import", str(ours), str(tmp_path / "old.mbox"), str(tmp_path / "Maildir"),
        "--config", cfg, "--json",
    )  # fmt: skip
    assert code == 0, out
    summary = json.loads(out)
    assert summary["messages"] == 1 + len(samples) + 2
    assert summary["actions"]["bounced"] == 1
    store = open_store(store_url)
    with store.engine.connect() as conn:
        state = conn.execute(sa.select(deliveries.c.state).where(deliveries.c.id == did)).scalar()
    assert state == "bounced"
    assert [e.reason for e in store.suppressions.list()] == ["hard_bounce"]  # nothing else
    store.close()
    code, out = run("bounces", "list", "--unmatched", "--config", cfg, "--json")
    assert code == 0 and all(row["delivery_id"] is None for row in json.loads(out))
    code, out = run("bounces", "list", "--config", cfg)
    assert code == 0 and "bounced" in out and "receiver" not in out  # source: import


def test_import_refuses_what_it_cannot_read(tmp_path: Path, store_url: str) -> None:
    cfg = str(write_config(tmp_path, store_url))
    (tmp_path / "notamaildir").mkdir()
    code, out = run("bounces", "import", str(tmp_path / "notamaildir"), "--config", cfg)
    assert code == 2 and "not a Maildir" in out
    code, out = run("bounces", "import", str(tmp_path / "missing.eml"), "--config", cfg)
    assert code == 2 and "no such file" in out


def test_rotate_key_keeps_old_tokens_valid(tmp_path: Path, store_url: str) -> None:
    cfg = str(write_config(tmp_path, store_url))
    store = open_store(store_url)
    old = store.token_keys.ring(time.time()).token(5)
    code, out = run("bounces", "rotate-key", "--config", cfg)
    assert code == 0 and "token key 2 now signs" in out
    ring = store.token_keys.ring(time.time())
    assert ring.signing_key.id == 2 and ring.token(5) != old
    assert ring.delivery_of(old, time.time()) == 5
    store.close()
