"""/v1/queue and /v1/lanes/{lane}/pause|resume: admin keys only, filters, dry runs."""

from __future__ import annotations

import time

from relaylane.store.queue_control import SqlQueueControl
from tests.api.conftest import Api, add_key, bearer
from tests.helpers import queue
from tests.operations.queue_fixture import snapshot


async def test_admin_scope_filters_and_dry_run(api: Api) -> None:
    now = time.time()
    queue(api.store, api.config, "transactional", ["a@x.example", "b@y.example"], now)
    queue(api.store, api.config, "marketing", ["c@x.example"], now)
    admin = bearer(add_key(api.store, ("admin",)))
    for scopes in (("send",), ("read",), ("send", "read")):
        other = bearer(add_key(api.store, scopes))
        assert (await api.client.get("/v1/queue", headers=other)).status_code == 403
        r = await api.client.post("/v1/queue/hold", json={}, headers=other)
        assert r.status_code == 403
        r = await api.client.post("/v1/lanes/marketing/pause", headers=other)
        assert r.status_code == 403
    r = await api.client.get("/v1/queue", params={"domain": "x.example"}, headers=admin)
    assert r.status_code == 200 and r.json()["count"] == 2
    r = await api.client.get("/v1/queue", params={"lane": "bulk"}, headers=admin)
    assert r.status_code == 422 and r.json()["error"]["fields"][0]["field"] == "lane"
    before = snapshot(api.store)
    body = {"lane": "transactional", "dry_run": True}
    r = await api.client.post("/v1/queue/cancel", json=body, headers=admin)
    assert r.status_code == 200 and r.json()["count"] == 2 and r.json()["cancelled"] == 0
    assert len(r.json()["sample"]) == 2 and snapshot(api.store) == before
    body = {"lane": "transactional", "state": ["queued"], "reason": "oops"}
    r = await api.client.post("/v1/queue/cancel", json=body, headers=admin)
    assert r.status_code == 200 and r.json()["cancelled"] == 2
    entry = api.store.audit.entries()[0]
    assert entry.actor.startswith("key:") and entry.effect == {"cancelled": 2}
    assert entry.args == {"lane": "transactional", "state": "queued", "reason": "oops"}
    r = await api.client.post("/v1/queue/explode", json={}, headers=admin)
    assert r.status_code == 422


async def test_lane_pause_resume_and_lanes_paused(api: Api) -> None:
    admin = bearer(add_key(api.store, ("admin",)))
    r = await api.client.post("/v1/lanes/marketing/pause", json={"reason": "bad copy"},
                              headers=admin)  # fmt: skip
    assert r.status_code == 200 and r.json() == {"lane": "marketing", "paused": True,
                                                 "changed": True}  # fmt: skip
    assert SqlQueueControl(api.store.engine).paused_lanes() == {"marketing"}
    lanes = {ln["name"]: ln for ln in (await api.get("/v1/lanes")).json()["lanes"]}
    assert lanes["marketing"]["paused"] and lanes["marketing"]["paused_reason"] == "bad copy"
    assert not lanes["transactional"]["paused"]
    r = await api.client.post("/v1/lanes/marketing/resume", headers=admin)
    assert r.status_code == 200 and r.json()["paused"] is False
    r = await api.client.post("/v1/lanes/bulk/pause", headers=admin)
    assert r.status_code == 404
    assert [e.action for e in api.store.audit.entries(action="lane")] == [
        "lane.resume",
        "lane.pause",
    ]
