"""The Parser contract: a photo in, the items in it out (one for a product shot, each worn garment
for a photo of a person), each with its box and share of the image.

A subclass implements :meth:`Parser._parse_batch` on RGB PIL images and returns one
:class:`Parsed` per image, in order. It may assume images are RGB. It must say whether the photo
is a product shot of one item (``kind="product"``: then ``regions`` is the whole image, one
region, and extraction behaves exactly as it does without a parser) or a photo of a person
(``kind="person"``: one region per garment it found, possibly none). Boxes are in pixels of
the image as given, ``(x0, y0, x1, y1)`` with x1/y1 exclusive; ``area`` is the share of the
image's pixels the garment covers (its mask, or its box where there is no mask).

Coarse classes (:data:`COARSE`) map onto a schema's category role through
:func:`category_value`, so extraction can seed or check the category of each garment.

>>> p = load_parser("whole")
>>> parsed = p.parse(Image.new("RGB", (40, 60)))
>>> parsed.kind, parsed.regions[0].box, parsed.regions[0].area
('product', (0, 0, 40, 60), 1.0)
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, overload

import numpy as np
from PIL import Image

from vestis.images import ImageSource, load_image
from vestis.options import check_kwargs
from vestis.registry import Registry

#: Garment classes a parser finds, coarse enough to learn from a few thousand photos; the
#: non-garment classes (skin, hair, background) are never regions.
COARSE = ("top", "outerwear", "dress", "bottom", "footwear", "bag", "hat", "accessory")
NON_GARMENT = ("background", "skin", "hair")


@dataclass
class Region:
    """One item in a photo: its box, share of the image, coarse class and score (and mask)."""

    box: tuple[int, int, int, int]
    area: float
    category: str | None = None  # one of COARSE, or None for the whole image of a product shot
    score: float = 1.0
    mask: np.ndarray | None = field(default=None, repr=False)  # bool [H, W] of the image, if any

    def to_dict(self) -> dict[str, Any]:
        return {
            "box": list(self.box),
            "area": round(self.area, 4),
            "category": self.category,
            "score": round(self.score, 4),
        }

    def crop_box(self, size: tuple[int, int], pad: float = 0.05) -> tuple[int, int, int, int]:
        """The box :meth:`crop` cuts from an image of ``size`` (width, height): the region's box with a
        margin of ``pad`` × its size on each side, clipped to the image."""
        x0, y0, x1, y1 = self.box
        dx, dy = int((x1 - x0) * pad), int((y1 - y0) * pad)
        return max(0, x0 - dx), max(0, y0 - dy), min(size[0], x1 + dx), min(size[1], y1 + dy)

    def crop(self, image: Image.Image, pad: float = 0.05) -> Image.Image:
        """The region cut from the image, with a margin of ``pad`` × its size on each side."""
        return image.crop(self.crop_box(image.size, pad))


@dataclass
class Parsed:
    """What a parser found in one photo."""

    kind: Literal["product", "person"]
    regions: list[Region]
    size: tuple[int, int]  # (width, height) of the image parsed
    person_score: float = 0.0  # the parser's belief that a person is in the photo
    error: str | None = None

    @property
    def garments(self) -> bool:
        """Whether the photo is one of a person with garments found (else: one item, the whole photo)."""
        return self.kind == "person" and bool(self.regions)

    def crops(self, image: Image.Image) -> list[Image.Image]:
        """The image each region is described from: the photo itself for a product shot, each
        garment cut out (with a margin) for a photo of a person."""
        return [image] if self.kind == "product" else [r.crop(image) for r in self.regions]

    def rescaled(self, size: tuple[int, int]) -> Parsed:
        """The same regions with boxes in pixels of the photo at ``size`` (it was parsed smaller);
        masks are left out."""
        if tuple(size) == tuple(self.size):
            return self
        sx, sy = size[0] / self.size[0], size[1] / self.size[1]
        regions = [
            Region(
                (
                    max(0, math.floor(x0 * sx)),
                    max(0, math.floor(y0 * sy)),
                    min(size[0], math.ceil(x1 * sx)),
                    min(size[1], math.ceil(y1 * sy)),
                ),
                r.area,
                r.category,
                r.score,
            )
            for r in self.regions
            for x0, y0, x1, y1 in [r.box]
        ]
        return Parsed(self.kind, regions, (size[0], size[1]), self.person_score, self.error)

    def listing(self) -> str:
        """The items as numbered by the parser, on one line: ``0 top (20,30,80,100), 1 bottom (...)``.

        >>> Parsed("person", [Region((20, 30, 80, 100), 0.2, "top")], (100, 200)).listing()
        '0 top (20,30,80,100)'
        """
        if not self.garments:
            why = "a product shot" if self.kind == "product" else "no garment found"
            return f"0 (the whole photo: {why})"
        return ", ".join(
            f"{n} {r.category} ({','.join(map(str, r.box))})" for n, r in enumerate(self.regions)
        )


class Parser(ABC):
    """Base class of parsers. Register with ``@PARSERS.register(name)``."""

    name: ClassVar[str] = ""
    batch_size: int = 16

    @abstractmethod
    def _parse_batch(self, images: list[Image.Image]) -> list[Parsed]:
        """One :class:`Parsed` per RGB image, in order."""

    @overload
    def parse(self, images: ImageSource) -> Parsed: ...
    @overload
    def parse(self, images: Sequence[ImageSource]) -> list[Parsed]: ...

    def parse(self, images: ImageSource | Sequence[ImageSource]) -> Parsed | list[Parsed]:
        """Items in one image (path, bytes or PIL image) or in each of a list of them."""
        single = isinstance(images, (str, bytes, Image.Image)) or hasattr(images, "__fspath__")
        loaded = [load_image(im) for im in ([images] if single else images)]  # type: ignore[list-item]
        out: list[Parsed] = []
        for start in range(0, len(loaded), self.batch_size):
            chunk = loaded[start : start + self.batch_size]
            parsed = self._parse_batch(chunk)
            if len(parsed) != len(chunk):
                raise RuntimeError(
                    f"parser {self.name!r} returned {len(parsed)} results for {len(chunk)} images"
                )
            out.extend(parsed)
        return out[0] if single else out


def whole_image(image: Image.Image, person_score: float = 0.0) -> Parsed:
    """A product shot: one region, the whole image."""
    w, h = image.size
    return Parsed("product", [Region((0, 0, w, h), 1.0)], (w, h), person_score)


PARSERS: Registry[type[Parser]] = Registry("parser", "vestis.parsers", builtins="vestis.parse.backends")


def load_parser(name: str = "whole", **options: Any) -> Parser:
    """A parser by registered name, its options checked."""
    cls = PARSERS.get(name)
    return cls(**check_kwargs(cls.__init__, options, what=f"{name} parser option"))


def list_parsers() -> list[str]:
    return PARSERS.names()


def category_value(schema: Any, coarse: str | None) -> str | None:
    """The value of ``schema``'s category-role field that a coarse class means (through synonyms),
    or None when the schema has no category role or no such value."""
    field_ = schema.by_role("category")
    if field_ is None or coarse is None:
        return None
    return field_.canonical(coarse)
