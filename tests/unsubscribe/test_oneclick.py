"""One-click unsubscribe (RFC 8058): tokens, header fields, POST bodies, mailto parts."""

from __future__ import annotations

import email.policy
from email.parser import BytesParser

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaylane.bounces.tokens import RETIRED_KEY_GRACE, KeyRing, TokenKey, verp_token
from relaylane.delivery.headers import check_header_value
from relaylane.errors import InputError
from relaylane.unsubscribe.oneclick import (
    MAX_POST_BODY,
    is_one_click,
    list_headers,
    mailto_token,
    unsubscribe_token,
    verify_unsubscribe_token,
)

DAY = 86400.0
OLD = TokenKey(1, b"k" * 32, created_at=0.0, retired_at=100 * DAY)
NEW = TokenKey(2, b"n" * 32, created_at=100 * DAY)
RING = KeyRing([OLD, NEW])
TOKEN = unsubscribe_token(KeyRing([NEW]), 42)
URLENCODED = "application/x-www-form-urlencoded"


# --- tokens ----------------------------------------------------------------------------


@given(st.integers(min_value=0, max_value=2**64 - 1))
def test_round_trip(delivery_id: int) -> None:
    token = unsubscribe_token(RING, delivery_id)
    assert len(token) == 32 and token == token.lower()
    assert verify_unsubscribe_token(RING, token) == delivery_id
    assert verify_unsubscribe_token(RING, f"  {token.upper()}\r\n") == delivery_id


def test_delivery_id_out_of_range() -> None:
    with pytest.raises(ValueError, match="8 bytes"):
        unsubscribe_token(RING, 2**64)
    with pytest.raises(ValueError, match="8 bytes"):
        unsubscribe_token(RING, -1)


def test_tampering_refused() -> None:
    token = unsubscribe_token(RING, 7)
    for i in range(len(token)):
        flipped = "a" if token[i] != "a" else "b"
        assert verify_unsubscribe_token(RING, token[:i] + flipped + token[i + 1 :]) is None
    other_secret = KeyRing([TokenKey(2, b"x" * 32, created_at=100 * DAY)])
    assert verify_unsubscribe_token(other_secret, token) is None
    for garbage in ("", token[:-1], token + "a", "0" * 32, "u-" + token, "é" * 32):
        assert verify_unsubscribe_token(RING, garbage) is None


def test_unknown_key_refused() -> None:
    token = unsubscribe_token(KeyRing([TokenKey(9, b"n" * 32, created_at=0.0)]), 7)
    assert verify_unsubscribe_token(RING, token) is None


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_purposes_do_not_mix(delivery_id: int) -> None:
    delivery = RING.token(delivery_id)  # VERP local part and X-Relaylane-ID
    unsubscribe = unsubscribe_token(RING, delivery_id)
    assert delivery != unsubscribe
    assert verify_unsubscribe_token(RING, delivery) is None
    assert RING.delivery_of(unsubscribe, 0.0) is None
    assert RING.delivery_of(delivery, 0.0) == delivery_id  # the delivery token still works


def test_never_expires_with_a_retired_key() -> None:
    token = unsubscribe_token(KeyRing([OLD]), 5)
    years_later = OLD.retired_at + RETIRED_KEY_GRACE + 10 * 365 * DAY  # type: ignore[operator]
    assert RING.delivery_of(KeyRing([OLD]).token(5), years_later) is None  # bounces: expired
    assert verify_unsubscribe_token(RING, token) == 5  # unsubscribe: still works


# --- header fields ---------------------------------------------------------------------


def test_headers_exact_text() -> None:
    headers = list_headers(
        base_url="https://mail.acme.example",
        mailto_domain="bounces.acme.example",
        token=TOKEN,
        list_id="news.acme.example",
        list_name='Acme "News"',
    )
    assert headers == [
        (
            "List-Unsubscribe",
            f"<https://mail.acme.example/u/{TOKEN}>,\r\n <mailto:u-{TOKEN}@bounces.acme.example>",
        ),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
        ("List-Id", '"Acme \\"News\\"" <news.acme.example>'),
    ]
    for name, value in headers:
        one_line = value.replace("\r\n", "")
        check_header_value(name, one_line)  # relaylane's own injection check
        lines = f"{name}: {value}".split("\r\n")
        assert all("\r" not in line and "\n" not in line for line in lines)
        assert all(line.startswith(" ") for line in lines[1:])  # folds, never a new field
        # a URI is one word: the line holding it may pass the preferred 78, never 998
        assert all(len(line) <= 78 or line.count("<") == 1 for line in lines)
        assert all(len(line) <= 998 for line in lines)


def test_headers_without_list_and_short_enough_to_stay_on_one_line() -> None:
    headers = list_headers(
        base_url="https://a.io/x/", mailto_domain="B.IO", token=TOKEN, list_id=None, list_name=None
    )
    assert headers == [
        ("List-Unsubscribe", f"<https://a.io/x/u/{TOKEN}>,\r\n <mailto:u-{TOKEN}@b.io>"),
        ("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"),
    ]


def test_list_id_without_name_and_non_ascii_name() -> None:
    def list_id(name: str | None) -> str:
        headers = list_headers(
            base_url="https://a.io",
            mailto_domain="b.io",
            token=TOKEN,
            list_id="news.acme.example",
            list_name=name,
        )
        return headers[-1][1]

    assert list_id(None) == list_id("  ") == "<news.acme.example>"
    value = list_id("Café Neuigkeiten für alle, die lange Namen mögen — très long")
    assert value.isascii()
    assert all(len(line) <= 78 for line in f"List-Id: {value}".split("\r\n"))
    parsed = BytesParser(policy=email.policy.default).parsebytes(
        f"List-Id: {value}\r\n\r\n".encode("ascii")
    )
    assert str(parsed["List-Id"]) == (
        "Café Neuigkeiten für alle, die lange Namen mögen — très long <news.acme.example>"
    )


def test_headers_sign_as_a_message() -> None:
    """The rendered fields parse back to the one-line values with the email package."""
    headers = list_headers(
        base_url="https://mail.acme.example",
        mailto_domain="bounces.acme.example",
        token=TOKEN,
        list_id="news.acme.example",
        list_name="Acme News",
    )
    raw = "".join(f"{name}: {value}\r\n" for name, value in headers) + "\r\nbody\r\n"
    msg = BytesParser(policy=email.policy.default).parsebytes(raw.encode("ascii"))
    assert str(msg["List-Unsubscribe"]) == (
        f"<https://mail.acme.example/u/{TOKEN}>, <mailto:u-{TOKEN}@bounces.acme.example>"
    )
    assert str(msg["List-Unsubscribe-Post"]) == "List-Unsubscribe=One-Click"


@pytest.mark.parametrize(
    ("field", "kwargs"),
    [
        ("base_url", {"base_url": "http://mail.acme.example"}),
        ("base_url", {"base_url": "https://mail.acme.example/?a=b"}),
        ("base_url", {"base_url": "https://mail.acme.example/#x"}),
        ("base_url", {"base_url": "https://user@mail.acme.example"}),
        ("base_url", {"base_url": "https://mail.acme.example>, <https://evil.example"}),
        ("base_url", {"base_url": "https://mail.acme.example\r\nBcc: x@evil.example"}),
        ("base_url", {"base_url": "https:///nohost"}),
        ("base_url", {"base_url": "https://" + "a" * 1000 + ".example"}),
        ("mailto_domain", {"mailto_domain": "bounces.acme.example>\r\nX: y"}),
        ("mailto_domain", {"mailto_domain": "localhost"}),
        ("mailto_domain", {"mailto_domain": "bounces..acme"}),
        ("token", {"token": "not-a-token"}),
        ("token", {"token": TOKEN + "\r\nBcc: x@evil.example"}),
        ("list_id", {"list_id": "nodot"}),
        ("list_id", {"list_id": "news.acme.example>\r\nBcc: x@evil.example"}),
        ("list_id", {"list_id": "news .acme.example"}),
        ("list_id", {"list_id": "news..acme.example"}),
        ("list_id", {"list_id": "a." + "b" * 254}),
        ("list_id", {"list_id": "nöws.acme.example"}),
        ("list_name", {"list_name": "Acme\r\nBcc: x@evil.example"}),
        ("list_name", {"list_name": "Acme\0News"}),
        ("list_name", {"list_id": None, "list_name": "Acme"}),
    ],
)
def test_headers_refuse_bad_input(field: str, kwargs: dict[str, str | None]) -> None:
    args: dict[str, str | None] = {
        "base_url": "https://mail.acme.example",
        "mailto_domain": "bounces.acme.example",
        "token": TOKEN,
        "list_id": "news.acme.example",
        "list_name": "Acme",
    }
    args.update(kwargs)
    with pytest.raises(InputError) as caught:
        list_headers(**args)  # type: ignore[arg-type]
    assert caught.value.field == field


@given(st.text(max_size=200))
def test_list_name_never_injects(name: str) -> None:
    try:
        headers = list_headers(
            base_url="https://mail.acme.example",
            mailto_domain="bounces.acme.example",
            token=TOKEN,
            list_id="news.acme.example",
            list_name=name,
        )
    except InputError:
        return
    value = headers[-1][1]
    assert value.isascii()
    lines = value.split("\r\n")
    assert all("\r" not in line and "\n" not in line for line in lines)
    assert all(line.startswith(" ") for line in lines[1:])  # only folds, never a new field
    check_header_value("List-Id", value.replace("\r\n", ""))


# --- the one-click POST ----------------------------------------------------------------


def test_gmail_style_urlencoded() -> None:
    assert is_one_click(URLENCODED, b"List-Unsubscribe=One-Click")
    assert is_one_click(
        "application/x-www-form-urlencoded; charset=UTF-8", b"List-Unsubscribe=One-Click\r\n"
    )
    assert is_one_click("", b"List-Unsubscribe=One-Click")
    assert is_one_click(URLENCODED, b"List-Unsubscribe=One%2DClick&extra=1")


def test_httpx_encodings() -> None:
    for request in (
        httpx.Request("POST", "https://m.example/u/t", data={"List-Unsubscribe": "One-Click"}),
        httpx.Request(
            "POST", "https://m.example/u/t", files={"List-Unsubscribe": (None, "One-Click")}
        ),
    ):
        assert is_one_click(request.headers["content-type"], request.read())


BROWSER_BOUNDARY = "----WebKitFormBoundaryq8YzTWjN3bKxLQ0E"
BROWSER_MULTIPART = (
    f"--{BROWSER_BOUNDARY}\r\n"
    'Content-Disposition: form-data; name="List-Unsubscribe"\r\n'
    "\r\n"
    "One-Click\r\n"
    f"--{BROWSER_BOUNDARY}--\r\n"
).encode("ascii")


def test_browser_multipart() -> None:
    content_type = f"multipart/form-data; boundary={BROWSER_BOUNDARY}"
    assert is_one_click(content_type, BROWSER_MULTIPART)
    assert is_one_click(f'Multipart/Form-Data; boundary="{BROWSER_BOUNDARY}"', BROWSER_MULTIPART)
    assert is_one_click(content_type, BROWSER_MULTIPART.replace(b"\r\n", b"\n"))


def test_multipart_with_other_fields_first() -> None:
    body = (
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="source"\r\n\r\n'
        b"mailbox\r\n"
        b"--XyZ\r\n"
        b'Content-Disposition: form-data; name="List-Unsubscribe"\r\n'
        b"Content-Type: text/plain; charset=utf-8\r\n\r\n"
        b"One-Click\r\n"
        b"--XyZ--\r\n"
    )
    assert is_one_click("multipart/form-data; boundary=XyZ", body)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        (URLENCODED, b""),
        (URLENCODED, b"List-Unsubscribe=Yes"),
        (URLENCODED, b"Unsubscribe=One-Click"),
        (URLENCODED, b"List-Unsubscribe"),
        ("text/plain", b"List-Unsubscribe=One-Click"),
        ("application/json", b'{"List-Unsubscribe": "One-Click"}'),
        ("multipart/form-data", BROWSER_MULTIPART),  # no boundary
        ("multipart/form-data; boundary=other", BROWSER_MULTIPART),
        (f"multipart/form-data; boundary={BROWSER_BOUNDARY}", b"List-Unsubscribe=One-Click"),
        (
            f"multipart/form-data; boundary={BROWSER_BOUNDARY}",
            BROWSER_MULTIPART.replace(b"form-data;", b"attachment;"),
        ),
        (
            f"multipart/form-data; boundary={BROWSER_BOUNDARY}",
            BROWSER_MULTIPART.replace(b'name="List-Unsubscribe"', b'name="other"'),
        ),
        (URLENCODED + "\r\nX: y", b"List-Unsubscribe=One-Click"),
        (URLENCODED, b"List-Unsubscribe=One-Click&" + b"a=b&" * MAX_POST_BODY),
        (URLENCODED, b"a=b&" * 100 + b"List-Unsubscribe=One-Click"),  # too many fields
    ],
)
def test_not_one_click(content_type: str, body: bytes) -> None:
    assert not is_one_click(content_type, body)


@given(st.text(max_size=120), st.binary(max_size=2000))
def test_garbage_never_raises(content_type: str, body: bytes) -> None:
    assert isinstance(is_one_click(content_type, body), bool)
    assert isinstance(is_one_click(URLENCODED, body), bool)
    assert isinstance(is_one_click("multipart/form-data; boundary=b", body), bool)


@given(
    st.lists(
        st.sampled_from(
            [
                b"--b\r\n",
                b"--b--\r\n",
                b"\r\n",
                b"Content-Disposition: form-data; name=",
                b'"List-Unsubscribe"',
                b"One-Click",
                b"=?utf-8?",
                b";",
                b"\xff",
            ]
        ),
        max_size=30,
    )
)
def test_multipart_fragments_never_raise(parts: list[bytes]) -> None:
    assert isinstance(is_one_click("multipart/form-data; boundary=b", b"".join(parts)), bool)


# --- mailto local parts ----------------------------------------------------------------


def test_mailto_token() -> None:
    assert mailto_token(f"u-{TOKEN}") == TOKEN
    assert mailto_token(f"U-{TOKEN.upper()}") == TOKEN  # MTAs may change the case
    assert mailto_token(f" u-{TOKEN} ") == TOKEN
    assert verify_unsubscribe_token(KeyRing([NEW]), mailto_token(f"u-{TOKEN}") or "") == 42
    for local in (
        "",
        "u-",
        f"b-{TOKEN}",
        f"u-{TOKEN}a",
        f"u-{TOKEN[:-1]}",
        f"u-{TOKEN}@x.io",
        f"xu-{TOKEN}",
        "u-" + "1" * 32,
    ):
        assert mailto_token(local) is None


def test_mailto_and_verp_do_not_overlap() -> None:
    assert verp_token(f"u-{TOKEN}@bounces.acme.example") is None
    assert mailto_token("b-" + RING.token(1)) is None


def test_longest_base_url_fits_a_line() -> None:
    base = "https://mail.acme.example/" + "p" * (900 - len("https://mail.acme.example/"))
    headers = list_headers(
        base_url=base, mailto_domain="b.io", token=TOKEN, list_id=None, list_name=None
    )
    assert all(len(line) <= 998 for line in f"List-Unsubscribe: {headers[0][1]}".split("\r\n"))
    with pytest.raises(InputError, match="at most 900"):
        list_headers(
            base_url=base + "p", mailto_domain="b.io", token=TOKEN, list_id=None, list_name=None
        )
