"""Doctor moves DKIM rotations on: pending -> switched once published -> done 7 days on."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from relaylane.dkim.rotation import RotationState
from relaylane.store import Store, open_store
from tests.doctor.helpers import (
    config_data,
    doctor,
    good_zone,
    key_file,
    make_config,
    pick,
    txt_for,
)

DAY = 86_400.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'relaylane.db'}")
    yield opened
    opened.close()


async def test_a_rotation_switches_once_published_then_ends(tmp_path: Path, store: Store) -> None:
    config = make_config(config_data(tmp_path), tmp_path)
    new_key = str(key_file(tmp_path, "next"))
    start = time.time()
    store.rotations.add("news.acme.test", "rsa", "rl1", "rl2", new_key, start)
    zone = good_zone(tmp_path)

    checks = await doctor(zone, config, engine=store.engine, now=start)
    line = pick(checks, "news.acme.test", "DKIM rotation to rl2")
    assert line.status == "warn" and "waits for its DNS record" in line.reason
    assert line.fix is not None and txt_for("next", tmp_path, "rl2") in line.fix
    assert store.rotations.list()[0].state is RotationState.PENDING
    assert pick(checks, "news.acme.test", "DKIM rl1").status == "pass"  # still signing

    zone["rl2._domainkey.news.acme.test"] = [("TXT", txt_for("next", tmp_path, "rl2"))]
    checks = await doctor(zone, config, engine=store.engine, now=start + 60)
    assert pick(checks, "news.acme.test", "DKIM rotation to rl2").status == "pass"
    assert store.rotations.list()[0].state is RotationState.SWITCHED
    assert pick(checks, "news.acme.test", "DKIM rl2").status == "pass"  # signs now
    assert not [c for c in checks if c.name == "DKIM rl1"]

    checks = await doctor(zone, config, engine=store.engine, now=start + 2 * DAY)
    line = pick(checks, "news.acme.test", "DKIM rotation to rl2")
    assert line.status == "warn" and "keep rl1._domainkey published" in line.reason

    checks = await doctor(zone, config, engine=store.engine, now=start + 8 * DAY)
    line = pick(checks, "news.acme.test", "DKIM rotation to rl2")
    assert line.status == "pass" and "rl1 may now be removed" in line.reason
    assert store.rotations.list()[0].state is RotationState.DONE
    checks = await doctor(zone, config, engine=store.engine, now=start + 9 * DAY)
    assert not [c for c in checks if c.name.startswith("DKIM rotation")]


async def test_a_wrong_record_does_not_switch(tmp_path: Path, store: Store) -> None:
    config = make_config(config_data(tmp_path), tmp_path)
    store.rotations.add(
        "news.acme.test", "rsa", "rl1", "rl2", str(key_file(tmp_path, "next")), time.time()
    )
    zone = good_zone(tmp_path)
    zone["rl2._domainkey.news.acme.test"] = [("TXT", txt_for("good", tmp_path))]
    checks = await doctor(zone, config, engine=store.engine)
    assert pick(checks, "news.acme.test", "DKIM rotation to rl2").status == "warn"
    assert store.rotations.list()[0].state is RotationState.PENDING
