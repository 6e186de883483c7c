"""A real webhook receiver on 127.0.0.1 (http.server in a thread) that can misbehave.

Each request takes the next behaviour from its script, then answers normally once the
script runs out:
- "500" / "503": an error status;
- "drop": closes the connection without answering (nothing processed);
- "accept-drop": processes the event, then closes without answering (the sender cannot
  know, so it sends again: the application must dedupe by id);
- "hang": answers only after `hang` seconds (past the sender's timeout).
Answering normally is what a careful application does: verify the signature (400 when
it does not verify), then keep the event once per id (a duplicate is answered 200).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType

from relaylane.events.signing import verify_signature


@dataclass(frozen=True, slots=True)
class Arrival:
    at: float
    event_id: str
    event_type: str
    signature: str
    body: bytes
    behaviour: str


class Receiver:
    def __init__(
        self,
        secret: bytes,
        script: Iterable[str] = (),
        *,
        always: str = "ok",
        hang: float = 1.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.secret = secret
        self.clock = clock  # what "now" is when signatures are checked (the sender's clock)
        self.script = deque(script)
        self.always = always
        self.hang = hang
        self.arrivals: list[Arrival] = []
        self.events: dict[str, bytes] = {}  # what the application kept, once per id
        self.bad_signatures = 0
        self.lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}/hooks/relaylane"

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def arrivals_of(self, event_id: str) -> list[Arrival]:
        with self.lock:
            return [a for a in self.arrivals if a.event_id == event_id]

    def _next(self, arrival: Arrival) -> str:
        with self.lock:
            behaviour = self.script.popleft() if self.script else self.always
            self.arrivals.append(dataclasses.replace(arrival, behaviour=behaviour))
            return behaviour

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                arrival = Arrival(
                    time.time(),
                    self.headers.get("Relaylane-Event-Id", ""),
                    self.headers.get("Relaylane-Event-Type", ""),
                    self.headers.get("Relaylane-Signature", ""),
                    body,
                    "",
                )
                behaviour = receiver._next(arrival)
                try:
                    self._behave(behaviour, arrival)
                except OSError:  # the sender gave up on us (timeout): nothing to do
                    self.close_connection = True

            def _behave(self, behaviour: str, arrival: Arrival) -> None:
                if behaviour in ("drop", "accept-drop"):
                    if behaviour == "accept-drop":
                        receiver._accept(arrival)
                    self.close_connection = True
                    return
                if behaviour == "hang":
                    time.sleep(receiver.hang)
                    self._answer(500)
                elif behaviour in ("500", "503"):
                    self._answer(int(behaviour))
                else:
                    self._answer(receiver._accept(arrival))

            def _answer(self, status: int) -> None:
                text = b"ok" if status < 300 else b"not now"
                self.send_response(status)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def _accept(self, arrival: Arrival) -> int:
        """The application: verify the signature, then keep the event once per id."""
        if not verify_signature(self.secret, arrival.signature, arrival.body, self.clock()):
            with self.lock:
                self.bad_signatures += 1
            return 400
        with self.lock:
            self.events.setdefault(arrival.event_id, arrival.body)
        return 200
