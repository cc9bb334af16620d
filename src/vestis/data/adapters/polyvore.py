"""``polyvore``: the Polyvore Outfits release (Vasileva et al., 2018).

Layout::

    DIR/polyvore_item_metadata.json    item_id → {semantic_category, title, url_name, ...}
    DIR/images/{item_id}.jpg
    DIR/nondisjoint/{train,valid,test}.json   (or disjoint/, or the split files directly in DIR)

A split file is a list of outfits ``{"set_id": ..., "items": [{"item_id": ..., "index": 1}, ...]}``.
Examples are the items of the outfits; an item's group is the first outfit containing it.
Options: ``version`` (``nondisjoint`` default, or ``disjoint``), ``split`` (train, valid, test;
default all).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vestis.data.adapters._common import category_label, image_index, read_json, resolve_schema
from vestis.data.base import DATASETS, Dataset, DatasetError
from vestis.data.example import Example

SPLITS = ("train", "valid", "test")


@DATASETS.register("polyvore")
class PolyvoreDataset(Dataset):
    """Polyvore Outfits items, with :meth:`outfits` for compatibility and fill-in-the-blank tasks.

    >>> from vestis.data import open_dataset
    >>> ds = open_dataset("polyvore:polyvore_outfits?version=disjoint&split=test")  # doctest: +SKIP
    """

    kind = "polyvore"

    def __init__(self, root: Any, schema: Any = None, **options: str) -> None:
        super().__init__(root, schema=resolve_schema(schema, default="vestis"), **options)

    def _outfit_dir(self) -> Path:
        if any((self.root / f"{s}.json").is_file() for s in SPLITS):
            return self.root
        version = self.options.get("version", "nondisjoint")
        folder = self.root / version
        if not folder.is_dir():
            raise DatasetError(f"polyvore: no split files in {self.root} or {folder}")
        return folder

    def _splits(self) -> list[tuple[str, list[dict[str, Any]]]]:
        folder = self._outfit_dir()
        wanted = [self.options["split"]] if "split" in self.options else list(SPLITS)
        found = [(s, folder / f"{s}.json") for s in wanted if (folder / f"{s}.json").is_file()]
        if not found:
            raise DatasetError(f"polyvore: none of {', '.join(f'{s}.json' for s in wanted)} in {folder}")
        out = []
        for split, path in found:
            data = read_json(path)
            if not isinstance(data, list):
                raise DatasetError(f"{path}: expected a list of outfits")
            out.append((split, data))
        return out

    def outfits(self) -> dict[str, list[str]]:
        """Outfit ``set_id`` → item ids in outfit order (``index``)."""
        outfits: dict[str, list[str]] = {}
        for _, data in self._splits():
            for outfit in data:
                items = sorted(outfit.get("items", []), key=lambda it: int(it.get("index", 0)))
                outfits[str(outfit["set_id"])] = [str(it["item_id"]) for it in items]
        return outfits

    def _load(self) -> list[Example]:
        meta_path = self.root / "polyvore_item_metadata.json"
        metadata: dict[str, Any] = read_json(meta_path) if meta_path.is_file() else {}
        images = image_index(self.root / "images")
        first: dict[str, tuple[str, str]] = {}  # item → (set_id, split)
        for split, data in self._splits():
            for outfit in data:
                for item in outfit.get("items", []):
                    first.setdefault(str(item["item_id"]), (str(outfit["set_id"]), split))
        examples = []
        for item_id, (set_id, split) in first.items():
            image = images.get(item_id)
            if image is None:
                self.problems.append(f"{item_id}: image not found in {self.root / 'images'}")
                continue
            raw = metadata.get(item_id, {})
            text = raw.get("title") or raw.get("url_name") or raw.get("description") or None
            examples.append(
                Example(
                    id=item_id,
                    image=str(image),
                    group=set_id,
                    text=text,
                    source=self.name,
                    labels=category_label(self.schema, raw.get("semantic_category")),
                    meta={**raw, "polyvore_split": split},
                )
            )
        return examples
