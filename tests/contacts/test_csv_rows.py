"""Contacts CSV rows: line numbers, refusals with reasons, duplicates, mapping and header
rules, dates, role accounts, and reading a large file as a stream."""

from __future__ import annotations

import io
import tracemalloc
from collections.abc import Iterator

import pytest

from relaylane.contacts.csv_rows import (
    MAX_KEPT_BAD_ROWS,
    ROLE_ACCOUNTS,
    BadRow,
    Contact,
    Duplicate,
    ImportSummary,
    Mapping,
    RowResult,
    SeenKeys,
    normalize_header,
    parse_mapping,
    parse_subscribed_at,
    read_contacts,
    role_account,
)
from relaylane.errors import InputError

MAY_1_2024 = 1714521600.0  # 2024-05-01T00:00:00Z


def read(text: str, mapping: Mapping | None = None) -> list[RowResult]:
    return list(read_contacts(io.StringIO(text, newline=""), mapping))


def test_good_bad_and_duplicate_rows_carry_physical_line_numbers() -> None:
    text = (
        "email,first_name,note\n"  # 1
        'ann@example.com,Ann,"a note\n'  # 2: a quoted field over two lines
        'on two lines"\n'  # 3
        "not-an-address,Bob,x\n"  # 4
        ",Carl,x\n"  # 5
        "ANN@Example.COM,Ann again,x\n"  # 6
        "cy@example.com,Cy\n"  # 7
        "dee@example.com,Dee,x,extra\n"  # 8
        "\n"  # 9: blank, skipped
        "eve@example.com,Eve,\n"  # 10
    )
    results = read(text)
    assert results[0] == Contact(
        line=2,
        email="ann@example.com",
        email_key="ann@example.com",
        attributes={"first_name": "Ann", "note": "a note\non two lines"},
        subscribed_at=None,
        source=None,
    )
    assert isinstance(results[1], BadRow)
    assert results[1].line == 4
    assert results[1].reason.startswith("invalid email: 'not-an-address' is not a valid address")
    assert results[2] == BadRow(5, "missing email")
    # The local part keeps its case; the domain is lower-cased; the key folds both.
    assert results[3] == Duplicate(line=6, email="ANN@example.com", first_line=2)
    assert results[4] == BadRow(7, "too few columns: 2, the header has 3")
    assert results[5] == BadRow(8, "too many columns: 4, the header has 3")
    assert results[6] == Contact(
        10, "eve@example.com", "eve@example.com", {"first_name": "Eve"}, None, None
    )
    assert len(results) == 7


def test_crlf_lines_and_a_list_of_lines_work_too() -> None:
    lines = ["email,city\r\n", '"a@example.com","Köln"\r\n', "b@example.com,Bonn\r\n"]
    results = list(read_contacts(lines))
    assert [(r.line, r.email) for r in results if isinstance(r, Contact)] == [
        (2, "a@example.com"),
        (3, "b@example.com"),
    ]
    assert isinstance(results[0], Contact)
    assert results[0].attributes == {"city": "Köln"}


def test_a_byte_order_mark_before_the_header_is_ignored() -> None:
    results = read("\ufeffEmail,Name\nbob@example.com,Bob\n")
    assert results == [
        Contact(2, "bob@example.com", "bob@example.com", {"name": "Bob"}, None, None)
    ]


def test_consent_fields_are_not_attributes() -> None:
    results = read(
        "email,subscribed_at,source,plan\n"
        "a@example.com,2024-05-01,signup form,pro\n"
        "b@example.com,,,\n"
    )
    assert results == [
        Contact(2, "a@example.com", "a@example.com", {"plan": "pro"}, MAY_1_2024, "signup form"),
        Contact(3, "b@example.com", "b@example.com", {}, None, None),
    ]


def test_a_bad_date_refuses_the_row_and_reading_goes_on() -> None:
    results = read("email,subscribed_at\na@example.com,yesterday\nb@example.com,1714521600\n")
    assert isinstance(results[0], BadRow)
    assert results[0].line == 2
    assert "subscribed_at 'yesterday' is not a date" in results[0].reason
    assert isinstance(results[1], Contact)
    assert results[1].subscribed_at == MAY_1_2024


def test_a_field_over_1000_characters_refuses_the_row() -> None:
    results = read(f"email,bio\na@example.com,{'x' * 1001}\nb@example.com,{'x' * 1000}\n")
    assert results[0] == BadRow(2, "the field 'bio' is 1001 characters long (at most 1,000)")
    assert isinstance(results[1], Contact)


def test_more_than_100_attributes_refuses_the_row() -> None:
    header = "email," + ",".join(f"f{i}" for i in range(101))
    full = "a@example.com," + ",".join("v" for _ in range(101))
    one_empty = "b@example.com," + ",".join("v" for _ in range(100)) + ","
    results = read(f"{header}\n{full}\n{one_empty}\n")
    assert results[0] == BadRow(2, "101 attributes (at most 100)")
    assert isinstance(results[1], Contact)
    assert len(results[1].attributes) == 100


def test_a_malformed_csv_row_is_reported_and_reading_goes_on() -> None:
    results = read('email,name\n"a@example.com"x,A\nb@example.com,B\n')
    assert isinstance(results[0], BadRow)
    assert results[0].line == 2
    assert results[0].reason.startswith("not valid CSV:")
    assert isinstance(results[1], Contact)
    assert results[1].line == 3


def test_a_display_name_is_not_an_email() -> None:
    (result,) = read("email\nBob <bob@example.com>\n")
    assert isinstance(result, BadRow)
    assert "display name" in result.reason


# -- headers and mapping ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("Email", "email"),
        ("E-mail", "e_mail"),
        (" First Name ", "first_name"),
        ("Last-Name", "last_name"),
        ("ZIP  -  Code", "zip_code"),
        ("already_fine", "already_fine"),
    ],
)
def test_normalize_header(header: str, name: str) -> None:
    assert normalize_header(header) == name


@pytest.mark.parametrize(
    "email_header", ["email", "E-mail", "MAIL", "Email Address", "email-address"]
)
def test_the_email_column_is_found_without_a_mapping(email_header: str) -> None:
    (result,) = read(f"{email_header},First Name,Last-Name\nbob@example.com,Bob,Jones\n")
    assert isinstance(result, Contact)
    assert result.email == "bob@example.com"
    assert result.attributes == {"first_name": "Bob", "last_name": "Jones"}


@pytest.mark.parametrize(
    ("text", "problem", "fix"),
    [
        ("", "the file is empty", "put a header row first"),
        ("\n\n", "the file is empty", "put a header row first"),
        ("name,phone\nBob,1\n", "no email column among 'name', 'phone'", "--map email=Column"),
        ("email,mail\n", "more than one email column (email, mail)", "--map email=email"),
        ("email,First Name,first-name\n", "columns 2 and 3 are both 'first_name'", "rename one"),
        ("email,,city\n", "column 2 has no name", "give every column a header"),
        ('"email\n', "line 1 is not valid CSV", "fix the header row"),
    ],
)
def test_unusable_headers_raise(text: str, problem: str, fix: str) -> None:
    with pytest.raises(InputError) as caught:
        read(text)
    assert caught.value.field == "header"
    assert problem in caught.value.problem
    assert fix in caught.value.fix


def test_parse_mapping() -> None:
    mapping = parse_mapping(" email = E-Mail , first_name=First,subscribed_at=Opt-in date")
    assert mapping.pairs == (
        ("email", "E-Mail"),
        ("first_name", "First"),
        ("subscribed_at", "Opt-in date"),
    )
    assert mapping.column("first_name") == "First"
    assert mapping.column("source") is None


@pytest.mark.parametrize(
    ("text", "problem", "fix"),
    [
        ("", "part 1 is empty", "email=Email,first_name=First"),
        ("email=Email,,city=City", "part 2 is empty", "field=Column pairs"),
        ("email", "'email' has no '='", "field=Column pairs"),
        ("=Email", "'=Email' names no field", "field=Column"),
        ("email=", "'email=' names no CSV column", "email=Column"),
        (
            "email=Email,First Name=First",
            "'First Name' in 'First Name=First' is not a field",
            "first_name=First",
        ),
        (
            "email=A,email=B",
            "the field 'email' is mapped twice ('A' and 'B')",
            "map email to one column",
        ),
        ("first_name=First", "the mapping has no email field", "add email=Column"),
    ],
)
def test_parse_mapping_errors_name_the_part_and_the_fix(text: str, problem: str, fix: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_mapping(text)
    assert caught.value.field == "--map"
    assert problem in caught.value.problem
    assert fix in caught.value.fix


def test_a_mapping_selects_and_renames_columns() -> None:
    mapping = parse_mapping("email=Work Mail,first_name=First,source=where")
    text = "Work Mail,First,Ignored,Where\nbob@example.com,Bob,zzz,fair\n"
    (result,) = read(text, mapping)
    # "where" is matched on its normalised form, "Ignored" is not mapped and not read.
    assert result == Contact(
        2, "bob@example.com", "bob@example.com", {"first_name": "Bob"}, None, "fair"
    )


def test_a_mapped_column_missing_from_the_header_raises() -> None:
    with pytest.raises(InputError) as caught:
        read("Email,First\nbob@example.com,Bob\n", parse_mapping("email=Email,first_name=Given"))
    assert caught.value.field == "--map"
    assert "the column 'Given' (for first_name) is not in the header ('Email', 'First')" in (
        caught.value.problem
    )


# -- dates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2024-05-01", MAY_1_2024),
        ("2024-05-01T09:30:00Z", MAY_1_2024 + 9.5 * 3600),
        ("2024-05-01T09:30:00+02:00", MAY_1_2024 + 7.5 * 3600),
        ("2024-05-01 09:30:00", MAY_1_2024 + 9.5 * 3600),  # no zone: UTC
        ("2024-05-01T09:30:00.250Z", MAY_1_2024 + 9.5 * 3600 + 0.25),
        ("1714521600", MAY_1_2024),
        (" 1714521600.5 ", MAY_1_2024 + 0.5),
    ],
)
def test_subscribed_at_formats(text: str, seconds: float) -> None:
    assert parse_subscribed_at(text) == seconds


@pytest.mark.parametrize(
    "text", ["yesterday", "2024-13-01", "01/05/2024", "-5", "1e9", "2024-05-01T25:00"]
)
def test_subscribed_at_refusals(text: str) -> None:
    with pytest.raises(ValueError, match="is not a date: expected ISO 8601"):
        parse_subscribed_at(text)


# -- role accounts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("email", "role"),
    [
        ("postmaster@example.com", "postmaster"),
        ("Abuse@example.com", "abuse"),
        ("HOSTMASTER@example.com", "hostmaster"),
        ("webmaster@example.com", "webmaster"),
        ("info+newsletter@example.com", "info"),
        ("admin@example.com", "admin"),
        ("support@example.com", "support"),
        ("sales@example.com", "sales"),
        ("noreply@example.com", "noreply"),
        ("No-Reply@example.com", "no-reply"),
        ("mailer-daemon@example.com", "mailer-daemon"),
        ("bob@example.com", None),
        ("information@example.com", None),
        ("bob+info@example.com", None),
        ("info.desk@example.com", None),
    ],
)
def test_role_account(email: str, role: str | None) -> None:
    assert role_account(email) == role


def test_role_accounts_are_lower_case_local_parts() -> None:
    assert all(r == r.casefold() and "@" not in r and "+" not in r for r in ROLE_ACCOUNTS)


# -- summary and duplicate memory ------------------------------------------------------


def test_import_summary_counts_and_keeps_the_first_bad_rows() -> None:
    summary = ImportSummary()
    summary.add(Contact(2, "info@example.com", "info@example.com", {}, None, None))
    summary.add(Contact(3, "bob@example.com", "bob@example.com", {}, None, None))
    summary.add(Duplicate(4, "Bob@example.com", 3))
    for line in range(5, 5 + MAX_KEPT_BAD_ROWS + 20):
        summary.add(BadRow(line, "missing email"))
    assert (summary.good, summary.roles, summary.duplicates, summary.bad) == (2, 1, 1, 120)
    assert summary.rows == 123
    assert len(summary.bad_rows) == MAX_KEPT_BAD_ROWS
    assert summary.bad_rows[0] == BadRow(5, "missing email")


def test_seen_keys_remembers_first_lines_across_growth() -> None:
    seen = SeenKeys()
    for n in range(5000):
        assert seen.add(f"user{n}@example.com", n + 2) is None
    assert len(seen) == 5000
    assert seen.add("user0@example.com", 9000) == 2
    assert seen.add("user4999@example.com", 9001) == 5001
    assert len(seen) == 5000


# -- streaming -------------------------------------------------------------------------

STREAM_ROWS = 50_000
# Upper bound on traced memory while reading STREAM_ROWS distinct rows. The duplicate
# table for 50,000 addresses is 2**17 slots of 12 bytes (1.6 MB), plus the half-size
# table while it doubles (0.8 MB); everything else is one row at a time. Holding the
# rows (about 20 MB here), or only the address strings in a set, would exceed it.
STREAM_PEAK_BOUND = 6 * 1024 * 1024


def generated_csv(rows: int) -> Iterator[str]:
    # Short addresses: tracemalloc makes email-validator about 7 times slower, and its
    # cost grows with the length of the domain.
    yield "email,name,subscribed_at,source\n"
    for n in range(rows):
        yield f"u{n}@x{n % 50}.io,N{n},1714521600,csv\n"
    yield "U0@X0.io,again,,\n"  # one duplicate at the very end


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_a_large_file_is_read_as_a_stream_in_bounded_memory() -> None:
    summary = ImportSummary()
    last: RowResult | None = None
    tracemalloc.start()
    try:
        for result in read_contacts(generated_csv(STREAM_ROWS)):
            summary.add(result)
            last = result
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (summary.good, summary.bad, summary.duplicates) == (STREAM_ROWS, 0, 1)
    assert last == Duplicate(STREAM_ROWS + 2, "U0@x0.io", 2)
    assert peak < STREAM_PEAK_BOUND, f"peak {peak / 1e6:.1f} MB"
