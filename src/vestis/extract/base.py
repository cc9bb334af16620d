"""The Extractor contract: images in, validated attribute objects out.

Every backend returns one :class:`Extraction` per input image, in order, and never
raises for a single bad image or a malformed model output: the failure is recorded
in the result (``error``) and the attributes fall back to the schema's empty object,
so the output always validates.

Subclasses implement :meth:`Extractor._extract_batch`; they may assume the images
are RGB PIL images (loading and its errors are handled here). Backends that learn
from data (baselines) also implement :meth:`Extractor.fit`.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, overload

from PIL import Image

from vestis.images import ImageLoadError, ImageSource, load_image
from vestis.options import check_kwargs
from vestis.registry import Registry
from vestis.schema import Schema, load_schema


@dataclass
class Extraction:
    """One image's result.

    ``attributes`` always validates against the schema; ``confidence`` holds a
    probability-like score per field (0 for null fields the backend cannot know);
    ``raw`` is what the backend produced before validation (text for generative
    backends), ``valid_raw`` whether that raw output validated without repair,
    ``repairs`` what validation changed, ``seconds`` this image's share of the batch time,
    ``embedding`` the image's normalised vector when the backend also embeds (lite does, in the
    same forward pass), else None; ``usage`` what the backend accounts per request (tokens,
    latency, attempts for API backends), else empty. With a parser
    (:class:`~vestis.extract.items.ItemExtractor`), ``kind`` says whether the photo is a
    ``product`` shot or shows a ``person``, and ``items`` lists each item found (box, area, class,
    attributes, confidence); ``attributes`` are then the primary item's.
    """

    attributes: dict[str, Any]
    confidence: dict[str, float] = field(default_factory=dict)
    raw: Any = None
    valid_raw: bool = True
    repairs: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str | None = None
    embedding: Any = None
    usage: dict[str, Any] = field(default_factory=dict)
    kind: str | None = None
    items: list[Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "attributes": self.attributes,
            "confidence": self.confidence,
            "raw": self.raw,
            "valid_raw": self.valid_raw,
            "repairs": self.repairs,
            "seconds": self.seconds,
            "error": self.error,
        } | ({"usage": self.usage} if self.usage else {}) | self.items_dict()

    def items_dict(self) -> dict[str, Any]:
        """``{"kind": ..., "items": [...]}`` when a parser ran, else ``{}``."""
        if self.items is None:
            return {}
        return {"kind": self.kind, "items": [item.to_dict() for item in self.items]}


class Extractor(ABC):
    """Base class of attribute extractors. Register with ``@EXTRACTORS.register(name)``."""

    name: ClassVar[str] = ""
    batch_size: int = 32
    #: True when one request can look at several photos of an item (front, back, care label).
    multi_image: ClassVar[bool] = False

    def __init__(self, schema: Schema) -> None:
        self.schema = schema

    def fit(self, examples: Sequence[Any]) -> Extractor:
        """Learn from labelled examples; the default (pretrained backends) does nothing."""
        return self

    @abstractmethod
    def _extract_batch(self, images: list[Image.Image]) -> list[Extraction]:
        """Results for a batch of RGB images, one per image, in order."""

    @property
    def embedding_model_id(self) -> str | None:
        """The vector space of ``Extraction.embedding`` when this backend also embeds, else None.

        A catalog whose embedder has the same ``model_id`` reuses these vectors instead of
        embedding each image a second time.
        """
        return None

    @overload
    def extract(self, images: ImageSource) -> Extraction: ...
    @overload
    def extract(self, images: Sequence[ImageSource]) -> list[Extraction]: ...

    def extract(self, images: ImageSource | Sequence[ImageSource]) -> Extraction | list[Extraction]:
        """Attributes of one image (path, bytes or PIL image) or of a list of them, in order.

        One image gives one :class:`Extraction`, a list gives a list of the same length; an
        unreadable image gives a result with ``error`` set, never an exception.
        """
        if _is_single(images):
            return self._extract_all([images])[0]  # type: ignore[list-item]
        return self._extract_all(list(images))  # type: ignore[arg-type]

    def _extract_all(self, images: list[ImageSource]) -> list[Extraction]:
        results: list[Extraction | None] = [None] * len(images)
        for start in range(0, len(images), self.batch_size):
            chunk = list(range(start, min(start + self.batch_size, len(images))))
            loaded: list[Image.Image] = []
            positions: list[int] = []
            for i in chunk:
                try:
                    loaded.append(load_image(images[i]))
                    positions.append(i)
                except ImageLoadError as exc:
                    results[i] = Extraction(self.schema.empty(), {}, None, False, [], 0.0, str(exc))
            if not loaded:
                continue
            t0 = time.perf_counter()
            batch = self._extract_batch(loaded)
            if len(batch) != len(loaded):
                raise RuntimeError(
                    f"extractor {self.name!r} returned {len(batch)} results for {len(loaded)} images"
                )
            per_image = (time.perf_counter() - t0) / len(loaded)
            for i, res in zip(positions, batch, strict=True):
                res.seconds = per_image
                results[i] = res
        return results  # type: ignore[return-value]  (every position was filled above)

    def extract_items(self, items: Sequence[Sequence[ImageSource]]) -> list[Extraction]:
        """One result per item, an item being one or several photos of the same garment.

        Backends that take several images per request (``multi_image``) see them together;
        for the others each photo is extracted and the first photo (the main view) answers,
        the later ones filling only the fields it leaves null (a care label names the brand
        the front cannot, but its fabric background must not overrule the front's colour). A
        photo that cannot be read is left out, with its error kept; an item with no readable
        photo gets an error result.
        """
        results: list[Extraction | None] = [None] * len(items)
        loaded: list[tuple[int, list[Image.Image], list[str]]] = []
        for i, item in enumerate(items):
            images, errors = [], []
            for source in [item] if _is_single(item) else item:
                try:
                    images.append(load_image(source))
                except ImageLoadError as exc:
                    errors.append(str(exc))
            if images:
                loaded.append((i, images, errors))
            else:
                results[i] = Extraction(
                    self.schema.empty(), {}, None, False, [], 0.0, "; ".join(errors) or "no photo"
                )
        for start in range(0, len(loaded), self.batch_size):
            chunk = loaded[start : start + self.batch_size]
            t0 = time.perf_counter()
            if self.multi_image:
                batch = self._extract_items([images for _, images, _ in chunk])
            else:
                flat = self._extract_batch([im for _, images, _ in chunk for im in images])
                batch, at = [], 0
                for _, images, _ in chunk:
                    batch.append(self._fuse(flat[at : at + len(images)]))
                    at += len(images)
            if len(batch) != len(chunk):
                raise RuntimeError(
                    f"extractor {self.name!r} returned {len(batch)} results for {len(chunk)} items"
                )
            per_item = (time.perf_counter() - t0) / len(chunk)
            for (i, _, errors), res in zip(chunk, batch, strict=True):
                res.seconds = per_item
                if errors:
                    res.error = "; ".join([*([res.error] if res.error else []), *errors])
                results[i] = res
        return results  # type: ignore[return-value]  (every position was filled above)

    def _extract_items(self, items: list[list[Image.Image]]) -> list[Extraction]:
        """Results for items of several RGB images; ``multi_image`` backends implement it."""
        raise NotImplementedError(f"extractor {self.name!r} sets multi_image but has no _extract_items")

    def _fuse(self, parts: list[Extraction]) -> Extraction:
        """One item from per-photo results: per field the first photo's answer, else the first
        later photo that has one."""
        if len(parts) == 1:
            return parts[0]
        attrs, conf = self.schema.empty(), {}
        for name in self.schema.fields:
            best = next((p for p in parts if p.attributes.get(name) not in (None, [])), None)
            if best is not None:
                attrs[name], conf[name] = best.attributes[name], best.confidence.get(name, 0.0)
            else:
                conf[name] = max(p.confidence.get(name, 0.0) for p in parts)
        fused = self.from_raw(attrs, conf)
        fused.raw = [p.raw for p in parts]
        fused.embedding = parts[0].embedding
        fused.error = "; ".join(p.error for p in parts if p.error) or fused.error
        return fused

    def from_raw(self, raw: str | dict[str, Any], confidence: dict[str, float] | None = None) -> Extraction:
        """Validate a raw backend output into an Extraction (bad fields become null, with the error)."""
        result = self.schema.validate(raw)
        return Extraction(
            attributes=result.partial,
            confidence=confidence or {},
            raw=raw,
            valid_raw=result.strict,
            repairs=result.repairs,
            error=result.error_text() or None,
        )


EXTRACTORS: Registry[type[Extractor]] = Registry(
    "extractor", "vestis.extractors", builtins="vestis.extract.backends"
)


def load_extractor(name: str = "lite", schema: Schema | str = "vestis", **options: Any) -> Extractor:
    """A registered backend by name, for a schema (name, path or object), with its options checked.

    Unknown or mistyped options raise :class:`~vestis.errors.OptionsError` naming the known ones.

    >>> ex = load_extractor("pixel-colour")
    >>> ex.extract(Image.new("RGB", (64, 64), (200, 20, 30))).attributes["colour"]
    'red'
    """
    if not isinstance(schema, Schema):
        schema = load_schema(schema)
    cls = EXTRACTORS.get(name)
    return cls(schema, **check_kwargs(cls.__init__, options, what=f"{name} extractor option"))


def create_extractor(name: str, schema: Schema, **options: Any) -> Extractor:
    """Instantiate a registered backend by name (the same as :func:`load_extractor`)."""
    return load_extractor(name, schema, **options)


def list_extractors() -> list[str]:
    return EXTRACTORS.names()


def _is_single(images: Any) -> bool:
    return isinstance(images, (str, bytes, Image.Image)) or hasattr(images, "__fspath__")
