"""Validate candidate outputs against a schema, leniently, and say what was repaired.

Model output is noisy: code fences, prose around the JSON, trailing commas, single
quotes, ``None``, "Navy Blue" for ``navy``, "N/A" for null. :func:`validate` turns a
dict or raw text into either a valid canonical object or a precise list of bad
fields, and always reports each repair, so that "valid without repair" and "valid
after repair" can both be measured.

>>> from vestis.schema import load_schema
>>> r = load_schema("denali").validate('```json\\n{"Type": "Jeans", "color": "N/A",}\\n```')
>>> r.ok, r.strict, r.value["type"], r.value["color"]
(True, False, 'jeans', None)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from vestis.schema.model import is_null_word

if TYPE_CHECKING:
    from vestis.schema.model import Field, Schema

_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")
_PY_LITERALS = {"None": "null", "True": "true", "False": "false"}


@dataclass
class FieldError:
    field: str
    message: str
    raw: Any = None

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass
class ValidationResult:
    """Outcome of validating one candidate.

    ``value`` is the canonical object when there are no errors, else None;
    ``partial`` always holds the object with bad fields set to null, for callers that
    must return something valid. ``strict`` is True when the candidate was valid JSON
    with canonical values and needed no repair at all.
    """

    value: dict[str, Any] | None
    partial: dict[str, Any]
    errors: list[FieldError] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    parsed: bool = True

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def strict(self) -> bool:
        return self.ok and not self.repairs

    def error_text(self) -> str:
        return "; ".join(str(e) for e in self.errors)


class ValidationError(ValueError):
    """Raised by :func:`validate_or_raise`; ``.result`` holds the details."""

    def __init__(self, result: ValidationResult) -> None:
        super().__init__(result.error_text())
        self.result = result


def validate(schema: Schema, candidate: str | dict[str, Any] | None) -> ValidationResult:
    repairs: list[str] = []
    if isinstance(candidate, dict):
        obj: Any = candidate
    else:
        obj = parse_json_lenient(candidate or "", repairs)
    if not isinstance(obj, dict):
        what = "no JSON object found" if obj is None else f"expected a JSON object, got {type(obj).__name__}"
        err = FieldError("$", what, candidate if isinstance(candidate, str) else None)
        return ValidationResult(None, schema.empty(), [err], repairs, parsed=False)

    out = schema.empty()
    errors: list[FieldError] = []
    seen: set[str] = set()
    for key, raw in obj.items():
        name = schema.field_name(str(key))
        if name is None:
            repairs.append(f"dropped unknown key {key!r}")
            continue
        if name != key:
            repairs.append(f"key {key!r} → {name!r}")
        if name in seen:
            repairs.append(f"duplicate key for {name!r}: kept the first")
            continue
        seen.add(name)
        value, error = _coerce(schema.fields[name], raw, repairs)
        if error:
            errors.append(FieldError(name, error, raw))
        else:
            out[name] = value
    for f in schema.fields.values():
        if f.name not in seen and not f.nullable and f.kind != "multi":
            errors.append(FieldError(f.name, "required field is missing"))
    return ValidationResult(None if errors else out, out, errors, repairs)


def validate_or_raise(schema: Schema, candidate: str | dict[str, Any]) -> dict[str, Any]:
    result = validate(schema, candidate)
    if not result.ok:
        raise ValidationError(result)
    return result.value  # type: ignore[return-value]


def _coerce(f: Field, raw: Any, repairs: list[str]) -> tuple[Any, str | None]:
    if f.kind == "multi":
        return _coerce_multi(f, raw, repairs)
    if isinstance(raw, list) and f.kind == "single":
        if len(raw) == 1:
            repairs.append(f"{f.name}: unwrapped one-element list")
            raw = raw[0]
        elif not raw:
            raw = None
        else:
            return None, f"expected one value, got a list of {len(raw)}"
    if is_null_word(raw):
        if raw is not None:
            repairs.append(f"{f.name}: {raw!r} → null")
        return (None, None) if f.nullable else (None, "required field is null")
    if f.kind == "text":
        if isinstance(raw, (int, float)) and not isinstance(raw, bool):
            repairs.append(f"{f.name}: number {raw!r} → text")
            raw = str(raw)
        if not isinstance(raw, str):
            return None, f"expected text, got {type(raw).__name__}"
        text = raw.strip()
        if text != raw:
            repairs.append(f"{f.name}: stripped whitespace")
        if len(text) > f.max_length:
            return None, f"text of {len(text)} characters exceeds max_length {f.max_length}"
        if f.pattern and not re.fullmatch(f.pattern, text):
            return None, f"{text!r} does not match pattern {f.pattern!r}"
        return text, None
    if not isinstance(raw, (str, int, float)) or isinstance(raw, bool):
        return None, f"expected one of the field's values, got {type(raw).__name__}"
    return _canonical_or_error(f, str(raw), repairs)


def _coerce_multi(f: Field, raw: Any, repairs: list[str]) -> tuple[Any, str | None]:
    if is_null_word(raw):
        if raw is not None:
            repairs.append(f"{f.name}: {raw!r} → []")
        return [], None
    if isinstance(raw, str):
        items: list[Any] = [p for p in re.split(r"[,;|/]", raw) if p.strip()]
        repairs.append(f"{f.name}: split text into a list")
    elif isinstance(raw, list):
        items = raw
    else:
        return None, f"expected a list, got {type(raw).__name__}"
    out: list[str] = []
    bad: list[str] = []
    for item in items:
        if is_null_word(item):
            repairs.append(f"{f.name}: dropped null-like item {item!r}")
            continue
        if not isinstance(item, str):
            bad.append(repr(item))
            continue
        value, error = _canonical_or_error(f, item, repairs)
        if error:
            bad.append(error)
        elif value not in out:
            out.append(value)
        else:
            repairs.append(f"{f.name}: dropped duplicate {value!r}")
    if bad:
        return None, "; ".join(bad)
    return out, None


def _canonical_or_error(f: Field, raw: str, repairs: list[str]) -> tuple[str | None, str | None]:
    if raw in f.values:
        return raw, None
    value = f.canonical(raw)
    if value is not None:
        repairs.append(f"{f.name}: {raw!r} → {value!r}")
        return value, None
    return None, f"{raw!r} is not an allowed value{_suggest(f, raw)}"


def _suggest(f: Field, raw: str) -> str:
    from rapidfuzz import process

    matches = process.extract(raw.lower(), list(f.values), limit=3, score_cutoff=60)
    return f" (closest: {', '.join(m[0] for m in matches)})" if matches else ""


def parse_json_lenient(text: str, repairs: list[str]) -> Any:
    """Find and parse the JSON object in noisy text; append what was repaired to ``repairs``."""
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        pass
    candidate = text
    fenced = _FENCE.search(candidate)
    if fenced:
        candidate = fenced.group(1)
        repairs.append("removed code fence")
    block = _first_object(candidate)
    if block is None:
        return None
    if block.strip() != candidate.strip():
        repairs.append("extracted JSON object from surrounding text")
    for attempt in _repair_attempts(block):
        fixed, note = attempt
        try:
            obj = json.loads(fixed)
        except json.JSONDecodeError:
            continue
        if note:
            repairs.append(note)
        return obj
    return None


def _repair_attempts(block: str):
    yield block, None
    no_trailing = _TRAILING_COMMA.sub(r"\1", block)
    yield no_trailing, "removed trailing commas"
    py = re.sub(r"\b(None|True|False)\b", lambda m: _PY_LITERALS[m.group(1)], no_trailing)
    yield py, "replaced Python literals"
    quoted = re.sub(r"(?<![A-Za-z])'([^'\n]*)'", lambda m: json.dumps(m.group(1)), py)
    yield quoted, "replaced single quotes"
    bare_keys = re.sub(r"([{,]\s*)([A-Za-z_][\w\- ]*)\s*:", r'\1"\2":', quoted)
    yield bare_keys, "quoted bare keys"


def _first_object(text: str) -> str | None:
    """The first balanced {...} block, aware of strings; an unclosed object is closed."""
    start = text.find("{")
    if start < 0:
        return None
    depth = 0
    in_string: str | None = None
    escape = False
    for i in range(start, len(text)):
        ch = text[i]
        if in_string:
            if escape:
                escape = False
            elif ch == "\\":
                escape = True
            elif ch == in_string:
                in_string = None
        elif ch in "\"'":
            in_string = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[start : i + 1]
    return text[start:].rstrip().rstrip(",") + "}" * depth if depth > 0 and not in_string else None
