"""The segment language: the issue's examples, errors that say where and what, evaluation
rules, and properties (format/parse round trip, parse total on any text, `not`)."""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Mapping
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from relaylane.campaigns.segments import (
    ENGAGEMENT_FIELDS,
    KEYWORDS,
    MAX_DEPTH,
    MAX_LENGTH,
    And,
    Comparison,
    InList,
    IsEmpty,
    Not,
    Op,
    Or,
    Segment,
    SegmentError,
    fields,
    format,
    matches,
    parse,
)
from relaylane.errors import RelaylaneError

PROPS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------------- parsing examples


def test_the_issue_example() -> None:
    segment = parse('opened_days_ago <= 90 and country = "DE"')
    assert segment == And(
        (Comparison("opened_days_ago", Op.LE, 90), Comparison("country", Op.EQ, "DE"))
    )
    assert fields(segment) == {"opened_days_ago", "country"}
    assert matches(segment, {"opened_days_ago": 12, "country": "de"})
    assert not matches(segment, {"opened_days_ago": 120, "country": "DE"})
    assert not matches(segment, {"country": "DE"})  # never opened


def test_engagement_fields_are_documented_names() -> None:
    assert {
        "opened_days_ago",
        "clicked_days_ago",
        "sent_days_ago",
        "subscribed_days_ago",
    } == ENGAGEMENT_FIELDS


PARSED: list[tuple[str, Segment]] = [
    ('country = "DE"', Comparison("country", Op.EQ, "DE")),
    ("score != -3", Comparison("score", Op.NE, -3)),
    ("spend > 12.50", Comparison("spend", Op.GT, Decimal("12.50"))),
    ("age>=18", Comparison("age", Op.GE, 18)),
    ("age<18", Comparison("age", Op.LT, 18)),
    ("vip = TRUE", Comparison("vip", Op.EQ, True)),
    ("vip = false", Comparison("vip", Op.EQ, False)),
    ('email CONTAINS "@acme"', Comparison("email", Op.CONTAINS, "@acme")),
    ('zip startswith "10"', Comparison("zip", Op.STARTSWITH, "10")),
    ('name = "say \\"hi\\" \\\\ bye"', Comparison("name", Op.EQ, 'say "hi" \\ bye')),
    ('city = ""', Comparison("city", Op.EQ, "")),
    ('country in ("DE", "AT",1, true)', InList("country", ("DE", "AT", 1, True))),
    ("phone is empty", IsEmpty("phone")),
    ("phone Is Not Empty", IsEmpty("phone", negated=True)),
    ("not a = 1", Not(Comparison("a", Op.EQ, 1))),
    ("not not a = 1", Not(Not(Comparison("a", Op.EQ, 1)))),
    ("((a = 1))", Comparison("a", Op.EQ, 1)),
    (
        "a = 1 or b = 2 and c = 3",
        Or(
            (Comparison("a", Op.EQ, 1), And((Comparison("b", Op.EQ, 2), Comparison("c", Op.EQ, 3))))
        ),
    ),
    (
        "(a = 1 or b = 2) and not c = 3",
        And(
            (
                Or((Comparison("a", Op.EQ, 1), Comparison("b", Op.EQ, 2))),
                Not(Comparison("c", Op.EQ, 3)),
            )
        ),
    ),
    (
        "a = 1 and b = 2 and c = 3",
        And((Comparison("a", Op.EQ, 1), Comparison("b", Op.EQ, 2), Comparison("c", Op.EQ, 3))),
    ),
    ("\t_x9\n=\r\n  -0.5 ", Comparison("_x9", Op.EQ, Decimal("-0.5"))),
]


@pytest.mark.parametrize(("text", "expected"), PARSED)
def test_parse(text: str, expected: Segment) -> None:
    segment = parse(text)
    assert segment == expected
    assert repr(segment) == repr(expected)
    assert parse(format(segment)) == segment


def test_canonical_form() -> None:
    text = 'NOT (A_b = 1 OR c = 2) AND d IN ( "x" ,2.0 ) and e IS NOT EMPTY'
    with pytest.raises(SegmentError):
        parse(text)  # field names are lowercase
    segment = parse(text.replace("A_b", "a_b"))
    assert format(segment) == 'not (a_b = 1 or c = 2) and d in ("x", 2.0) and e is not empty'
    nested = And((And((IsEmpty("a"), IsEmpty("b"))), Or((IsEmpty("c"), IsEmpty("d")))))
    assert format(nested) == "(a is empty and b is empty) and (c is empty or d is empty)"
    assert parse(format(nested)) == nested
    assert format(Or((Or((IsEmpty("a"), IsEmpty("b"))), IsEmpty("c")))) == (
        "(a is empty or b is empty) or c is empty"
    )


# ---------------------------------------------------------------------- errors

ERRORS = [
    # text, column, words in the problem, words in the fix
    ("", 1, "expected a condition", "field op value"),
    ("opened_days_ago <=", 19, 'expected a value after "<="', "double quotes"),
    ("opened_days_ago <= and x = 1", 20, 'expected a value after "<="', "a number"),
    ("country = DE", 11, 'expected a value after "="', 'double quotes: "DE"'),
    ('Country = "DE"', 1, "expected a field name in lowercase", "write country"),
    ('country == "DE"', 9, "expected an operator", "write = instead"),
    ("a <> 1", 3, "expected an operator", "write != instead"),
    ("a ! 1", 3, "expected an operator", "write !="),
    ("a 1", 3, 'expected an operator after "a"', "contains startswith"),
    ("a = 1 and", 10, 'expected a condition after "and"', "field op value"),
    ("a = 1 or", 9, 'expected a condition after "or"', "field op value"),
    ("not", 4, 'expected a condition after "not"', "field op value"),
    ("and = 1", 1, "expected a condition", "keyword"),
    ("(a = 1", 7, 'expected ")"', '"(" at column 1'),
    ("a = 1)", 6, 'expected "and", "or" or the end', 'remove this ")"'),
    ("a = 1 b = 2", 7, 'expected "and", "or" or the end', "and / or"),
    ('a = "DE', 8, 'expected a closing "', "starts at column 5"),
    ('a = "x\\n"', 7, "backslash", 'the only escapes are \\"'),
    ('a = "x\\', 7, "backslash", "escapes"),
    ("a in ()", 7, 'expected a value after "("', "a number"),
    ("a in (1,)", 9, 'expected a value after ","', "a number"),
    ("a in (1 2)", 9, 'expected "," or ")"', "separate values with commas"),
    ("a in 1", 6, 'expected "(" after "in"', "parentheses"),
    ("a is", 5, 'expected "empty" or "not empty" after "is"', "a is not empty"),
    ("a is not", 9, 'expected "empty" after "is not"', "a is empty"),
    ("a is 1", 6, 'expected "empty" or "not empty"', "compare values with ="),
    ("a = 1.", 7, "expected a digit after the decimal point", "0.5"),
    ("a = .5", 5, "unexpected character", "digit before the point"),
    ("a = -", 6, 'expected a digit after "-"', "-5"),
    ("a = - 5", 6, 'expected a digit after "-"', "-5"),
    ("a = 'DE'", 5, "unexpected character", "double quotes"),
    ("a = 1 && b = 2", 7, "unexpected character", "with and"),
    ("contact.country = 1", 8, "unexpected character", "flat"),
    ("a = 1 and 2 = a", 11, 'expected a condition after "and"', "field op value"),
]


@pytest.mark.parametrize(("text", "column", "problem", "fix"), ERRORS)
def test_errors_say_where_and_what(text: str, column: int, problem: str, fix: str) -> None:
    with pytest.raises(SegmentError) as caught:
        parse(text)
    error = caught.value
    assert isinstance(error, ValueError)
    assert isinstance(error, RelaylaneError)
    assert error.column == column
    assert problem in error.problem
    assert fix in error.fix
    first, shown, caret, last = str(error).split("\n")
    assert first.startswith(f"segment: {error.problem} at column {column}")
    assert last == f"Fix: {error.fix}"
    assert caret.index("^") - 2 == column - 1  # the caret sits under the column
    assert shown.startswith("  ")


def test_error_message_reads_well() -> None:
    with pytest.raises(SegmentError) as caught:
        parse("opened_days_ago <= and country = 1")
    assert str(caught.value).splitlines() == [
        'segment: expected a value after "<=" at column 20, found "and"',
        "  opened_days_ago <= and country = 1",
        "                     ^",
        'Fix: write text in double quotes ("DE"), a number (90 or -1.5), true or false',
    ]


def test_caret_line_stays_aligned_with_tabs_and_newlines() -> None:
    with pytest.raises(SegmentError) as caught:
        parse("a = 1\n\tand")
    lines = str(caught.value).splitlines()
    assert lines[1] == "  a = 1  and"
    assert lines[2].index("^") == 2 + 10


def test_long_text_shows_a_window_around_the_column() -> None:
    text = " or ".join(f"f{i} = {i}" for i in range(60)) + " or ="
    with pytest.raises(SegmentError) as caught:
        parse(text)
    _, shown, caret, _ = str(caught.value).split("\n")
    assert len(shown) < 80
    assert shown.startswith("  …")
    assert shown[caret.index("^")] == "="


def test_length_limit() -> None:
    clause = "a = 1 or "
    fits = clause * ((MAX_LENGTH - 5) // len(clause)) + "a = 1"
    assert len(fits) <= MAX_LENGTH
    parse(fits.ljust(MAX_LENGTH))
    with pytest.raises(SegmentError) as caught:
        parse(fits.ljust(MAX_LENGTH + 1))
    assert caught.value.column == MAX_LENGTH + 1
    assert "at most 2,000 characters" in caught.value.problem
    assert caught.value.found == "2,001 characters"


DEPTHS = [
    # at the limit, one deeper, column of the opener that goes too deep
    ("(" * 32 + "a = 1" + ")" * 32, "(" * 33 + "a = 1" + ")" * 33, 33),
    ("not " * 32 + "a = 1", "not " * 33 + "a = 1", 32 * 4 + 1),
    ("not (" * 16 + "a = 1" + ")" * 16, "not (" * 16 + "not a = 1" + ")" * 16, 16 * 5 + 1),
]


@pytest.mark.parametrize(("ok", "too_deep", "column"), DEPTHS)
def test_depth_limit(ok: str, too_deep: str, column: int) -> None:
    assert MAX_DEPTH == 32
    parse(ok)
    with pytest.raises(SegmentError) as caught:
        parse(too_deep)
    assert f"at most {MAX_DEPTH} nested" in caught.value.problem
    assert caught.value.column == column


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    for text in ["(" * 1000, "not " * 400 + "a = 1", "(" * 999 + ")"]:
        with pytest.raises(SegmentError, match="nested"):
            parse(text)


def test_parse_rejects_non_text() -> None:
    with pytest.raises(TypeError):
        parse(b"a = 1")  # type: ignore[arg-type]


# ---------------------------------------------------------------------- the tree


def test_nodes_are_frozen_and_checked() -> None:
    node = Comparison("a", Op.EQ, 1)
    with pytest.raises(AttributeError):
        node.field = "b"  # type: ignore[misc]
    assert hash(node) == hash(Comparison("a", Op.EQ, 1))
    with pytest.raises(ValueError, match="field name"):
        Comparison("Country", Op.EQ, 1)
    with pytest.raises(ValueError, match="field name"):
        IsEmpty("and")
    with pytest.raises(TypeError):
        Comparison("a", "=", 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="float"):
        Comparison("a", Op.EQ, 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        Comparison("a", Op.EQ, Decimal("NaN"))
    with pytest.raises(ValueError, match="at least one"):
        InList("a", ())
    with pytest.raises(ValueError, match="two parts"):
        And((IsEmpty("a"),))
    with pytest.raises(TypeError):
        Or((IsEmpty("a"), "b = 1"))  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Not("a = 1")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        IsEmpty(1)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        Comparison("a", Op.EQ, None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        InList("a", [1])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        And([IsEmpty("a"), IsEmpty("b")])  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        format("a = 1")  # type: ignore[arg-type]


def test_whole_decimals_become_ints_so_format_round_trips() -> None:
    node = Comparison("a", Op.EQ, Decimal("1E+2"))
    assert repr(node.value) == "100"
    assert format(node) == "a = 100"
    assert repr(parse(format(node))) == repr(node)


def test_fields_of_a_tree() -> None:
    segment = parse('not (a = 1 or b in (2)) and c is empty and a startswith "x"')
    assert fields(segment) == {"a", "b", "c"}


# ---------------------------------------------------------------------- evaluation

CONTACT: dict[str, object] = {
    "country": "DE",
    "city": "Berlin",
    "zip": 10115,
    "score": "42",
    "spend": 12.5,
    "balance": Decimal("-3.25"),
    "vip": True,
    "beta": "false",
    "tags": ["vip", "Newsletter"],
    "nothing": None,
    "blank": "   ",
    "no_tags": [],
    "signed_up": datetime.date(2024, 5, 1),
    "opened_days_ago": 12,
    "profile": {"a": 1},
}

EVALUATION = [
    # strings: equality ignores case, ordering by folded code points
    ('country = "DE"', True),
    ('country = "de"', True),
    ('country != "de"', False),
    ('country != "AT"', True),
    ('city < "c"', True),
    ('city > "BERLIN"', False),
    ('city >= "berlin"', True),
    ('city contains "ERL"', True),
    ('city startswith "ber"', True),
    ('city startswith "lin"', False),
    ('country in ("AT", "de")', True),
    ('country in ("AT", "CH")', False),
    # numbers: numeric, also from strings that hold a number
    ("zip = 10115", True),
    ("zip > 9999", True),
    ("zip = 10115.0", True),
    ('zip startswith "10"', True),
    ("zip startswith 10", True),
    ('zip = "10115"', True),
    ("score = 42", True),
    ("score >= 42.00", True),
    ("score < 100", True),
    ('score > "100"', True),  # a string value compares as text: "42" > "100"
    ("spend = 12.5", True),
    ("spend > 12.49", True),
    ("balance < 0", True),
    ("balance = -3.25", True),
    ("country > 1", False),  # not a number: neither larger nor smaller
    ("country < 1", False),
    ("country = 1", False),
    ("country != 1", True),
    ("score in (1, 42)", True),
    # booleans
    ("vip = true", True),
    ("vip != false", True),
    ("vip = 1", False),
    ("beta = false", True),
    ("beta = true", False),
    ("vip > false", False),
    ('vip = "true"', True),
    # collections
    ('tags contains "VIP"', True),
    ('tags contains "news"', False),
    ('tags startswith "vip"', False),
    ('tags = "vip"', False),
    ("tags is not empty", True),
    # dates compare through ISO text
    ('signed_up >= "2024-01-01"', True),
    ('signed_up startswith "2024-05"', True),
    # empty and missing fields
    ('missing = "x"', False),
    ('missing != "x"', True),
    ("missing < 5", False),
    ("missing > 5", False),
    ('missing contains ""', False),
    ("missing in (1, 2)", False),
    ("missing is empty", True),
    ("missing is not empty", False),
    ("not missing in (1, 2)", True),
    ("nothing is empty", True),
    ('nothing != ""', True),
    ("blank is empty", True),
    ('blank = ""', False),
    ("no_tags is empty", True),
    ('no_tags contains "vip"', False),
    ("city is empty", False),
    ("city is not empty", True),
    # values of other types are never equal, never ordered
    ("profile is empty", False),
    ('profile = "x"', False),
    ('profile != "x"', True),
    ('profile contains "a"', False),
    # engagement and logic
    ("opened_days_ago <= 90", True),
    ("clicked_days_ago <= 90", False),
    ("clicked_days_ago <= 90 or opened_days_ago <= 30", True),
    ('opened_days_ago <= 90 and not country in ("AT")', True),
    ("not (opened_days_ago <= 90 and vip = true)", False),
]


@pytest.mark.parametrize(("text", "expected"), EVALUATION)
def test_matches(text: str, expected: bool) -> None:
    assert matches(parse(text), CONTACT) is expected


def test_an_int_too_long_to_print_is_still_a_number() -> None:
    huge = {"a": 10**5000}
    assert matches(parse("a > 1"), huge)
    assert not matches(parse('a = "1"'), huge)
    assert not matches(parse("a contains 1"), huge)


def test_matches_accepts_any_mapping() -> None:
    class Fields(Mapping[str, object]):
        def __getitem__(self, key: str) -> object:
            if key == "country":
                return "DE"
            raise KeyError(key)

        def __iter__(self) -> Iterator[str]:
            return iter(["country"])

        def __len__(self) -> int:
            return 1

    assert matches(parse('country = "de" and city is empty'), Fields())


# ---------------------------------------------------------------------- properties

FIELD_NAMES = st.from_regex(r"[a-z_][a-z0-9_]{0,12}", fullmatch=True).filter(
    lambda name: name not in KEYWORDS
)
FEW_FIELDS = st.sampled_from(["a", "b", "country", "opened_days_ago", "tags"])
DECIMALS = st.builds(
    lambda digits, places: Decimal(digits).scaleb(-places),
    st.integers(-(10**12), 10**12),
    st.integers(1, 6),
) | st.sampled_from([Decimal("-0.0"), Decimal("0.000"), Decimal("1.10")])
VALUES = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["DE", "de", "", '"', "\\", 'a"b\\c', "42", "true", " "]),
    st.integers(-(10**12), 10**12),
    DECIMALS,
    st.booleans(),
)


def segments(names: st.SearchStrategy[str]) -> st.SearchStrategy[Segment]:
    leaves = st.one_of(
        st.builds(Comparison, names, st.sampled_from(list(Op)), VALUES),
        st.builds(InList, names, st.lists(VALUES, min_size=1, max_size=4).map(tuple)),
        st.builds(IsEmpty, names, st.booleans()),
    )

    def compound(kids: st.SearchStrategy[Segment]) -> st.SearchStrategy[Segment]:
        several = st.lists(kids, min_size=2, max_size=4).map(tuple)
        return st.one_of(st.builds(Not, kids), st.builds(And, several), st.builds(Or, several))

    return st.recursive(leaves, compound, max_leaves=12)


def text_depth(segment: Segment) -> int:
    """The parentheses and nots `format` nests, as `parse` counts them."""
    if isinstance(segment, Not):
        wrapped = isinstance(segment.operand, And | Or)
        return 1 + wrapped + text_depth(segment.operand)
    if isinstance(segment, And | Or):
        inner = And | Or if isinstance(segment, And) else Or
        return max(isinstance(p, inner) + text_depth(p) for p in segment.parts)
    return 0


FIELD_VALUES = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.sampled_from(["DE", "de", "42", "-1.5", "true", "FALSE", " ", ""]),
    st.integers(),
    st.floats(),
    st.decimals(),
    st.booleans(),
    st.lists(st.text(max_size=4) | st.integers(), max_size=3),
    st.dates(),
    st.dictionaries(st.text(max_size=2), st.integers(), max_size=1),
)
CONTACTS = st.dictionaries(FEW_FIELDS, FIELD_VALUES)


@PROPS
@given(segments(FIELD_NAMES))
def test_format_then_parse_gives_the_same_tree(segment: Segment) -> None:
    text = format(segment)
    assume(len(text) <= MAX_LENGTH and text_depth(segment) <= MAX_DEPTH)
    again = parse(text)
    assert again == segment
    assert repr(again) == repr(segment)  # also tells 1 from true and 1.0 from 1.00
    assert format(again) == text
    assert fields(again) == fields(segment)


def check_total(text: str) -> None:
    """parse either gives a tree that round-trips or a SegmentError that points inside."""
    try:
        outcome: Segment | SegmentError = parse(text)
    except SegmentError as error:
        outcome = error
    if isinstance(outcome, SegmentError):
        assert 1 <= outcome.column <= len(text) + 1
        assert outcome.problem
        assert outcome.fix
    else:
        assert parse(format(outcome)) == outcome


@PROPS
@given(st.text(max_size=200))
def test_parse_raises_only_segment_error_on_any_text(text: str) -> None:
    check_total(text)


SEGMENT_ALPHABET = st.sampled_from(
    [
        *'()",.\\-=!<>_ \t\n0123456789aAbcz',
        *["and", "or", "not", "in", "is", "empty", "true", "contains", "startswith", "NOT "],
    ]
)


@PROPS
@given(st.lists(SEGMENT_ALPHABET, max_size=40).map("".join))
def test_parse_raises_only_segment_error_on_near_segments(text: str) -> None:
    check_total(text)


@PROPS
@given(segments(FIELD_NAMES), st.data())
def test_parse_is_total_on_mangled_segments(segment: Segment, data: st.DataObject) -> None:
    text = format(segment)
    cut = data.draw(st.integers(0, len(text)))
    insert = data.draw(st.sampled_from(["", "(", ")", '"', "\\", "and", "not", ",", "="]))
    drop = data.draw(st.integers(0, 3))
    mangled = text[:cut] + insert + text[cut + drop :]
    check_total(mangled)


@PROPS
@given(segments(FEW_FIELDS), CONTACTS)
def test_not_negates(segment: Segment, contact: dict[str, object]) -> None:
    assert matches(Not(segment), contact) is (not matches(segment, contact))


@PROPS
@given(segments(FEW_FIELDS), segments(FEW_FIELDS), CONTACTS)
def test_and_or_follow_de_morgan(a: Segment, b: Segment, contact: dict[str, object]) -> None:
    assert matches(Not(And((a, b))), contact) == matches(Or((Not(a), Not(b))), contact)
    assert matches(And((a, b)), contact) == (matches(a, contact) and matches(b, contact))


@PROPS
@given(FEW_FIELDS, VALUES, CONTACTS)
def test_not_equal_is_the_negation_of_equal(
    name: str, value: object, contact: dict[str, object]
) -> None:
    assert isinstance(value, str | int | Decimal)
    equal = matches(Comparison(name, Op.EQ, value), contact)
    assert matches(Comparison(name, Op.NE, value), contact) is (not equal)
    assert matches(InList(name, (value,)), contact) is equal
