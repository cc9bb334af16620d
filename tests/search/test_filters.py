"""The filter language: parsing, precedence, errors, normalisation, SQL against a store, index conditions."""

from __future__ import annotations

import random
import sqlite3

import pytest

from vestis.catalog.store import CatalogStore, ItemRecord
from vestis.schema import Schema
from vestis.search.filters import And, Compare, FilterError, FilterExpr, Not, Or, parse_filter, to_conditions

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
CLOSED = {"category": ["top", "bottom", "dress"], "colour": ["red", "pink", "navy", "black"]}
STYLES = ["casual", "formal", "party"]


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
        ("(" * 80 + "colour = red" + ")" * 80, 64, "nested more than 64 levels", None),
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


# ---- SQL against a store --------------------------------------------------------------------------
def random_items(n: int, seed: int = 0) -> list[ItemRecord]:
    rng = random.Random(seed)
    items = []
    for i in range(n):
        attributes = {f: rng.choice([*values, None]) for f, values in CLOSED.items()}
        attributes["style"] = rng.sample(STYLES, rng.randint(0, 2))
        if rng.random() < 0.5:
            attributes["brand"] = rng.choice(["Zara", "H&M", "it's"])
        items.append(ItemRecord(f"hash-{i}", attributes=attributes))
    return items


def random_expr(rng: random.Random, depth: int = 0) -> FilterExpr:
    roll = rng.random()
    if depth >= 3 or roll < 0.4:
        field = rng.choice(["category", "colour", "style"])
        vocabulary = CLOSED.get(field, STYLES)
        values = tuple(rng.sample(vocabulary, rng.randint(1, 2)))
        return Compare(field, values, negate=rng.random() < 0.3)
    if roll < 0.55:
        return Not(random_expr(rng, depth + 1))
    parts = tuple(random_expr(rng, depth + 1) for _ in range(rng.randint(2, 3)))
    return And(parts) if roll < 0.8 else Or(parts)


def reference(expr: FilterExpr, attributes: dict) -> bool:
    """What the filter means, in plain Python: a multi field matches when it contains a value."""
    if isinstance(expr, Compare):
        value = attributes.get(expr.field)
        held = set(value) if isinstance(value, list) else {value} - {None}
        return bool(held & set(expr.values)) != expr.negate
    if isinstance(expr, Not):
        return not reference(expr.expr, attributes)
    if isinstance(expr, And):
        return all(reference(p, attributes) for p in expr.parts)
    return any(reference(p, attributes) for p in expr.parts)


@pytest.fixture(scope="module")
def catalog(tmp_path_factory):
    """A store of 80 random items and the attributes of each, by id."""
    records = random_items(80)
    with CatalogStore(tmp_path_factory.mktemp("filters") / "catalog.sqlite", SCHEMA) as store:
        ids = store.add_items(records)
        yield store, {i: r.attributes for i, r in zip(ids, records, strict=True)}


def test_sql_matches_reference_on_random_filters(catalog) -> None:
    store, truth = catalog
    rng = random.Random(1)
    for _ in range(150):
        expr = random_expr(rng)
        expected = {i for i, attrs in truth.items() if reference(expr, attrs)}
        assert store.ids_matching(expr) == expected, str(expr)
        assert store.ids_matching(parse(str(expr))) == expected
        assert store.count(expr) == len(expected)


def test_sql_single_and_multi_fields(catalog) -> None:
    store, truth = catalog
    red = {i for i, a in truth.items() if a["colour"] == "red"}
    assert store.ids_matching(parse("colour = red")) == red
    assert store.ids_matching(parse("colour != red")) == set(truth) - red  # includes items with no colour
    casual = {i for i, a in truth.items() if "casual" in a["style"]}
    assert casual and store.ids_matching(parse("style = casual")) == casual  # "contains"
    both = {i for i, a in truth.items() if {"casual", "party"} <= set(a["style"])}
    assert store.ids_matching(parse("style = casual AND style = party")) == both
    zara = {i for i, a in truth.items() if a.get("brand") == "Zara"}
    assert store.ids_matching(parse("brand = Zara")) == zara
    assert store.ids_matching(parse("brand = zara")) == set()  # text matches exactly


def test_facets_respect_filters(catalog) -> None:
    store, truth = catalog
    dresses = [a for a in truth.values() if a["category"] == "dress"]
    facets = dict(store.facets("style", where=parse("category = dress")))
    assert facets == {s: n for s in STYLES if (n := sum(s in a["style"] for a in dresses))}


@pytest.mark.parametrize(
    "value",
    [
        "x'); DROP TABLE items; --",
        "' OR 1=1 --",
        'Robert"); DELETE FROM attributes; --',
        "zara' UNION SELECT id FROM items --",
    ],
)
def test_injection_in_values_is_inert(catalog, value: str) -> None:
    store, _ = catalog
    expr = parse(f"brand = '{value.replace(chr(39), chr(39) * 2)}' OR brand in ({_q(value)})")
    assert store.ids_matching(expr) == set()
    forged = Compare("brand'; DROP TABLE items; --", (value,))  # even a forged field name is a parameter
    assert store.ids_matching(forged) == set()
    assert store.count() == 80
    assert sum(n for _, n in store.facets("colour")) > 0


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def test_predicate_refuses_a_non_identifier_column() -> None:
    with pytest.raises(ValueError, match="column"):
        cmp("colour", "red").predicate("id); DROP TABLE items; --")


def test_sql_is_parameterised() -> None:
    sql, params = parse("colour in (red, pink) AND NOT brand = 'a''b'").to_sql()
    assert "red" not in sql and "a'b" not in sql
    assert params == ["colour", "red", "pink", "brand", "a'b"]
    assert sqlite3.complete_statement(sql + ";")


# ---- index conditions -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text, expected",
    [
        ("colour in (red, pink)", [("colour", ("red", "pink"), False)]),
        ("colour = red AND style != casual AND category not in (top, bottom)",
         [("colour", ("red",), False), ("style", ("casual",), True), ("category", ("top", "bottom"), True)]),
        ("NOT colour = red", [("colour", ("red",), True)]),
        ("NOT NOT colour = red", [("colour", ("red",), False)]),
        ("NOT (colour = red OR style = casual)", [("colour", ("red",), True), ("style", ("casual",), True)]),
        ("colour = red OR colour in (pink, red)", [("colour", ("red", "pink"), False)]),
        ("colour = red OR style = casual", None),
        ("NOT (colour = red AND style = casual)", None),
        ("colour = red AND (style = casual OR category = top)", None),
        ("colour != red OR colour != pink", None),
    ],
)  # fmt: skip
def test_index_conditions(text: str, expected) -> None:
    pytest.importorskip("vestis.catalog.index.base")
    conditions = to_conditions(parse(text))
    if expected is None:
        assert conditions is None
    else:
        assert [(c.field, tuple(c.values), c.negate) for c in conditions] == expected


def test_index_filter_falls_back_to_ids() -> None:
    pytest.importorskip("vestis.catalog.index.base")
    from vestis.search.filters import index_filter

    assert index_filter(None, lambda e: set()) is None
    plain = index_filter(parse("colour = red"), lambda e: pytest.fail("no SQL needed"))
    assert plain.allowed_ids is None and len(plain.conditions) == 1
    fallback = index_filter(parse("colour = red OR style = casual"), lambda e: {3, 5})
    assert fallback.allowed_ids == frozenset({3, 5}) and not fallback.conditions
    # a field the index payloads do not hold (a text field) also goes through SQL
    closed = [f for f, spec in SCHEMA.fields.items() if spec.closed]
    assert to_conditions(parse("brand = Zara AND colour = red"), closed) is None
    not_pushed = index_filter(parse("brand = Zara"), lambda e: {7}, payload_fields=closed)
    assert not_pushed.allowed_ids == frozenset({7})
    assert index_filter(parse("colour = red"), lambda e: {7}, payload_fields=closed).allowed_ids is None
