"""The pure rules of which List-* header lines a delivery carries."""

from __future__ import annotations

import email
import email.policy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaylane.bounces.tokens import KeyRing, TokenKey
from relaylane.policy.vocabulary import LanePurpose
from relaylane.unsubscribe.headers_plan import (
    UnsubscribePlan,
    decide,
    header_lines,
    list_id_for,
    list_label,
    own_list_fields,
)
from relaylane.unsubscribe.oneclick import unsubscribe_token, verify_unsubscribe_token

RING = KeyRing([TokenKey(1, b"k" * 32, 0.0)])
TOKEN = unsubscribe_token(RING, 4242)
URL = "https://mail.acme.example"
RP = "bounces.acme.example"
MARKETING, OUTREACH, TX = LanePurpose.MARKETING, LanePurpose.OUTREACH, LanePurpose.TRANSACTIONAL


def fields(lines: bytes) -> dict[str, str]:
    """The header lines as parsed by the standard library (each name once)."""
    assert lines.endswith(b"\r\n") and b"\n\n" not in lines
    msg = email.message_from_bytes(lines + b"\r\n", policy=email.policy.compat32)
    out = {k: " ".join(str(v).split()) for k, v in msg.items()}
    assert len(out) == len(msg.items())
    return out


@pytest.mark.parametrize("purpose", [MARKETING, OUTREACH])
def test_bulk_lanes_get_https_and_mailto_with_one_click(purpose: LanePurpose) -> None:
    got = fields(header_lines(purpose, URL, RP, TOKEN, "", "news.acme.example"))
    assert got == {
        "List-Unsubscribe": f"<{URL}/u/{TOKEN}>, <mailto:u-{TOKEN}@{RP}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


def test_transactional_lanes_get_nothing() -> None:
    assert header_lines(TX, URL, RP, TOKEN, "News", "acme.example") == b""
    assert decide(TX, URL, RP, "acme.example").plan is None
    assert decide(TX, None, None, "acme.example").warning == ""


@pytest.mark.parametrize("url", [None, "http://mail.acme.example", "http://127.0.0.1:8025"])
def test_without_an_https_url_the_mailto_alone_and_no_post(url: str | None) -> None:
    decision = decide(MARKETING, url, RP, "acme.example")
    assert decision.plan == UnsubscribePlan(None, RP, "acme.example")
    assert "mailto only" in decision.warning and "public_url" in decision.warning
    got = fields(decision.plan.lines(TOKEN))
    assert got == {"List-Unsubscribe": f"<mailto:u-{TOKEN}@{RP}>"}


def test_without_a_return_path_the_https_url_alone() -> None:
    decision = decide(OUTREACH, URL, None, "acme.example")
    assert decision.warning == ""
    assert decision.plan is not None
    got = fields(decision.plan.lines(TOKEN))
    assert got == {
        "List-Unsubscribe": f"<{URL}/u/{TOKEN}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


@pytest.mark.parametrize("url", [None, "http://mail.acme.example", "https://bad url.example"])
def test_neither_gives_nothing_and_says_why(url: str | None) -> None:
    decision = decide(MARKETING, url, None, "acme.example")
    assert decision.plan is None
    assert decision.warning.startswith("no List-Unsubscribe:")
    assert "public_url" in decision.warning and "return path" in decision.warning
    assert header_lines(MARKETING, url, None, TOKEN, "News", "acme.example") == b""


def test_a_return_path_that_is_not_a_domain_is_not_used() -> None:
    decision = decide(MARKETING, URL, "not a domain", "acme.example")
    assert decision.plan == UnsubscribePlan(URL, None, "acme.example")


def test_the_url_token_verifies_back_to_the_delivery() -> None:
    got = fields(header_lines(MARKETING, URL + "/", RP, TOKEN, "", "acme.example"))
    url = got["List-Unsubscribe"].split(">")[0].removeprefix("<")
    assert url == f"{URL}/u/{TOKEN}"
    assert verify_unsubscribe_token(RING, url.rsplit("/", 1)[1]) == 4242


def test_list_id_only_with_a_list_labelled_from_the_name_in_the_from_domain() -> None:
    got = fields(header_lines(MARKETING, URL, RP, TOKEN, "Weekly News!", "News.Acme.Example"))
    assert got["List-Id"] == '"Weekly News!" <weekly-news.news.acme.example>'
    none = fields(header_lines(MARKETING, URL, RP, TOKEN, "", "acme.example"))
    assert "List-Id" not in none


def test_a_non_ascii_list_name_is_an_encoded_phrase_with_an_ascii_label() -> None:
    got = header_lines(MARKETING, URL, RP, TOKEN, "Café Été", "acme.example")
    assert got.isascii()
    msg = email.message_from_bytes(got + b"\r\n", policy=email.policy.default)
    assert str(msg["List-Id"]) == "Café Été <cafe-ete.acme.example>"


def test_a_non_ascii_from_domain_is_punycode_in_the_list_id() -> None:
    got = fields(header_lines(MARKETING, URL, RP, TOKEN, "news", "bücher.example"))
    assert got["List-Id"] == '"news" <news.xn--bcher-kva.example>'


def test_without_a_from_domain_no_list_id() -> None:
    got = fields(header_lines(MARKETING, URL, RP, TOKEN, "news", ""))
    assert "List-Id" not in got and "List-Unsubscribe" in got


def test_list_labels() -> None:
    assert list_label("News") == "news"
    assert list_label("  --Acme: Deals & Offers 2024--  ") == "acme-deals-offers-2024"
    assert list_label("Ünïcödé") == "unicode"
    emoji = list_label("🎉🎉")
    assert emoji.startswith("list-") and len(emoji) == 17
    assert emoji == list_label("🎉🎉") != list_label("🎉")
    assert len(list_label("x" * 300)) == 63


def test_a_list_id_fits_rfc_2919() -> None:
    namespace = ("a" * 60 + ".") * 3 + "b" * 17  # 200 octets: room for 54 of the label
    list_id = list_id_for("n" * 100, namespace)
    assert list_id == "n" * 54 + "." + namespace and len(list_id) == 255
    assert list_id_for("n" * 100, "acme.example") == "n" * 63 + ".acme.example"
    assert list_id_for("news", None) is None and list_id_for("  ", "acme.example") is None


def test_a_list_name_that_cannot_be_a_phrase_keeps_the_id() -> None:
    got = fields(header_lines(MARKETING, URL, RP, TOKEN, "bad\x00name", "acme.example"))
    assert got["List-Id"] == "<bad-name.acme.example>"


@given(st.text(max_size=200))
def test_any_list_name_gives_safe_header_lines(name: str) -> None:
    got = header_lines(MARKETING, URL, RP, TOKEN, name, "acme.example")
    assert got.isascii()
    assert all(line and line[0:1] not in b"\r\n" for line in got.split(b"\r\n")[:-1])
    names = [n for n in fields(got)]
    assert names[:2] == ["List-Unsubscribe", "List-Unsubscribe-Post"]
    assert names[2:] in ([], ["List-Id"])


def test_own_list_fields_are_found_in_any_case() -> None:
    block = (
        b"From: a@acme.example\r\nlist-UNSUBSCRIBE : <mailto:x@acme.example>\r\n"
        b"Subject: List-Id: not a field\r\n X-List-Id: folded, not one either\r\n"
    )
    assert own_list_fields(block) == frozenset({"list-unsubscribe"})
    assert own_list_fields(b"List-Id: <a.b.example>\r\nList-Unsubscribe-Post: x\r\n") == {
        "list-id",
        "list-unsubscribe-post",
    }
    assert own_list_fields(b"X-List-Unsubscribe: x\r\n") == frozenset()


def test_a_message_with_its_own_list_unsubscribe_gets_no_second() -> None:
    plan = decide(MARKETING, URL, RP, "acme.example").plan
    assert plan is not None
    own = plan.lines(TOKEN, "News", frozenset({"list-unsubscribe"}))
    assert fields(own) == {"List-Id": '"News" <news.acme.example>'}
    post_only = plan.lines(TOKEN, "", frozenset({"list-unsubscribe-post"}))
    assert post_only == b""
    own_id = fields(plan.lines(TOKEN, "News", frozenset({"list-id"})))
    assert set(own_id) == {"List-Unsubscribe", "List-Unsubscribe-Post"}
