"""Every delivery leaves DKIM-signed with an aligned key; verified independently (dkimpy)
after the relay received it, byte for byte."""

from __future__ import annotations

import re
import time
from pathlib import Path

import dkim
from relaylane.dkim import dns_txt_value, load_signing_key
from relaylane.sim.behaviour import Behaviour
from relaylane.sim.relay import SimRelay
from relaylane.store import Store
from tests.helpers import deliver, dkim_key_file, lane, make_config, queue, relay

TXT = dns_txt_value(load_signing_key(dkim_key_file(), "rltest")).encode()


def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
    return TXT if name == b"rltest._domainkey.acme.test." else b""


def signed_headers(data: bytes) -> list[str]:
    tags = data.split(b"DKIM-Signature:", 1)[1].split(b"\r\n\r\n")[0]
    h = re.search(rb"h=([^;]+);", re.sub(rb"\s+", b"", tags))
    assert h is not None
    return h.group(1).decode().lower().split(":")


async def test_the_worker_signs_every_delivery_and_it_verifies(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour()) as sim:
        cfg = make_config(store_url, [relay("r1", sim.port)], [lane("tx", ["r1"])], tmp_path)
        queue(store, cfg, "tx", ["a@example.test", "b@example.test"], time.time())
        await deliver(cfg, store)
        got = [m.data for m in sim.received]
    assert len(got) == 2
    for data in got:
        assert data.startswith(b"DKIM-Signature: v=1; a=rsa-sha256;")
        assert b"d=acme.test;" in data and b"s=rltest;" in data
        assert dkim.verify(data, dnsfunc=dnsfunc)
        names = signed_headers(data)
        assert names.count("from") == 2 and "message-id" in names  # over-signed
        assert "x-relaylane-id" not in names
        tampered = data.replace(b"Subject: Reset", b"Subject: Changed")
        assert not dkim.verify(tampered, dnsfunc=dnsfunc)


async def test_a_relays_skipped_headers_are_not_signed(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay(Behaviour()) as sim:
        skip = relay("ses", sim.port, kind="esp", dkim_skip_headers=["Message-ID", "Date"])
        cfg = make_config(store_url, [skip], [lane("tx", ["ses"])], tmp_path)
        queue(store, cfg, "tx", ["a@example.test"], time.time())
        await deliver(cfg, store)
        [data] = [m.data for m in sim.received]
    names = signed_headers(data)
    assert "message-id" not in names and "date" not in names
    rewritten = re.sub(rb"Message-ID: [^\r]+", b"Message-ID: <ses-1@amazonses.example>", data)
    assert dkim.verify(rewritten, dnsfunc=dnsfunc)  # SES rewrites it: still valid


async def test_a_switched_rotation_signs_with_the_new_selector(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    from relaylane.dkim import generate_key, write_private_key
    from relaylane.dkim.rotation import RotationState

    new_key = tmp_path / "rl2.pem"
    write_private_key(new_key, generate_key("rsa"))
    rotation = store.rotations.add("acme.test", "rsa", "rltest", "rl2", str(new_key), 0.0)
    store.rotations.move(rotation.id, RotationState.SWITCHED, time.time())
    new_txt = dns_txt_value(load_signing_key(new_key, "rl2")).encode()
    async with SimRelay(Behaviour()) as sim:
        cfg = make_config(store_url, [relay("r1", sim.port)], [lane("tx", ["r1"])], tmp_path)
        queue(store, cfg, "tx", ["a@example.test"], time.time())
        await deliver(cfg, store)
        [data] = [m.data for m in sim.received]
    assert b"s=rl2;" in data and b"s=rltest;" not in data
    assert dkim.verify(data, dnsfunc=lambda name, timeout=5: new_txt)


async def test_dkimpy_verifies_through_the_loopback_dns_server(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    """The independent verifier fetches the public key over DNS, from a real server."""
    import dns.resolver

    from tests.dnsserver import DnsServer

    zone = {"rltest._domainkey.acme.test": [("TXT", TXT.decode())]}
    with DnsServer(zone) as server:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers, resolver.port = ["127.0.0.1"], server.port

        def over_dns(name: bytes, timeout: int = 5) -> bytes:
            answer = resolver.resolve(name.decode(), "TXT", lifetime=timeout)
            return b"".join(b"".join(r.strings) for r in answer)

        async with SimRelay(Behaviour()) as sim:
            cfg = make_config(store_url, [relay("r1", sim.port)], [lane("tx", ["r1"])], tmp_path)
            queue(store, cfg, "tx", ["a@example.test"], time.time())
            await deliver(cfg, store)
            [data] = [m.data for m in sim.received]
        assert dkim.verify(data, dnsfunc=over_dns)
        assert any("_domainkey" in q for q in map(str, server.queries))
        extra_from = b"From: Mallory <m@evil.example>\r\n" + data
        assert not dkim.verify(extra_from, dnsfunc=over_dns)


async def test_nothing_unsigned_leaves_a_gated_lane_even_if_keys_vanish(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    from relaylane.config import load_config_data

    async with SimRelay(Behaviour()) as sim:
        lanes = [lane("tx", ["r1"], from_domains=["tx.acme.test"])]
        cfg = make_config(store_url, [relay("r1", sim.port)], lanes, tmp_path)
        [did] = queue(store, cfg, "tx", ["a@example.test"], time.time())
        data = {"store": {"url": store_url}, "relay": [relay("r1", sim.port)], "lane": lanes}
        keyless = load_config_data(data, source="<t>", base_dir=tmp_path, env={})
        await deliver(keyless, store)
        assert sim.received == []
    [row] = [r for r in store.reads.list_deliveries() if r.id == did]
    assert (row.state, row.bounce_class) == ("blocked", "relay_config")
    assert row.last_reply is not None and "no aligned DKIM key for tx.acme.test" in row.last_reply
