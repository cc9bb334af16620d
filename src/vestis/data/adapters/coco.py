"""``coco``: Fashionpedia / iMaterialist annotations in COCO JSON.

``coco:DIR`` (one ``*.json`` in DIR, or ``?annotations=NAME.json``) or ``coco:FILE.json``.
Images are looked up in ``?images=FOLDER`` (relative to the JSON's folder), else in
``images/`` beside the JSON, else beside the JSON itself. Examples are the images; ``meta``
lists the category and attribute names of their annotations. The category is labelled only
when every garment-level annotation (upper body, lower body, whole body) agrees on one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vestis.data.adapters._common import category_label, read_json, resolve_schema
from vestis.data.base import DATASETS, Dataset, DatasetError
from vestis.data.example import Example

GARMENT_SUPERCATEGORIES = {"upperbody": "top", "lowerbody": "bottom", "wholebody": None}


@DATASETS.register("coco")
class CocoDataset(Dataset):
    """Images of a COCO-format fashion annotation file.

    >>> from vestis.data import open_dataset
    >>> ds = open_dataset("coco:fashionpedia/instances_attributes_val2020.json?images=test")  # doctest: +SKIP
    """

    kind = "coco"

    def __init__(self, root: Any, schema: Any = None, **options: str) -> None:
        super().__init__(root, schema=resolve_schema(schema, default="vestis"), **options)

    def annotation_path(self) -> Path:
        if self.root.is_file():
            return self.root
        if "annotations" in self.options:
            return self.root / self.options["annotations"]
        found = sorted(self.root.glob("*.json"))
        if len(found) != 1:
            names = ", ".join(p.name for p in found) or "none"
            raise DatasetError(
                f"coco: expected one .json in {self.root} (found {names}); pass ?annotations=NAME"
            )
        return found[0]

    def _image_dir(self, base: Path) -> Path:
        if "images" in self.options:
            return base / self.options["images"]
        return base / "images" if (base / "images").is_dir() else base

    def _load(self) -> list[Example]:
        path = self.annotation_path()
        data = read_json(path)
        if not isinstance(data, dict) or not isinstance(data.get("images"), list):
            raise DatasetError(f"{path}: not a COCO annotation file (no 'images' list)")
        categories = {c["id"]: c for c in data.get("categories", [])}
        attributes = {a["id"]: a.get("name", str(a["id"])) for a in data.get("attributes", [])}
        per_image: dict[Any, list[dict[str, Any]]] = {}
        for ann in data.get("annotations", []):
            per_image.setdefault(ann.get("image_id"), []).append(ann)
        folder = self._image_dir(path.parent)
        examples = []
        for img in data["images"]:
            image = folder / str(img.get("file_name", ""))
            if not img.get("file_name") or not image.is_file():
                self.problems.append(f"image {img.get('id')}: not found: {image}")
                continue
            anns = per_image.get(img.get("id"), [])
            cats = [categories.get(a.get("category_id"), {}) for a in anns]
            meta = {
                "coco_id": img.get("id"),
                "width": img.get("width"),
                "height": img.get("height"),
                "categories": list(dict.fromkeys(c.get("name") for c in cats if c.get("name"))),
                "attributes": list(
                    dict.fromkeys(
                        attributes.get(i, str(i)) for a in anns for i in a.get("attribute_ids") or []
                    )
                ),
            }
            examples.append(
                Example(
                    id=str(img.get("id")),
                    image=str(image),
                    labels=self._labels(cats),
                    meta=meta,
                    source=self.name,
                )
            )
        return examples

    def _labels(self, cats: list[dict[str, Any]]) -> dict[str, str]:
        found = set()
        for cat in cats:
            supercategory = str(cat.get("supercategory", "")).replace(" ", "").lower()
            coarse = GARMENT_SUPERCATEGORIES.get(supercategory, "-")
            if coarse == "-":
                continue  # parts, closures, decorations, accessories: not the garment
            names = [n.strip() for n in str(cat.get("name", "")).split(",")]
            label = category_label(self.schema, *names, coarse)
            found.add(label.get("category"))
        return {"category": found.pop()} if len(found) == 1 and None not in found else {}
