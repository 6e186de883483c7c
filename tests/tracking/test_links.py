"""Tracking tokens: round trips, forged and tampered tokens refused, no URL swap, purposes
kept apart, keys that were retired still verify, and arbitrary URLs (hypothesis)."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaylane.bounces.tokens import KeyRing, TokenKey
from relaylane.errors import InputError
from relaylane.tracking.links import (
    MAX_URL,
    TrackingLinks,
    target_url,
    verify_click,
    verify_open,
)
from relaylane.unsubscribe.oneclick import unsubscribe_token, verify_unsubscribe_token

BASE = "https://track.acme.test"
RING = KeyRing([TokenKey(1, b"k" * 32, 0.0)])
OTHER_RING = KeyRing([TokenKey(1, b"x" * 32, 0.0)])
LINKS = TrackingLinks(RING, BASE + "/")


def open_token(url: str) -> str:
    assert url.startswith(BASE + "/t/o/") and url.endswith(".gif")
    return url[len(BASE + "/t/o/") : -len(".gif")]


def click_token(url: str) -> str:
    assert url.startswith(BASE + "/t/c/")
    return url[len(BASE + "/t/c/") :]


def test_open_round_trip() -> None:
    token = open_token(LINKS.open_url(42))
    assert verify_open(RING, token) == 42
    assert verify_open(RING, token.upper()) == 42  # case-insensitive, like base32
    assert verify_open(OTHER_RING, token) is None


def test_click_round_trip_carries_the_url() -> None:
    url = "https://shop.acme.test/sale?id=7&utm_source=mail#top"
    token = click_token(LINKS.click_url(42, url))
    assert verify_click(RING, token) == (42, url)
    assert verify_click(OTHER_RING, token) is None


def test_click_urls_are_url_safe() -> None:
    token = click_token(LINKS.click_url(2**64 - 1, "https://a.test/" + "?~" * 200))
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


@pytest.mark.parametrize("index", [0, 1, 5, 12, 19, 25, -1])
def test_any_changed_character_is_refused(index: int) -> None:
    token = click_token(LINKS.click_url(42, "https://shop.acme.test/sale"))
    swapped = "A" if token[index] != "A" else "B"
    assert verify_click(RING, token[:index] + swapped + token[index + 1 :]) is None


def _raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def test_a_swapped_url_is_refused() -> None:
    raw = _raw(click_token(LINKS.click_url(42, "https://shop.acme.test/sale")))
    evil = raw[:20] + b"https://evil.test/"
    assert verify_click(RING, _token(evil)) is None
    truncated = raw[:-1]
    assert verify_click(RING, _token(truncated)) is None


def test_a_swapped_delivery_is_refused() -> None:
    raw = _raw(click_token(LINKS.click_url(42, "https://shop.acme.test/sale")))
    other = raw[:2] + (43).to_bytes(8, "big") + raw[10:]
    assert verify_click(RING, _token(other)) is None


@pytest.mark.parametrize(
    "token", ["", "a", "!!!!", "A" * 31, "A" * 40, "=" * 40, "A" * 4000, "é" * 40]
)
def test_garbage_is_refused(token: str) -> None:
    assert verify_click(RING, token) is None
    assert verify_open(RING, token) is None


def test_purposes_are_kept_apart() -> None:
    opened = open_token(LINKS.open_url(42))
    unsubscribe = unsubscribe_token(RING, 42)
    delivery = RING.token(42)
    assert verify_open(RING, unsubscribe) is None
    assert verify_open(RING, delivery) is None
    assert verify_unsubscribe_token(RING, opened) is None
    assert RING.delivery_of(opened, 0.0) is None
    assert opened not in (unsubscribe, delivery)


def test_tokens_never_expire_and_retired_keys_verify() -> None:
    old = TokenKey(1, b"o" * 32, 0.0)
    before = TrackingLinks(KeyRing([old]), BASE)
    token = click_token(before.click_url(9, "https://a.test/"))
    opened = open_token(before.open_url(9))
    later = KeyRing([TokenKey(1, b"o" * 32, 0.0, retired_at=1.0), TokenKey(2, b"n" * 32, 2.0)])
    assert verify_click(later, token) == (9, "https://a.test/")
    assert verify_open(later, opened) == 9
    assert click_token(TrackingLinks(later, BASE).click_url(9, "https://a.test/")) != token


@pytest.mark.parametrize(
    "url",
    [
        "mailto:bob@example.test",
        "tel:+123",
        "#top",
        "/relative",
        "//cdn.test/x",
        "javascript:alert(1)",
        "ftp://files.test/",
        "https://",
        "https:///path",
        "http://[::1",
        "",
        "https://a.test/" + "x" * MAX_URL,
    ],
)
def test_only_http_urls_can_be_wrapped(url: str) -> None:
    assert target_url(url) is None
    with pytest.raises(ValueError, match="is not an http"):
        LINKS.click_url(1, url)


def test_targets_are_normalised() -> None:
    assert target_url("  https://a.test/x\n y ") == "https://a.test/x%20y"
    assert target_url("https://a.test/caf\u00e9 bar") == "https://a.test/caf%C3%A9%20bar"
    assert target_url("HTTP://A.test/") == "HTTP://A.test/"
    assert target_url("https://a.test/%41") == "https://a.test/%41"  # no double encoding


@pytest.mark.parametrize(
    "base", ["ftp://a.test", "https://", "a.test", "https://a.test/\u00e9", "https://u@a.test"]
)
def test_a_bad_base_is_refused(base: str) -> None:
    with pytest.raises(InputError):
        TrackingLinks(RING, base)


def test_delivery_ids_must_fit() -> None:
    with pytest.raises(ValueError, match="does not fit"):
        LINKS.open_url(-1)
    with pytest.raises(ValueError, match="does not fit"):
        LINKS.click_url(2**64, "https://a.test/")


@given(
    delivery_id=st.integers(min_value=0, max_value=2**64 - 1),
    scheme=st.sampled_from(["http", "https", "HTTPS"]),
    host=st.from_regex(r"[a-z0-9]{1,20}(\.[a-z0-9]{1,10}){0,3}", fullmatch=True),
    rest=st.text(max_size=300),
)
def test_arbitrary_urls_round_trip(delivery_id: int, scheme: str, host: str, rest: str) -> None:
    url = f"{scheme}://{host}/{rest}"
    target = target_url(url)
    if target is None:  # e.g. a "/rest" that makes the host part invalid
        return
    assert target_url(target) == target  # normalising is idempotent
    assert target.isascii() and target.isprintable() and " " not in target
    token = click_token(LINKS.click_url(delivery_id, url))
    assert verify_click(RING, token) == (delivery_id, target)
    assert verify_open(RING, open_token(LINKS.open_url(delivery_id))) == delivery_id


@given(st.text(max_size=200))
def test_arbitrary_tokens_never_raise(token: str) -> None:
    assert verify_click(RING, token) is None
    assert verify_open(RING, token) is None
