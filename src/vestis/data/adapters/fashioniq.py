"""``fashioniq``: the Fashion IQ composed-retrieval release (Wu et al., 2021).

Layout::

    DIR/captions/cap.{dress,shirt,toptee}.{train,val,test}.json
        [{"candidate": asin, "target": asin, "captions": [text, text]}, ...]
    DIR/image_splits/split.{category}.{split}.json   (optional: lists of asins)
    DIR/images/{asin}.png|jpg

Examples are the images; :meth:`triplets` gives (candidate, captions, target) for
composed retrieval. Options: ``split`` (train, val, test; default all), ``category``
(comma list of dress, shirt, toptee; default all).
"""

from __future__ import annotations

from typing import Any

from vestis.data.adapters._common import category_label, image_index, read_json, resolve_schema
from vestis.data.base import DATASETS, Dataset, DatasetError
from vestis.data.example import Example

CATEGORIES = {"dress": "dress", "shirt": "top", "toptee": "top"}
SPLITS = ("train", "val", "test")


@DATASETS.register("fashioniq")
class FashionIQDataset(Dataset):
    """Fashion IQ images, plus the relative captions as :meth:`triplets`.

    >>> from vestis.data import open_dataset
    >>> ds = open_dataset("fashioniq:fashion-iq?split=val&category=dress")  # doctest: +SKIP
    """

    kind = "fashioniq"

    def __init__(self, root: Any, schema: Any = None, **options: str) -> None:
        super().__init__(root, schema=resolve_schema(schema, default="vestis"), **options)

    def _wanted(self) -> list[tuple[str, str]]:
        cats = [c.strip() for c in self.options.get("category", ",".join(CATEGORIES)).split(",") if c.strip()]
        splits = [self.options["split"]] if "split" in self.options else list(SPLITS)
        return [(c, s) for c in cats for s in splits]

    def _captions(self) -> list[tuple[str, str, dict[str, Any]]]:
        entries = []
        for cat, split in self._wanted():
            path = self.root / "captions" / f"cap.{cat}.{split}.json"
            if path.is_file():
                entries.extend((cat, split, e) for e in read_json(path))
        if not entries and not (self.root / "captions").is_dir():
            raise DatasetError(f"fashioniq: no captions/ folder in {self.root}")
        return entries

    def triplets(self) -> list[tuple[str, list[str], str]]:
        """``(candidate_id, captions, target_id)`` for every caption pair whose images both exist."""
        ids = {ex.id for ex in self.examples()}
        return [
            (str(e["candidate"]), list(e.get("captions", [])), str(e["target"]))
            for _, _, e in self._captions()
            if str(e.get("candidate")) in ids and str(e.get("target")) in ids
        ]

    def _load(self) -> list[Example]:
        seen: dict[str, tuple[str, str]] = {}  # asin → (category, split)
        for cat, split in self._wanted():
            path = self.root / "image_splits" / f"split.{cat}.{split}.json"
            for asin in read_json(path) if path.is_file() else []:
                seen.setdefault(str(asin), (cat, split))
        for cat, split, entry in self._captions():
            for key in ("candidate", "target"):
                if entry.get(key):
                    seen.setdefault(str(entry[key]), (cat, split))
        images = image_index(self.root / "images")
        examples = []
        for asin, (cat, split) in seen.items():
            image = images.get(asin)
            if image is None:
                self.problems.append(f"{asin}: image not found in {self.root / 'images'}")
                continue
            examples.append(
                Example(
                    id=asin,
                    image=str(image),
                    labels=category_label(self.schema, CATEGORIES.get(cat)),
                    meta={"asin": asin, "fashioniq_category": cat, "fashioniq_split": split},
                    source=self.name,
                )
            )
        return examples
