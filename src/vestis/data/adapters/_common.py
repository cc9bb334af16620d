"""Helpers shared by the adapters: schema resolution, obvious category labels, image look-up."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from vestis.data.base import DatasetError
from vestis.images import IMAGE_SUFFIXES
from vestis.schema import Schema, load_schema


def resolve_schema(schema: Any, default: str | None = None) -> Schema | None:
    """A :class:`Schema` from a schema object, a preset name or file path; ``default`` when None."""
    if schema is None:
        return load_schema(default) if default else None
    if isinstance(schema, Schema):
        return schema
    return load_schema(schema)


def category_label(schema: Schema | None, *candidates: str | None) -> dict[str, str]:
    """``{"category": value}`` for the first candidate the schema recognises, else ``{}``.

    A candidate is recognised as a spelling of a category value, or of a value of a field
    whose parent is ``category`` (``"Blazer"`` → type blazer → category outerwear).
    """
    if schema is None or "category" not in schema.fields:
        return {}
    children = [f for f in schema.fields.values() if f.parent == "category"]
    for raw in candidates:
        if not raw:
            continue
        value = schema.canonical("category", raw)
        if value is None:
            for child in children:
                fine = child.canonical(raw)
                if fine is not None and child.values[fine].parent:
                    value = child.values[fine].parent
                    break
        if value is not None:
            return {"category": value}
    return {}


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read JSON: {exc}") from None


def image_index(folder: Path) -> dict[str, Path]:
    """Stem → image path for the images directly in ``folder`` (one directory listing, no stat per id)."""
    if not folder.is_dir():
        return {}
    index: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES and not path.name.startswith("."):
            index.setdefault(path.stem, path)
    return index
