"""The ``street/`` photos (Clothing Co-Parsing): photos of people, with label maps or tags.

A fixed validation split by photo: a photo is in ``val`` when the hash of its file name falls
below ``val_fraction`` (:func:`vestis.data.base.split_of`), so the split never moves.

>>> photos = load_street("../shared/data/street")  # doctest: +SKIP
>>> sum(p.mask is not None for p in photos)  # doctest: +SKIP
1004
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image

from vestis.data.base import DEFAULT_VAL_FRACTION, DatasetError, split_of
from vestis.parse.labels import LabelMap, load_label_map


@dataclass(frozen=True)
class StreetPhoto:
    id: str
    image: Path
    mask: Path | None  # 8-bit label map (indices into labels.txt), or None for tag-only photos
    tags: tuple[str, ...]

    def split(self, val_fraction: float = DEFAULT_VAL_FRACTION) -> Literal["train", "val"]:
        return split_of(f"street:{self.id}", val_fraction)


def read_labels(root: str | Path) -> list[str]:
    """Label names in index order, from ``labels.txt`` (``index<TAB>name`` lines)."""
    lines = (Path(root) / "labels.txt").read_text().split("\n")
    return [line.split("\t")[1] for line in lines if line.strip()]


def load_street(root: str | Path) -> list[StreetPhoto]:
    """All photos listed in ``items.csv`` (columns ``image, mask, tags``)."""
    root = Path(root)
    if not (root / "items.csv").is_file():
        raise DatasetError(f"street dataset not found at {root} (expected items.csv)")
    with open(root / "items.csv", newline="") as f:
        return [
            StreetPhoto(
                Path(row["image"]).stem,
                root / row["image"],
                root / row["mask"] if row.get("mask") else None,
                tuple(t for t in (row.get("tags") or "").split(";") if t),
            )
            for row in csv.DictReader(f)
        ]


class ClassMaps:
    """Reads a photo's label map as parser class indices ([H, W] uint8) through a label map."""

    def __init__(self, root: str | Path, label_map: LabelMap | None = None) -> None:
        self.label_map = label_map or load_label_map("street")
        self.lut = self.label_map.lookup(read_labels(root))

    def __call__(self, photo: StreetPhoto) -> np.ndarray:
        if photo.mask is None:
            raise DatasetError(f"street photo {photo.id} has no label map")
        return self.lut[np.asarray(Image.open(photo.mask))]
