"""The demo's world: simulated relays on loopback and a three-lane configuration.

- transactional (failover): tx-primary refuses connections (down for maintenance), so
  every password reset fails over to tx-backup, inside the lane.
- marketing (weighted 3:1:2): mkt-a fast, mkt-b slower, mkt-c starts throttling with
  `421 4.7.0` after a few hundred messages; its share fails over to mkt-a and mkt-b.
- outreach (sticky per recipient domain): out-a and out-b; one receiving domain blocks
  for reputation (held on its relay, never moved), one greylists (deferred).
Some recipients do not exist (bounced); nothing leaves this machine.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing as mp
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from relaylane import runtime
from relaylane.config import Config, load_config_data
from relaylane.sim import Behaviour, SimRelay, refusing_port

UNKNOWN_USER = (r"^nobody", "550 5.1.1 Recipient address rejected: User unknown")
REPUTATION = (
    r"@blocklisted\.example$",
    "550 5.7.1 Service unavailable; client host [192.0.2.7] blocked using zen.spamhaus.org",
)
GREYLIST = (r"@greylist\.example$", "451 4.7.1 Greylisted, please try again later")


@dataclass(frozen=True)
class DemoSize:
    transactional: int
    marketing: int
    outreach: int


FULL = DemoSize(transactional=60, marketing=4000, outreach=400)
QUICK = DemoSize(transactional=20, marketing=600, outreach=100)


@dataclass
class DemoWorld:
    config: Config
    relays: RelayHost

    async def stop(self) -> None:
        await asyncio.to_thread(self.relays.stop)


class RelayHost:
    """The simulated relays run in a process of their own, like relays on other hosts,
    so they do not share the worker's interpreter."""

    def __init__(self, throttle_after: int) -> None:
        ctx = mp.get_context("spawn")
        self._parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve_relays, args=(child, throttle_after), daemon=True)

    def start(self, timeout: float = 30.0) -> dict[str, int]:
        self._proc.start()
        if not self._parent.poll(timeout):
            self.stop()
            raise RuntimeError("the demo's simulated relays did not start")
        ports: dict[str, int] = self._parent.recv()
        return ports

    def stop(self) -> None:
        if self._proc.is_alive():
            self._parent.send("stop")
            self._proc.join(10)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()


def _serve_relays(conn: Connection, throttle_after: int) -> None:
    async def serve() -> None:
        relays = [await SimRelay(b, name=n).start() for n, b in _behaviours(throttle_after).items()]
        conn.send({r.name: r.port for r in relays})
        await asyncio.to_thread(conn.recv)  # until told to stop
        for r in relays:
            await r.stop()

    logging.getLogger("mail.log").setLevel(logging.WARNING)
    runtime.run(serve())


def _rules(*rules: tuple[str, str]) -> list[tuple[str, str]]:
    return list(rules)


def _behaviours(throttle_after: int) -> dict[str, Behaviour]:
    return {
        "tx-backup": Behaviour(rcpt_rules=_rules(UNKNOWN_USER)),
        "mkt-a": Behaviour(rcpt_rules=_rules(UNKNOWN_USER)),
        "mkt-b": Behaviour(rcpt_rules=_rules(UNKNOWN_USER), delay=0.004),
        "mkt-c": Behaviour(
            rcpt_rules=_rules(UNKNOWN_USER),
            throttle_after=throttle_after,
            throttle_reply="421 4.7.0 Too many messages from your account, slow down",
            throttle_for=20.0,
        ),
        "out-a": Behaviour(rcpt_rules=_rules(UNKNOWN_USER, REPUTATION, GREYLIST), delay=0.002),
        "out-b": Behaviour(rcpt_rules=_rules(UNKNOWN_USER, REPUTATION, GREYLIST), delay=0.002),
    }


DEMO_DOMAINS = ("tx.acme.test", "news.acme.test", "outreach.acme.test")


def demo_domains(keys: Path) -> dict[str, object]:
    """Each lane's sending subdomain with its own DKIM key, so the alignment gate passes
    and every demo message leaves signed."""
    from relaylane.dkim import generate_key, write_private_key

    keys.mkdir(parents=True, exist_ok=True)
    domains: dict[str, object] = {}
    for name in DEMO_DOMAINS:
        path = keys / f"{name}-demo.pem"
        if not path.exists():
            write_private_key(path, generate_key("rsa"))
        domains[name] = {
            "return_path": f"bounces.{name}",
            "dkim": [{"selector": "demo", "key_file": str(path)}],
        }
    return domains


async def build_world(workdir: Path, throttle_after: int = 300) -> DemoWorld:
    host = RelayHost(throttle_after)
    ports = await asyncio.to_thread(host.start)
    ports["tx-primary"] = refusing_port()
    domains = await asyncio.to_thread(demo_domains, workdir / "keys")
    data = demo_config_data(workdir, ports, domains)
    config = load_config_data(data, source="<demo>", base_dir=workdir, env={})
    return DemoWorld(config=config, relays=host)


def demo_config_data(
    workdir: Path, ports: dict[str, int], domains: dict[str, object]
) -> dict[str, object]:
    """The demo's configuration, with the relays at `ports` (also read back by
    `make screenshots`, which shows a finished demo's store in the dashboard)."""

    def relay(name: str, conns: int) -> dict[str, object]:
        return {
            "name": name,
            "kind": "mta",
            "host": "127.0.0.1",
            "port": ports[name],
            "tls": "none",
            "helo": "demo.relaylane.test",
            "max_connections": conns,
            "max_messages_per_connection": 200,
            "timeouts": {"connect": 5, "command": 30, "data_end": 60},
        }

    data = {
        "store": {"url": f"sqlite:///{workdir / 'demo.db'}"},
        "domain": domains,
        # The demo's recipients all sit under .example, one provider group; the loopback
        # relays stand for many providers, so the catch-all rate is raised for the demo.
        "provider": {"default": {"rate": "2000/s"}},
        "worker": {"lease": "60s", "claim_batch": 256, "idle_poll": "100ms"},
        "relay": [
            relay("tx-primary", 2),
            relay("tx-backup", 2),
            relay("mkt-a", 4),
            relay("mkt-b", 2),
            relay("mkt-c", 3),
            relay("out-a", 2),
            relay("out-b", 2),
        ],
        "lane": [
            {
                "name": "transactional",
                "purpose": "transactional",
                "strategy": "failover",
                "relays": ["tx-primary", "tx-backup"],
                "max_age": "1h",
                "from_domains": ["tx.acme.test"],
            },
            {
                "name": "marketing",
                "purpose": "marketing",
                "strategy": "weighted",
                "relays": ["mkt-a:3", "mkt-b:1", "mkt-c:2"],
                "from_domains": ["news.acme.test"],
            },
            {
                "name": "outreach",
                "purpose": "outreach",
                "strategy": "sticky",
                "relays": ["out-a", "out-b"],
                "from_domains": ["outreach.acme.test"],
            },
        ],
    }
    return data
