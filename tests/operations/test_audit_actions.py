"""Every operator action leaves an audit entry naming who, what, the arguments and the
effect, whichever way it came (CLI, dashboard); `relaylane audit` and the dashboard's
audit page list them."""

from __future__ import annotations

import getpass
import re
import time
from pathlib import Path

from relaylane.store import Store
from relaylane.store.schema import deliveries
from tests.api.conftest import Api, add_key
from tests.cli.test_cli import write_config
from tests.cli_run import as_json, run
from tests.helpers import queue

ME = f"operator:{getpass.getuser()}"
TWO_RELAYS = """
[[relay]]
name = "tx-backup"
host = "127.0.0.1"
port = 2526
tls = "none"
"""


def config(tmp_path: Path, store_url: str) -> str:
    path = write_config(tmp_path, store_url, extra=TWO_RELAYS)
    text = path.read_text().replace(
        'relays = ["tx-primary"]', 'relays = ["tx-primary", "tx-backup"]'
    )
    path.write_text(text)
    return str(path)


def test_relay_pause_resume_and_drain_from_the_cli_are_audited(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    cfg = config(tmp_path, store_url)
    code, out = run("relays", "pause", "tx-primary", "--reason", "disk full", "-c", cfg)
    assert code == 0, out
    code, out = run("relays", "resume", "tx-primary", "-c", cfg)
    assert code == 0, out
    from relaylane.config import load_config

    loaded = load_config(Path(cfg))
    ids = queue(store, loaded, "transactional", ["a@x.example", "b@x.example"], time.time())
    with store.engine.begin() as conn:
        conn.execute(deliveries.update().where(deliveries.c.id.in_(ids)).values(relay="tx-primary"))
    code, out = run("relays", "drain", "tx-primary", "--to-lane-relays", "-c", cfg)
    assert code == 0, out
    pause, resume, drain = reversed(store.audit.entries())
    assert (pause.actor, pause.action, pause.target) == (ME, "relay.pause", "relay tx-primary")
    assert pause.args["reason"] == "disk full" and pause.effect == {"was": "healthy"}
    assert (resume.action, resume.effect) == ("relay.resume", {"was": "paused", "released": 0})
    assert (drain.action, drain.effect) == ("relay.drain", {"moved": 2})
    listed = as_json("audit", "--action", "relay", "-c", cfg)["entries"]
    assert [e["action"] for e in listed] == ["relay.drain", "relay.resume", "relay.pause"]
    assert "reason=disk full" in listed[-1]["args_text"]
    code, out = run("audit", "--since", "yesterday", "-c", cfg)
    assert code == 2 and "--since" in out and "neither a duration nor a date" in out


def test_suppressions_and_campaign_control_are_audited(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    cfg = config(tmp_path, store_url)
    assert run("suppress", "add", "bob@x.example", "-c", cfg)[0] == 0
    assert run("suppress", "remove", "bob@x.example", "-c", cfg)[0] == 0
    remove, add = store.audit.entries()
    assert (add.actor, add.action, add.target) == (ME, "suppression.add", "bob@x.example")
    assert add.effect == {"added": 1, "stopped": 0} and add.args["scopes"] == ["global"]
    assert (remove.action, remove.effect) == ("suppression.remove", {"removed": 1})
    only = as_json("audit", "--actor", ME, "--since", "1h", "-c", cfg)["entries"]
    assert len(only) == 2
    assert as_json("audit", "--actor", "dashboard:nobody", "-c", cfg)["entries"] == []


async def test_the_dashboard_names_its_key_and_lists_the_log(api: Api) -> None:
    admin = add_key(api.store, scopes=("admin",))
    assert (await api.client.post("/login", data={"api_key": admin})).status_code == 303
    page = await api.client.get("/relays/r1")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    done = await api.client.post(
        "/relays/r1/pause", data={"csrf": token.group(1), "confirm": "yes", "reason": "x"}
    )
    assert done.status_code == 303
    [entry] = api.store.audit.entries(action="relay")
    assert entry.actor == "dashboard:" + admin.split("_")[1] and entry.action == "relay.pause"
    listed = await api.client.get("/audit?action=relay")
    assert listed.status_code == 200 and 'data-action="relay.pause"' in listed.text
    assert entry.actor in listed.text
    none = await api.client.get("/audit?action=queue")
    assert "No operator actions match" in none.text
    bad = await api.client.get("/audit?since=soon")
    assert bad.status_code == 422 and "neither a duration nor a date" in bad.text
