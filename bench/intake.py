"""bench/intake: how fast relaylane accepts mail (durably) against Postfix's smtpd.

relaylane: `relaylane serve --only api --only smtp` (no delivery) on a temporary SQLite
store. SMTP: SESSIONS client connections, each STARTTLS + AUTH PLAIN once, then
MESSAGES/SESSIONS messages of about 4 KB, one recipient each, every one answered 250
only after its durable commit (group commit shares commits between sessions). HTTP:
POST /v1/messages with 20 requests in flight, and POST /v1/messages/batch with 100
messages per request (4 in flight); each message about --api-size bytes of text (1 KB).

Postfix: a private instance fed by smtp-source with the same volume and size (plain
SMTP, no TLS, no AUTH), timed until smtp-source exits: its smtpd intake. The same
Python client as above is also run against Postfix, so the client's own cost shows.

    python bench/intake.py [--messages 20000] [--sessions 10] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import signal
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from postfix_peer import PrivatePostfix, free_port, run_postfix_peer, start_sink

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
PASSWORD = "bench password 123"
LISTEN = re.compile(r"listening (api|smtp): (\S+(?: \([a-z ]+\))?) on (\S+):(\d+)")


def body(size: int, i: int) -> bytes:
    head = (
        f"From: bench@tx.acme.test\r\nTo: rcpt{i}@sink.test\r\nSubject: intake {i}\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\n"
    )
    line = "x" * 76 + "\r\n"
    text = head + line * max(1, (size - len(head)) // len(line))
    return text.encode()


class Client:
    """A lean SMTP client (pipelines MAIL/RCPT/DATA) so the client costs little."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.r, self.w = reader, writer

    @classmethod
    async def open(cls, port: int, tls: bool, user: str | None) -> Client:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        c = cls(reader, writer)
        await c.reply()
        await c.cmd(b"EHLO bench.test")
        if tls:
            await c.cmd(b"STARTTLS")
            ctx = ssl.create_default_context()
            ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
            await writer.start_tls(ctx)
            await c.cmd(b"EHLO bench.test")
        if user:
            token = base64.b64encode(f"\0{user}\0{PASSWORD}".encode())
            await c.cmd(b"AUTH PLAIN " + token, expect=b"235")
        return c

    async def reply(self) -> bytes:
        while True:
            line = await self.r.readline()
            if len(line) < 4 or line[3:4] != b"-":
                return line

    async def cmd(self, line: bytes, expect: bytes | None = None) -> bytes:
        self.w.write(line + b"\r\n")
        got = await self.reply()
        if expect and not got.startswith(expect):
            raise RuntimeError(f"{line[:20]!r} -> {got!r}")
        return got

    async def send(self, rcpt: str, data: bytes, sender: str = "bench@tx.acme.test") -> None:
        """MAIL, RCPT and DATA pipelined, then the body; raises unless all are accepted."""
        self.w.write(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode())
        for _ in range(3):
            got = await self.reply()
            if got[:1] not in (b"2", b"3"):
                raise RuntimeError(f"refused: {got!r}")
        self.w.write(data + b".\r\n")
        got = await self.reply()
        if not got.startswith(b"250"):
            raise RuntimeError(f"DATA refused: {got!r}")

    async def quit(self) -> None:
        self.w.write(b"QUIT\r\n")
        self.w.close()


async def smtp_clients(port: int, messages: int, sessions: int, size: int, tls: bool,
                       user: str | None) -> float:  # fmt: skip
    data = [body(size, i) for i in range(64)]
    clients = [await Client.open(port, tls, user) for _ in range(sessions)]
    per = messages // sessions

    async def run(c: Client, n: int) -> None:
        for i in range(per):
            await c.send(f"rcpt{n}-{i}@sink.test", data[i % 64])
        await c.quit()

    t0 = time.monotonic()
    await asyncio.gather(*(run(c, n) for n, c in enumerate(clients)))
    return time.monotonic() - t0


async def api_clients(
    port: int, token: str, messages: int, concurrency: int, batch: int, size: int
) -> float:
    text = ("x" * 76 + "\n") * max(1, size // 77)  # about `size` bytes of plain text
    headers = {"Authorization": f"Bearer {token}"}

    def one(i: int) -> dict[str, object]:
        return {"from": "bench@tx.acme.test", "to": [f"api{i}@sink.test"],
                "subject": f"intake {i}", "text": text}  # fmt: skip

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits,
                                 timeout=60, headers=headers) as client:  # fmt: skip
        queue: asyncio.Queue[int] = asyncio.Queue()
        for start in range(0, messages, batch):
            queue.put_nowait(start)

        async def worker() -> None:
            while not queue.empty():
                start = queue.get_nowait()
                if batch == 1:
                    r = await client.post("/v1/messages", json=one(start))
                else:
                    items = [one(start + k) for k in range(batch)]
                    r = await client.post("/v1/messages/batch", json={"messages": items})
                if r.status_code != 202:
                    raise RuntimeError(f"{r.status_code}: {r.text[:200]}")

        t0 = time.monotonic()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.monotonic() - t0


def relaylane(tmp: Path, *args: str) -> str:
    out = subprocess.run([PY, "-m", "relaylane", *args, "-c", str(tmp / "relaylane.toml")],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return out.stdout


def start_serve(tmp: Path) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    (tmp / "relaylane.toml").write_text(
        """
[store]
url = "sqlite:///relaylane.db"
[http]
listen = "127.0.0.1:0"
[submission]
listen = "127.0.0.1:0"
[[relay]]
name = "r1"
host = "127.0.0.1"
port = 9
tls = "none"
[[lane]]
name = "transactional"
purpose = "transactional"
relays = ["r1"]
"""
    )
    relaylane(tmp, "smtp-users", "create", "bench", "--lanes", "transactional",
              "--password", PASSWORD)  # fmt: skip
    return launch_serve(tmp, "--only", "api", "--only", "smtp")


def launch_serve(tmp: Path, *parts: str) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    """`relaylane serve PARTS` on tmp/relaylane.toml, logging to tmp/serve.log; its
    listening ports once it says it is ready."""
    log = tmp / "serve.log"  # a file, not a pipe: a full pipe would stall the server
    with log.open("wb") as out:
        command = [PY, "-m", "relaylane", "serve", *parts, "-c", str(tmp / "relaylane.toml")]
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        text = log.read_text()
        if "relaylane serve ready" in text:
            return proc, {m.group(2): int(m.group(4)) for m in LISTEN.finditer(text)}
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise RuntimeError("relaylane serve did not start:\n" + log.read_text())


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGTERM)
    proc.wait(60)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--sessions", type=int, default=10)
    ap.add_argument("--size", type=int, default=4096)
    ap.add_argument("--api-size", type=int, default=1024, help="text bytes of an API message")
    ap.add_argument("--skip-postfix", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n, s = args.messages, args.sessions
    result: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="rl-intake-") as tmp:
        token = ""
        proc, ports = start_serve(Path(tmp))
        try:
            token = relaylane(Path(tmp), "keys", "create", "--scope", "send",
                              "--lanes", "transactional").split()[0]  # fmt: skip
            secs = asyncio.run(
                smtp_clients(ports["smtp (starttls)"], n, s, args.size, True, "bench")
            )
            result["relaylane_smtp"] = n / secs
            api = args.api_size
            secs = asyncio.run(api_clients(ports["http"], token, n // 4, 20, 1, api))
            result["relaylane_api_single"] = n / 4 / secs
            secs = asyncio.run(api_clients(ports["http"], token, n, 4, 100, api))
            result["relaylane_api_batch"] = n / secs
        finally:
            stop(proc)
    if not args.skip_postfix:
        peer = run_postfix_peer(messages=n, size=args.size, sessions=s)
        result["postfix_smtpd_smtp_source"] = peer.intake_msgs_per_sec
        sink_port = free_port()
        sink = start_sink(sink_port)
        try:
            with PrivatePostfix(sink_port) as pf:
                secs = asyncio.run(smtp_clients(pf.port, n, s, args.size, False, None))
                result["postfix_smtpd_same_client"] = n / secs
                pf.wait_empty(max(60.0, n / 100))
        finally:
            sink.terminate()
            sink.wait()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for name, rate in result.items():
            print(f"{name:28s} {rate:8.0f} msg/s")
        if "postfix_smtpd_smtp_source" in result:
            ratio = result["relaylane_smtp"] / result["postfix_smtpd_smtp_source"]
            print(f"relaylane SMTP intake / Postfix smtpd intake: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
