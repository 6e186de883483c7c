"""The dashboard's doctor page through the running API, its DNS from the loopback test
server (`ApiContext.resolver`): the checks of `relaylane doctor --json`, kept for a
minute, run again on `?refresh=1` or the admin's button."""

from __future__ import annotations

import re

from markupsafe import escape

from relaylane.doctor.dns import DnsResolver
from relaylane.reports.doctor import doctor_report
from tests.api.conftest import Api, add_key
from tests.dnsserver import HOST, DnsServer

ZONE = {
    "_dmarc.acme.test": [("TXT", "v=DMARC1; p=reject; rua=mailto:dmarc@acme.test")],
    "tx.acme.test": [("TXT", "v=spf1 -all")],
}


async def test_doctor_page_shows_what_doctor_json_reports(api: Api) -> None:
    client = api.client
    first = await client.get("/doctor")
    assert first.status_code == 303 and first.headers["location"] == "/login"
    with DnsServer(ZONE, origins=["acme.test", "in-addr.arpa"]) as dns:
        resolver = DnsResolver([HOST], dns.port, timeout=2)
        api.ctx.resolver = resolver
        assert (await client.post("/login", data={"api_key": api.token})).status_code == 303
        page = await client.get("/doctor")
        assert page.status_code == 200
        asked = len(dns.queries)
        assert asked > 0  # the page asked the test server, not real DNS
        expected = await doctor_report(api.config, resolver, engine=api.store.engine)
        assert expected["checks"] and expected["counts"]["fail"] > 0
        for check in expected["checks"]:
            assert f'data-subject="{escape(check["subject"])!s}"' in page.text
            row = f'data-check="{escape(check["name"])!s}" data-status="{check["status"]}"'
            assert row in page.text, check
            if check["fix"]:
                assert str(escape(check["fix"])) in page.text
        counts = expected["counts"]
        assert f'<span class="check fail">{counts["fail"]} fail</span>' in page.text
        assert '<link rel="stylesheet" href="/static/doctor.css">' in page.text
        assert "Check again" in page.text and 'action="/doctor/refresh"' not in page.text

        asked = len(dns.queries)
        kept = await client.get("/doctor")  # within the minute: the kept report
        assert kept.status_code == 200 and len(dns.queries) == asked
        fresh = await client.get("/doctor?refresh=1")
        assert fresh.status_code == 200 and len(dns.queries) > asked

        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert csrf is not None
        refused = await client.post("/doctor/refresh", data={"csrf": csrf.group(1)})
        assert refused.status_code == 403  # read keys use the link

        assert (await client.post("/logout", data={"csrf": csrf.group(1)})).status_code == 303
        admin = add_key(api.store, scopes=("admin",))
        assert (await client.post("/login", data={"api_key": admin})).status_code == 303
        page = await client.get("/doctor")
        assert 'action="/doctor/refresh"' in page.text
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        assert (await client.post("/doctor/refresh", data={"csrf": "x"})).status_code == 403
        asked = len(dns.queries)
        again = await client.post("/doctor/refresh", data={"csrf": token.group(1)})
        assert again.status_code == 303 and again.headers["location"] == "/doctor"
        assert len(dns.queries) == asked  # the run waits for the page
        assert (await client.get("/doctor")).status_code == 200
        assert len(dns.queries) > asked
