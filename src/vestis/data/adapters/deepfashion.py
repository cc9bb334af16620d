"""``deepfashion``: DeepFashion Category and Attribute Prediction (Liu et al., 2016).

Layout (each list file starts with a count line and a header line)::

    DIR/Anno/list_category_cloth.txt   category_name  category_type (1 upper, 2 lower, 3 full body)
    DIR/Anno/list_category_img.txt     image_name  category_label (1-based row of the list above)
    DIR/Anno/list_attr_cloth.txt       attribute_name  attribute_type   (optional; names may hold spaces)
    DIR/Anno/list_attr_img.txt         image_name  1000 values of -1/0/1  (optional)
    DIR/Eval/list_eval_partition.txt   image_name  train|val|test      (optional)
    DIR/img/...                        images, named as in the lists (``Img/img`` also accepted)

The category is labelled from the category name where the schema knows it (Blazer →
outerwear), else from the category type (upper/lower/full → top/bottom/dress). Attributes
stay raw in ``meta``. Images of one product folder share a group.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vestis.data.adapters._common import category_label, resolve_schema
from vestis.data.base import DATASETS, Dataset, DatasetError
from vestis.data.example import Example

TYPE_CATEGORY = {"1": "top", "2": "bottom", "3": "dress"}
TYPE_NAME = {"1": "upper-body", "2": "lower-body", "3": "full-body"}


def read_list(path: Path) -> Iterator[list[str]]:
    """Rows of a DeepFashion list file, after its count and header lines: (name, rest...)."""
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if n >= 2 and line.strip():
                yield line.split()


def _named_list(path: Path) -> list[tuple[str, str]]:
    """(name, type) rows of a ``list_*_cloth.txt`` file, where names may contain spaces."""
    rows = []
    with open(path, encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if n >= 2 and line.strip():
                name, kind = line.rsplit(None, 1)
                rows.append((name.strip(), kind))
    return rows


@DATASETS.register("deepfashion")
class DeepFashionDataset(Dataset):
    """DeepFashion category/attribute images; ``meta`` holds category, attributes and partition.

    >>> from vestis.data import open_dataset
    >>> ds = open_dataset("deepfashion:DeepFashion/Category_and_Attribute")  # doctest: +SKIP
    """

    kind = "deepfashion"

    def __init__(self, root: Any, schema: Any = None, **options: str) -> None:
        super().__init__(root, schema=resolve_schema(schema, default="vestis"), **options)

    def _anno(self, name: str) -> Path | None:
        for folder in ("Anno", "Anno_coarse", "Eval", "."):
            if (self.root / folder / name).is_file():
                return self.root / folder / name
        return None

    def _image_base(self) -> Path:
        if "images" in self.options:
            return self.root / self.options["images"]
        return self.root / "Img" if (self.root / "Img" / "img").is_dir() else self.root

    def _load(self) -> list[Example]:
        cloth_path, img_path = self._anno("list_category_cloth.txt"), self._anno("list_category_img.txt")
        if cloth_path is None or img_path is None:
            raise DatasetError(
                f"deepfashion: Anno/list_category_cloth.txt and list_category_img.txt needed in {self.root}"
            )
        categories = _named_list(cloth_path)
        attributes = self._attributes()
        partition_path = self._anno("list_eval_partition.txt")
        partition = {r[0]: r[1] for r in read_list(partition_path)} if partition_path else {}
        base = self._image_base()
        examples = []
        for row in read_list(img_path):
            name, label = row[0], int(row[-1])
            if not 1 <= label <= len(categories):
                self.problems.append(f"{name}: category label {label} out of range")
                continue
            image = base / name
            if not image.is_file():
                self.problems.append(f"{name}: image not found: {image}")
                continue
            cat_name, cat_type = categories[label - 1]
            product = Path(name).parent
            meta: dict[str, Any] = {
                "category_name": cat_name,
                "category_type": TYPE_NAME.get(cat_type, cat_type),
                "attributes": attributes.get(name, []),
            }
            if name in partition:
                meta["partition"] = partition[name]
            examples.append(
                Example(
                    id=name,
                    image=str(image),
                    group=product.as_posix(),
                    meta=meta,
                    source=self.name,
                    text=product.name.replace("_", " ") or None,
                    labels=category_label(self.schema, cat_name, TYPE_CATEGORY.get(cat_type)),
                )
            )
        return examples

    def _attributes(self) -> dict[str, list[str]]:
        names_path, img_path = self._anno("list_attr_cloth.txt"), self._anno("list_attr_img.txt")
        if names_path is None or img_path is None:
            return {}
        names = [n for n, _ in _named_list(names_path)]
        out = {}
        for row in read_list(img_path):
            values = row[1:]
            if len(values) != len(names):
                self.problems.append(f"{row[0]}: {len(values)} attribute values for {len(names)} attributes")
                continue
            out[row[0]] = [n for n, v in zip(names, values, strict=True) if v == "1"]
        return out
