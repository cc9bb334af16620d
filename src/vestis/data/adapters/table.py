"""``table``: a CSV, TSV, JSONL, JSON or Parquet file with one image per row.

Options (``table:items.csv?image=path&id=sku&group=product&text=title,description``):

- ``image``: the column holding image paths (default ``image``), relative to the table's
  folder or absolute; URLs are refused (download the images first).
- ``id``: id column (default ``id`` if present, else the image path as written).
- ``group``: column whose value must not straddle a split (colour variants of one product).
- ``text``: a column, or a comma-separated list of columns joined with ``". "``.
- ``mapping``: a mapping YAML file; labels are then ``Mapping.apply(row)``. Without it,
  columns named like fields of the given schema are taken as labels and validated; bad
  values become entries of ``problems`` (the row is kept, the bad field left empty).

Rows whose image file is missing are skipped and listed in ``problems``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

from vestis.data.adapters._common import resolve_schema
from vestis.data.base import DATASETS, Dataset, DatasetError
from vestis.data.example import Example
from vestis.schema import Schema
from vestis.schema.mapping import Mapping

TABLE_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".parquet")
Row = dict[str, Any]
Labeler = Callable[[Row], tuple[dict[str, Any], str | None]]


def read_table(path: Path) -> list[Row]:
    """Rows of a table file as dicts; CSV/TSV values stay strings (ids keep leading zeros)."""
    suffix = path.suffix.lower()
    try:
        if suffix in (".csv", ".tsv"):
            with open(path, newline="", encoding="utf-8-sig") as fh:
                return list(csv.DictReader(fh, delimiter="\t" if suffix == ".tsv" else ","))
        if suffix == ".jsonl":
            with open(path, encoding="utf-8") as fh:
                return [json.loads(line) for line in fh if line.strip()]
        if suffix == ".json":
            return _json_rows(path, json.loads(path.read_text(encoding="utf-8")))
        if suffix == ".parquet":
            return _parquet_rows(path)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot read table: {exc}") from None
    raise DatasetError(f"{path}: unsupported table format; expected one of {', '.join(TABLE_SUFFIXES)}")


def _json_rows(path: Path, data: Any) -> list[Row]:
    if isinstance(data, dict):
        keys = ("items", "rows", "data", "examples")
        lists = [v for k, v in data.items() if k in keys and isinstance(v, list)]
        data = lists[0] if lists else data
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise DatasetError(f"{path}: expected a JSON list of objects (or {{'items': [...]}})")
    return data


def _parquet_rows(path: Path) -> list[Row]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DatasetError(f"{path}: reading Parquet needs pyarrow (pip install pyarrow)") from None
    return pq.read_table(path).to_pylist()


def _cell(row: Row, column: str) -> str:
    value = row.get(column)
    return "" if value is None else str(value).strip()


@DATASETS.register("table")
class TableDataset(Dataset):
    """Rows of a table file; see the module docstring for the options.

    Subclasses (the shared-data adapters) may set :attr:`defaults` and override
    :meth:`table_path`, :meth:`_labeler`, :meth:`_id`, :meth:`_group` and :meth:`_text`.

    >>> from vestis.data import open_dataset
    >>> ds = open_dataset("table:items.csv?image=path&group=product_code")  # doctest: +SKIP
    """

    kind = "table"
    defaults: ClassVar[dict[str, str]] = {}

    def __init__(self, root: Any, schema: Any = None, **options: str) -> None:
        super().__init__(root, schema=resolve_schema(schema), **{**self.defaults, **options})
        self._columns: list[str] = []

    def table_path(self) -> Path:
        if self.root.is_file():
            return self.root
        found = [self.root / f"items{s}" for s in TABLE_SUFFIXES if (self.root / f"items{s}").is_file()]
        if not found:
            raise DatasetError(f"{self.root}: no table file (items.csv, items.jsonl, ...) in this directory")
        return found[0]

    def _load(self) -> list[Example]:
        path = self.table_path()
        rows = read_table(path)
        columns = list(dict.fromkeys(k for row in rows for k in row))
        image_col = self.options.get("image", "image")
        if rows and image_col not in columns:
            raise DatasetError(
                f"{path}: no image column {image_col!r}; columns are {', '.join(columns)} "
                "(choose one with ?image=COLUMN)"
            )
        self._columns = columns
        labeler = self._labeler(columns)
        examples: list[Example] = []
        seen: set[str] = set()
        for n, row in enumerate(rows, start=1):
            value = _cell(row, image_col)
            if value.lower().startswith(("http://", "https://")):
                raise DatasetError(
                    f"{path}: row {n}: image {value!r} is a URL; vestis reads local files, "
                    "so download the images and point the column at the files"
                )
            ex_id = self._id(row, value)
            if not value:
                self.problems.append(f"row {n} ({ex_id}): no image")
                continue
            image = Path(value) if Path(value).is_absolute() else path.parent / value
            if not image.is_file():
                self.problems.append(f"row {n} ({ex_id}): image not found: {image}")
                continue
            if ex_id in seen:
                self.problems.append(f"row {n}: duplicate id {ex_id!r} skipped")
                continue
            seen.add(ex_id)
            labels, problem = labeler(row)
            if problem:
                self.problems.append(f"row {n} ({ex_id}): {problem}")
            examples.append(
                Example(
                    id=ex_id,
                    image=str(image),
                    labels=labels,
                    meta=dict(row),
                    text=self._text(row, labels),
                    group=self._group(row),
                    source=self.name,
                )
            )
        return examples

    # ---- per-row hooks ---------------------------------------------------------------------
    def _id(self, row: Row, image_value: str) -> str:
        column = self.options.get("id") or ("id" if "id" in self._columns else None)
        return (_cell(row, column) if column else "") or image_value

    def _group(self, row: Row) -> str | None:
        column = self.options.get("group")
        return (_cell(row, column) or None) if column else None

    def _text(self, row: Row, labels: dict[str, Any]) -> str | None:
        columns = [c.strip() for c in self.options.get("text", "").split(",") if c.strip()]
        parts = [_cell(row, c) for c in columns]
        return ". ".join(p for p in parts if p) or None

    def _labeler(self, columns: list[str]) -> Labeler:
        if self.options.get("mapping"):
            mapping = Mapping.load(self._mapping_path(self.options["mapping"]), self.schema)
            return lambda row: (mapping.apply(row), None)
        if self.schema is None:
            return lambda row: ({}, None)
        return _column_labeler(self.schema, columns, skip={self.options.get("image", "image")})

    def _mapping_path(self, value: str) -> Path:
        path = Path(value)
        if not path.is_absolute() and not path.exists():
            beside = self.table_path().parent / path
            path = beside if beside.exists() else path
        return path


def _column_labeler(schema: Schema, columns: list[str], skip: set[str]) -> Labeler:
    """Labels from columns named like schema fields, validated; bad values reported, not raised."""
    fields = {c: f for c in columns if c not in skip and (f := schema.field_name(c)) is not None}

    def label(row: Row) -> tuple[dict[str, Any], str | None]:
        if not fields:
            return {}, None
        raw = {f: row.get(c) for c, f in fields.items()}
        result = schema.validate(raw)
        labels = {f: result.partial[f] for f in raw}
        return labels, (result.error_text() or None)

    return label
