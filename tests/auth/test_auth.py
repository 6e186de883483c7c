"""Secrets at rest, scopes and the failed-AUTH throttle (pure)."""

from __future__ import annotations

import pytest

from relaylane.auth.principal import Principal, Scope, parse_scopes, split_list
from relaylane.auth.secrets import (
    api_key_id,
    api_key_matches,
    hash_password,
    new_api_key,
    verify_password,
)
from relaylane.auth.throttle import AuthThrottle


def test_api_key_round_trip_and_only_the_hash_is_kept() -> None:
    made = new_api_key()
    assert made.token.startswith(f"rl_{made.key_id}_")
    assert made.token not in made.secret_hash
    assert api_key_id(made.token) == made.key_id
    assert api_key_matches(made.token, made.secret_hash)
    assert not api_key_matches(made.token + "x", made.secret_hash)
    assert new_api_key().token != made.token


@pytest.mark.parametrize(
    "token", ["", "rl_", "rl_zz_secret", "xx_0123456789ab_s", "rl_0123456789ab_"]
)
def test_malformed_tokens_have_no_key_id(token: str) -> None:
    assert api_key_id(token) is None


def test_password_hashes_are_salted_scrypt() -> None:
    a, b = hash_password("correct horse"), hash_password("correct horse")
    assert a != b and a.startswith("scrypt$")
    assert verify_password("correct horse", a) and verify_password("correct horse", b)
    assert not verify_password("correct horsE", a)
    assert not verify_password("x", "not-a-hash")


def test_scopes_and_lanes() -> None:
    assert parse_scopes(["send,read", "admin"]) == {Scope.SEND, Scope.READ, Scope.ADMIN}
    with pytest.raises(ValueError, match="unknown scope 'write'"):
        parse_scopes(["write"])
    assert split_list(["tx,mkt", "tx", " out "]) == ("tx", "mkt", "out")
    p = Principal("api_key", "k", frozenset({Scope.SEND}), ("tx",))
    assert p.may_send_to("tx") and not p.may_send_to("mkt") and not p.has(Scope.READ)
    admin = Principal("api_key", "k", frozenset({Scope.ADMIN}), ("tx",))
    assert admin.has(Scope.READ) and not admin.may_send_to("tx")  # admin does not imply send


def test_throttle_locks_one_ip_after_the_limit() -> None:
    t = AuthThrottle(max_failures=3, window=60, lockout=300)
    assert t.failed("127.0.0.2", 0) == 0
    assert t.failed("127.0.0.2", 1) == 0
    assert t.failed("127.0.0.2", 2) == 300
    assert t.locked_for("127.0.0.2", 100) == 202
    assert t.locked_for("127.0.0.3", 100) == 0  # another client is not affected
    assert t.locked_for("127.0.0.2", 302) == 0


def test_throttle_window_slides() -> None:
    t = AuthThrottle(max_failures=3, window=60, lockout=300)
    t.failed("ip", 0)
    t.failed("ip", 1)
    assert t.failed("ip", 70) == 0  # the first two fell out of the window


def test_parallel_attempts_cannot_outrun_the_limit() -> None:
    """Checks under way count: with 3 failures allowed, only 3 run at once."""
    t = AuthThrottle(max_failures=3, window=60, lockout=300)
    started = [t.begin("ip", 0) for _ in range(60)]
    assert started.count(0) == 3 and all(w > 0 for w in started[3:])
    assert t.end("ip", 1, ok=False) == 0
    assert t.end("ip", 1, ok=False) == 0
    assert t.end("ip", 1, ok=False) == 300  # the third failure locks the IP
    assert t.begin("ip", 2) == 299
    assert t.begin("other", 2) == 0  # another client is not affected


def test_a_success_does_not_wipe_earlier_failures() -> None:
    t = AuthThrottle(max_failures=3, window=60, lockout=300)
    for _ in range(2):
        assert t.begin("ip", 0) == 0
        t.end("ip", 0, ok=False)
    assert t.begin("ip", 1) == 0
    t.end("ip", 1, ok=True)  # a valid login in between
    assert t.begin("ip", 2) == 0
    assert t.end("ip", 2, ok=False) == 300  # third failure in the window: locked
