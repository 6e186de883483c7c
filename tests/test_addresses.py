"""Address parsing and validation (relaylane.delivery.addresses)."""

from __future__ import annotations

from email.header import decode_header, make_header
from email.policy import default as default_policy

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relaylane.delivery.addresses import (
    Address,
    encode_phrase,
    parse_address,
    parse_recipient_lines,
)
from relaylane.errors import InputError


@pytest.mark.parametrize(
    ("text", "display_name", "local", "domain"),
    [
        ("bob@example.test", "", "bob", "example.test"),
        ("  bob@example.test  ", "", "bob", "example.test"),
        ("Acme <no-reply@tx.acme.test>", "Acme", "no-reply", "tx.acme.test"),
        ('"Smith, J" <j@x.test>', "Smith, J", "j", "x.test"),
        ("J. Smith <j@x.test>", "J. Smith", "j", "x.test"),
        ('"He said \\"hi\\"" <a@x.test>', 'He said "hi"', "a", "x.test"),
        ("Jöhn Smith <j@x.test>", "Jöhn Smith", "j", "x.test"),
        ("=?utf-8?q?J=C3=B6hn?= <j@x.test>", "Jöhn", "j", "x.test"),
        ("Bob (sales) <bob@x.test>", "Bob", "bob", "x.test"),
        ("<bob@x.test>", "", "bob", "x.test"),
        ("Postmaster@X.TEST", "", "Postmaster", "x.test"),  # local case kept, domain lowered
        ("Bob.Smith+tag@Example.Test", "", "Bob.Smith+tag", "example.test"),
        ("bob@bücher.test", "", "bob", "xn--bcher-kva.test"),
        ("bob@BÜCHER.test", "", "bob", "xn--bcher-kva.test"),
        ("bob@xn--bcher-kva.test", "", "bob", "xn--bcher-kva.test"),
        ("bob@mail.example", "", "bob", "mail.example"),
        ("bob@example.com", "", "bob", "example.com"),
        ("bob@nowhere.invalid", "", "bob", "nowhere.invalid"),
        ("bob@NoWhere.INVALID", "", "bob", "nowhere.invalid"),
        ("bob@localhost", "", "bob", "localhost"),
        ("jörg@x.test", "", "jörg", "x.test"),
    ],
)
def test_parse_valid(text: str, display_name: str, local: str, domain: str) -> None:
    address = parse_address(text)
    assert address == Address(display_name=display_name, local=local, domain=domain)
    assert address.addr == f"{local}@{domain}"


def test_needs_smtputf8_only_for_a_non_ascii_local_part() -> None:
    assert parse_address("jörg@x.test").needs_smtputf8
    assert not parse_address("Jörg <joerg@bücher.test>").needs_smtputf8


def test_local_part_is_nfc_normalised() -> None:
    decomposed = "jo\u0308rg@x.test"  # o + combining diaeresis
    assert parse_address(decomposed).local == "j\u00f6rg"


def test_invalid_address_error_names_field_and_library_reason() -> None:
    with pytest.raises(InputError) as info:
        parse_address("bob@", field="--to")
    err = info.value
    assert err.field == "--to"
    assert err.problem == "'bob@' is not a valid address: There must be something after the @-sign"
    assert err.fix == "write it as name@domain, e.g. bob@example.com"
    assert str(err).startswith("--to: 'bob@' is not a valid address")


@pytest.mark.parametrize(
    "text",
    [
        "bob",
        "bob@",
        "@x.test",
        "bob@@x.test",
        "bob@x",  # no dot in the domain
        "bob@-x.test",
        "bob..smith@x.test",
        '"a b"@x.test',  # quoted local parts are refused
        "bob@[127.0.0.1]",  # domain literals are refused
        "bob@x.local",  # special-use names other than the RFC 2606 ones
        "bob@x.onion",
        "Bob <bob@>",
        "Bob <bob@x.test",
        "Bob <bob@x.test> trailing",
        "Bob <<bob@x.test>>",
        "grp: <a@x.test>",
        "a@x.test, b@x.test",
        "x <a@b.test>, y <c@d.test>",
        'Bob" <bob@x.test>',
        "bob@" + "a" * 64 + ".test",  # label too long
    ],
)
def test_parse_invalid(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_address(text, field="--to")
    assert info.value.field == "--to"
    assert "not" in info.value.problem


def test_empty_address() -> None:
    with pytest.raises(InputError, match="empty"):
        parse_address("   ")


def test_two_addresses_get_a_one_at_a_time_fix() -> None:
    with pytest.raises(InputError) as info:
        parse_address("a@x.test, b@x.test")
    assert "one address at a time" in info.value.fix


def test_display_name_refused_when_not_allowed() -> None:
    with pytest.raises(InputError, match="display name"):
        parse_address("Bob <bob@x.test>", field="--to", allow_display_name=False)
    with pytest.raises(InputError, match="display name"):
        parse_address("<bob@x.test>", allow_display_name=False)
    assert parse_address("bob@x.test", allow_display_name=False).addr == "bob@x.test"


@pytest.mark.parametrize(
    "text",
    [
        "bob@x.test\r\nBcc: evil@x.test",
        "bob@x.test\nBcc: evil@x.test",
        "bob@x.test\r",
        "Bob\r\n <bob@x.test>",
        "bob\x00@x.test",
        "Reset\r\nBcc: evil@x.test <bob@x.test>",
    ],
)
def test_header_injection_refused(text: str) -> None:
    with pytest.raises(InputError) as info:
        parse_address(text, field="--to")
    assert "inject" in info.value.problem
    assert "CR/LF" in info.value.problem


@pytest.mark.parametrize("char", ["\x1b", "\x0b", "\x0c", "\x7f", "\x85", "\u2028", "\u2029"])
def test_control_characters_refused(char: str) -> None:
    with pytest.raises(InputError, match="control character"):
        parse_address(f"Bo{char}b <bob@x.test>")


@pytest.mark.parametrize(
    "text",
    [
        "=?utf-8?q?Bob=0D=0ABcc:_evil@x.test?= <bob@x.test>",
        "=?utf-8?q?Bob=00?= <bob@x.test>",
        "=?utf-8?q?Bob=1B?= <bob@x.test>",
    ],
)
def test_control_characters_hidden_in_encoded_words_refused(text: str) -> None:
    with pytest.raises(InputError, match="display name"):
        parse_address(text)


def test_adjacent_encoded_words_decode_without_a_space() -> None:
    text = "=?utf-8?q?J=C3=B6?= =?utf-8?q?hn?= <j@x.test>"
    assert parse_address(text).display_name == "Jöhn"


def test_undecodable_bytes_refused() -> None:
    with pytest.raises(InputError, match="not valid UTF-8"):
        parse_address("b\udcffob@x.test")


def test_very_long_input_refused() -> None:
    with pytest.raises(InputError, match="too long"):
        parse_address("Bob " * 300 + "<bob@x.test>")


@pytest.mark.parametrize(
    ("address", "header"),
    [
        (Address("", "bob", "x.test"), "bob@x.test"),
        (Address("Bob", "bob", "x.test"), "Bob <bob@x.test>"),
        (Address("Bob Smith", "bob", "x.test"), "Bob Smith <bob@x.test>"),
        (Address("Smith, J", "j", "x.test"), '"Smith, J" <j@x.test>'),
        (Address("J. Smith", "j", "x.test"), '"J. Smith" <j@x.test>'),
        (Address('He said "hi" \\', "a", "x.test"), '"He said \\"hi\\" \\\\" <a@x.test>'),
        (Address("=?x?=", "a", "x.test"), '"=?x?=" <a@x.test>'),
        (Address("Jörg", "jörg", "x.test"), "Jörg <jörg@x.test>"),  # SMTPUTF8: all UTF-8
    ],
)
def test_header_format(address: Address, header: str) -> None:
    assert address.header() == header


def test_header_encodes_non_ascii_display_name() -> None:
    address = Address("Grüße 日本", "bob", "x.test")
    header = address.header()
    assert header.isascii()
    assert header.startswith("=?utf-8?")
    assert header.endswith(" <bob@x.test>")
    assert parse_address(header) == address


def test_long_non_ascii_display_name_uses_short_encoded_words() -> None:
    address = Address("日本語" * 40, "bob", "x.test")
    words = address.header().rsplit(" <", 1)[0].split(" ")
    assert len(words) > 1
    assert all(len(word) <= 75 for word in words)
    assert parse_address(address.header()) == address


_DISPLAY_NAMES = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Co", "Cn")),
    min_size=1,
    max_size=60,
).map(lambda s: " ".join(s.split()))


@given(_DISPLAY_NAMES)
def test_header_round_trips_through_parse(display_name: str) -> None:
    address = Address(display_name, "bob", "x.test")
    header = address.header()
    assert header.isascii()
    parsed = parse_address(header)
    assert parsed.addr == "bob@x.test"
    assert parsed.display_name == display_name
    # An independent reader gets the same name: the email package's RFC 2047 decoder for
    # encoded-words (its 3.11 header parser wrongly spaces adjacent encoded-words apart),
    # its header parser for quoted or plain names.
    phrase = header.rsplit(" <", 1)[0]
    if phrase.startswith("=?"):
        assert str(make_header(decode_header(phrase))) == display_name
    else:
        (mailbox,) = default_policy.header_factory("To", header).addresses
        assert mailbox.display_name == display_name


def test_encode_phrase() -> None:
    assert encode_phrase("Acme") == "Acme"
    assert encode_phrase("a\r\nBcc: x").startswith("=?utf-8?")  # never a raw control
    assert encode_phrase("a\nb", utf8=True).startswith("=?utf-8?")
    assert encode_phrase("Acme, Inc.") == '"Acme, Inc."'
    assert encode_phrase("Grüße", utf8=True) == "Grüße"
    assert encode_phrase("Grüße").startswith("=?utf-8?")


def test_dedupe_key_is_case_insensitive() -> None:
    assert (
        parse_address("Bob@X.test").dedupe_key
        == parse_address("Other <bob@x.TEST>").dedupe_key
        == "bob@x.test"
    )


def test_recipient_lines_skip_blank_and_comments_and_dedupe() -> None:
    lines = [
        "\ufeff# customers\n",
        "bob@x.test\n",
        "\n",
        "   \r\n",
        "  # a comment\n",
        "Alice <alice@y.test>\r\n",
        "BOB@X.TEST\n",  # duplicate of the first, different case
        "carol@bücher.test",
        "carol@xn--bcher-kva.test",  # same domain in punycode
    ]
    result = parse_recipient_lines(lines, source="list.txt")
    assert [a.addr for a in result] == ["bob@x.test", "alice@y.test", "carol@xn--bcher-kva.test"]
    assert result[1].display_name == "Alice"


def test_recipient_lines_bom_only_stripped_on_first_line() -> None:
    assert [a.addr for a in parse_recipient_lines(["\ufeffbob@x.test"], source="f")] == [
        "bob@x.test"
    ]


def test_recipient_lines_error_names_file_and_line() -> None:
    lines = ["# header", "bob@x.test", "", "bob@"]
    with pytest.raises(InputError) as info:
        parse_recipient_lines(lines, source="list.txt")
    assert info.value.field == "list.txt:4"
    assert "'bob@' is not a valid address" in info.value.problem
    assert str(info.value).startswith("list.txt:4: ")


def test_recipient_lines_refuse_injection_inside_a_line() -> None:
    with pytest.raises(InputError) as info:
        parse_recipient_lines(["bob@x.test\rBcc: evil@x.test\n"], source="f.txt")
    assert info.value.field == "f.txt:1"
    assert "inject" in info.value.problem


def test_recipient_lines_empty() -> None:
    assert parse_recipient_lines(["", "# nothing"], source="f") == []
