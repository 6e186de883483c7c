"""What a simulated relay does (`Behaviour`) and what it kept (`Received`).

`Behaviour` is plain mutable data: a test may change a field, or replace the whole
object on the relay, between two steps. Settings that shape a connection as a whole
(greeting, AUTH, SMTPUTF8, idle timeout) are read when a connection is accepted; the
others are read at the command they govern.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class Behaviour:
    """How a `SimRelay` answers. A reply given here is sent verbatim (one line).

    A reply starting with ``2`` given where a refusal is expected (``mail_reply``, a
    ``rcpt_rules`` reply, ``data_reply``) counts as acceptance with custom text; a
    reply starting with ``421`` also closes the connection, as RFC 5321 says it does.
    """

    accept_reply: str = "250 2.0.0 Ok: queued as {queue_id}"
    """Reply to the final dot; ``{queue_id}`` is replaced by a fresh id per message."""
    greeting_reply: str | None = None
    """Answer a new connection with this instead of 220, then close it."""
    mail_reply: str | None = None
    """Refuse MAIL FROM with this reply."""
    rcpt_rules: list[tuple[str, str]] = field(default_factory=list)
    """(regex searched in the recipient address, reply); first match wins, else 250."""
    data_reply: str | None = None
    """Answer the final dot with this instead of accepting."""
    delay: float = 0.0
    """Seconds to wait before answering the final dot (a slow relay)."""
    stall: float = 0.0
    """Like `delay` (they add up), but meant to exceed client timeouts."""
    drop_in_data: bool = False
    """Close the connection once the message is in, without answering the final dot."""
    throttle_after: int | None = None
    """After this many accepted messages, answer MAIL with `throttle_reply` and close."""
    throttle_reply: str = "421 4.7.0 Too many messages, slow down"
    throttle_for: float | None = None
    """Seconds of throttling, from the first refused MAIL, before accepting again
    (None: forever). When it ends, the count towards `throttle_after` restarts at 0."""
    close_idle_after: float | None = None
    """Close a connection, without a reply, once no command came for this long."""
    require_auth: dict[str, str] | None = None
    """username -> password; AUTH PLAIN/LOGIN required before MAIL. None: no AUTH."""
    smtputf8: bool = False
    """Advertise and accept SMTPUTF8."""

    def rcpt_reply(self, address: str) -> str | None:
        """The reply of the first rule matching `address`, or None (accept)."""
        for pattern, reply in self.rcpt_rules:
            if re.search(pattern, address):
                return reply
        return None


@dataclass(frozen=True)
class Received:
    """One message the relay accepted (answered the final dot with 2xx)."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes
    queue_id: str
    peer: tuple[str, int]
    tls: bool
    auth_user: str | None
    received_at: float
    """Wall-clock time (time.time()) of acceptance."""


def is_positive(reply: str) -> bool:
    """True when `reply` is a 2xx completion."""
    return reply.startswith("2")


def closes_connection(reply: str) -> bool:
    """True when `reply` is a 421, after which the server closes the channel."""
    return reply.startswith("421")


@dataclass
class ThrottleState:
    """Counts accepted messages towards `Behaviour.throttle_after` and times the throttle."""

    accepted_in_window: int = 0
    throttled_since: float | None = None

    def refuses(self, behaviour: Behaviour, now: float) -> bool:
        """Whether a MAIL arriving at monotonic time `now` is throttled."""
        limit = behaviour.throttle_after
        if limit is None or self.accepted_in_window < limit:
            self.throttled_since = None
            return False
        if self.throttled_since is None:
            self.throttled_since = now
        period = behaviour.throttle_for
        if period is not None and now - self.throttled_since >= period:
            self.accepted_in_window = 0
            self.throttled_since = None
            return False
        return True

    def count_accepted(self) -> None:
        self.accepted_in_window += 1
