"""Label mapping: raw dataset labels → schema values, as auditable data.

A mapping file (YAML) belongs to one source format and one schema. For each
schema field it lists *sources*, tried in order; the first that yields a value wins
for a single field, and all matches are united for a multi field::

    source: hm
    schema: vestis
    fields:
      type:
        - column: product_type_name
          map: {Trousers: trousers, "Vest top": tank_top}
          ignore: [Unknown]          # deliberately left unmapped (the audit says so)
      material:
        - column: detail_desc        # free text: keyword rules, case-insensitive, word-bounded
          keywords: {faux_leather: ["imitation leather", "faux leather"], denim: [denim]}
        - column: garment_group_name
          map: {Knitwear: knit}

After the sources, :meth:`Schema.complete` fills parent fields (type → category).
A source may carry ``when: {column: [values]}`` to apply only to matching rows.

>>> m = Mapping.from_dict({"source": "demo", "schema": "denali",
...     "fields": {"type": [{"column": "kind", "map": {"Jeans": "jeans"}}]}})
>>> m.apply({"kind": "Jeans"})["type"]
'jeans'
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vestis.schema.model import Schema, SchemaError, is_null_word, read_structured

MAPPINGS_DIR = Path(__file__).parent / "mappings"


class MappingError(SchemaError):
    """A mapping file is malformed or maps to values the schema does not have."""


@dataclass
class Source:
    """One way of reading a field from a raw row."""

    column: str
    map: dict[str, str | list[str]] = field(default_factory=dict)
    ignore: frozenset[str] = frozenset()
    keywords: dict[str, re.Pattern[str]] = field(default_factory=dict)  # value → one alternation
    when: dict[str, frozenset[str]] = field(default_factory=dict)

    @property
    def is_text(self) -> bool:
        return bool(self.keywords)

    def applies(self, row: dict[str, Any]) -> bool:
        return all(str(row.get(col, "")) in allowed for col, allowed in self.when.items())

    def read(self, row: dict[str, Any]) -> list[str]:
        raw = row.get(self.column)
        if is_null_word(raw) or not self.applies(row):
            return []
        raw = str(raw).strip()
        if self.keywords:
            return [value for value, pattern in self.keywords.items() if pattern.search(raw)]
        hit = self.map.get(raw)
        if hit is None:
            return []
        return list(hit) if isinstance(hit, list) else [hit]


@dataclass
class Mapping:
    source: str
    schema: Schema
    fields: dict[str, list[Source]]
    path: str | None = None

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], schema: Schema | None = None, path: str | None = None
    ) -> Mapping:
        from vestis.schema import load_schema

        where = path or "<mapping>"
        if not isinstance(data, dict) or "fields" not in data:
            raise MappingError(f"{where}: a mapping needs 'source', 'schema' and 'fields'")
        if schema is None:
            schema = load_schema(data.get("schema", "vestis"))
        problems: list[str] = []
        fields: dict[str, list[Source]] = {}
        for fname, specs in (data["fields"] or {}).items():
            if fname not in schema.fields:
                problems.append(f"field {fname!r} is not in schema {schema.name!r}")
                continue
            if isinstance(specs, dict):
                specs = [specs]
            fields[fname] = [_parse_source(schema, fname, spec, problems) for spec in specs]
        if problems:
            raise MappingError(f"{where}: " + "; ".join(problems))
        return cls(source=str(data.get("source", "")), schema=schema, fields=fields, path=path)

    @classmethod
    def load(cls, path_or_source: str | Path, schema: Schema | None = None) -> Mapping:
        """A mapping file path, or a source name resolved to the shipped ``{source}__{schema}.yaml``."""
        path = Path(path_or_source)
        if not path.suffix:
            schema_name = schema.name if schema else "vestis"
            path = MAPPINGS_DIR / f"{path_or_source}__{schema_name}.yaml"
            if not path.is_file():
                raise MappingError(
                    f"no shipped mapping for source {str(path_or_source)!r} and schema {schema_name!r}; "
                    f"shipped: {', '.join(list_mappings()) or '(none)'}"
                )
        if not path.is_file():
            raise MappingError(f"mapping file not found: {path}")
        try:
            data = read_structured(path)
        except SchemaError:
            raise
        except Exception as exc:
            raise MappingError(f"{path}: cannot parse: {exc}") from None
        return cls.from_dict(data, schema=schema, path=str(path))

    @property
    def columns(self) -> set[str]:
        cols = {s.column for sources in self.fields.values() for s in sources}
        cols |= {c for sources in self.fields.values() for s in sources for c in s.when}
        return cols

    def apply(self, row: dict[str, Any]) -> dict[str, Any]:
        """Schema labels for one raw row: single fields → value or None, multi fields → list."""
        labels: dict[str, Any] = {}
        for fname, sources in self.fields.items():
            f = self.schema.fields[fname]
            if f.kind == "multi":
                found: list[str] = []
                for src in sources:
                    found.extend(v for v in src.read(row) if v not in found)
                labels[fname] = found
            else:
                labels[fname] = next((vals[0] for src in sources if (vals := src.read(row))), None)
        return self.schema.complete(labels)


def list_mappings() -> list[str]:
    return sorted(p.stem for p in MAPPINGS_DIR.glob("*.yaml"))


def _parse_source(schema: Schema, fname: str, spec: Any, problems: list[str]) -> Source:
    f = schema.fields[fname]
    if not isinstance(spec, dict) or "column" not in spec:
        problems.append(f"{fname}: each source needs a 'column'")
        return Source(column="")

    def check(value: str) -> str:
        if f.closed and value not in f.values:
            problems.append(f"{fname}: {value!r} is not a value of the schema")
        return value

    mapping: dict[str, str | list[str]] = {}
    for raw, value in (spec.get("map") or {}).items():
        if isinstance(value, list):
            mapping[str(raw)] = [check(v) for v in value]
        else:
            mapping[str(raw)] = check(str(value))
    keywords: dict[str, re.Pattern[str]] = {}
    for value, words in (spec.get("keywords") or {}).items():
        check(str(value))
        alternation = "|".join(f"(?:{w})" for w in words)
        try:
            keywords[str(value)] = re.compile(rf"(?<![\w-])(?:{alternation})(?![\w-])", re.IGNORECASE)
        except re.error as exc:
            problems.append(f"{fname}: bad keyword pattern for {value!r}: {exc}")
    if mapping and keywords:
        problems.append(f"{fname}: a source has either 'map' or 'keywords', not both")
    when = {
        str(col): frozenset(str(v) for v in (vals if isinstance(vals, list) else [vals]))
        for col, vals in (spec.get("when") or {}).items()
    }
    return Source(
        column=str(spec["column"]),
        map=mapping,
        ignore=frozenset(map(str, spec.get("ignore") or ())),
        keywords=keywords,
        when=when,
    )
