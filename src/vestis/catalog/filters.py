"""Running a parsed filter (:mod:`vestis.schema.filters`) against a catalog.

Two translations of the same filter: SQL over the store's ``items`` and
``attributes(item_id, field, value)`` tables (:func:`where_sql`, :func:`select_sql`), and,
when the filter is a plain AND of comparisons, vector-index conditions (:func:`to_conditions`,
:func:`index_filter`) that an index can apply itself. Both live in the catalog because they
write against its tables and its index contract; the filter language below knows neither.

>>> from vestis.schema import load_schema
>>> from vestis.schema.filters import parse_filter
>>> sql, params = select_sql(parse_filter("colour in (red, pink)", load_schema("vestis")))
>>> sql
'SELECT id FROM items WHERE id IN (SELECT item_id FROM attributes WHERE field = ? AND value IN (?, ?))'
>>> params
['colour', 'red', 'pink']
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from vestis.catalog.index.base import Condition, Filter
from vestis.schema.filters import And, Compare, FilterExpr, Not, Or


# ---- SQL ---------------------------------------------------------------------------------------
def where_sql(expr: FilterExpr, column: str = "id") -> tuple[str, list[str]]:
    """A SQL boolean expression on an item-id column (named by code, never input), and its parameters.

    Values and field names are always parameters; on a multi field a comparison means "contains",
    and a negation also matches items with no value for the field.
    """
    if not column.isidentifier():
        raise ValueError(f"not a column name: {column!r}")
    return _where(expr, column)


def _where(expr: FilterExpr, column: str) -> tuple[str, list[str]]:
    if isinstance(expr, Compare):
        marks = "value = ?" if len(expr.values) == 1 else f"value IN ({', '.join('?' * len(expr.values))})"
        subquery = f"SELECT item_id FROM attributes WHERE field = ? AND {marks}"
        return f"{column} {'NOT IN' if expr.negate else 'IN'} ({subquery})", [expr.field, *expr.values]
    if isinstance(expr, (And, Or)):
        sqls, params = [], []
        for part in expr.parts:
            sql, p = _where(part, column)
            sqls.append(sql)
            params.extend(p)
        word = " AND " if isinstance(expr, And) else " OR "
        return "(" + word.join(sqls) + ")", params
    if isinstance(expr, Not):
        sql, params = _where(expr.expr, column)
        return f"NOT ({sql})", params
    raise TypeError(f"not a filter expression: {expr!r}")


def select_sql(expr: FilterExpr) -> tuple[str, list[str]]:
    """``SELECT id FROM items WHERE ...`` selecting the items matching ``expr``, with its parameters."""
    sql, params = where_sql(expr, "id")
    return f"SELECT id FROM items WHERE {sql}", params


# ---- index conditions --------------------------------------------------------------------------
def to_conditions(
    expr: FilterExpr, payload_fields: Collection[str] | None = None
) -> tuple[Condition, ...] | None:
    """Vector-index conditions equivalent to ``expr``, or None when it needs OR/NOT structure.

    A plain AND of comparisons converts, and so do ``NOT`` of a comparison, ``NOT (a OR b)``
    and an OR of positive comparisons on one field (``colour = red OR colour = pink``).
    With ``payload_fields`` (the fields the index payloads hold), a comparison on any other
    field also gives None.
    """
    triples = _triples(expr)
    if triples is None:
        return None
    if payload_fields is not None and any(field not in payload_fields for field, _, _ in triples):
        return None
    return tuple(Condition(field, values, negate) for field, values, negate in triples)


def _triples(expr: FilterExpr) -> list[tuple[str, tuple[str, ...], bool]] | None:
    if isinstance(expr, Compare):
        return [(expr.field, expr.values, expr.negate)]
    if isinstance(expr, And):
        out: list[tuple[str, tuple[str, ...], bool]] = []
        for part in expr.parts:
            sub = _triples(part)
            if sub is None:
                return None
            out.extend(sub)
        return out
    if isinstance(expr, Or):
        fields = {p.field for p in expr.parts if isinstance(p, Compare) and not p.negate}
        if len(fields) == 1 and all(isinstance(p, Compare) and not p.negate for p in expr.parts):
            values = tuple(dict.fromkeys(v for p in expr.parts for v in p.values))  # type: ignore[attr-defined]
            return [(fields.pop(), values, False)]
        return None
    if isinstance(expr, Not):
        inner = expr.expr
        if isinstance(inner, Compare):
            return [(inner.field, inner.values, not inner.negate)]
        if isinstance(inner, Not):
            return _triples(inner.expr)
        if isinstance(inner, Or):  # De Morgan: NOT (a OR b) = NOT a AND NOT b
            return _triples(And(tuple(Not(p) for p in inner.parts)))
        return None  # NOT (a AND b) is an OR
    raise TypeError(f"not a filter expression: {expr!r}")


def index_filter(
    expr: FilterExpr | None,
    ids_matching: Callable[[FilterExpr], Any],
    payload_fields: Collection[str] | None = None,
) -> Filter | None:
    """An index Filter for ``expr``: conditions when they can express it, else the matching ids.

    ``ids_matching`` is usually ``CatalogStore.ids_matching`` (the SQL fallback);
    ``payload_fields`` as in :func:`to_conditions`.
    """
    if expr is None:
        return None
    conditions = to_conditions(expr, payload_fields)
    if conditions is not None:
        return Filter(allowed_ids=None, conditions=conditions)
    return Filter(allowed_ids=frozenset(ids_matching(expr)), conditions=())


__all__ = ["index_filter", "select_sql", "to_conditions", "where_sql"]
