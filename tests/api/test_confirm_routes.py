"""/c/{token} through the running API: a GET shows the form and changes nothing, a POST
confirms the pending member (never a redirect), a forged token is 404."""

from __future__ import annotations

import time

import sqlalchemy as sa

from relaylane.contacts.confirm import confirm_token
from relaylane.contacts.csv_rows import Contact
from relaylane.policy.suppression import address_key
from relaylane.store.schema import list_members
from tests.api.conftest import Api


def _statuses(engine: sa.Engine) -> list[str]:
    with engine.connect() as conn:
        return sorted(conn.execute(sa.select(list_members.c.status)).scalars())


async def test_the_link_confirms_on_post_only(api: Api) -> None:
    store = api.store
    list_id = store.contacts.ensure_list("news", double_opt_in=True)
    store.contacts.import_batch(
        list_id, [Contact(2, "ann@a.test", address_key("ann@a.test"), {}, None, None)], time.time()
    )
    [(contact_id, _)] = store.contacts.pending_since(list_id, 0.0)
    token = confirm_token(store.token_keys.ring(time.time()), list_id, contact_id)
    page = await api.client.get(f"/c/{token}")
    assert page.status_code == 200 and "<form" in page.text
    assert _statuses(store.engine) == ["pending"]  # a GET never confirms
    done = await api.client.post(f"/c/{token}")
    assert done.status_code == 200 and "confirmed" in done.text
    assert "location" not in done.headers
    assert _statuses(store.engine) == ["subscribed"]
    again = await api.client.post(f"/c/{token}")
    assert again.status_code == 200
    forged = await api.client.post(f"/c/{token[:-2]}aa")
    assert forged.status_code == 404
    assert store.campaigns.audience(list_id) == (1, contact_id)
