"""The filter language: parsing, precedence, errors, bounds, normalisation, printing.

Running a filter (SQL against a store, index conditions) is tested in tests/catalog/test_filters.py.
"""

from __future__ import annotations

import re

import pytest

from vestis.schema import Schema
from vestis.schema.filters import (
    MAX_DEPTH,
    MAX_LENGTH,
    MAX_VALUES,
    And,
    Compare,
    FilterError,
    FilterExpr,
    Not,
    Or,
    parse_filter,
)

SCHEMA = Schema.from_dict(
    {
        "name": "tiny",
        "fields": {
            "category": {"values": ["top", "bottom", {"name": "dress", "synonyms": ["dresses", "gown"]}]},
            "colour": {
                "values": [
                    "red",
                    {"name": "pink", "synonyms": ["rose"]},
                    {"name": "navy", "synonyms": ["navy blue", "dark blue"]},
                    "black",
                ]
            },
            "sleeve_length": {"values": ["short", {"name": "long", "synonyms": ["long sleeves"]}]},
            "style": {"kind": "multi", "values": ["casual", "formal", "party"]},
            "brand": {"kind": "text", "max_length": 40},
        },
    }
)


def cmp(field: str, *values: str, negate: bool = False) -> Compare:
    return Compare(field, values, negate)


def parse(text: str) -> FilterExpr:
    return parse_filter(text, SCHEMA)


# ---- parsing -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, expected",
    [
        ("colour = red", cmp("colour", "red")),
        ("colour != red", cmp("colour", "red", negate=True)),
        ("colour in (red, pink)", cmp("colour", "red", "pink")),
        ("colour not in (red,pink,)", cmp("colour", "red", "pink", negate=True)),
        ("colour == red", cmp("colour", "red")),
        ("colour=red and style!=party", And((cmp("colour", "red"), cmp("style", "party", negate=True)))),
        # NOT binds tighter than AND, AND tighter than OR
        ("colour = red OR category = top AND style = casual",
         Or((cmp("colour", "red"), And((cmp("category", "top"), cmp("style", "casual")))))),
        ("NOT colour = red AND style = casual", And((Not(cmp("colour", "red")), cmp("style", "casual")))),
        ("NOT colour = red OR style = casual", Or((Not(cmp("colour", "red")), cmp("style", "casual")))),
        ("(colour = red OR category = top) AND style = casual",
         And((Or((cmp("colour", "red"), cmp("category", "top"))), cmp("style", "casual")))),
        ("NOT (colour = red AND style = casual)", Not(And((cmp("colour", "red"), cmp("style", "casual"))))),
        ("not not colour = red", Not(Not(cmp("colour", "red")))),
        ("colour = red or colour = pink Or colour = navy",
         Or((cmp("colour", "red"), cmp("colour", "pink"), cmp("colour", "navy")))),
        ("((colour = red))", cmp("colour", "red")),
    ],
)  # fmt: skip
def test_parse_structure_and_precedence(text: str, expected: FilterExpr) -> None:
    assert parse(text) == expected


def test_nested_junctions_flatten() -> None:
    a, b, c = cmp("colour", "red"), cmp("category", "top"), cmp("style", "casual")
    assert parse("(colour = red AND category = top) AND style = casual") == And((a, b, c))
    assert (a & b) & c == And((a, b, c)) == a & (b & c)
    assert (a | b) | c == Or((a, b, c))
    assert ~a == Not(a)
    assert And((a, b)) != Or((a, b))


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Colour in (Navy Blue, RED, red)", cmp("colour", "navy", "red")),  # synonyms, case, duplicates
        ("COLOUR = 'dark blue'", cmp("colour", "navy")),
        ('colour = "Navy-Blue"', cmp("colour", "navy")),
        ("colour = navy blue AND category = Dresses", And((cmp("colour", "navy"), cmp("category", "dress")))),
        ("Sleeve Length = Long Sleeves", cmp("sleeve_length", "long")),
        ("'sleeve-length' in (long sleeves)", cmp("sleeve_length", "long")),
        ("brand = 'Marks & Spencer'", cmp("brand", "Marks & Spencer")),  # text: kept as written
        ('brand in (Zara, \'it\'\'s\', "say ""hi""")', cmp("brand", "Zara", "it's", 'say "hi"')),
    ],
)
def test_values_and_fields_are_normalised(text: str, expected: FilterExpr) -> None:
    assert parse(text) == expected


@pytest.mark.parametrize(
    "text, position, message, suggestion",
    [
        ("colr = red", 0, "unknown field 'colr'", "colour"),
        ("colour = rde", 9, "unknown value 'rde' for field 'colour'", "red"),
        ("category = dress AND colour in (red, pinl)", 37, "unknown value 'pinl'", "pink"),
        ("xyz = 1", 0, "unknown field 'xyz' (fields: category", None),
        ("", 0, "empty filter", None),
        ("colour = red AND", 16, "expected a field name, found end of filter", None),
        ("colour = red blue", 9, "unknown value 'red blue'", None),
        ("(colour = red", 13, "expected ')'", None),
        ("colour = red)", 12, "unexpected ')'", None),
        ("colour in red", 10, "expected '(' after 'in'", None),
        ("colour in ()", 11, "expected a value for 'colour'", None),
        ("colour not = red", 11, "expected 'in' after field 'colour'", None),
        ("colour red", 0, "unknown field 'colour red'", "colour"),
        ("colour", 6, "expected '=', '!=', 'in' or 'not in' after field 'colour', found end", None),
        ("colour = (red, pink)", 9, "use 'in (...)'", None),
        ("colour = 'red", 9, "unterminated quote", None),
        ("colour ! red", 7, "unexpected character '!'", None),
        ("colour = red OR OR colour = pink", 16, "expected a field name", None),
        ("(" * 80 + "colour = red" + ")" * 80, MAX_DEPTH, f"nested more than {MAX_DEPTH} levels", None),
        ("NOT " * 30 + "colour = red", 4 * MAX_DEPTH, f"nested more than {MAX_DEPTH} levels", None),
    ],
)
def test_errors_have_positions_and_suggestions(text, position, message, suggestion) -> None:
    with pytest.raises(FilterError) as info:
        parse(text)
    err = info.value
    assert err.position == position, str(err)
    assert message in str(err)
    assert f"at position {position}" in str(err)
    if suggestion:
        assert err.suggestions[0] == suggestion
        assert f"did you mean {suggestion}" in str(err)
    assert err.caret().splitlines()[1] == " " * position + "^"


@pytest.mark.parametrize(
    "text",
    [
        "colour = red",
        "colour not in (red, pink) AND style = party",
        "NOT (colour = red OR style = casual) AND category != top",
        "colour = red OR category = top AND (style = casual OR NOT brand = 'and')",
        "not not colour = red",
        "NOT NOT (colour = red AND style != formal)",
        "brand in ('Marks & Spencer', 'it''s', \"x\"\"y\", OR, '(x)')",
        "(colour = red OR colour = pink) AND (style = casual OR style = party)",
    ],
)
def test_str_round_trips(text: str) -> None:
    expr = parse(text)
    assert parse(str(expr)) == expr
    assert str(parse(str(expr))) == str(expr)


def test_str_is_canonical() -> None:
    assert str(parse("Colour IN (Navy Blue) and not (style=casual or style = party)")) == (
        "colour = navy AND NOT (style = casual OR style = party)"
    )


# ---- bounds ------------------------------------------------------------------------------------
def test_a_filter_longer_than_the_limit_is_refused_before_reading() -> None:
    text = "brand = '" + "x" * MAX_LENGTH + "'"
    with pytest.raises(FilterError, match=f"longer than {MAX_LENGTH} characters") as info:
        parse(text)
    assert info.value.position == MAX_LENGTH
    parse("brand = '" + "x" * (MAX_LENGTH - 10) + "'")  # just under the limit parses


VALUE = re.compile(r"\b(?:[bc]\d+|red)\b")


@pytest.mark.parametrize(
    "make",
    [
        lambda n: " OR ".join(f"brand = b{i}" for i in range(n)),
        lambda n: " AND ".join("NOT colour = red" for _ in range(n)),
        lambda n: "brand in (" + ", ".join(f"b{i}" for i in range(n)) + ")",
        lambda n: " OR ".join(f"brand in (b{i}, c{i})" for i in range((n + 1) // 2)),
        lambda n: "colour in (" + ", ".join("red" for _ in range(n)) + ")",  # duplicates count too
    ],
    ids=["or", "and-not", "in-list", "in-lists", "duplicates"],
)
def test_more_values_than_the_limit_are_refused(make) -> None:
    parse(make(MAX_VALUES))  # at the limit: parses
    for n in (MAX_VALUES + 1, 1000):
        text = make(n)
        if len(text) > MAX_LENGTH:  # 1,000 comparisons: the length limit refuses them first
            continue
        with pytest.raises(FilterError, match=f"more than {MAX_VALUES} values") as info:
            parse(text)
        # the error points at the first value over the limit
        before, after = text[: info.value.position], text[info.value.position :]
        assert len(VALUE.findall(before)) == MAX_VALUES and VALUE.match(after), info.value.caret()[-80:]
