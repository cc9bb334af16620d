"""Extraction per item: a parser finds the items of a photo, the extractor describes each one.

For a product shot the parser returns the whole image as the one item, and the result is exactly
what the extractor gives without a parser. For a photo of a person every garment the parser finds
is cropped (with a small margin) and extracted; the result's ``items`` lists each garment's box
(pixels of the original image), share of the image, coarse class, attributes and confidence, and
its ``attributes`` are those of the primary item — the garment covering most of the photo.

Where the parser's coarse class names a value of the schema's category field and the extractor
disagrees, the parser wins (it was trained on worn garments, the extractor mostly on product
shots), and a child field that no longer fits the category (the type) is nulled. Fields the
extractor has no reliable signal for on worn garments (:meth:`Extractor.unreliable_on_worn`) are
null on the garments of a photo of a person, kept on a product shot.

>>> from PIL import Image
>>> from vestis.extract.base import load_extractor
>>> ex = ItemExtractor(load_extractor("pixel-colour"), "whole")
>>> r = ex.extract(Image.new("RGB", (40, 60), (200, 20, 30)))
>>> r.attributes["colour"], [(i.box, i.area) for i in r.items]
('red', [((0, 0, 40, 60), 1.0)])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from vestis.extract.base import Extraction, Extractor
from vestis.images import ImageLoadError, ImageSource, load_image
from vestis.parse.base import Parser, category_value, load_parser


@dataclass
class Item:
    """One item of a photo: where it is, what it is."""

    box: tuple[int, int, int, int]
    area: float
    category: str | None  # the parser's coarse class (None for a product shot's whole image)
    attributes: dict[str, Any]
    confidence: dict[str, float] = field(default_factory=dict)
    score: float = 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": list(self.box),
            "area": round(self.area, 4),
            "class": self.category,
            "score": round(self.score, 4),
            "attributes": self.attributes,
            "confidence": {k: round(v, 4) for k, v in self.confidence.items()},
        }


class ItemExtractor:
    """An extractor that first parses each photo into items (``parser``: a name or a Parser)."""

    def __init__(self, extractor: Extractor, parser: Parser | str = "whole") -> None:
        self.extractor = extractor
        self.schema = extractor.schema
        self.parser = load_parser(parser) if isinstance(parser, str) else parser
        self.worn_unreliable = extractor.unreliable_on_worn()  # field → why it is null when worn

    def extract(self, images: ImageSource | Sequence[ImageSource]) -> Extraction | list[Extraction]:
        """Like :meth:`Extractor.extract`, with ``items`` filled in each result."""
        single = isinstance(images, (str, bytes, Image.Image)) or hasattr(images, "__fspath__")
        sources = [images] if single else list(images)  # type: ignore[list-item]
        out: list[Extraction] = []
        for start in range(0, len(sources), self.extractor.batch_size):
            out.extend(self._chunk(sources[start : start + self.extractor.batch_size]))
        return out[0] if single else out

    def _chunk(self, sources: list[ImageSource]) -> list[Extraction]:
        loaded: dict[int, Image.Image] = {}
        results: list[Extraction | None] = [None] * len(sources)
        for i, source in enumerate(sources):
            try:
                loaded[i] = load_image(source)
            except ImageLoadError as exc:
                results[i] = Extraction(self.schema.empty(), {}, None, False, [], 0.0, str(exc))
        parsed = dict(zip(loaded, self.parser.parse(list(loaded.values())), strict=True)) if loaded else {}
        crops, owners = [], []
        for i, p in parsed.items():
            for region in p.regions:
                crops.append(loaded[i] if p.kind == "product" else region.crop(loaded[i]))
                owners.append((i, region))
        extracted = self.extractor.extract(crops) if crops else []
        per_image: dict[int, list[tuple[Any, Extraction]]] = {i: [] for i in parsed}
        for (i, region), res in zip(owners, extracted, strict=True):
            per_image[i].append((region, res))
        for i, p in parsed.items():
            items = [self._item(region, res, worn=p.kind == "person") for region, res in per_image[i]]
            if items:
                j = max(range(len(items)), key=lambda k: items[k].area)  # a product shot has one
                primary = per_image[i][j][1]
                primary.attributes, primary.confidence = items[j].attributes, items[j].confidence
            else:
                primary = Extraction(self.schema.empty(), {}, None, True, [], 0.0, "no garment found")
            primary.items, primary.kind = items, p.kind
            results[i] = primary
        return results  # type: ignore[return-value]

    def _item(self, region, res: Extraction, worn: bool) -> Item:
        attrs, conf = dict(res.attributes), dict(res.confidence)
        if worn:  # fields the extractor cannot read on a garment worn by a person: null
            empty = self.schema.empty()
            for name in self.worn_unreliable:
                attrs[name], conf[name] = empty[name], 0.0
        category = self.schema.by_role("category")
        value = category_value(self.schema, region.category)
        if category is not None and value is not None and attrs.get(category.name) != value:
            attrs[category.name], conf[category.name] = value, region.score
            for child in self.schema.fields.values():  # a type of another category cannot stay
                current = (
                    attrs.get(child.name)
                    if child.parent == category.name and child.kind == "single"
                    else None
                )
                if current is not None and child.values[current].parent != value:
                    attrs[child.name], conf[child.name] = None, 0.0
            attrs = self.schema.validate(attrs).partial
        return Item(region.box, region.area, region.category, attrs, conf, region.score)


def extract_chunk(
    extractor: Extractor, per_item: ItemExtractor, groups: Sequence[Sequence[Any]]
) -> list[Extraction]:
    """Results for groups of photos, in order: a single photo is parsed into its items, several
    photos of one item go to :meth:`Extractor.extract_items` together."""
    singles = [i for i, g in enumerate(groups) if len(g) == 1]
    several = [i for i, g in enumerate(groups) if len(g) > 1]
    out: list[Extraction | None] = [None] * len(groups)
    for i, res in zip(singles, per_item.extract([str(groups[i][0]) for i in singles]), strict=True):
        out[i] = res
    for i, res in zip(
        several, extractor.extract_items([[str(p) for p in groups[i]] for i in several]), strict=True
    ):
        out[i] = res
    return out  # type: ignore[return-value]
