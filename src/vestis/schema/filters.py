"""A small filter language over catalog attributes, parsed into an AST (never evaluated as code).

    category = dress AND colour in (red, 'navy blue') AND NOT style = casual

Grammar (keywords are case-insensitive; NOT binds tighter than AND, AND tighter than OR)::

    expr       := term (OR term)*
    term       := factor (AND factor)*
    factor     := NOT factor | '(' expr ')' | comparison
    comparison := field ('=' | '!=') value | field [NOT] IN '(' value (',' value)* ')'
    value      := bare words | 'quoted' | "quoted"     (a quote inside is doubled: 'it''s')

Field names and values go through the schema, so ``Sleeve Length = Long Sleeves`` and
``colour in (Navy Blue, red)`` mean ``sleeve_length = long`` and ``colour in (navy, red)``;
an unknown field or value is a :class:`FilterError` with its position and suggestions.
On a multi field (``style``) a comparison means "contains": ``style = casual`` matches
items tagged casual among others, and ``style != casual`` the items not tagged casual.
A negation also matches items with no value for the field. Text fields match exactly.

The language lives here, in :mod:`vestis.schema`, because a filter is parsed *against a
schema* and needs nothing else: the catalog, which runs a parsed filter
(:mod:`vestis.catalog.filters`: SQL over its tables, or vector-index conditions), and the
searcher and outfit completion, which parse users' text, all sit above it and import it
downwards. This module knows no tables and no indexes.

Input is bounded: at most :data:`MAX_LENGTH` characters, :data:`MAX_VALUES` values in all
comparisons together, and :data:`MAX_DEPTH` levels of nesting; more is a :class:`FilterError`.

>>> from vestis.schema import load_schema
>>> expr = parse_filter("Colour in (Navy Blue, red) and category = dresses", load_schema("vestis"))
>>> str(expr)
'colour in (navy, red) AND category = dress'
>>> parse_filter(str(expr), load_schema("vestis")) == expr
True
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vestis.errors import UserError
from vestis.schema.model import normalise_token

if TYPE_CHECKING:
    from vestis.schema.model import Field, Schema

# The bounds keep every filter that parses runnable as SQL (tests/catalog/test_filters.py checks
# the worst shapes at the limits). SQLite's parser overflows its stack on about 28 levels of
# nesting ("a OR (b AND (c OR ..."), and refuses an expression tree 1,000 deep, which a
# 1,000-comparison OR is.
MAX_DEPTH = 20  # nesting of parentheses and NOTs; deeper input is refused, not recursed into
MAX_LENGTH = 10_000  # characters; a longer filter is refused before it is read
MAX_VALUES = 256  # values in all comparisons together (``in (a, b)`` counts two)

_KEYWORDS = frozenset({"AND", "OR", "NOT", "IN"})
_BARE = re.compile(r"[^\s()',=!\"]+")
_QUOTED = {"'": re.compile(r"'((?:[^']|'')*)'"), '"': re.compile(r'"((?:[^"]|"")*)"')}
_OPERATORS = ("!=", "==", "=")


class FilterError(UserError, ValueError):
    """A filter that does not parse or names an unknown field or value.

    ``position`` is the 0-based character offset in ``text``; ``suggestions`` are close
    field names or values; :meth:`caret` draws the text with a marker under the position.
    """

    def __init__(self, message: str, text: str, position: int, suggestions: tuple[str, ...] = ()) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"{message} at position {position}{hint}")
        self.text = text
        self.position = position
        self.suggestions = suggestions

    def caret(self) -> str:
        return f"{self.text}\n{' ' * self.position}^"


# ---- the AST -------------------------------------------------------------------------------
class FilterExpr:
    """Base of the filter AST. Nodes are immutable and compare by value; ``str()`` re-parses.

    Combine with ``&``, ``|`` and ``~``.
    """

    def _str(self, parent: type | None) -> str:
        raise NotImplementedError

    def __str__(self) -> str:
        return self._str(None)

    def __and__(self, other: FilterExpr) -> FilterExpr:
        return And((self, other))

    def __or__(self, other: FilterExpr) -> FilterExpr:
        return Or((self, other))

    def __invert__(self) -> FilterExpr:
        return Not(self)


@dataclass(frozen=True, repr=False)
class Compare(FilterExpr):
    """``field in values`` (``=`` when there is one value), or its negation."""

    field: str
    values: tuple[str, ...]
    negate: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(self.values))  # a list from a caller stays hashable
        if not self.values:
            raise ValueError("a comparison needs at least one value")

    def _str(self, parent: type | None) -> str:
        if len(self.values) == 1:
            return f"{self.field} {'!=' if self.negate else '='} {_quote(self.values[0])}"
        return f"{self.field} {'not in' if self.negate else 'in'} ({', '.join(map(_quote, self.values))})"

    def __repr__(self) -> str:
        return f"Compare({self})"


@dataclass(frozen=True, repr=False)
class _Junction(FilterExpr):
    parts: tuple[FilterExpr, ...]
    _word = ""

    def __post_init__(self) -> None:
        flat: list[FilterExpr] = []
        for part in self.parts:
            flat.extend(part.parts if type(part) is type(self) else (part,))  # type: ignore[attr-defined]
        if len(flat) < 2:
            raise ValueError(f"{type(self).__name__} needs at least two parts")
        object.__setattr__(self, "parts", tuple(flat))

    def _str(self, parent: type | None) -> str:
        text = f" {self._word} ".join(p._str(type(self)) for p in self.parts)
        # OR inside AND, and anything but a comparison under NOT, needs parentheses
        return f"({text})" if parent is Not or (parent is And and isinstance(self, Or)) else text

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self})"


class And(_Junction):
    """All parts match. Nested ANDs are flattened."""

    _word = "AND"


class Or(_Junction):
    """Any part matches. Nested ORs are flattened."""

    _word = "OR"


@dataclass(frozen=True, repr=False)
class Not(FilterExpr):
    """The part does not match."""

    expr: FilterExpr

    def _str(self, parent: type | None) -> str:
        return f"NOT {self.expr._str(Not)}"

    def __repr__(self) -> str:
        return f"Not({self.expr})"


def _quote(value: str) -> str:
    bare = _BARE.fullmatch(value) and value.upper() not in _KEYWORDS
    return value if bare else "'" + value.replace("'", "''") + "'"


# ---- tokens --------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Token:
    kind: str  # word | string | op | ( | ) | , | end
    text: str
    pos: int
    end: int

    def keyword(self, *words: str) -> bool:
        return self.kind == "word" and self.text.upper() in words


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "(),":
            tokens.append(_Token(ch, ch, i, i + 1))
            i += 1
        elif ch in _QUOTED:
            m = _QUOTED[ch].match(text, i)
            if m is None:
                raise FilterError(f"unterminated quote {ch}", text, i)
            tokens.append(_Token("string", m.group(1).replace(ch * 2, ch), i, m.end()))
            i = m.end()
        elif op := next((o for o in _OPERATORS if text.startswith(o, i)), None):
            tokens.append(_Token("op", "=" if op == "==" else op, i, i + len(op)))
            i += len(op)
        elif m := _BARE.match(text, i):
            tokens.append(_Token("word", m.group(), i, m.end()))
            i = m.end()
        else:
            raise FilterError(f"unexpected character {ch!r}", text, i)
    tokens.append(_Token("end", "", len(text), len(text)))
    return tokens


# ---- parser --------------------------------------------------------------------------------
def parse_filter(text: str, schema: Schema) -> FilterExpr:
    """Parse a filter, normalising field names and values through ``schema``.

    >>> from vestis.schema import load_schema
    >>> parse_filter("NOT style = casual OR type in (jeans, Pants)", load_schema("vestis"))
    Or(NOT style = casual OR type in (jeans, trousers))
    """
    return _Parser(text, schema).parse()


class _Parser:
    def __init__(self, text: str, schema: Schema) -> None:
        if len(text) > MAX_LENGTH:
            raise FilterError(f"filter longer than {MAX_LENGTH} characters ({len(text)})", text, MAX_LENGTH)
        self.text = text
        self.schema = schema
        self.tokens = _tokenize(text)
        self.i = 0
        self.depth = 0
        self.values = 0

    def parse(self) -> FilterExpr:
        if self.peek.kind == "end":
            raise FilterError("empty filter", self.text, 0)
        expr = self.expr()
        if self.peek.kind != "end":
            raise self.error(f"unexpected {self.describe(self.peek)}; expected AND, OR or the end")
        return expr

    # -- helpers
    @property
    def peek(self) -> _Token:
        return self.tokens[self.i]

    def take(self) -> _Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def error(
        self, message: str, token: _Token | None = None, suggestions: list[str] | None = None
    ) -> FilterError:
        return FilterError(message, self.text, (token or self.peek).pos, tuple(suggestions or ()))

    @staticmethod
    def describe(token: _Token) -> str:
        return "end of filter" if token.kind == "end" else repr(token.text)

    def expect(self, kind: str, what: str) -> _Token:
        if self.peek.kind != kind:
            raise self.error(f"expected {what}, found {self.describe(self.peek)}")
        return self.take()

    # -- grammar
    def expr(self) -> FilterExpr:
        parts = [self.term()]
        while self.peek.keyword("OR"):
            self.take()
            parts.append(self.term())
        return parts[0] if len(parts) == 1 else Or(tuple(parts))

    def term(self) -> FilterExpr:
        parts = [self.factor()]
        while self.peek.keyword("AND"):
            self.take()
            parts.append(self.factor())
        return parts[0] if len(parts) == 1 else And(tuple(parts))

    def factor(self) -> FilterExpr:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"filter nested more than {MAX_DEPTH} levels deep")
        try:
            if self.peek.keyword("NOT"):
                self.take()
                return Not(self.factor())
            if self.peek.kind == "(":
                self.take()
                inner = self.expr()
                self.expect(")", "')'")
                return inner
            return self.comparison()
        finally:
            self.depth -= 1

    def comparison(self) -> Compare:
        start = self.peek
        words = []
        while self.peek.kind in ("word", "string") and not self.peek.keyword(*_KEYWORDS):
            words.append(self.take().text)
        if not words:
            raise self.error(f"expected a field name, found {self.describe(start)}")
        field = self.field(" ".join(words), start)
        if self.peek.kind == "op":
            negate = self.take().text == "!="
            if self.peek.kind == "(":
                raise self.error("use 'in (...)' or 'not in (...)' to compare with a list")
            return Compare(field.name, (self.value(field, in_list=False),), negate)
        negate = self.peek.keyword("NOT")
        if negate:
            self.take()
        if not self.peek.keyword("IN"):
            expected = "'in'" if negate else "'=', '!=', 'in' or 'not in'"
            raise self.error(
                f"expected {expected} after field {field.name!r}, found {self.describe(self.peek)}"
            )
        self.take()
        self.expect("(", "'(' after 'in'")
        values = [self.value(field, in_list=True)]
        while self.peek.kind == ",":
            self.take()
            if self.peek.kind == ")":  # trailing comma
                break
            values.append(self.value(field, in_list=True))
        self.expect(")", "',' or ')'")
        return Compare(field.name, tuple(dict.fromkeys(values)), negate)

    def field(self, raw: str, token: _Token) -> Field:
        name = self.schema.field_name(raw)
        if name is None:
            close = _closest(raw, {f: f for f in self.schema.fields})
            known = "" if close else f" (fields: {', '.join(self.schema.fields)})"
            raise self.error(f"unknown field {raw!r}{known}", token, close)
        return self.schema.fields[name]

    def value(self, field: Field, *, in_list: bool) -> str:
        """One value: a quoted string, or bare words up to ',' / ')' in a list, up to AND/OR/')' otherwise."""
        start = self.peek
        self.values += 1
        if self.values > MAX_VALUES:
            raise self.error(f"filter has more than {MAX_VALUES} values")
        if start.kind == "string":
            raw = self.take().text
        else:
            words = []
            while self.peek.kind == "word" and (in_list or not self.peek.keyword("AND", "OR")):
                words.append(self.take().text)
            if not words:
                raise self.error(f"expected a value for {field.name!r}, found {self.describe(start)}")
            raw = " ".join(words)
        if not field.closed:
            if not raw.strip():
                raise self.error(f"empty value for {field.name!r}", start)
            return raw.strip()
        value = field.canonical(raw)
        if value is None:
            spellings = {s: v.name for v in field.values.values() for s in (v.name, v.text, *v.synonyms)}
            raise self.error(
                f"unknown value {raw!r} for field {field.name!r}", start, _closest(raw, spellings)
            )
        return value


def _closest(raw: str, spellings: dict[str, str], limit: int = 3) -> list[str]:
    """Up to ``limit`` canonical names whose spellings are close to ``raw``."""
    from rapidfuzz import fuzz, process

    keys = {normalise_token(s): name for s, name in spellings.items()}
    matches = process.extract(
        normalise_token(raw), list(keys), scorer=fuzz.ratio, limit=limit * 3, score_cutoff=60
    )
    return list(dict.fromkeys(keys[m[0]] for m in matches))[:limit]


__all__ = [
    "MAX_DEPTH",
    "MAX_LENGTH",
    "MAX_VALUES",
    "And",
    "Compare",
    "FilterError",
    "FilterExpr",
    "Not",
    "Or",
    "parse_filter",
]
