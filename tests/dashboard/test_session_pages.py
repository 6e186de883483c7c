"""The dashboard's login, session cookie, CSRF and overview through the running API (the
browser tests of issue 9 are not written yet)."""

from __future__ import annotations

import re
import time

from relaylane.bounces.tokens import KeyRing, TokenKey, new_secret
from relaylane.dashboard.session import (
    COOKIE,
    SESSION_TTL,
    csrf_ok,
    csrf_token,
    session_cookie,
    session_key_id,
)
from tests.api.conftest import Api, add_key


def test_a_session_names_its_key_until_it_expires_and_cannot_be_forged() -> None:
    ring = KeyRing([TokenKey(1, new_secret(), 0.0)])
    cookie = session_cookie(ring, "ab12", 1000.0)
    assert session_key_id(ring, cookie, 1000.0 + SESSION_TTL - 1) == "ab12"
    assert session_key_id(ring, cookie, 1000.0 + SESSION_TTL) is None
    assert session_key_id(ring, cookie.replace("ab12", "ab13"), 1001.0) is None
    assert session_key_id(KeyRing([TokenKey(1, new_secret(), 0.0)]), cookie, 1001.0) is None
    token = csrf_token(ring, cookie)
    assert csrf_ok(ring, cookie, token)
    assert not csrf_ok(ring, session_cookie(ring, "ab12", 1001.0), token)


async def test_login_overview_and_logout(api: Api) -> None:
    client = api.client
    first = await client.get("/")
    assert first.status_code == 303 and first.headers["location"] == "/login"
    bad = await client.post("/login", data={"api_key": "nope"})
    assert bad.status_code == 401 and "not an API key" in bad.text
    sender = add_key(api.store, scopes=("send",))
    refused = await client.post("/login", data={"api_key": sender})
    assert refused.status_code == 401  # a send-only key sees nothing
    cross = await client.post(
        "/login", data={"api_key": api.token}, headers={"origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    ok = await client.post("/login", data={"api_key": api.token})
    assert ok.status_code == 303 and ok.headers["location"] == "/"
    cookie = ok.headers["set-cookie"]
    assert cookie.startswith(COOKIE + "=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    assert api.token not in cookie  # the key's secret never travels in the cookie
    page = await client.get("/")
    assert page.status_code == 200
    assert 'data-relay="r1"' in page.text and 'data-lane="marketing"' in page.text
    assert 'class="state healthy"' in page.text
    assert page.headers["x-frame-options"] == "DENY"
    no_token = await client.post("/logout", data={"csrf": "x"})
    assert no_token.status_code == 403
    assert (await client.get("/")).status_code == 200  # still logged in
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    out = await client.post("/logout", data={"csrf": csrf.group(1)})
    assert out.status_code == 303
    assert (await client.get("/")).status_code == 303


async def test_a_revoked_key_ends_its_sessions(api: Api) -> None:
    reader = add_key(api.store, scopes=("read",))
    assert (await api.client.post("/login", data={"api_key": reader})).status_code == 303
    assert (await api.client.get("/")).status_code == 200
    key_id = reader.split("_")[1]
    api.store.credentials.revoke_api_key(key_id, time.time())
    assert (await api.client.get("/")).status_code == 303


async def test_relay_actions_need_admin_and_the_csrf_token_and_a_confirmation(api: Api) -> None:
    client = api.client
    assert (await client.post("/login", data={"api_key": api.token})).status_code == 303
    page = await client.get("/relays/r1")
    assert page.status_code == 200 and "Pause" not in page.text  # read scope: no buttons
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert csrf is not None
    refused = await client.post("/relays/r1/pause", data={"csrf": csrf.group(1), "confirm": "yes"})
    assert refused.status_code == 403  # send+read key: not admin
    admin = add_key(api.store, scopes=("admin",))
    assert (await client.post("/login", data={"api_key": admin})).status_code == 303
    page = await client.get("/relays/r1")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None and "Pause" in page.text
    forged = await client.post("/relays/r1/pause", data={"csrf": "nope", "confirm": "yes"})
    assert forged.status_code == 403
    ask = await client.post("/relays/r1/pause", data={"csrf": token.group(1)})
    assert ask.status_code == 200 and "Yes, pause" in ask.text
    assert api.store.health.current("r1", "", time.time()).state.value == "healthy"
    done = await client.post(
        "/relays/r1/pause", data={"csrf": token.group(1), "confirm": "yes", "reason": "x"}
    )
    assert done.status_code == 303
    assert api.store.health.current("r1", "", time.time()).state.value == "paused"
    assert (await client.get("/relays/nope")).status_code == 404
