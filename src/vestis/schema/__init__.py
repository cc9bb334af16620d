"""Attribute schemas: presets shipped as data, user files, validation.

>>> from vestis.schema import list_schemas, load_schema
>>> "vestis" in list_schemas()
True
>>> load_schema("florence").fields["category"].vocabulary[:3]
['top', 'bottom', 'dress']
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from vestis.schema.model import Field, Schema, SchemaError, Value, read_structured
from vestis.schema.validate import FieldError, ValidationError, ValidationResult, validate

PRESETS_DIR = Path(__file__).parent / "presets"


def list_schemas() -> list[str]:
    """Names of the preset schemas shipped in the package."""
    return sorted(p.stem for p in PRESETS_DIR.glob("*.yaml"))


def load_schema(name_or_path: str | Path) -> Schema:
    """A preset by name (``vestis``, ``florence``, ``denali``) or a YAML/JSON file path."""
    path = Path(name_or_path)
    if path.suffix.lower() in (".yaml", ".yml", ".json"):
        if not path.is_file():
            raise SchemaError(f"schema file not found: {path}")
        return _load_file(str(path.resolve()), path.stat().st_mtime_ns)
    preset = PRESETS_DIR / f"{name_or_path}.yaml"
    if not preset.is_file():
        raise SchemaError(
            f"unknown schema {str(name_or_path)!r}: not a preset ({', '.join(list_schemas())}) "
            "and not a .yaml/.json file"
        )
    return _load_file(str(preset), 0)


@lru_cache(maxsize=32)
def _load_file(path: str, _mtime: int) -> Schema:
    try:
        data = read_structured(Path(path))
    except SchemaError:
        raise
    except Exception as exc:  # yaml/json syntax errors: say where
        raise SchemaError(f"{path}: cannot parse: {exc}") from None
    return Schema.from_dict(data, source=path)


__all__ = [
    "Field",
    "FieldError",
    "Schema",
    "SchemaError",
    "ValidationError",
    "ValidationResult",
    "Value",
    "list_schemas",
    "load_schema",
    "validate",
]
