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
from vestis.extract.embed import extract_and_embed
from vestis.images import ImageLoadError, ImageSource, load_image
from vestis.parse.base import Parsed, Parser, Region, category_value, load_parser


@dataclass
class PhotoItems:
    """One photo, described item by item: what the parser found, and per item (in the parser's
    order) its :class:`Item`, the extractor's result, the image it was described from and its
    vector (None without an embedder)."""

    parsed: Parsed
    items: list[Item]
    results: list[Extraction]
    crops: list[Image.Image]
    vectors: list[Any]


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
        for i, photo in zip(loaded, self.describe(list(loaded.values())), strict=True):
            items = photo.items
            if items:
                j = max(range(len(items)), key=lambda k: items[k].area)  # a product shot has one
                primary = photo.results[j]
                primary.attributes, primary.confidence = items[j].attributes, items[j].confidence
            else:
                primary = Extraction(self.schema.empty(), {}, None, True, [], 0.0, "no garment found")
            primary.items, primary.kind = items, photo.parsed.kind
            results[i] = primary
        return results  # type: ignore[return-value]

    def describe(self, images: list[Image.Image], embedder: Any = None) -> list[PhotoItems]:
        """Parse RGB images and extract each item (with ``embedder``, embed it too, in one pass
        where the backends allow: :func:`~vestis.extract.embed.extract_and_embed`)."""
        parsed = self.parser.parse(images) if images else []
        crops, owners = [], []
        for i, (image, p) in enumerate(zip(images, parsed, strict=True)):
            for region, crop in zip(p.regions, p.crops(image), strict=True):
                crops.append(crop)
                owners.append((i, region))
        if embedder is not None:
            extracted, vectors = extract_and_embed(self.extractor, embedder, crops)
        else:
            extracted, vectors = (self.extractor.extract(crops) if crops else []), [None] * len(crops)
        out = [PhotoItems(p, [], [], [], []) for p in parsed]
        for (i, region), crop, res, vector in zip(owners, crops, extracted, vectors, strict=True):
            photo = out[i]
            photo.items.append(self.item(region, res, worn=parsed[i].kind == "person"))
            photo.results.append(res)
            photo.crops.append(crop)
            photo.vectors.append(vector)
        return out

    def item(self, region: Region, res: Extraction, worn: bool = False) -> Item:
        """The item of ``region`` from its extraction: the parser's coarse class overrides a
        contradicting category (and nulls a type that no longer fits); on a ``worn`` garment (of a
        photo of a person) the fields the extractor cannot read there are null."""
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
