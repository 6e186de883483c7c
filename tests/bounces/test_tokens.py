"""Signed delivery tokens: round trip, forgery, rotation with a 30-day grace."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from relaylane.bounces.tokens import (
    RETIRED_KEY_GRACE,
    KeyRing,
    TokenKey,
    verp_address,
    verp_token,
)

DAY = 86400.0
OLD = TokenKey(1, b"k" * 32, created_at=0.0, retired_at=100 * DAY)
NEW = TokenKey(2, b"n" * 32, created_at=100 * DAY)


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_round_trip(delivery_id: int) -> None:
    ring = KeyRing([NEW])
    token = ring.token(delivery_id)
    assert len(token) == 32 and token == token.lower()
    assert ring.delivery_of(token, 0.0) == delivery_id
    address = verp_address(token, "bounces.acme.test")
    assert len(address.partition("@")[0]) <= 64
    assert verp_token(address.upper()) == token  # MTAs may change the case


@given(st.text(max_size=80))
def test_garbage_never_verifies(text: str) -> None:
    assert KeyRing([NEW]).delivery_of(text, 0.0) is None


def test_every_flipped_character_is_refused() -> None:
    ring = KeyRing([NEW])
    token = ring.token(12345)
    for i in range(len(token)):
        other = "a" if token[i] != "a" else "b"
        forged = token[:i] + other + token[i + 1 :]
        assert ring.delivery_of(forged, 0.0) in (None,), forged


def test_a_token_from_another_key_is_refused() -> None:
    stranger = KeyRing([TokenKey(2, b"x" * 32, created_at=0.0)])
    assert KeyRing([NEW]).delivery_of(stranger.token(7), 0.0) is None


def test_the_newest_key_signs_and_a_retired_one_verifies_for_30_days() -> None:
    ring = KeyRing([OLD, NEW])
    assert ring.signing_key.id == 2
    old_token = KeyRing([TokenKey(1, OLD.secret, 0.0)]).token(99)
    assert ring.delivery_of(old_token, OLD.retired_at + RETIRED_KEY_GRACE - 1) == 99  # type: ignore[operator]
    assert ring.delivery_of(old_token, OLD.retired_at + RETIRED_KEY_GRACE + 1) is None  # type: ignore[operator]


def test_addresses_that_are_not_ours() -> None:
    assert verp_token("someone@acme.test") is None
    assert verp_token("b-short@acme.test") is None
    assert verp_token("<b-" + "a" * 32 + "@x.test>") == "a" * 32
