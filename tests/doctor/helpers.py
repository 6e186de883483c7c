"""A good Acme setup (config and zone) for the doctor tests, and ways to break it.

- lane "news" (marketing): From news.acme.test via relay mkt-a (192.0.2.10, helo
  mta1.acme.test, spf_include _spf.relay.example); return path bounces.news.acme.test;
  DKIM selector rl1; DMARC p=quarantine at _dmarc.news.acme.test.
- lane "tx" (transactional): From tx.acme.test via relay tx-a (192.0.2.20), whose SPF
  authorizes it by "a"; DKIM selector tx1; DMARC only at the organizational domain
  acme.test (p=reject; sp=quarantine).
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

from relaylane.config import Config, load_config_data
from relaylane.dkim.keys import dns_txt_value, generate_key, load_signing_key, write_private_key
from relaylane.doctor.dns import DnsResolver, reverse_name
from relaylane.doctor.report import Check
from relaylane.doctor.run import run_doctor
from tests.dnsserver import HOST, DnsServer, Records

MKT_IP, TX_IP = "192.0.2.10", "192.0.2.20"
RP = "bounces.news.acme.test"


@functools.cache
def key_pem(which: str) -> bytes:
    """An RSA-2048 private key, made once per test process for each name."""
    return generate_key("rsa")


def key_file(directory: Path, which: str = "good") -> Path:
    path = directory / f"{which}.pem"
    if not path.exists():
        write_private_key(path, key_pem(which))
    return path


def txt_for(which: str, directory: Path, selector: str = "rl1") -> str:
    return dns_txt_value(load_signing_key(key_file(directory, which), selector))


def relay(name: str, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": name,
        "host": "127.0.0.1",
        "port": 2525,
        "tls": "none",
        "timeouts": {"connect": 2, "command": 2, "data_end": 2},
    }
    return {**data, **extra}


def config_data(directory: Path) -> dict[str, Any]:
    key = str(key_file(directory))
    return {
        "store": {"url": f"sqlite:///{directory / 'relaylane.db'}"},
        "relay": [
            relay(
                "mkt-a",
                outbound_ips=[MKT_IP],
                spf_include="_spf.relay.example",
                helo="mta1.acme.test",
            ),
            relay("tx-a", outbound_ips=[TX_IP], helo="tx.acme.test"),
        ],
        "lane": [
            {
                "name": "news",
                "purpose": "marketing",
                "relays": ["mkt-a"],
                "from_domains": ["news.acme.test"],
            },
            {
                "name": "tx",
                "purpose": "transactional",
                "relays": ["tx-a"],
                "from_domains": ["tx.acme.test"],
            },
        ],
        "domain": {
            "news.acme.test": {
                "return_path": RP,
                "dkim": [{"selector": "rl1", "key_file": key}],
            },
            "tx.acme.test": {"dkim": [{"selector": "tx1", "key_file": key}]},
        },
    }


def make_config(data: dict[str, Any], directory: Path, env: dict[str, str] | None = None) -> Config:
    return load_config_data(data, source="<test>", base_dir=directory, env=env or {})


def good_zone(directory: Path) -> dict[str, list[tuple[str, Any]]]:
    good = txt_for("good", directory)
    return copy.deepcopy(
        {
            RP: [
                ("TXT", f"v=spf1 ip4:{MKT_IP} include:_spf.relay.example -all"),
                ("MX", "10 mx.acme.test"),
            ],
            "_spf.relay.example": [("TXT", "v=spf1 ip4:198.51.100.0/24 -all")],
            "rl1._domainkey.news.acme.test": [("TXT", good)],
            "tx1._domainkey.tx.acme.test": [("TXT", good)],
            "_dmarc.news.acme.test": [
                ("TXT", "v=DMARC1; p=quarantine; rua=mailto:dmarc@acme.test")
            ],
            "_dmarc.acme.test": [("TXT", "v=DMARC1; p=reject; sp=quarantine")],
            "tx.acme.test": [("TXT", "v=spf1 a -all"), ("A", TX_IP)],
            "mx.acme.test": [("A", "192.0.2.25")],
            "mta1.acme.test": [("A", MKT_IP)],
            reverse_name(MKT_IP): [("PTR", "mta1.acme.test")],
            reverse_name(TX_IP): [("PTR", "tx.acme.test")],
        }
    )


async def doctor(zone: Records | str, config: Config, **options: Any) -> list[Check]:
    """run_doctor against a DnsServer serving `zone` (no relay handshakes by default)."""
    options.setdefault("check_relays", False)
    with DnsServer(zone, origins=["acme.test", "relay.example", "in-addr.arpa"]) as server:
        resolver = DnsResolver([HOST], server.port, timeout=2)
        return await run_doctor(config, resolver, **options)


def pick(checks: list[Check], subject: str, name: str) -> Check:
    found = [c for c in checks if c.subject == subject and c.name == name]
    assert len(found) == 1, f"{subject} / {name}: {found or [(c.subject, c.name) for c in checks]}"
    return found[0]
