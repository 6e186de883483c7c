"""TLS and AUTH toward relays: required, verified, and never silently downgraded."""

from __future__ import annotations

import ssl
import time
from pathlib import Path

import trustme

from relaylane.sim import Behaviour, SimRelay
from relaylane.store import Store
from tests.helpers import deliver, lane, make_config, queue, relay


def ca_file(ca: trustme.CA, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


async def test_starttls_is_used_and_verified(
    store: Store,
    store_url: str,
    tmp_path: Path,
    tls_ca: trustme.CA,
    tls_server_context: ssl.SSLContext,
) -> None:
    async with SimRelay(tls="starttls", tls_context=tls_server_context) as sim:
        cfg = make_config(
            store_url,
            [relay("r1", sim.port, tls="starttls", ca_file=ca_file(tls_ca, tmp_path))],
            [lane("tx", ["r1"])],
            tmp_path,
        )
        [i] = queue(store, cfg, "tx", ["a@example.test"], time.time())
        await deliver(cfg, store)
    assert store.reads.delivery(i).delivery.state == "sent"
    assert [r.tls for r in sim.received] == [True]


async def test_untrusted_certificate_is_a_relay_fault_not_plaintext(
    store: Store, store_url: str, tmp_path: Path, tls_server_context: ssl.SSLContext
) -> None:
    other_ca = trustme.CA()  # not the CA that signed the relay's certificate
    async with SimRelay(tls="starttls", tls_context=tls_server_context) as sim:
        cfg = make_config(
            store_url,
            [relay("r1", sim.port, tls="starttls", ca_file=ca_file(other_ca, tmp_path))],
            [lane("tx", ["r1"])],
            tmp_path,
        )
        [i] = queue(store, cfg, "tx", ["a@example.test"], time.time())
        await deliver(cfg, store)
    d = store.reads.delivery(i)
    assert d.delivery.state == "deferred"
    assert d.attempts[0].stage == "starttls" and d.attempts[0].outcome == "relay_fault"
    assert "TLS" in d.attempts[0].reply or "tls" in d.attempts[0].reply
    assert sim.received == [] and sim.commands["MAIL"] == 0


async def test_relay_without_starttls_is_refused_when_tls_is_required(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay() as sim:  # plaintext only
        cfg = make_config(
            store_url, [relay("r1", sim.port, tls="starttls")], [lane("tx", ["r1"])], tmp_path
        )
        [i] = queue(store, cfg, "tx", ["a@example.test"], time.time())
        await deliver(cfg, store)
    d = store.reads.delivery(i)
    assert d.delivery.state == "deferred"
    assert "STARTTLS" in d.attempts[0].reply
    assert sim.commands["MAIL"] == 0


async def test_implicit_tls(
    store: Store,
    store_url: str,
    tmp_path: Path,
    tls_ca: trustme.CA,
    tls_server_context: ssl.SSLContext,
) -> None:
    async with SimRelay(tls="implicit", tls_context=tls_server_context) as sim:
        cfg = make_config(
            store_url,
            [
                relay(
                    "r1",
                    sim.port,
                    tls="implicit",
                    ca_file=ca_file(tls_ca, tmp_path),
                    server_name="localhost",
                )
            ],
            [lane("tx", ["r1"])],
            tmp_path,
        )
        [i] = queue(store, cfg, "tx", ["a@example.test"], time.time())
        await deliver(cfg, store)
    assert store.reads.delivery(i).delivery.state == "sent"
    assert sim.received[0].tls


async def test_auth_with_password_from_environment(
    store: Store,
    store_url: str,
    tmp_path: Path,
    tls_ca: trustme.CA,
    tls_server_context: ssl.SSLContext,
) -> None:
    behaviour = Behaviour(require_auth={"acme": "s3cret"})
    async with SimRelay(behaviour, tls="starttls", tls_context=tls_server_context) as sim:
        spec = relay(
            "r1",
            sim.port,
            tls="starttls",
            ca_file=ca_file(tls_ca, tmp_path),
            username="acme",
            password_env="R1_PASSWORD",
        )
        good = make_config(
            store_url, [spec], [lane("tx", ["r1"])], tmp_path, env={"R1_PASSWORD": "s3cret"}
        )
        [i] = queue(store, good, "tx", ["a@example.test"], time.time())
        await deliver(good, store)
        assert store.reads.delivery(i).delivery.state == "sent"
        assert sim.received[0].auth_user == "acme"
        bad = make_config(
            store_url, [spec], [lane("tx", ["r1"])], tmp_path, env={"R1_PASSWORD": "wrong"}
        )
        [j] = queue(store, bad, "tx", ["b@example.test"], time.time())
        await deliver(bad, store)
    d = store.reads.delivery(j)
    assert d.delivery.state == "deferred"
    assert d.attempts[0].stage == "auth" and d.attempts[0].outcome == "relay_fault"
    assert d.attempts[0].bounce_class == "relay_config"


async def test_relay_offering_no_auth_is_a_configuration_fault(
    store: Store, store_url: str, tmp_path: Path
) -> None:
    async with SimRelay() as sim:  # no AUTH advertised
        spec = relay("r1", sim.port, username="acme", password_env="R1_PASSWORD")
        cfg = make_config(
            store_url, [spec], [lane("tx", ["r1"])], tmp_path, env={"R1_PASSWORD": "s3cret"}
        )
        [i] = queue(store, cfg, "tx", ["a@example.test"], time.time())
        await deliver(cfg, store)
    d = store.reads.delivery(i)
    assert d.delivery.state == "deferred"
    assert d.attempts[0].stage == "auth" and d.attempts[0].outcome == "relay_fault"
    assert d.attempts[0].bounce_class == "relay_config"
    assert sim.received == []  # never sent without the authentication it was configured with
