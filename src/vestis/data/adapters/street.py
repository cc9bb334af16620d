"""``street-garments``: every garment of the ``street/`` photos that have a label map, cut out as
the garment parser's regions are cut, labelled from the label map.

The garments are the regions :func:`vestis.parse.regions.regions_from_classmap` finds in the
photo's true class map (labels → coarse classes by the ``street`` label map; components merged and
small blobs dropped as the ``lite-parser`` does), each cropped with :meth:`Region.crop`'s margin —
what :class:`vestis.extract.items.ItemExtractor` hands the extractor for a photo of a person. The
crops are written once as PNG files under ``$VESTIS_CACHE/street-garments/<key>`` (or ``?cache=DIR``)
and an example's ``image`` is that file.

Labels (vestis schema only; other schemas get none):

- ``category`` and ``type`` through ``parse/labelmaps/street__vestis.yaml``, read per label; a
  value is kept when the labels that give it cover at least 90% of the garment's pixels (a top
  region painted half blouse, half t-shirt has category ``top`` and no type). Unmapped labels give
  nothing, so an ambiguous garment has no label rather than a guess.
- ``colour`` from the garment's own pixels (its mask, edges eroded) when one palette colour
  clearly dominates (:func:`vestis.colour.dominant_colour`); otherwise none.

The split is by photo, as the parser's: every garment's group is ``street:<photo id>``, the key
:meth:`vestis.data.street.StreetPhoto.split` hashes.

>>> ds = open_dataset("street-garments")  # $VESTIS_DATA/street  # doctest: +SKIP
>>> ds.split("train")[0].labels  # doctest: +SKIP
{'category': 'top', 'type': 't_shirt', 'colour': 'white'}
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from vestis.cache import cache_dir
from vestis.colour import dominant_colour, srgb_to_lab
from vestis.data.adapters._common import resolve_schema
from vestis.data.base import DATASETS, Dataset, DatasetError
from vestis.data.example import Example
from vestis.data.street import StreetPhoto, load_street, read_labels
from vestis.images import load_image
from vestis.parse.labels import LabelMap, load_label_map
from vestis.parse.regions import regions_from_classmap
from vestis.schema.mapping import Mapping

VERSION = "v1"
LABEL_SHARE = 0.9  # share of a garment's pixels whose labels must agree on a value
MIN_COLOUR_PIXELS = 100
MAX_COLOUR_PIXELS = 4000
META = ("photo", "photo_image", "crop", "box", "class", "area", "labels_raw", "colour_share")


def schema_mapping_path(label_map: LabelMap, schema: str = "vestis") -> Path:
    """The schema mapping beside a label map's file (``{label map}__{schema}.yaml``)."""
    return Path(label_map.path).with_name(f"{label_map.name}__{schema}.yaml")


def region_labels(counts: dict[str, int], mapping: Mapping | None) -> dict[str, Any]:
    """Category and type of one garment from its labels' pixel counts (label name → pixels)."""
    if mapping is None:
        return {}
    total = sum(counts.values())
    votes: dict[str, dict[str, int]] = {}
    for name, n in counts.items():
        for field, value in mapping.apply({"label": name}).items():
            if value is not None:
                votes.setdefault(field, {}).setdefault(value, 0)
                votes[field][value] += n
    out = {}
    for field, by_value in votes.items():
        value, n = max(by_value.items(), key=lambda kv: kv[1])
        if n >= LABEL_SHARE * total:
            out[field] = value
    return out


def garment_colour(image: np.ndarray, mask: np.ndarray) -> tuple[str | None, float]:
    """The dominant palette colour of the pixels under ``mask`` (edges eroded), or None."""
    inner = mask.copy()
    inner[1:] &= mask[:-1]
    inner[:-1] &= mask[1:]
    inner[:, 1:] &= mask[:, :-1]
    inner[:, :-1] &= mask[:, 1:]
    pixels = image[inner if inner.sum() >= MIN_COLOUR_PIXELS else mask]
    if len(pixels) < MIN_COLOUR_PIXELS:
        return None, 0.0
    if len(pixels) > MAX_COLOUR_PIXELS:
        pixels = pixels[np.linspace(0, len(pixels) - 1, MAX_COLOUR_PIXELS).astype(int)]
    return dominant_colour(srgb_to_lab(pixels / 255.0))


@DATASETS.register("street-garments")
class StreetGarments(Dataset):
    """Worn garments of street/: id ``<photo>-<k>``, group ``street:<photo>``, image a cached crop.

    Options: ``cache`` (folder for the crops), ``label_map`` (default ``street``).
    ``meta`` holds the photo id and path, the crop box and the garment's box in the photo's pixels,
    its coarse class, share of the photo and pixel share of each raw label.
    """

    kind = "street-garments"
    folder: ClassVar[str | None] = "street"
    worn: ClassVar[bool] = True

    def __init__(self, root: Any, schema: Any = None, **options: str) -> None:
        super().__init__(root, schema=resolve_schema(schema, default="vestis"), **options)

    def _load(self) -> list[Example]:
        label_map = load_label_map(self.options.get("label_map", "street"))
        mapping_path = schema_mapping_path(label_map, self.schema.name)
        mapping = Mapping.load(mapping_path, self.schema) if mapping_path.is_file() else None
        if not (self.root / "labels.txt").is_file():
            raise DatasetError(f"street dataset at {self.root}: labels.txt not found")
        names = read_labels(self.root)
        key = hashlib.sha1(
            f"{VERSION}|{self.root.resolve()}|{Path(label_map.path).read_bytes()!r}".encode()
        ).hexdigest()[:16]
        if self.options.get("cache"):
            folder = Path(self.options["cache"])
            folder.mkdir(parents=True, exist_ok=True)
        else:
            folder = cache_dir("street-garments", key)
        index = folder / "index.json"
        if index.is_file():
            garments = json.loads(index.read_text())
        else:
            lut = label_map.lookup(names)
            garments = []
            for photo in load_street(self.root):
                if photo.mask is not None:
                    garments.extend(self._cut(photo, lut, label_map.merge, names, folder))
            tmp = index.with_suffix(".tmp")
            tmp.write_text(json.dumps(garments))
            tmp.replace(index)
        schema_fields = set(self.schema.fields)
        out = []
        for g in garments:
            labels = region_labels(g["labels_raw"], mapping)
            if g["colour"] is not None and "colour" in schema_fields and mapping is not None:
                labels["colour"] = g["colour"]
            out.append(
                Example(
                    id=g["id"],
                    image=str(folder / g["file"]),
                    labels=labels,
                    meta={k: g[k] for k in META},
                    group=f"street:{g['photo']}",
                    source=self.name,
                )
            )
        return out

    @staticmethod
    def _cut(
        photo: StreetPhoto, lut: np.ndarray, merge: frozenset[str], names: list[str], folder: Path
    ) -> list[dict[str, Any]]:
        image = load_image(photo.image)
        raw = np.asarray(Image.open(photo.mask))
        if raw.shape != (image.height, image.width):
            raise DatasetError(f"street photo {photo.id}: label map {raw.shape} ≠ image size {image.size}")
        pixels = np.asarray(image)
        out = []
        for k, region in enumerate(regions_from_classmap(lut[raw], image.size, merge=merge, masks=True)):
            mask = region.mask
            counts = np.bincount(raw[mask], minlength=len(names))
            colour, share = garment_colour(pixels, mask)
            crop = region.crop_box(image.size)
            name = f"{photo.id}-{k}.png"
            image.crop(crop).save(folder / name)
            out.append(
                {
                    "id": f"{photo.id}-{k}",
                    "file": name,
                    "photo": photo.id,
                    "photo_image": str(photo.image),
                    "crop": list(crop),
                    "box": list(region.box),
                    "class": region.category,
                    "area": round(region.area, 5),
                    "labels_raw": {names[i]: int(n) for i, n in enumerate(counts) if n},
                    "colour": colour,
                    "colour_share": round(share, 4),
                }
            )
        return out
