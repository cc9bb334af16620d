"""``hm``, ``mango``, ``clothing``: the shared development sets (or any folder in their format).

Each reads ``DIR/items.csv`` and labels rows with the shipped mapping for its source and
the dataset's schema (default ``vestis``). With no shipped mapping for that schema, labels
stay empty and ``meta`` still holds every raw column.

>>> from vestis.data import open_dataset
>>> hm = open_dataset("hm")  # $VESTIS_DATA/hm, default ../shared/data/hm  # doctest: +SKIP
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, ClassVar

from vestis.data.adapters._common import resolve_schema
from vestis.data.adapters.table import Labeler, Row, TableDataset, _cell
from vestis.data.base import DATASETS, DatasetError
from vestis.schema.mapping import MAPPINGS_DIR, Mapping


class SharedTable(TableDataset):
    """A table in the shared-data format, labelled by the shipped ``{source}__{schema}`` mapping."""

    source: ClassVar[str] = ""

    def __init__(self, root: Any, schema: Any = None, **options: str) -> None:
        super().__init__(root, schema=resolve_schema(schema, default="vestis"), **options)

    def table_path(self) -> Path:
        path = self.root if self.root.is_file() else self.root / "items.csv"
        if not path.is_file():
            raise DatasetError(f"{self.kind} dataset: {path} not found")
        return path

    def _labeler(self, columns: list[str]) -> Labeler:
        if self.options.get("mapping"):
            return super()._labeler(columns)
        shipped = MAPPINGS_DIR / f"{self.source}__{self.schema.name}.yaml"
        if not shipped.is_file():
            return lambda row: ({}, None)
        mapping = Mapping.load(shipped, self.schema)
        return lambda row: (mapping.apply(row), None)


@DATASETS.register("hm")
class HMDataset(SharedTable):
    """H&M articles: id ``article_id``, group ``product_code``, text ``prod_name. detail_desc``."""

    kind = "hm"
    source = "hm"
    defaults: ClassVar[dict[str, str]] = {
        "id": "article_id",
        "group": "product_code",
        "text": "prod_name,detail_desc",
    }


@DATASETS.register("mango")
class MangoDataset(SharedTable):
    """Mango items: id ``cod_modelo_color``, grouped by model code so colour variants stay together.

    The text is a short phrase such as ``"black dress"``: the mapped colour when the mapping
    gives one (the raw fine colour is Spanish), else the raw fine colour, then the product type.
    """

    kind = "mango"
    source = "mango"
    defaults: ClassVar[dict[str, str]] = {"id": "cod_modelo_color"}

    def _group(self, row: Row) -> str | None:
        return _cell(row, "cod_modelo_color").split("-", 1)[0] or None

    def _text(self, row: Row, labels: dict[str, Any]) -> str | None:
        product = _cell(row, "des_product_type").lower()
        colour = _cell(row, "des_color_specification_esp").lower()
        field = self.schema.by_role("primary_colour") or self.schema.fields.get("colour")
        mapped = labels.get(field.name) if field is not None else None
        if isinstance(mapped, str) and field is not None and mapped in field.values:
            colour = mapped.replace("_", " ")
        return " ".join(p for p in (colour, product) if p) or None

    def outfits(self) -> dict[str, list[str]]:
        """Outfit id → item ids, from ``outfits.csv`` beside ``items.csv`` (empty if absent)."""
        path = self.table_path().parent / "outfits.csv"
        if not path.is_file():
            return {}
        outfits: dict[str, list[str]] = {}
        with open(path, newline="", encoding="utf-8-sig") as fh:
            for row in csv.DictReader(fh):
                outfits.setdefault(_cell(row, "outfit_id"), []).append(_cell(row, "item_id"))
        return outfits


@DATASETS.register("clothing")
class ClothingDataset(SharedTable):
    """User photos of single garments: id = image file stem, each image its own group, no text."""

    kind = "clothing"
    source = "clothing"

    def _id(self, row: Row, image_value: str) -> str:
        return Path(image_value).stem

    def _group(self, row: Row) -> str | None:
        return Path(_cell(row, self.options.get("image", "image"))).stem or None
