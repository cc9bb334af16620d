"""What a catalog item is: the records ingest writes, their validation, and the index payload."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

if TYPE_CHECKING:
    from vestis.schema.model import Field, Schema


@dataclass(eq=False)
class ItemRecord:
    """One item to add. ``attributes`` holds canonical schema values (field → value, or list for multi).

    A garment of a photo of a person names the photo's hash (``photo_hash``; a whole photo's is
    its ``content_hash``), its ``box`` in the photo's pixels ``(x0, y0, x1, y1)``, its number
    among the photo's garments (``garment``) and the parser's coarse class (``garment_class``).
    """

    content_hash: str
    source: str = ""
    path: str | Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    confidence: dict[str, Any] = field(default_factory=dict)
    thumbnail: bytes | None = None
    embedding: np.ndarray | None = None
    photo_hash: str | None = None
    box: tuple[int, int, int, int] | None = None
    garment: int | None = None
    garment_class: str | None = None


@dataclass(eq=False, kw_only=True)
class Item(ItemRecord):
    """An item read back from the catalog."""

    id: int
    added_at: str


class EmbeddingBatch(NamedTuple):
    """One batch of :meth:`CatalogStore.iter_embeddings`; unpacks as ``ids, vectors, payloads``."""

    ids: np.ndarray  # int64 [n]
    vectors: np.ndarray  # float32 [n, dim]
    payloads: list[dict[str, Any]] | None  # index payloads when asked for


@dataclass(frozen=True)
class IngestRun:
    id: int
    started_at: str
    finished_at: str | None
    source: str | None
    added: int
    duplicates: int
    skipped: int
    failed: int


@dataclass(frozen=True)
class SkippedFile:
    source_path: str
    reason: str
    detail: str
    at: str
    run_id: int | None


def content_hash(data: bytes | Path) -> str:
    """SHA-256 hex digest of an image's bytes (or of a file, read in chunks): the item key."""
    digest = hashlib.sha256()
    if isinstance(data, (bytes, bytearray, memoryview)):
        digest.update(data)
    else:
        with open(data, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def validate_attributes(schema: Schema, attributes: dict[str, Any], *, item: str = "") -> dict[str, Any]:
    """Check attributes hold canonical values of ``schema``; return them in schema order.

    Missing fields are allowed (null / empty). Raises ValueError naming the item and field.
    """
    where = f"item {item}: " if item else ""
    if not isinstance(attributes, dict):
        raise ValueError(f"{where}attributes must be a dict, got {type(attributes).__name__}")
    unknown = [k for k in attributes if k not in schema.fields]
    if unknown:
        hints = [
            f"{k!r} (did you mean {schema.field_name(str(k))!r}?)" if schema.field_name(str(k)) else repr(k)
            for k in unknown
        ]
        raise ValueError(f"{where}unknown field {', '.join(hints)}")
    out: dict[str, Any] = {}
    for name, f in schema.fields.items():
        if name not in attributes:
            continue
        raw = attributes[name]
        if f.kind == "multi":
            if raw is None:
                raw = []
            if not isinstance(raw, (list, tuple)):
                raise ValueError(f"{where}field {name!r}: expected a list of values, got {raw!r}")
            values = list(dict.fromkeys(raw))
            for v in values:
                _check_closed(f, v, where)
            out[name] = values
        elif raw is None:
            out[name] = None
        elif f.kind == "single":
            _check_closed(f, raw, where)
            out[name] = raw
        else:
            if not isinstance(raw, str) or not raw.strip() or len(raw) > f.max_length:
                raise ValueError(
                    f"{where}field {name!r}: expected non-empty text of at most {f.max_length} characters, "
                    f"got {raw!r}"
                )
            out[name] = raw
    return out


def _check_closed(f: Field, value: Any, where: str) -> None:
    if isinstance(value, str) and value in f.values:
        return
    canonical = f.canonical(value) if isinstance(value, str) else None
    hint = f" (the canonical value is {canonical!r})" if canonical else ""
    raise ValueError(f"{where}field {f.name!r}: {value!r} is not one of its values{hint}")


def _attribute_rows(schema: Schema, attributes: dict[str, Any]) -> list[tuple[str, str]]:
    rows = []
    for name, value in attributes.items():
        if schema.fields[name].kind == "multi":
            rows.extend((name, v) for v in dict.fromkeys(value or ()))
        elif value is not None:
            rows.append((name, value))
    return rows


def index_payload(schema: Schema, attributes: dict[str, Any]) -> dict[str, Any]:
    """What a vector index stores per item for pushed-down filters: the closed fields that have values."""
    return {
        k: v
        for k, v in attributes.items()
        if k in schema.fields and schema.fields[k].closed and v not in (None, [])
    }


def _dumps(value: Any, item: str, what: str) -> str:
    """JSON for free-form dicts (source metadata): NaN → null, numpy scalars → numbers, the rest → str."""
    if not isinstance(value, dict):
        raise ValueError(f"item {item}: {what} must be a dict, got {type(value).__name__}")
    return json.dumps(_plain(value), ensure_ascii=False, allow_nan=False, default=str)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        return _plain(value.tolist())
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value
