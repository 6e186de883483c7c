"""`relaylane doctor` as a user runs it, against a DNS server and a relay on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from relaylane.cli.doctor import doctor as doctor_command
from relaylane.doctor.report import exit_code
from relaylane.sim import SimRelay, refusing_port
from relaylane.store import open_store
from tests.dnsserver import DnsServer
from tests.doctor.helpers import RP, config_data, doctor, good_zone, make_config, pick
from tests.doctor.test_rates import add_sent

runner = CliRunner()
app = typer.Typer()
app.command("doctor")(doctor_command)


@app.callback()
def _root() -> None:
    """A stand-in for relaylane's app until cli/app.py registers the command."""


def write_config(tmp_path: Path, relay_port: int, mkt_from: str = "news.acme.test") -> Path:
    key = tmp_path / "good.pem"
    path = tmp_path / "relaylane.toml"
    path.write_text(
        f"""
[store]
url = "sqlite:///relaylane.db"

[[relay]]
name = "mkt-a"
host = "127.0.0.1"
port = {relay_port}
tls = "none"
helo = "mta1.acme.test"
outbound_ips = ["192.0.2.10"]
spf_include = "_spf.relay.example"
timeouts = {{ connect = 2, command = 2, data_end = 2 }}

[[relay]]
name = "tx-a"
host = "127.0.0.1"
port = {relay_port}
tls = "none"
helo = "tx.acme.test"
outbound_ips = ["192.0.2.20"]
timeouts = {{ connect = 2, command = 2, data_end = 2 }}

[[lane]]
name = "news"
purpose = "marketing"
relays = ["mkt-a"]
from_domains = ["{mkt_from}"]

[[lane]]
name = "tx"
purpose = "transactional"
relays = ["tx-a"]
from_domains = ["tx.acme.test"]

[domain."news.acme.test"]
return_path = "{RP}"
dkim = [{{ selector = "rl1", key_file = "{key}" }}]

[domain."tx.acme.test"]
dkim = [{{ selector = "tx1", key_file = "{key}" }}]
"""
    )
    return path


@pytest.fixture
def dns(tmp_path: Path) -> Iterator[DnsServer]:
    zone = good_zone(tmp_path)  # writes tmp_path/good.pem too
    origins = ["acme.test", "other.test", "relay.example", "in-addr.arpa"]
    with DnsServer(zone, origins=origins) as server:
        yield server


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["doctor", *args])
    return result.exit_code, result.output


def test_good_setup_exits_0(tmp_path: Path, dns: DnsServer) -> None:
    config = write_config(tmp_path, refusing_port())
    code, out = run("--config", str(config), "--dns", dns.spec, "--json", "--no-relays")
    assert code == 0, out
    report = json.loads(out)
    assert report["counts"]["fail"] == 0
    assert {c["name"] for c in report["checks"] if c["status"] == "warn"} == {
        "bulk: one-click unsubscribe"
    }
    rate = next(c for c in report["checks"] if c["name"] == "complaint rate")
    assert rate == {
        "subject": "lane news",
        "name": "complaint rate",
        "status": "pass",
        "reason": "no mail sent in 30 days",
        "fix": None,
    }
    assert not (tmp_path / "relaylane.db").exists()  # doctor creates no store


def test_failures_exit_1_and_are_listed(tmp_path: Path, dns: DnsServer) -> None:
    config = write_config(tmp_path, refusing_port(), mkt_from="promo.other.test")
    code, out = run("--config", str(config), "--dns", dns.spec, "--json")
    assert code == 1
    checks = json.loads(out)["checks"]
    failing = {(c["subject"], c["name"]) for c in checks if c["status"] == "fail"}
    assert failing == {
        ("promo.other.test", "DMARC"),
        ("promo.other.test", "SPF record"),  # the envelope sender stays at promo.other.test
        ("promo.other.test", "return path receives bounces"),
        ("relay mkt-a", "connect"),
        ("relay tx-a", "connect"),
        ("lane news", "bulk: SPF"),
        ("lane news", "bulk: DKIM"),
        ("lane news", "bulk: DMARC"),
        ("lane news", "bulk: alignment"),
    }
    dkim = next(c for c in checks if c["name"] == "bulk: DKIM")
    assert dkim["reason"] == ("promo.other.test: no aligned DKIM signature; bulk senders must sign")


def test_a_sibling_domain_aligns_relaxed(tmp_path: Path, dns: DnsServer) -> None:
    config = write_config(tmp_path, refusing_port(), mkt_from="promo.acme.test")
    code, out = run("--config", str(config), "--dns", dns.spec, "--json", "--no-relays")
    assert code == 1  # promo.acme.test itself has no SPF record and no MX
    checks = {(c["subject"], c["name"]): c for c in json.loads(out)["checks"]}
    assert checks[("promo.acme.test", "DKIM")]["reason"] == (
        "signed as d=news.acme.test, aligned (relaxed) with promo.acme.test"
    )
    assert checks[("lane news", "bulk: alignment")]["status"] == "pass"
    assert checks[("lane news", "bulk: DKIM")]["status"] == "pass"


def test_table_output_and_complaints_from_the_store(tmp_path: Path, dns: DnsServer) -> None:
    config = write_config(tmp_path, refusing_port())
    store = open_store(f"sqlite:///{tmp_path / 'relaylane.db'}")
    add_sent(store, "news", 1000, 3, now=time.time())
    store.close()
    code, out = run("--config", str(config), "--dns", dns.spec, "--no-relays")
    assert code == 1
    assert "relaylane doctor:" in out and "complaint rate" in out and "0.30%" in out


def test_bad_dns_option_exits_2(tmp_path: Path, dns: DnsServer) -> None:
    config = write_config(tmp_path, refusing_port())
    code, out = run("--config", str(config), "--dns", "127.0.0.1:notaport")
    assert code == 2 and "--dns" in out


async def test_run_doctor_with_relays_and_store(tmp_path: Path) -> None:
    async with SimRelay() as sim:
        data: dict[str, Any] = config_data(tmp_path)
        for relay in data["relay"]:
            relay["port"] = sim.port
        config = make_config(data, tmp_path)
        store = open_store(config.store.url)
        add_sent(store, "news", 2000, 2, now=time.time())
        try:
            checks = await doctor(
                good_zone(tmp_path), config, engine=store.engine, check_relays=True
            )
        finally:
            store.close()
    assert pick(checks, "relay mkt-a", "connect").status == "pass"
    assert pick(checks, "relay tx-a", "TLS").reason.startswith('tls = "none" on loopback')
    rate = pick(checks, "lane news", "complaint rate")
    assert rate.status == "warn" and "2 complaints / 2000 sent" in rate.reason
    assert exit_code(checks) == 0 and sim.commands["MAIL"] == 0
