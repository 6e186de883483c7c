"""The dashboard's suppressions page through the running API: search and paging, add and
remove (admins, CSRF, confirmation) really changing the store, the CSV export, and the
named errors of bad input."""

from __future__ import annotations

import csv
import io
import re
import time

import httpx

from relaylane.dashboard.suppressions import PAGE_SIZE
from relaylane.policy.suppression import Reason, Scope, ScopeKind, Source
from relaylane.reports import suppressions as report
from relaylane.store import Store
from relaylane.store.suppressions import NewSuppression
from tests.api.conftest import Api, add_key, message

GLOBAL = Scope(ScopeKind.GLOBAL)


async def login(client: httpx.AsyncClient, token: str) -> str:
    """Log in with `token`; the CSRF token of the session."""
    assert (await client.post("/login", data={"api_key": token})).status_code == 303
    page = await client.get("/suppressions")
    assert page.status_code == 200
    found = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert found is not None
    return found.group(1)


def seed(store: Store) -> None:
    entries = [
        NewSuppression("ann@example.test", GLOBAL, Reason.HARD_BOUNCE, Source.SMTP),
        NewSuppression("bob@example.test", Scope(ScopeKind.LANE, "marketing"),
                       Reason.UNSUBSCRIBE, Source.ONE_CLICK, note="asked twice"),
        NewSuppression("Carol@Other.example", GLOBAL, Reason.COMPLAINT, Source.ARF),
    ]  # fmt: skip
    store.suppressions.add(entries, time.time())


def shown(html: str) -> list[str]:
    return re.findall(r'<tr data-address="([^"]+)"', html)


async def test_search_filters_and_pages_newest_first(api: Api) -> None:
    client = api.client
    first = await client.get("/suppressions")
    assert first.status_code == 303 and first.headers["location"] == "/login"
    seed(api.store)
    await login(client, api.token)
    page = await client.get("/suppressions")
    assert shown(page.text) == ["Carol@Other.example", "bob@example.test", "ann@example.test"]
    assert "asked twice" in page.text and "lane:marketing" in page.text
    assert '<div class="table-wrap">' in page.text
    assert shown((await client.get("/suppressions?q=EXAMPLE.TEST")).text) == [
        "bob@example.test", "ann@example.test"
    ]  # fmt: skip
    assert shown((await client.get("/suppressions?q=carol")).text) == ["Carol@Other.example"]
    assert shown((await client.get("/suppressions?q=%25")).text) == []  # no LIKE wildcards
    by_scope = await client.get("/suppressions", params={"scope": "lane:marketing"})
    assert shown(by_scope.text) == ["bob@example.test"]
    by_reason = await client.get("/suppressions", params={"reason": "complaint"})
    assert shown(by_reason.text) == ["Carol@Other.example"]
    bad = await client.get("/suppressions", params={"scope": "everywhere"})
    assert bad.status_code == 200 and 'data-error="scope"' in bad.text
    assert "Fix: e.g. global, lane:transactional" in bad.text and shown(bad.text) == []
    many = [
        NewSuppression(f"u{i:03}@bulk.example", GLOBAL, Reason.MANUAL, Source.CLI)
        for i in range(PAGE_SIZE + 5)
    ]
    api.store.suppressions.add(many, time.time())
    one = await client.get("/suppressions?q=bulk.example")
    assert (
        len(shown(one.text)) == PAGE_SIZE
        and shown(one.text)[0] == f"u{PAGE_SIZE + 4:03}@bulk.example"
    )
    assert 'rel="next" href="/suppressions?q=bulk.example&amp;page=2"' in one.text
    two = await client.get("/suppressions?q=bulk.example&page=2")
    assert shown(two.text) == [f"u{i:03}@bulk.example" for i in range(4, -1, -1)]
    assert 'rel="next"' not in two.text and 'rel="prev"' in two.text


async def test_read_keys_see_everything_but_may_not_change_it(api: Api) -> None:
    seed(api.store)
    csrf = await login(api.client, api.token)  # send + read
    page = await api.client.get("/suppressions")
    assert "ann@example.test" in page.text
    assert 'action="/suppressions/add"' not in page.text
    assert 'action="/suppressions/remove"' not in page.text
    add = {"csrf": csrf, "address": "eve@example.test"}
    assert (await api.client.post("/suppressions/add", data=add)).status_code == 403
    gone = {"csrf": csrf, "address": "ann@example.test", "scope": "global", "confirm": "yes"}
    assert (await api.client.post("/suppressions/remove", data=gone)).status_code == 403
    assert api.store.suppressions.list(address="eve@example.test") == []
    assert len(api.store.suppressions.list(address="ann@example.test")) == 1
    exported = await api.client.get("/suppressions/export.csv")
    assert exported.status_code == 200  # read scope suffices


async def test_add_suppresses_for_real_and_stops_waiting_mail(api: Api) -> None:
    client = api.client
    sent = await api.send(message(to=["dora@example.test"]))
    assert sent.status_code == 202
    csrf = await login(client, add_key(api.store, scopes=("admin",)))
    page = await client.get("/suppressions")
    assert 'action="/suppressions/add"' in page.text
    fields = {"address": "Dora@example.test", "scope": "global", "reason": "complaint",
              "expires": "30d", "note": "called us"}  # fmt: skip
    no_csrf = await client.post("/suppressions/add", data=fields)
    assert no_csrf.status_code == 403
    wrong = await client.post("/suppressions/add", data={**fields, "csrf": csrf + "x"})
    assert wrong.status_code == 403
    assert api.store.suppressions.list(address="dora@example.test") == []
    before = time.time()
    done = await client.post("/suppressions/add", data={**fields, "csrf": csrf})
    assert done.status_code == 303
    assert done.headers["location"].startswith("/suppressions?q=Dora%40example.test&added=1")
    assert "stopped=1" in done.headers["location"]  # the waiting delivery, as the CLI does
    [row] = api.store.suppressions.list(address="dora@example.test")
    assert (row.address, row.scope, row.reason, row.note) == (
        "Dora@example.test", "global", "complaint", "called us"
    )  # fmt: skip
    assert row.source == "api" and row.expires_at is not None
    assert before + 30 * 86400 - 5 < row.expires_at < time.time() + 30 * 86400 + 5
    shown_page = await client.get(done.headers["location"])
    assert "Added 1 suppression(s)" in shown_page.text and "called us" in shown_page.text
    again = await client.post("/suppressions/add", data={**fields, "csrf": csrf})
    assert "added=0&already=1" in again.headers["location"]


async def test_bad_input_names_the_field_and_the_fix(api: Api) -> None:
    client = api.client
    csrf = await login(client, add_key(api.store, scopes=("admin",)))
    cases = {
        ("not an address", "global", "manual", ""): ("address", ""),
        ("eve@example.test", "lane:nowhere", "manual", ""): (
            "scope", "use a lane from: transactional, marketing"
        ),
        ("eve@example.test", "everywhere", "manual", ""): ("scope", "e.g. global, lane:"),
        ("eve@example.test", "global", "angry", ""): ("reason", "use one of: hard_bounce"),
        ("eve@example.test", "global", "manual", "soon"): ("expires", "e.g. 30d"),
        ("eve@example.test", "global", "manual", "0s"): ("expires", "more than 0"),
    }  # fmt: skip
    for (address, scope, reason, expires), (field, fix) in cases.items():
        fields = {"csrf": csrf, "address": address, "scope": scope, "reason": reason,
                  "expires": expires, "note": "kept"}  # fmt: skip
        answer = await client.post("/suppressions/add", data=fields)
        assert answer.status_code == 422, (field, answer.text)
        assert f'data-error="{field}"' in answer.text and fix in answer.text
        assert 'value="kept"' in answer.text  # the form keeps what was typed
    assert api.store.suppressions.search() == []


async def test_remove_needs_a_confirmation_then_really_removes(api: Api) -> None:
    seed(api.store)
    client = api.client
    csrf = await login(client, add_key(api.store, scopes=("admin",)))
    page = await client.get("/suppressions?q=bob")
    assert 'action="/suppressions/remove"' in page.text
    ask = {"csrf": csrf, "address": "bob@example.test", "scope": "lane:marketing"}
    confirm = await client.post("/suppressions/remove", data=ask)
    assert confirm.status_code == 200 and 'name="confirm" value="yes"' in confirm.text
    assert "Remove the suppression of bob@example.test in scope lane:marketing?" in confirm.text
    assert len(api.store.suppressions.list(address="bob@example.test")) == 1  # not yet
    no_csrf = await client.post("/suppressions/remove", data={**ask, "csrf": "", "confirm": "yes"})
    assert no_csrf.status_code == 403
    wrong_scope = await client.post(
        "/suppressions/remove", data={**ask, "scope": "global", "confirm": "yes"}
    )
    assert wrong_scope.status_code == 404
    assert "bob@example.test is not suppressed in scope global" in wrong_scope.text
    done = await client.post("/suppressions/remove", data={**ask, "confirm": "yes"})
    assert done.status_code == 303 and "removed=1" in done.headers["location"]
    assert api.store.suppressions.list(address="bob@example.test") == []
    assert len(api.store.suppressions.search()) == 2  # the others stay


async def test_export_is_the_cli_csv_filtered_like_the_search(api: Api) -> None:
    seed(api.store)
    assert (await api.client.get("/suppressions/export.csv")).status_code == 303  # log in
    await login(api.client, add_key(api.store, scopes=("read",)))
    everything = await api.client.get("/suppressions/export.csv")
    assert everything.status_code == 200
    assert everything.headers["content-type"].startswith("text/csv")
    assert "attachment" in everything.headers["content-disposition"]
    cli = io.StringIO()  # what `relaylane suppress export` prints, oldest first
    report.write_csv((report.record(r) for r in api.store.suppressions.list()), cli)
    assert everything.text == cli.getvalue()
    rows = list(csv.DictReader(io.StringIO(everything.text)))
    assert tuple(rows[0]) == report.EXPORT_COLUMNS
    assert [r["email"] for r in rows] == [
        "ann@example.test", "bob@example.test", "Carol@Other.example"
    ]  # fmt: skip
    assert rows[1]["note"] == "asked twice" and rows[1]["scope"] == "lane:marketing"
    assert rows[0]["created_at"].endswith("Z") and rows[0]["expires_at"] == ""
    filtered = await api.client.get(
        "/suppressions/export.csv", params={"q": "example.test", "reason": "unsubscribe"}
    )
    assert [r["email"] for r in csv.DictReader(io.StringIO(filtered.text))] == ["bob@example.test"]
    page = await api.client.get("/suppressions", params={"q": "bob", "scope": "global"})
    assert 'href="/suppressions/export.csv?q=bob&amp;scope=global"' in page.text
    bad = await api.client.get("/suppressions/export.csv", params={"reason": "angry"})
    assert bad.status_code == 422 and 'data-error="reason"' in bad.text
