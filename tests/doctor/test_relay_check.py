"""Relay handshakes (no mail sent) against SimRelay on loopback."""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trustme

from relaylane.config.models import RelayConfig
from relaylane.doctor.relay_check import HandshakeFacts, handshake, handshake_checks
from relaylane.sim import Behaviour, SimRelay, refusing_port

PASSWORD_ENV = {"RELAY_PASSWORD": "s3cret"}


def relay_config(tmp_path: Path, port: int, ca: trustme.CA | None, **extra: Any) -> RelayConfig:
    data: dict[str, Any] = {
        "name": "mkt-a",
        "host": "127.0.0.1",
        "port": port,
        "tls": "starttls",
        "helo": "client.acme.test",
        "timeouts": {"connect": 2, "command": 2, "data_end": 2},
    }
    if ca is not None:
        ca_file = tmp_path / "ca.pem"
        ca.cert_pem.write_to_path(str(ca_file))
        data["ca_file"] = str(ca_file)
    data.update(extra)
    return RelayConfig.model_validate(data, context={"env": PASSWORD_ENV})


@pytest.fixture
async def starttls_relay(tls_server_context: ssl.SSLContext) -> AsyncIterator[SimRelay]:
    behaviour = Behaviour(require_auth={"mailer": "s3cret"})
    async with SimRelay(behaviour, tls="starttls", tls_context=tls_server_context) as relay:
        yield relay


def statuses(relay: RelayConfig, facts: HandshakeFacts) -> dict[str, str]:
    return {c.name: c.status for c in handshake_checks(relay, facts)}


async def test_starttls_and_auth_pass(
    starttls_relay: SimRelay, tls_ca: trustme.CA, tmp_path: Path
) -> None:
    relay = relay_config(
        tmp_path, starttls_relay.port, tls_ca, username="mailer", password_env="RELAY_PASSWORD"
    )
    facts = await handshake(relay)
    assert (facts.reached, facts.error, facts.auth_ok) == ("done", None, True)
    assert facts.tls_version in ("TLSv1.2", "TLSv1.3")
    checks = handshake_checks(relay, facts)
    assert {c.name: c.status for c in checks} == {"connect": "pass", "TLS": "pass", "AUTH": "pass"}
    assert starttls_relay.commands["QUIT"] == 1 and starttls_relay.commands["MAIL"] == 0


async def test_wrong_password_fails_auth(
    starttls_relay: SimRelay, tls_ca: trustme.CA, tmp_path: Path
) -> None:
    relay = relay_config(
        tmp_path, starttls_relay.port, tls_ca, username="intruder", password_env="RELAY_PASSWORD"
    )
    checks = handshake_checks(relay, await handshake(relay))
    auth = next(c for c in checks if c.name == "AUTH")
    assert auth.status == "fail" and "535" in auth.reason
    assert auth.fix == "check username and the password in $RELAY_PASSWORD"


async def test_untrusted_certificate_fails_tls(starttls_relay: SimRelay, tmp_path: Path) -> None:
    relay = relay_config(tmp_path, starttls_relay.port, trustme.CA())  # another CA
    checks = handshake_checks(relay, await handshake(relay))
    tls = next(c for c in checks if c.name == "TLS")
    assert tls.status == "fail" and "certificate not valid" in tls.reason


async def test_implicit_tls_passes(
    tls_server_context: ssl.SSLContext, tls_ca: trustme.CA, tmp_path: Path
) -> None:
    async with SimRelay(tls="implicit", tls_context=tls_server_context) as sim:
        relay = relay_config(tmp_path, sim.port, tls_ca, tls="implicit")
        facts = await handshake(relay)
    assert statuses(relay, facts) == {"connect": "pass", "TLS": "pass"}


async def test_implicit_tls_with_server_name(
    tls_server_context: ssl.SSLContext, tls_ca: trustme.CA, tmp_path: Path
) -> None:
    async with SimRelay(tls="implicit", tls_context=tls_server_context) as sim:
        relay = relay_config(tmp_path, sim.port, tls_ca, tls="implicit", server_name="localhost")
        facts = await handshake(relay)
    assert statuses(relay, facts) == {"connect": "pass", "TLS": "pass"}


async def test_relay_without_starttls_fails_tls(tls_ca: trustme.CA, tmp_path: Path) -> None:
    async with SimRelay() as sim:
        relay = relay_config(tmp_path, sim.port, tls_ca)
        checks = handshake_checks(relay, await handshake(relay))
    tls = next(c for c in checks if c.name == "TLS")
    assert tls.status == "fail" and "does not offer STARTTLS" in tls.reason


async def test_plain_loopback_relay_passes_and_remote_plain_warns(tmp_path: Path) -> None:
    async with SimRelay() as sim:
        relay = relay_config(tmp_path, sim.port, None, tls="none")
        facts = await handshake(relay)
    assert statuses(relay, facts) == {"connect": "pass", "TLS": "pass"}
    remote = relay_config(tmp_path, sim.port, None, tls="none", host="relay.acme.test")
    assert statuses(remote, facts)["TLS"] == "warn"


async def test_closed_port_fails(tmp_path: Path) -> None:
    relay = relay_config(tmp_path, refusing_port(), None, tls="none")
    facts = await handshake(relay)
    assert facts.reached == "connect" and facts.error
    [check] = handshake_checks(relay, facts)
    assert (check.name, check.status) == ("connect", "fail")
    assert check.reason.startswith(f"127.0.0.1:{relay.port} at connect:")


async def test_refused_greeting_fails(tmp_path: Path) -> None:
    async with SimRelay(Behaviour(greeting_reply="554 5.3.2 go away")) as sim:
        relay = relay_config(tmp_path, sim.port, None, tls="none")
        [check] = handshake_checks(relay, await handshake(relay))
    assert check.status == "fail" and "554" in check.reason
