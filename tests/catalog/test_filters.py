"""Running a parsed filter against a catalog: SQL against a store (checked against a plain-Python
reference on random filters), injection, facets, bounds, and vector-index conditions."""

from __future__ import annotations

import random
import sqlite3

import pytest

from tests.schema.test_filters import SCHEMA, cmp, parse
from vestis.catalog.filters import index_filter, select_sql, to_conditions, where_sql
from vestis.catalog.store import CatalogStore, ItemRecord
from vestis.schema.filters import MAX_DEPTH, MAX_VALUES, And, Compare, FilterError, FilterExpr, Not, Or

CLOSED = {"category": ["top", "bottom", "dress"], "colour": ["red", "pink", "navy", "black"]}
STYLES = ["casual", "formal", "party"]


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


def _nest(k: int, opening, inner: str = "colour = red") -> str:
    """``k`` levels of ``opening(level)`` around ``inner``, closed."""
    return "".join(opening(i) for i in range(k)) + inner + ")" * k


def _alternate(i: int) -> str:
    return "colour = navy OR (" if i % 2 else "colour = red AND ("


PAD = "(" * (MAX_DEPTH % 2 == 0)  # "NOT (" nests two levels: one more parenthesis reaches MAX_DEPTH exactly
DEEPEST = {  # each exactly as deep as the parser allows, two as wide too
    "parentheses": _nest(MAX_DEPTH - 1, lambda i: "("),
    "alternating": _nest(
        MAX_DEPTH - 1, lambda i: "style in (casual, party) OR (" if i % 2 else "colour = red AND ("
    ),
    "not-and": PAD + _nest((MAX_DEPTH - 1) // 2, lambda i: "NOT (colour = red AND ") + ")" * len(PAD),
    "not-or": PAD + _nest((MAX_DEPTH - 1) // 2, lambda i: "NOT (style != party OR ") + ")" * len(PAD),
    "nots": "NOT " * (MAX_DEPTH - 1) + "colour = red",
    "wide-nots": "NOT " * (MAX_DEPTH - 3) + "(" + " AND ".join(["NOT colour = red"] * MAX_VALUES) + ")",
    "wide-alternating": _nest(
        MAX_DEPTH - 1, _alternate, " OR ".join(f"brand = b{i}" for i in range(MAX_VALUES - MAX_DEPTH + 1))
    ),
}


@pytest.mark.parametrize("text", DEEPEST.values(), ids=DEEPEST)
def test_the_largest_filters_the_parser_takes_run_in_sqlite(catalog, text: str) -> None:
    store, truth = catalog
    expr = parse(text)
    expected = {i for i, attrs in truth.items() if reference(expr, attrs)}
    assert store.ids_matching(expr) == expected
    assert store.id_array_matching(expr).tolist() == sorted(expected)
    assert store.count(expr) == len(expected)
    store.facets("colour", where=expr)
    with pytest.raises(FilterError, match="nested more than"):  # the shape is at the limit
        parse("(" + text + ")")


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def test_predicate_refuses_a_non_identifier_column() -> None:
    with pytest.raises(ValueError, match="column"):
        where_sql(cmp("colour", "red"), "id); DROP TABLE items; --")


def test_sql_is_parameterised() -> None:
    sql, params = select_sql(parse("colour in (red, pink) AND NOT brand = 'a''b'"))
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
    conditions = to_conditions(parse(text))
    if expected is None:
        assert conditions is None
    else:
        assert [(c.field, tuple(c.values), c.negate) for c in conditions] == expected


def test_index_filter_falls_back_to_ids() -> None:
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
