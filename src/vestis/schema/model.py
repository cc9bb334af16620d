"""Attribute schemas as data: fields, closed vocabularies, synonyms, weights.

A schema is loaded from YAML or JSON (a preset inside the package or a user file)
and derives everything else: a pydantic model, a JSON Schema, canonicalisation of
values, prompt text and zero-shot phrases.

>>> from vestis.schema import load_schema
>>> s = load_schema("denali")
>>> s.fields["type"].weight
2.5
>>> s.canonical("color", "Navy Blue")
'navy'
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from vestis.errors import OptionsError, UserError
from vestis.schema.roles import Roles, parse_roles

FieldKind = Literal["single", "multi", "text"]
KINDS: tuple[str, ...] = ("single", "multi", "text")


class SchemaError(UserError, ValueError):
    """A schema file is malformed; the message names the file and the offending key."""


def normalise_token(text: str) -> str:
    """Case-, space-, hyphen- and underscore-insensitive key used for matching values."""
    text = text.strip().lower().replace("&", " and ")
    return re.sub(r"[\s_\-/]+", " ", text).strip()


# Spellings of "no value" that models and annotators use; all of them mean null.
_NULL_SPELLINGS = (
    "",
    "none",
    "null",
    "n/a",
    "na",
    "nan",
    "not visible",
    "not applicable",
    "unknown",
    "unsure",
    "not sure",
    "-",
    "?",
    "no",
    "nil",
    "undefined",
    "not specified",
    "unspecified",
    "cannot tell",
    "can't tell",
    "not available",
    "not determinable",
    "indeterminate",
)
NULL_WORDS = frozenset(normalise_token(w) for w in _NULL_SPELLINGS)


def is_null_word(value: Any) -> bool:
    return value is None or (isinstance(value, str) and normalise_token(value) in NULL_WORDS)


@dataclass(frozen=True)
class Value:
    """One allowed value of a closed field."""

    name: str
    synonyms: tuple[str, ...] = ()
    description: str = ""
    parent: str | None = None  # value of the field's parent field this value implies

    @property
    def text(self) -> str:
        """Human-readable form, used in prompts and zero-shot phrases."""
        return self.description or self.name.replace("_", " ")


@dataclass
class Field:
    """One attribute. ``kind`` is single (one label), multi (a set) or text (bounded free text)."""

    name: str
    kind: FieldKind = "single"
    values: dict[str, Value] = field(default_factory=dict)
    description: str = ""
    weight: float = 1.0
    nullable: bool = True
    max_length: int = 64
    pattern: str | None = None
    parent: str | None = None  # name of a coarser field this one's values imply (type → category)
    role: str | None = None  # its field-role, e.g. "category" or "primary_colour" (see vestis.schema.roles)
    applies_to: dict[str, list[str]] = field(default_factory=dict)  # {other field: values} where it applies
    _lookup: dict[str, str] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for value in self.values.values():
            for spelling in (value.name, value.text, *value.synonyms):
                key = normalise_token(spelling)
                owner = self._lookup.setdefault(key, value.name)
                if owner != value.name:
                    raise SchemaError(
                        f"field {self.name!r}: spelling {spelling!r} maps to both "
                        f"{owner!r} and {value.name!r}"
                    )

    @property
    def closed(self) -> bool:
        return self.kind in ("single", "multi")

    @property
    def vocabulary(self) -> list[str]:
        return list(self.values)

    def canonical(self, raw: str) -> str | None:
        """Canonical value for a spelling (case, separators, synonyms), or None if unknown."""
        return self._lookup.get(normalise_token(raw))

    def applies(self, attributes: dict[str, Any]) -> bool:
        """False when ``applies_to`` rules it out (neckline of a shoe); unknown conditions apply."""
        for other, allowed in self.applies_to.items():
            value = attributes.get(other)
            if value is not None and value not in allowed:
                return False
        return True

    def phrase(self, value: str) -> str:
        """A short natural phrase for zero-shot scoring, e.g. 'a garment with long sleeves'."""
        v = self.values[value]
        return f"{self.name.replace('_', ' ')}: {v.text}"


@dataclass
class Schema:
    """A named set of fields. Build with :func:`load_schema` or :meth:`from_dict`."""

    name: str
    fields: dict[str, Field]
    description: str = ""
    version: str = "1"
    source: str | None = None  # where it was loaded from
    roles: Roles | None = None  # None: derived from the fields (see vestis.schema.roles)
    _field_lookup: dict[str, str] = field(default_factory=dict, repr=False)
    _model: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.roles is None:
            self.roles = parse_roles(None, self.fields, self.source or self.name)
        for role, name in self.roles.fields.items():
            self.fields[name].role = role
        for f in self.fields.values():
            self._field_lookup[normalise_token(f.name)] = f.name
            for other, allowed in f.applies_to.items():
                target = self.fields.get(other)
                if target is None or not target.closed or set(allowed) - set(target.values):
                    raise SchemaError(
                        f"field {f.name!r}: applies_to names values {allowed} of {other!r} "
                        "that the schema does not have"
                    )
            if f.parent is not None:
                parent = self.fields.get(f.parent)
                if parent is None or not parent.closed:
                    raise SchemaError(f"field {f.name!r}: parent {f.parent!r} is not a closed field")
                for v in f.values.values():
                    if v.parent is not None and v.parent not in parent.values:
                        raise SchemaError(
                            f"field {f.name!r}: value {v.name!r} has parent {v.parent!r}, "
                            f"not a value of {f.parent!r}"
                        )

    # ---- construction -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str | None = None) -> Schema:
        where = source or "<dict>"
        if not isinstance(data, dict) or "fields" not in data:
            raise SchemaError(f"{where}: a schema needs a top-level 'fields' mapping")
        if unknown := set(data) - {"name", "version", "description", "fields", "roles"}:
            raise SchemaError(f"{where}: unknown top-level keys {sorted(map(str, unknown))}")
        for key in ("name", "version", "description"):
            if not isinstance(data.get(key, ""), (str, int, float)) or isinstance(data.get(key), bool):
                raise SchemaError(f"{where}: '{key}' must be a string, got {data[key]!r}")
        name = str(data.get("name") or Path(where).stem)
        raw_fields = data["fields"]
        if not isinstance(raw_fields, dict) or not raw_fields:
            raise SchemaError(f"{where}: 'fields' must be a non-empty mapping of field name → spec")
        fields = {}
        for fname, spec in raw_fields.items():
            if not isinstance(fname, str) or not fname.strip():
                raise SchemaError(f"{where}: field names must be non-empty strings, got {fname!r}")
            fields[fname] = _parse_field(fname, spec, where)
        roles = parse_roles(data.get("roles"), fields, where)
        try:
            return cls(
                name=name,
                fields=fields,
                description=str(data.get("description", "")),
                version=str(data.get("version", "1")),
                source=source,
                roles=roles,
            )
        except SchemaError as exc:
            raise SchemaError(f"{where}: {exc}") from None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "version": self.version, "description": self.description}
        out["fields"] = {}
        for f in self.fields.values():
            spec: dict[str, Any] = {"kind": f.kind, "weight": f.weight, "nullable": f.nullable}
            if f.description:
                spec["description"] = f.description
            if f.parent:
                spec["parent"] = f.parent
            if f.applies_to:
                spec["applies_to"] = f.applies_to
            if f.kind == "text":
                spec["max_length"] = f.max_length
                if f.pattern:
                    spec["pattern"] = f.pattern
            else:
                spec["values"] = [
                    {
                        k: v
                        for k, v in (
                            ("name", val.name),
                            ("synonyms", list(val.synonyms)),
                            ("description", val.description),
                            ("parent", val.parent),
                        )
                        if v
                    }
                    for val in f.values.values()
                ]
            out["fields"][f.name] = spec
        out["roles"] = self.roles.to_dict()
        return out

    # ---- lookups -------------------------------------------------------------------------
    def field_name(self, raw: str) -> str | None:
        """Canonical field name for a key as a model might write it ('Sleeve Length' → 'sleeve_length')."""
        return self._field_lookup.get(normalise_token(raw))

    def canonical(self, field_name: str, raw: str) -> str | None:
        return self.fields[field_name].canonical(raw)

    def by_role(self, role: str) -> Field | None:
        """The field playing a field-role (``category``, ``primary_colour``, ...), or None."""
        name = self.roles.fields.get(role)
        return None if name is None else self.fields[name]

    def require_role(self, role: str, needed_for: str) -> Field:
        """The field playing ``role``, else a SchemaError naming the feature that needs it and the fix."""
        found = self.by_role(role)
        if found is None:
            raise SchemaError(
                f"schema {self.name!r} declares no {role!r} role, which {needed_for} needs: add "
                f"`roles: {{{role}: FIELD}}` to {self.source or 'the schema'}"
            )
        return found

    def empty(self) -> dict[str, Any]:
        """An object with every field null (multi fields empty)."""
        return {name: ([] if f.kind == "multi" else None) for name, f in self.fields.items()}

    def complete(self, labels: dict[str, Any]) -> dict[str, Any]:
        """Fill a missing parent field from a child value (type 'jeans' → category 'bottom')."""
        out = dict(labels)
        for f in self.fields.values():
            if f.parent and out.get(f.parent) in (None, []) and out.get(f.name) not in (None, []):
                parent_value = f.values[out[f.name]].parent if f.kind == "single" else None
                if parent_value:
                    out[f.parent] = parent_value
        return out

    # ---- derived artefacts ---------------------------------------------------------------
    def pydantic_model(self) -> type:
        """A pydantic model class whose fields mirror this schema (cached)."""
        if self._model is None:
            from vestis.schema.pydantic_model import build_model

            self._model = build_model(self)
        return self._model

    def json_schema(self) -> dict[str, Any]:
        schema = self.pydantic_model().model_json_schema()
        schema["title"] = f"vestis:{self.name}"
        return schema

    def prompt(self, style: str = "full") -> str:
        """Instructions for a generative model.

        ``full``: one line per field with its allowed values, null policy and description (what a
        model that has not seen the schema needs); ``compact``: the field names in one sentence,
        about a tenth as long, for a model fine-tuned on the schema (the grammar still holds it to
        the allowed values; every prompt token is attention every answer token pays for).
        """
        if style == "compact":
            return (
                f"Describe the garment in the image as a JSON object of the {self.name} schema with the "
                f"fields {', '.join(self.fields)}; null where not visible. Answer with the JSON object only."
            )
        if style != "full":
            raise OptionsError(f"prompt style must be full or compact, not {style!r}")
        lines = [
            f"Describe the garment in the image as a JSON object with these fields ({self.name} schema):"
        ]
        for f in self.fields.values():
            desc = f" - {f.description}" if f.description else ""
            if f.kind == "text":
                allowed = f"free text, at most {f.max_length} characters"
            else:
                allowed = ("one of: " if f.kind == "single" else "a list drawn from: ") + ", ".join(f.values)
            null = "; null if not visible" if f.nullable else ""
            lines.append(f'"{f.name}": {allowed}{null}{desc}')
        lines.append("Answer with the JSON object only.")
        return "\n".join(lines)

    def validate(self, candidate: str | dict[str, Any]):
        """Validate a raw model output (text or dict); see :func:`vestis.schema.validate.validate`."""
        from vestis.schema.validate import validate

        return validate(self, candidate)


FIELD_KEYS = frozenset(
    {"kind", "values", "description", "weight", "nullable", "max_length", "pattern", "parent", "role"}
    | {"applies_to"}
)


def _parse_field(name: str, spec: Any, where: str) -> Field:
    at = f"{where}: field {name!r}"
    if not isinstance(spec, dict):
        raise SchemaError(f"{at} must be a mapping, got {type(spec).__name__}")
    kind = spec.get("kind", "single")
    if not isinstance(kind, str) or kind not in KINDS:
        raise SchemaError(f"{at} has kind {kind!r}; expected one of {', '.join(KINDS)}")
    unknown = set(spec) - FIELD_KEYS
    if unknown:
        raise SchemaError(f"{at} has unknown keys {sorted(map(str, unknown))}")
    values: dict[str, Value] = {}
    if kind != "text":
        raw_values = spec.get("values")
        if not raw_values:
            raise SchemaError(f"{at}: a closed field needs a non-empty 'values' list")
        if not isinstance(raw_values, list):
            raise SchemaError(f"{at}: 'values' must be a list, got {type(raw_values).__name__}")
        for item in raw_values:
            value = _parse_value(name, item, where)
            if value.name in values:
                raise SchemaError(f"{at} lists value {value.name!r} twice")
            values[value.name] = value
    elif "values" in spec:
        raise SchemaError(f"{where}: text field {name!r} cannot have 'values'")
    weight, max_length = spec.get("weight", 1.0), spec.get("max_length", 64)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
        raise SchemaError(f"{at}: 'weight' must be a number >= 0, got {weight!r}")
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise SchemaError(f"{at}: 'max_length' must be a whole number >= 1, got {max_length!r}")
    if not isinstance(spec.get("nullable", True), bool):
        raise SchemaError(f"{at}: 'nullable' must be true or false, got {spec['nullable']!r}")
    for key in ("description", "pattern", "parent", "role"):
        if spec.get(key) is not None and not isinstance(spec[key], str):
            raise SchemaError(f"{at}: {key!r} must be a string, got {spec[key]!r}")
    pattern = spec.get("pattern")
    if pattern is not None:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise SchemaError(f"{at}: bad pattern {pattern!r}: {exc}") from None
    try:
        return Field(
            name=name,
            kind=kind,
            values=values,
            description=spec.get("description") or "",
            weight=float(weight),
            nullable=spec.get("nullable", True),
            max_length=max_length,
            pattern=pattern,
            parent=spec.get("parent"),
            role=spec.get("role"),
            applies_to=_parse_applies_to(spec.get("applies_to"), at),
        )
    except SchemaError as exc:
        raise SchemaError(f"{where}: {exc}") from None


def _parse_applies_to(raw: Any, at: str) -> dict[str, list[str]]:
    if raw is None:
        return {}
    lists = isinstance(raw, dict) and all(
        isinstance(v, list) and all(isinstance(x, str) for x in v) for v in raw.values()
    )
    if not lists or not all(isinstance(k, str) for k in raw):
        raise SchemaError(f"{at}: 'applies_to' must map field names to lists of values, got {raw!r}")
    return {k: list(v) for k, v in raw.items()}


def _parse_value(field_name: str, item: Any, where: str) -> Value:
    at = f"{where}: field {field_name!r}"
    if isinstance(item, str):
        return Value(name=item)
    if not isinstance(item, dict) or "name" not in item:
        raise SchemaError(f"{at}: each value is a string or a mapping with 'name', got {item!r}")
    name = item["name"]
    if not isinstance(name, str) or not name:
        raise SchemaError(f"{at}: a value's 'name' must be a non-empty string, got {name!r}")
    unknown = set(item) - {"name", "synonyms", "description", "parent"}
    if unknown:
        raise SchemaError(f"{at} value {name!r}: unknown keys {sorted(map(str, unknown))}")
    synonyms = item.get("synonyms") or []
    if not isinstance(synonyms, list) or not all(isinstance(x, (str, int, float)) for x in synonyms):
        raise SchemaError(f"{at} value {name!r}: 'synonyms' must be a list of strings, got {synonyms!r}")
    for key in ("description", "parent"):
        if item.get(key) is not None and not isinstance(item[key], str):
            raise SchemaError(f"{at} value {name!r}: {key!r} must be a string, got {item[key]!r}")
    return Value(
        name=name,
        synonyms=tuple(str(s) for s in synonyms),
        description=item.get("description") or "",
        parent=item.get("parent"),
    )


def read_structured(path: Path) -> Any:
    """Read YAML or JSON by extension, with a clear error for anything else."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        return json.loads(text)
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml

        return yaml.safe_load(text)
    raise SchemaError(f"{path}: expected a .yaml, .yml or .json file")
