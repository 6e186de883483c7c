"""A real authoritative DNS server on 127.0.0.1 for tests (dnslib), UDP and TCP.

    with DnsServer({"acme.test": [("TXT", "v=spf1 -all"), ("MX", "10 mx.acme.test")]}) as dns:
        resolver = DnsResolver(["127.0.0.1"], dns.port)

Zones are a dict of name -> [(type, value), ...] or zone-file text (absolute names, or
an $ORIGIN). Types: A, AAAA, MX ("10 host"), TXT (a string, split into 255-byte strings,
or a tuple of strings for one record), PTR, CNAME (followed inside the served zones).

Answers are authoritative: a name under a served zone without any record is NXDOMAIN
(unless it has descendants: an empty non-terminal, no data); a name with records of other
types is NOERROR with no data; a name outside every served zone is REFUSED. Served zones
are `origins` when given, else the last two labels of each name (in-addr.arpa and
ip6.arpa for reverse names). Only .test, .example, .invalid and reverse names may be
served, so no test can ever reach real DNS. `queries` records every question asked.
"""

from __future__ import annotations

import socket
import socketserver
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dnslib import (  # type: ignore[import-untyped]
    AAAA,
    CNAME,
    MX,
    PTR,
    QTYPE,
    RCODE,
    RR,
    TXT,
    A,
    DNSRecord,
)
from dnslib.server import (  # type: ignore[import-untyped]
    BaseResolver,
    DNSHandler,
    TCPServer,
    UDPServer,
)

Value = str | Sequence[str]
Records = Mapping[str, Sequence[tuple[str, Value]]]
ALLOWED = ("test", "example", "invalid", "in-addr.arpa", "ip6.arpa")
HOST = "127.0.0.1"


def _norm(name: object) -> str:
    return str(name).rstrip(".").lower()


def _rdata(rtype: str, value: Value) -> Any:
    if rtype == "TXT":
        strings = [value] if isinstance(value, str) else list(value)
        chunks = [s.encode()[i : i + 255] for s in strings for i in range(0, len(s) or 1, 255)]
        return TXT(chunks)
    assert isinstance(value, str), f"{rtype} takes one string"
    if rtype == "MX":
        preference, host = value.split()
        return MX(host, int(preference))
    kinds = {"A": A, "AAAA": AAAA, "PTR": PTR, "CNAME": CNAME}
    return kinds[rtype](value)


def parse_records(zone: Records | str) -> list[RR]:
    if isinstance(zone, str):
        return list(RR.fromZone(zone, ttl=300))
    return [
        RR(name, getattr(QTYPE, rtype), rdata=_rdata(rtype, value), ttl=300)
        for name, entries in zone.items()
        for rtype, value in entries
    ]


def _apex(name: str) -> str:
    for reverse in ("in-addr.arpa", "ip6.arpa"):
        if name.endswith("." + reverse):
            return reverse
    return ".".join(name.split(".")[-2:])


class ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, records: list[RR], origins: Iterable[str] | None) -> None:
        self.names: dict[str, list[RR]] = {}
        for rr in records:
            self.names.setdefault(_norm(rr.rname), []).append(rr)
        self.origins = {_norm(o) for o in origins} if origins else {_apex(n) for n in self.names}
        for name in [*self.names, *self.origins]:
            if not name.endswith(ALLOWED):
                raise ValueError(f"{name}: test zones must be under .test, .example or .invalid")
        self.queries: list[tuple[str, str]] = []
        self.lock = threading.Lock()

    def served(self, name: str) -> bool:
        return any(name == o or name.endswith("." + o) for o in self.origins)

    def exists(self, name: str) -> bool:
        return (
            name in self.names
            or name in self.origins
            or any(n.endswith("." + name) for n in self.names)
        )

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        qname, qtype = _norm(request.q.qname), QTYPE[request.q.qtype]
        with self.lock:
            self.queries.append((qname, qtype))
        reply = request.reply()
        if not self.served(qname):
            reply.header.rcode = RCODE.REFUSED
            return reply
        name = qname
        for _ in range(8):  # follow CNAMEs inside the served zones
            rrs = self.names.get(name, [])
            cname = [rr for rr in rrs if rr.rtype == QTYPE.CNAME]
            if not cname or qtype == "CNAME":
                break
            reply.add_answer(*cname)
            name = _norm(cname[0].rdata.label)
            if not self.served(name):
                return reply
        for rr in self.names.get(name, []):
            if QTYPE[rr.rtype] == qtype:
                reply.add_answer(rr)
        if not self.exists(name):
            reply.header.rcode = RCODE.NXDOMAIN
        return reply


class _Quiet:
    """A dnslib logger that keeps decoding errors and prints nothing."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def log_error(self, handler: Any, error: Any) -> None:
        self.errors.append(str(error))

    def __getattr__(self, name: str) -> Any:
        return lambda *args: None


class DnsServer:
    """An authoritative DNS server on 127.0.0.1:`port` (UDP and TCP), in threads."""

    def __init__(self, zone: Records | str, origins: Iterable[str] | None = None) -> None:
        self.resolver = ZoneResolver(parse_records(zone), origins)
        self.logger = _Quiet()
        self.port = 0
        self._servers: list[socketserver.BaseServer] = []
        self._threads: list[threading.Thread] = []

    @property
    def spec(self) -> str:
        """ "127.0.0.1:PORT", as `relaylane doctor --dns` takes it."""
        return f"{HOST}:{self.port}"

    @property
    def queries(self) -> list[tuple[str, str]]:
        with self.resolver.lock:
            return list(self.resolver.queries)

    def _bind(self) -> None:
        for _ in range(20):  # TCP on the port the kernel picked for UDP
            udp = UDPServer((HOST, 0), DNSHandler)
            port = int(udp.server_address[1])
            try:
                tcp = TCPServer((HOST, port), DNSHandler)
            except OSError:
                udp.server_close()
                continue
            self.port, self._servers = port, [udp, tcp]
            return
        raise OSError("no port free for both UDP and TCP")

    def start(self) -> DnsServer:
        self._bind()
        for server in self._servers:
            server.resolver = self.resolver  # type: ignore[attr-defined]
            server.logger = self.logger  # type: ignore[attr-defined]
            thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join(5)
        self._servers, self._threads = [], []

    def __enter__(self) -> DnsServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def refused_port() -> int:
    """A UDP port on 127.0.0.1 where nothing answers (for DNS timeouts)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])
