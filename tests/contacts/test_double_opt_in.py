"""Double opt-in: an import into a double opt-in list leaves new members pending and queues
each a confirmation (transactional lane) with its own signed link; the link's GET changes
nothing, its POST subscribes; a campaign mails only subscribed members."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa

from relaylane.bounces.tokens import KeyRing, TokenKey, new_secret
from relaylane.contacts.confirm import confirm_token, verify_confirm_token
from relaylane.store import Store
from relaylane.store.schema import deliveries, list_members, messages
from relaylane.unsubscribe.oneclick import unsubscribe_token
from tests.cli_run import run


def _write(tmp_path: Path, store_url: str) -> tuple[str, Path]:
    cfg = tmp_path / "relaylane.toml"
    cfg.write_text(
        f"""
[store]
url = "{store_url}"

[http]
public_url = "https://mail.acme.test"

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
name = "transactional"
purpose = "transactional"
relays = ["r1"]

[[lane]]
name = "news"
purpose = "marketing"
relays = ["r2"]
"""
    )
    csv = tmp_path / "c.csv"
    csv.write_text("email,first_name\nann@a.test,Ann\nbob@b.test,Bob\nnot-an-address,X\n")
    return str(cfg), csv


def _statuses(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(list_members.c.status)).scalars())


def test_import_leaves_members_pending_and_queues_a_confirmation_each(
    tmp_path: Path, store_url: str, store: Store
) -> None:
    cfg, csv = _write(tmp_path, store_url)
    code, out = run("contacts", "import", str(csv), "--list", "news", "--double-opt-in",
                    "--confirm-from", "Acme <no-reply@tx.acme.test>", "-c", cfg)  # fmt: skip
    assert code == 0, out
    assert "2 confirmation request(s) queued" in " ".join(out.split())
    engine = store.engine
    assert _statuses(engine) == ["pending", "pending"]
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(deliveries.c.lane, deliveries.c.recipient, messages.c.body).join(
                messages, messages.c.id == deliveries.c.message_id
            )
        ).all()
    assert sorted(r.recipient for r in rows) == ["ann@a.test", "bob@b.test"]
    assert {r.lane for r in rows} == {"transactional"}
    links = {re.search(rb"https://mail\.acme\.test/c/([a-z2-7]+)", r.body).group(1) for r in rows}  # type: ignore[union-attr]
    assert len(links) == 2  # each its own


def test_double_opt_in_needs_a_from(tmp_path: Path, store_url: str, store: Store) -> None:
    cfg, csv = _write(tmp_path, store_url)
    code, out = run("contacts", "import", str(csv), "--list", "news", "--double-opt-in", "-c", cfg)
    assert code != 0 and "--confirm-from" in out


def test_tokens_are_bound_to_list_and_contact_and_purpose() -> None:
    ring = KeyRing([TokenKey(1, new_secret(), 0.0)])
    token = confirm_token(ring, 7, 12345)
    assert verify_confirm_token(ring, token) == (7, 12345)
    assert verify_confirm_token(KeyRing([TokenKey(1, new_secret(), 0.0)]), token) is None
    for i in range(len(token)):  # no other spelling of any character verifies
        for c in "abcdefghijklmnopqrstuvwxyz234567":
            if c != token[i]:
                assert verify_confirm_token(ring, token[:i] + c + token[i + 1 :]) is None
    assert verify_confirm_token(ring, unsubscribe_token(ring, 7)) is None
