"""An admin pauses and resumes a whole lane from the overview, each confirmed first; a
read key sees no button and is refused."""

from __future__ import annotations

import re

from tests.api.conftest import Api, add_key


async def csrf_of(api: Api) -> str:
    page = await api.client.get("/")
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


async def test_pause_and_resume_a_lane_from_the_overview(api: Api) -> None:
    assert (await api.client.post("/login", data={"api_key": api.token})).status_code == 303
    assert "Pause lane" not in (await api.client.get("/")).text  # read scope: no buttons
    refused = await api.client.post(
        "/lanes/marketing/pause", data={"csrf": await csrf_of(api), "confirm": "yes"}
    )
    assert refused.status_code == 403
    admin = add_key(api.store, scopes=("admin",))
    assert (await api.client.post("/login", data={"api_key": admin})).status_code == 303
    csrf = await csrf_of(api)
    ask = await api.client.post("/lanes/marketing/pause", data={"csrf": csrf})
    assert ask.status_code == 200 and "Yes, pause" in ask.text
    assert 'class="state paused">paused' not in (await api.client.get("/?part=live")).text
    done = await api.client.post(
        "/lanes/marketing/pause", data={"csrf": csrf, "confirm": "yes", "reason": "incident 42"}
    )
    assert done.status_code == 303
    live = (await api.client.get("/?part=live")).text
    card = live[live.index('data-lane="marketing"') :]
    assert 'class="state paused">paused' in card and "incident 42" in card
    assert "Resume lane" in card
    lanes = (await api.get("/v1/lanes")).json()
    assert {lane["name"]: lane["paused"] for lane in lanes["lanes"]} == {
        "transactional": False,
        "marketing": True,
    }
    [entry] = api.store.audit.entries(action="lane")
    assert entry.actor.startswith("dashboard:") and entry.args == {"reason": "incident 42"}
    await api.client.post("/lanes/marketing/resume", data={"csrf": csrf, "confirm": "yes"})
    assert 'class="state paused">paused' not in (await api.client.get("/?part=live")).text
    assert [e.action for e in api.store.audit.entries(action="lane")] == [
        "lane.resume",
        "lane.pause",
    ]
